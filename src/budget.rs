//! The host memory budget: how many bytes byzagg may still allocate, and a check that turns a
//! request beyond it into an [`Error::InvalidParameter`] naming the parameter that asked for
//! it, instead of an abort ("memory allocation failed") or the kernel's OOM killer.
//!
//! Rust aborts the process when an allocation fails, and with Linux's overcommit a huge
//! allocation may even succeed and kill the process later, when its pages are touched. So
//! every large allocation that a size from the user drives (a batch read from a file, the
//! `n x n` distances of Krum and NNM, benchmark data, training state) is checked here first,
//! in bytes computed without overflow ([`bytes`] saturates in `u128`).
//!
//! The budget is the smallest of what the machine and the process allow, each read from
//! Linux's `/proc` and `/sys` files when they exist:
//! - the memory available to new allocations (`MemAvailable` plus `SwapFree`);
//! - the address-space limit (`ulimit -v`, `RLIMIT_AS`) less the address space in use;
//! - the process's cgroup v2 memory limit (`memory.max`) less its usage.
//!
//! Where none of them can be read (another OS), only overflow is checked. Requests below
//! [`SMALL`] are not checked at all, so a hot loop of small aggregations reads no file.

use std::fmt::Display;

use crate::error::{Error, Result};

/// Requests below this many bytes pass without reading the budget (64 MiB).
pub const SMALL: u128 = 64 << 20;

/// The bytes byzagg may allocate now and the limit that sets them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes that may still be allocated.
    pub bytes: u64,
    /// Which limit this is, in words (`memory available`, `address-space limit (ulimit -v)`).
    pub limit: &'static str,
}

/// The tightest of the limits this machine reports, or `None` where it reports none.
///
/// # Examples
///
/// ```
/// if let Some(budget) = byzagg::budget::available() {
///     assert!(budget.bytes > 0, "{budget:?}");
/// }
/// ```
pub fn available() -> Option<Budget> {
    [memory_available(), address_space_left(), cgroup_left()]
        .into_iter()
        .flatten()
        .min_by_key(|b| b.bytes)
}

/// The product of `factors` times `size` bytes, saturating: any product past `u128::MAX`
/// is far beyond every memory, so saturation never lets a request through.
///
/// # Examples
///
/// ```
/// use byzagg::budget::bytes;
///
/// assert_eq!(bytes(&[3, 4], 4), 48);
/// assert_eq!(bytes(&[usize::MAX, usize::MAX, usize::MAX], 8), u128::MAX);
/// ```
pub fn bytes(factors: &[usize], size: usize) -> u128 {
    factors
        .iter()
        .fold(size as u128, |acc, &f| acc.saturating_mul(f as u128))
}

/// Checks that `need` bytes for `what` fit the budget; the error names the parameter `name`
/// with its `value`, the bytes needed and the limit.
///
/// # Examples
///
/// ```
/// use byzagg::budget;
///
/// assert!(budget::check("d", 1000, "the batch", budget::bytes(&[8, 1000], 4)).is_ok());
/// let err = budget::check("d", "1e30", "the batch", u128::MAX).unwrap_err();
/// assert!(err.to_string().contains("invalid d = 1e30"), "{err}");
/// ```
pub fn check(name: &'static str, value: impl Display, what: &str, need: u128) -> Result<()> {
    if need < SMALL {
        return Ok(());
    }
    // Beyond the address space of this machine: no limit needs reading.
    if need > usize::MAX as u128 / 2 {
        return Err(Error::invalid(
            name,
            value,
            format!(
                "{what} would need {}, more than this machine can address",
                human(need)
            ),
        ));
    }
    match available() {
        Some(budget) if need > u128::from(budget.bytes) => Err(Error::invalid(
            name,
            value,
            format!(
                "{what} would need {}, more than the {} {}",
                human(need),
                human(u128::from(budget.bytes)),
                budget.limit
            ),
        )),
        _ => Ok(()),
    }
}

