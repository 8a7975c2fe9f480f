//! Kernel variants of the CUDA backend: where a new kernel competes with the one it would
//! replace, both stay selectable until a GPU has measured them side by side, through one
//! setting, [`KernelVariants`]: [`Cuda::with_kernels`](super::Cuda::with_kernels) in code, or
//! the environment variable `BYZAGG_CUDA_KERNELS` (read once when a backend is opened), e.g.
//! `BYZAGG_CUDA_KERNELS=order_stats=pruned`. `byzagg bench` records the variants in effect in
//! each JSON record (`variant`), so one run can time every variant beside the read pass.
//!
//! The text form is a comma-separated list of `primitive=variant`; a primitive not named keeps
//! its default, and an unknown primitive or variant is an error naming the variable.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The environment variable read by [`KernelVariants::from_env`].
pub const ENV: &str = "BYZAGG_CUDA_KERNELS";

/// `order_stats` (median, trimmed mean, MeaMed) on up to 64 rows of positive weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OrderStatsVariant {
    /// One module for every row count: full bitonic networks over 8, 16, 32 or 64 keys, the
    /// median ranks picked at run time, 64-bit (value, row) keys for weighted rows, MeaMed
    /// by heap sort in a global scratch.
    #[default]
    Bitonic,
    /// One module per exact row count m (compiled on first use and cached): Batcher
    /// odd-even merge networks pruned to the ranks the rule reads, row pointers as kernel
    /// parameters, a one-wave grid, 32-bit (value, row) composite keys for weighted rows
    /// with an exact fallback, MeaMed in registers and shared memory.
    Pruned,
}

impl OrderStatsVariant {
    const ALL: [(OrderStatsVariant, &'static str); 2] = [
        (OrderStatsVariant::Bitonic, "bitonic"),
        (OrderStatsVariant::Pruned, "pruned"),
    ];

    /// The variant's name in the text form.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(v, _)| *v == self).map_or("?", |(_, n)| n)
    }
}

/// The kernel variant of each primitive that has more than one.
///
/// ```
/// use byzagg::cuda::{KernelVariants, OrderStatsVariant};
///
/// let v = KernelVariants::parse("order_stats=pruned")?;
/// assert_eq!(v.order_stats, OrderStatsVariant::Pruned);
/// assert_eq!(v.to_string(), "order_stats=pruned");
/// assert_eq!(KernelVariants::parse("")?, KernelVariants::default());
/// assert!(KernelVariants::parse("order_stats=fast").is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KernelVariants {
    /// `order_stats`'s register path (m <= 64).
    pub order_stats: OrderStatsVariant,
}

impl KernelVariants {
    /// Parses `primitive=variant[,primitive=variant...]` (empty: the defaults). The error
    /// names [`ENV`], where the text usually comes from, and lists what is accepted.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = KernelVariants::default();
        let bad = |why: String| Error::invalid(ENV, format!("{text:?}"), why);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(format!("{item:?} is not primitive=variant")));
            };
            match key.trim() {
                "order_stats" => {
                    out.order_stats = OrderStatsVariant::ALL
                        .iter()
                        .find(|(_, n)| *n == value.trim())
                        .map(|(v, _)| *v)
                        .ok_or_else(|| {
                            bad(format!(
                                "order_stats takes {}",
                                OrderStatsVariant::ALL.map(|(_, n)| n).join(" or ")
                            ))
                        })?;
                }
                other => return Err(bad(format!("unknown primitive {other:?}; known: order_stats"))),
            }
        }
        Ok(out)
    }

    /// The variants named by `BYZAGG_CUDA_KERNELS`; the defaults when it is unset or empty.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os(ENV) {
            None => Ok(KernelVariants::default()),
            Some(raw) => KernelVariants::parse(&raw.to_string_lossy()),
        }
    }
}

impl FromStr for KernelVariants {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KernelVariants::parse(s)
    }
}

/// The text form, every primitive named: `order_stats=bitonic`.
impl fmt::Display for KernelVariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order_stats={}", self.order_stats.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_bad_text_names_the_variable() {
        for v in [OrderStatsVariant::Bitonic, OrderStatsVariant::Pruned] {
            let kv = KernelVariants { order_stats: v };
            assert_eq!(KernelVariants::parse(&kv.to_string()).unwrap(), kv);
        }
        assert_eq!(
            KernelVariants::parse(" order_stats = pruned , ")
                .unwrap()
                .order_stats,
            OrderStatsVariant::Pruned
        );
        for bad in ["order_stats", "order_stats=quick", "median=pruned", "=pruned"] {
            let e = KernelVariants::parse(bad).unwrap_err().to_string();
            assert!(e.contains(ENV), "{bad}: {e}");
        }
    }
}
