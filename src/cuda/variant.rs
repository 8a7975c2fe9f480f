//! Which kernel variant each CUDA primitive runs, chosen by ONE setting,
//! `BYZAGG_CUDA_KERNELS`, read once when a [`super::Cuda`] is made.
//!
//! A new kernel does not replace the one it competes with until a GPU has measured both side
//! by side (`scripts/gpu-check.sh` times every variant in one run); until then both stay
//! selectable and today's kernel stays the default. The setting is a comma-separated list of
//! `primitive=variant` entries, e.g. `BYZAGG_CUDA_KERNELS=pairwise=deferred,center_mix=wide`;
//! unset or empty means every default. A key or value it does not know is an error naming
//! the variable and what it accepts, never silently ignored.
//!
//! | key | variants (default first) | kernels |
//! |---|---|---|
//! | `pairwise` | `registers`, `deferred` | `kernels/pairwise_dist.cu` |
//! | `center_mix` | `classic`, `wide` | `kernels/center_dist.cu`, `kernels/mix.cu` |

use crate::error::{Error, Result};

/// The environment variable holding the choice.
pub(crate) const ENV: &str = "BYZAGG_CUDA_KERNELS";

/// `pairwise_dist`'s kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PairwiseVariant {
    /// One block per (pair of 8-row sub-tiles, coordinate split), the 64 pair sums in each
    /// lane's registers: today's kernel.
    #[default]
    Registers,
    /// The same grid and register tiles, 64 coordinates per lane between f64 flushes, and
    /// no f64 redo inline: the pairs whose sums overflowed or underflowed f32 are recomputed
    /// afterwards (`pairwise_dist.rs`).
    Deferred,
}

/// `center_dist`'s and `mix`'s kernels (one choice for both: they share their design).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CenterMixVariant {
    /// One coordinate per thread per step, a grid of about eight blocks per multiprocessor:
    /// today's kernels.
    #[default]
    Classic,
    /// Four coordinates per thread per step (16-byte loads where the rows are aligned), a
    /// one-wave persistent grid, the center read once per block for all its rows, the
    /// coefficients and row pointers in shared memory.
    Wide,
}

/// The variant of every primitive that has more than one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelVariants {
    /// `pairwise=registers|deferred`.
    pub pairwise: PairwiseVariant,
    /// `center_mix=classic|wide`.
    pub center_mix: CenterMixVariant,
}

impl PairwiseVariant {
    fn name(self) -> &'static str {
        match self {
            Self::Registers => "registers",
            Self::Deferred => "deferred",
        }
    }
}

impl CenterMixVariant {
    fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Wide => "wide",
        }
    }
}

impl KernelVariants {
    /// Parses `primitive=variant[,primitive=variant...]` (see the module docs); an empty text
    /// gives every default.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Self::default();
        let bad = |what: String| Error::invalid(ENV, format!("{text:?}"), what);
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| bad(format!("entry {entry:?} must be primitive=variant")))?;
            match (key.trim(), value.trim()) {
                ("pairwise", "registers") => out.pairwise = PairwiseVariant::Registers,
                ("pairwise", "deferred") => out.pairwise = PairwiseVariant::Deferred,
                ("center_mix", "classic") => out.center_mix = CenterMixVariant::Classic,
                ("center_mix", "wide") => out.center_mix = CenterMixVariant::Wide,
                ("pairwise", v) => {
                    return Err(bad(format!("pairwise={v}: pairwise takes registers or deferred")));
                }
                ("center_mix", v) => {
                    return Err(bad(format!("center_mix={v}: center_mix takes classic or wide")));
                }
                (k, _) => {
                    return Err(bad(format!(
                        "unknown primitive {k:?}: the keys are pairwise, center_mix"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The choice in `BYZAGG_CUDA_KERNELS` (every default when unset).
    pub fn from_env() -> Result<Self> {
        match std::env::var_os(ENV) {
            None => Ok(Self::default()),
            Some(raw) => Self::parse(&raw.to_string_lossy()),
        }
    }
}

/// The text [`KernelVariants::parse`] reads back: every key, e.g.
/// `pairwise=registers,center_mix=classic` (what the benchmark records as `variant`).
impl std::fmt::Display for KernelVariants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pairwise={},center_mix={}",
            self.pairwise.name(),
            self.center_mix.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_round_trip_and_name_the_variable_when_wrong() {
        assert_eq!(KernelVariants::parse("").unwrap(), KernelVariants::default());
        let both = KernelVariants::parse(" pairwise = deferred , center_mix=wide,").unwrap();
        assert_eq!(both.pairwise, PairwiseVariant::Deferred);
        assert_eq!(both.center_mix, CenterMixVariant::Wide);
        assert_eq!(KernelVariants::parse(&both.to_string()).unwrap(), both);
        assert_eq!(
            KernelVariants::default().to_string(),
            "pairwise=registers,center_mix=classic"
        );
        for wrong in [
            "pairwise",
            "pairwise=fast",
            "center_mix=",
            "sort=pruned",
            "=deferred",
        ] {
            let e = KernelVariants::parse(wrong).unwrap_err().to_string();
            assert!(e.contains(ENV), "{wrong}: {e}");
        }
    }
}
