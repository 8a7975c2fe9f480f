//! The SIMD level the CPU backend runs at: the best the CPU offers, capped by the
//! `BYZAGG_SIMD` environment variable (`avx512`, `avx2` or `generic`, like numpy's
//! `NPY_DISABLE_CPU_FEATURES`), so that the slower paths can be measured and tested on a
//! machine that has the faster ones.
//!
//! ## How a level is applied
//!
//! The kernels' hot loops are plain Rust functions marked `#[inline(always)]`; `at_level!`
//! wraps one in functions compiled with each level's target features and calls the one of
//! the level, so the compiler vectorises the inlined loop for it (what the `multiversion`
//! crate does, but with the level chosen here rather than by the crate's own detection). The hand-written AVX-512 kernels
//! (`*/avx512.rs`) run only at [`SimdLevel::Avx512`]. The level is read once per kernel call,
//! on the calling thread, and handed to the rayon tasks.
//!
//! On aarch64 NEON is part of the baseline target, so `generic` there is NEON code.

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The variable that caps the level.
pub const SIMD_VAR: &str = "BYZAGG_SIMD";

/// A SIMD level of the CPU backend, lowest first (so `min` caps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// The target's baseline (SSE2 on x86_64, NEON on aarch64), auto-vectorised.
    Generic,
    /// x86_64 AVX2 and FMA, auto-vectorised.
    Avx2,
    /// x86_64 AVX-512 F, BW, DQ and VL: auto-vectorised code and the hand-written kernels.
    Avx512,
}

impl SimdLevel {
    /// Every level, lowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Generic, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The name `BYZAGG_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Generic => "generic",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// The best level this CPU supports, detected at run time (no cap applied).
    pub fn detected() -> SimdLevel {
        #[cfg(target_arch = "x86_64")]
        {
            static DETECTED: OnceLock<SimdLevel> = OnceLock::new();
            *DETECTED.get_or_init(|| {
                let has = |f: &str| match f {
                    "avx512f" => is_x86_feature_detected!("avx512f"),
                    "avx512bw" => is_x86_feature_detected!("avx512bw"),
                    "avx512dq" => is_x86_feature_detected!("avx512dq"),
                    "avx512vl" => is_x86_feature_detected!("avx512vl"),
                    "avx2" => is_x86_feature_detected!("avx2"),
                    "fma" => is_x86_feature_detected!("fma"),
                    _ => false,
                };
                let avx2 = has("avx2") && has("fma");
                if avx2
                    && ["avx512f", "avx512bw", "avx512dq", "avx512vl"]
                        .iter()
                        .all(|f| has(f))
                {
                    SimdLevel::Avx512
                } else if avx2 {
                    SimdLevel::Avx2
                } else {
                    SimdLevel::Generic
                }
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        SimdLevel::Generic
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SimdLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        SimdLevel::ALL.into_iter().find(|l| l.name() == t).ok_or_else(|| {
            Error::invalid(
                SIMD_VAR,
                format!("{s:?}"),
                "must be avx512, avx2 or generic, or unset",
            )
        })
    }
}

/// Defines `fn $name(simd: SimdLevel, args..) -> ret` that runs `$body(args..)` (an
/// `#[inline(always)]` function holding a hot loop) inlined into a function compiled with
/// the target features of `simd`, so the compiler vectorises the loop for that level. A
/// direct call, not a closure: a closure holding a large loop is not inlined across the
/// feature boundary, and the loop then runs at the baseline whatever the level.
macro_rules! at_level {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(simd: $crate::cpu::SimdLevel, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            match simd {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a level above Generic comes from `simd_level`, which caps the
                // detected one, so the CPU has these features.
                $crate::cpu::SimdLevel::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                $crate::cpu::SimdLevel::Avx2 => unsafe { avx2($($arg),*) },
                _ => $body($($arg),*),
            }
        }
    };
}
pub(crate) use at_level;

/// The cap `BYZAGG_SIMD` sets (`None` when unset or empty), read once per process; a value
/// that names no level is an error naming the variable and the values it takes.
pub fn simd_cap() -> Result<Option<SimdLevel>> {
    static RAW: OnceLock<Option<String>> = OnceLock::new();
    let raw = RAW.get_or_init(|| std::env::var_os(SIMD_VAR).map(|v| v.to_string_lossy().into_owned()));
    parse_cap(raw.as_deref().map(std::borrow::Cow::Borrowed))
}

/// The cap a value of `BYZAGG_SIMD` sets.
fn parse_cap(raw: Option<std::borrow::Cow<'_, str>>) -> Result<Option<SimdLevel>> {
    match raw {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text.parse().map(Some),
    }
}

#[cfg(test)]
thread_local! {
    /// A further cap that tests set on their own thread (see [`with_cap`]).
    static TEST_CAP: std::cell::Cell<SimdLevel> = const { std::cell::Cell::new(SimdLevel::Avx512) };
}

/// The level the CPU backend runs at: [`SimdLevel::detected`] capped by [`simd_cap`].
pub fn simd_level() -> Result<SimdLevel> {
    let level = match simd_cap()? {
        Some(cap) => SimdLevel::detected().min(cap),
        None => SimdLevel::detected(),
    };
    #[cfg(test)]
    let level = level.min(TEST_CAP.with(std::cell::Cell::get));
    Ok(level)
}

/// Runs `f` with the level capped at `cap` on this thread (the kernels read the level on the
/// calling thread), so tests cover the lower paths on a CPU that has the higher ones.
#[cfg(test)]
pub(crate) fn with_cap(cap: SimdLevel, f: impl FnOnce()) {
    let old = TEST_CAP.with(|c| c.replace(cap));
    f();
    TEST_CAP.with(|c| c.set(old));
}

/// Runs `f` once at every level below the one the backend would use, so tests cover the
/// AVX2 and generic paths on a CPU with AVX-512.
#[cfg(test)]
pub(crate) fn each_lower_level(f: impl Fn()) {
    let top = simd_level().expect("BYZAGG_SIMD names a level");
    for level in SimdLevel::ALL.into_iter().filter(|l| *l < top) {
        with_cap(level, &f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_name_the_variable() {
        use std::borrow::Cow;
        let cap = |s: &str| parse_cap(Some(Cow::Borrowed(s)));
        assert_eq!(parse_cap(None).unwrap(), None);
        assert_eq!(cap("").unwrap(), None);
        assert_eq!(cap(" AVX2 ").unwrap(), Some(SimdLevel::Avx2));
        for l in SimdLevel::ALL {
            assert_eq!(cap(l.name()).unwrap(), Some(l));
        }
        for bad in ["sse", "avx-512", "avx512f", "1"] {
            let err = cap(bad).unwrap_err().to_string();
            assert!(
                err.contains(SIMD_VAR) && err.contains("avx512, avx2 or generic"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_test_cap_lowers_the_level_and_every_level_runs() {
        let top = simd_level().unwrap();
        assert!(top <= SimdLevel::detected());
        with_cap(SimdLevel::Generic, || {
            assert_eq!(simd_level().unwrap(), SimdLevel::Generic)
        });
        assert_eq!(simd_level().unwrap(), top);
        #[inline(always)]
        fn sum(x: &[f32]) -> f32 {
            x.iter().sum()
        }
        at_level!(fn sum_at(x: &[f32]) -> f32 = sum);
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        for l in SimdLevel::ALL.into_iter().filter(|l| *l <= top) {
            assert_eq!(sum_at(l, &x), 4950.0);
        }
    }
}