/// A vector of `len` default values, its `len * size_of::<T>()` bytes checked against the
/// budget and reserved without aborting: the error names `name` and `value` as [`check`]
/// does.
///
/// # Examples
///
/// ```
/// let v: Vec<f32> = byzagg::budget::zeroed("d", 3, "the batch", 3)?;
/// assert_eq!(v, vec![0.0; 3]);
/// assert!(byzagg::budget::zeroed::<f32>("d", "huge", "the batch", usize::MAX).is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn zeroed<T: Clone + Default>(
    name: &'static str,
    value: impl Display,
    what: &str,
    len: usize,
) -> Result<Vec<T>> {
    let need = bytes(&[len], size_of::<T>());
    let value = value.to_string();
    check(name, &value, what, need)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::invalid(
            name,
            &value,
            format!("{what} would need {}, which cannot be allocated now", human(need)),
        )
    })?;
    v.resize(len, T::default());
    Ok(v)
}

/// Bytes in words: `512 B`, `1.5 MB`, `16.0 TB` (powers of 1000, as `df -H`).
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["kB", "MB", "GB", "TB", "PB", "EB", "ZB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value >= 1000.0 {
        format!("{value:.2e} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The value of `key` in a `/proc`-style `key: value kB` file, in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
}

fn memory_available() -> Option<Budget> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let bytes = kb_field(&info, "MemAvailable")?.saturating_add(kb_field(&info, "SwapFree").unwrap_or(0));
    Some(Budget {
        bytes,
        limit: "of memory available",
    })
}

fn address_space_left() -> Option<Budget> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    // "Max address space   unlimited   unlimited   bytes": the soft limit is the first.
    let soft = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max address space"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = kb_field(&status, "VmSize").unwrap_or(0);
    Some(Budget {
        bytes: soft.saturating_sub(used),
        limit: "left under the address-space limit (ulimit -v)",
    })
}

fn cgroup_left() -> Option<Budget> {
    // cgroup v2: "0::/path" names this process's group under /sys/fs/cgroup.
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max = std::fs::read_to_string(dir.join("memory.max")).ok()?;
    let max = max.trim().parse::<u64>().ok()?; // "max" means no limit
    let current = std::fs::read_to_string(dir.join("memory.current"))
        .ok()
        .and_then(|c| c.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some(Budget {
        bytes: max.saturating_sub(current),
        limit: "left under the cgroup memory limit",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_saturate() {
        assert_eq!(bytes(&[], 4), 4);
        assert_eq!(bytes(&[1 << 40, 1 << 40], 4), 1 << 82);
        assert_eq!(bytes(&[usize::MAX; 4], 8), u128::MAX);
    }

    #[test]
    fn small_requests_pass_and_absurd_ones_name_the_parameter() {
        assert!(check("n", 4, "the rows", SMALL - 1).is_ok());
        for need in [u128::MAX, bytes(&[4, 1 << 62], 4), 1 << 70] {
            let err = check("d", "2^62", "the 4 x d batch", need).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("invalid d = 2^62: the 4 x d batch would need"),
                "{text}"
            );
        }
    }

    #[test]
    fn requests_beyond_the_budget_are_refused() {
        let Some(budget) = available() else {
            println!("skipped: this machine reports no memory limit");
            return;
        };
        let need = u128::from(budget.bytes) * 2 + SMALL;
        let err = check("iterations", 7, "the arrival log", need).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("invalid iterations = 7"), "{text}");
        assert!(text.contains("more than the"), "{text}");
    }

    #[test]
    fn fields_parse() {
        let info = "MemTotal:       16318412 kB\nMemAvailable:    8000000 kB\nSwapFree: 0 kB\n";
        assert_eq!(kb_field(info, "MemAvailable"), Some(8_192_000_000));
        assert_eq!(kb_field(info, "MemFree"), None);
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1_500_000), "1.5 MB");
        assert_eq!(human(16 * 10u128.pow(12)), "16.0 TB");
        assert!(human(u128::MAX).ends_with("ZB"));
    }
}
