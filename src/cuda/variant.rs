//! Kernel variants of the CUDA backend: where a new kernel competes with the one it would
//! replace, both stay selectable until a GPU has measured them side by side, through one
//! setting, [`KernelVariants`]: [`Cuda::with_kernels`](super::Cuda::with_kernels) in code, or
//! the environment variable `BYZAGG_CUDA_KERNELS` (read once when a backend is opened), e.g.
//! `BYZAGG_CUDA_KERNELS=order_stats=bitonic,pairwise=deferred`. `byzagg bench` records the
//! variants in effect in each JSON record (`variant`), so one run can time every variant
//! beside the read pass (`scripts/gpu-check.sh`).
//!
//! The text form is a comma-separated list of `primitive=variant`; a primitive not named keeps
//! its default, and an unknown primitive or variant is an error naming the variable.
//!
//! | key | variants (default first) | kernels |
//! |---|---|---|
//! | `order_stats` | `pruned`, `bitonic` | `kernels/order_stats.cu` |
//! | `pairwise` | `registers`, `deferred`, `tiled` | `kernels/pairwise_dist.cu` |
//! | `center_dist` | `classic`, `wide`, `slices` | `kernels/center_dist.cu` |
//! | `mix` | `wide`, `classic` | `kernels/mix.cu` (one output row) |
//! | `mix_rows` | `groups`, `tiled` | `kernels/mix.cu` (more output rows: NNM, bucketing) |
//!
//! `pairwise_ties=fast|exact` (a distance-level exact pass after `pairwise_dist`) was removed:
//! exact ties now always break as in the reference, through the rules' boundary recompute
//! (`aggregate/exact_ties.rs`, `exact_dist.rs`). Naming it is an error that says so, not a
//! setting silently ignored.

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
    Bitonic,
    /// One module per exact row count m (compiled on first use and cached): Batcher
    /// odd-even merge networks pruned to the ranks the rule reads, row pointers as kernel
    /// parameters, a one-wave grid, 32-bit (value, row) composite keys for weighted rows
    /// with an exact fallback, MeaMed in registers and shared memory. The default since an
    /// H200 measured it 2.3-4.2x faster than `bitonic` (docs/PERFORMANCE.md).
    #[default]
    Pruned,
}

/// `pairwise_dist`'s kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PairwiseVariant {
    /// One block per (pair of 8-row sub-tiles, coordinate split), the 64 pair sums in each
    /// lane's registers, the f64 redo of overflowed or underflowed lane sums inline.
    #[default]
    Registers,
    /// The same grid and register tiles, 64 coordinates per lane between f64 flushes, and
    /// no f64 redo inline: the pairs whose sums overflowed or underflowed f32 are recomputed
    /// afterwards (`pairwise_dist.rs`).
    Deferred,
    /// Up to 96 rows (more take `deferred`): a one-wave grid whose blocks stream tiles of
    /// every row x 64 coordinates through shared memory (double-buffered, `cp.async` on sm_80
    /// and later), one 8 x 8 sub-tile pair per warp for the block's whole span, lanes along
    /// the coordinates, an f64 flush every 64 coordinates per lane; pairs whose squares
    /// overflowed f32 are summed again with the rows scaled by a power of two, tiny ones
    /// recomputed exactly, as for `deferred`. Not yet timed on a GPU, so not the default.
    Tiled,
}

/// The shape of a streaming kernel, `center_dist`'s or `mix`'s (one output row): they share
/// their design, each is chosen on its own.
///
/// Measured on an H200 at d = 10^8 (docs/PERFORMANCE.md): `wide` made `mix` 1.6-1.7x faster
/// (73-98% of a device read pass) and `center_dist` 1.4-1.6x slower, so `mix` defaults to
/// `wide` and `center_dist` to `classic`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StreamVariant {
    /// One coordinate per thread per step, a grid of about eight blocks per multiprocessor,
    /// a second kernel reducing center_dist's partial sums.
    #[default]
    Classic,
    /// Four coordinates per thread per step (16-byte loads where the rows are aligned), a
    /// one-wave persistent grid, the center read once per block for all its rows, the
    /// coefficients and row pointers in shared memory, center_dist in one launch.
    Wide,
    /// `center_dist` only (`mix=slices` is an error: `mix` has no such kernel): `classic`'s
    /// sums bit for bit (its splits, row groups, per-thread order and reductions) from a
    /// one-wave persistent grid whose blocks take up to four row groups of one split at once
    /// (slices of 256 threads that read each center value together, the items of one split
    /// side by side), four steps of the coordinate loop loaded before any is added.
    /// Not yet timed on a GPU, so not the default.
    Slices,
}

/// `mix`'s kernel for more than one output row (NNM's k = n mix, bucketing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MixRowsVariant {
    /// `mix_k8`: a grid (coordinate blocks, groups of 8 output rows); each block reads the
    /// input rows its group needs, so the batch is read once per group (8x at k = n = 64).
    #[default]
    Groups,
    /// `mix_tiled`: a one-wave grid whose blocks stage a tile of every needed input row in
    /// shared memory once and compute all output rows of those coordinates from it, the
    /// coefficients read as 16-byte loads, the zero-coefficient test only for non-finite
    /// values; bit-identical to `groups`. Up to 186 input rows with a non-zero coefficient
    /// (more take `groups`). Not yet timed on a GPU, so not the default.
    Tiled,
}

/// The text names of a variant enum, default first.
trait Named: Copy + PartialEq + 'static {
    const ALL: &'static [(Self, &'static str)];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(v, _)| *v == self).map_or("?", |(_, n)| n)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }

    fn accepted() -> String {
        Self::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(" or ")
    }
}

impl Named for OrderStatsVariant {
    const ALL: &'static [(Self, &'static str)] = &[(Self::Pruned, "pruned"), (Self::Bitonic, "bitonic")];
}

impl Named for PairwiseVariant {
    const ALL: &'static [(Self, &'static str)] = &[
        (Self::Registers, "registers"),
        (Self::Deferred, "deferred"),
        (Self::Tiled, "tiled"),
    ];
}

impl Named for StreamVariant {
    const ALL: &'static [(Self, &'static str)] = &[
        (Self::Classic, "classic"),
        (Self::Wide, "wide"),
        (Self::Slices, "slices"),
    ];
}

impl Named for MixRowsVariant {
    const ALL: &'static [(Self, &'static str)] = &[(Self::Groups, "groups"), (Self::Tiled, "tiled")];
}

impl MixRowsVariant {
    /// The variant's name in the text form.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

impl OrderStatsVariant {
    /// The variant's name in the text form.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

impl PairwiseVariant {
    /// The variant's name in the text form.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

impl StreamVariant {
    /// The variant's name in the text form.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

/// The kernel variant of each primitive that has more than one.
///
/// ```
/// use byzagg::cuda::{KernelVariants, OrderStatsVariant, PairwiseVariant};
///
/// let v = KernelVariants::parse("order_stats=pruned,pairwise=deferred")?;
/// assert_eq!(v.order_stats, OrderStatsVariant::Pruned);
/// assert_eq!(v.pairwise, PairwiseVariant::Deferred);
/// assert_eq!(
///     v.to_string(),
///     "order_stats=pruned,pairwise=deferred,center_dist=classic,mix=wide,mix_rows=groups"
/// );
/// assert_eq!(KernelVariants::parse("")?, KernelVariants::default());
/// assert!(KernelVariants::parse("order_stats=fast").is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelVariants {
    /// `order_stats`'s register path (m <= 64): `order_stats=bitonic|pruned`.
    pub order_stats: OrderStatsVariant,
    /// `pairwise=registers|deferred|tiled`.
    pub pairwise: PairwiseVariant,
    /// `center_dist=classic|wide|slices`.
    pub center_dist: StreamVariant,
    /// `mix=wide|classic` (one output row; `slices` is refused).
    pub mix: StreamVariant,
    /// `mix_rows=groups|tiled` (more output rows).
    pub mix_rows: MixRowsVariant,
}

/// The measured faster kernel of each primitive (see each variant's docs).
impl Default for KernelVariants {
    fn default() -> Self {
        KernelVariants {
            order_stats: OrderStatsVariant::default(),
            pairwise: PairwiseVariant::default(),
            center_dist: StreamVariant::Classic,
            mix: StreamVariant::Wide,
            mix_rows: MixRowsVariant::default(),
        }
    }
}

impl KernelVariants {
    /// Parses `primitive=variant[,primitive=variant...]` (empty: the defaults). The error
    /// names [`ENV`], where the text usually comes from, and lists what is accepted.
    pub fn parse(text: &str) -> Result<Self> {
        fn pick<V: Named>(key: &str, value: &str) -> std::result::Result<V, String> {
            V::from_name(value).ok_or_else(|| format!("{key} takes {}", V::accepted()))
        }
        let mut out = KernelVariants::default();
        let bad = |why: String| Error::invalid(ENV, format!("{text:?}"), why);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(format!("{item:?} is not primitive=variant")));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "order_stats" => out.order_stats = pick(key, value).map_err(bad)?,
                "pairwise" => out.pairwise = pick(key, value).map_err(bad)?,
                "center_dist" => out.center_dist = pick(key, value).map_err(bad)?,
                "mix" => {
                    out.mix = pick(key, value).map_err(bad)?;
                    if out.mix == StreamVariant::Slices {
                        return Err(bad(
                            "mix takes wide or classic (slices is a center_dist kernel only)".into(),
                        ));
                    }
                }
                "mix_rows" => out.mix_rows = pick(key, value).map_err(bad)?,
                "pairwise_ties" => {
                    return Err(bad(
                        "pairwise_ties was removed: exact distance ties always break as in the \
                         reference now (the rules recompute the distances at their selection's \
                         boundary exactly)"
                            .into(),
                    ));
                }
                other => {
                    return Err(bad(format!(
                        "unknown primitive {other:?}; known: order_stats, pairwise, center_dist, \
                         mix, mix_rows"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The choice in `BYZAGG_CUDA_KERNELS` (every default when unset).
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

/// The text form, every primitive named (what the benchmark records as `variant`):
/// `order_stats=pruned,pairwise=registers,center_dist=classic,mix=wide,mix_rows=groups`.
impl fmt::Display for KernelVariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "order_stats={},pairwise={},center_dist={},mix={},mix_rows={}",
            self.order_stats.name(),
            self.pairwise.name(),
            self.center_dist.name(),
            self.mix.name(),
            self.mix_rows.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_bad_text_names_the_variable() {
        for order_stats in [OrderStatsVariant::Bitonic, OrderStatsVariant::Pruned] {
            for pairwise in [
                PairwiseVariant::Registers,
                PairwiseVariant::Deferred,
                PairwiseVariant::Tiled,
            ] {
                for center_dist in [StreamVariant::Classic, StreamVariant::Wide, StreamVariant::Slices] {
                    for mix_rows in [MixRowsVariant::Groups, MixRowsVariant::Tiled] {
                        let mix = if center_dist == StreamVariant::Slices {
                            StreamVariant::Classic
                        } else {
                            center_dist
                        };
                        let kv = KernelVariants {
                            order_stats,
                            pairwise,
                            center_dist,
                            mix,
                            mix_rows,
                        };
                        assert_eq!(KernelVariants::parse(&kv.to_string()).unwrap(), kv);
                    }
                }
            }
        }
        let v = KernelVariants::parse(" order_stats = pruned , center_dist=wide,").unwrap();
        assert_eq!(v.order_stats, OrderStatsVariant::Pruned);
        assert_eq!(v.center_dist, StreamVariant::Wide);
        assert_eq!(v.mix, StreamVariant::Wide);
        assert_eq!(v.pairwise, PairwiseVariant::Registers);
        for bad in [
            "order_stats",
            "order_stats=quick",
            "median=pruned",
            "=pruned",
            "pairwise=tiles",
            "center_dist=",
            "center_mix=wide",
            "pairwise_ties=exact",
            "pairwise_ties=fast",
            "mix_rows=wide",
            "mix=slices",
        ] {
            let e = KernelVariants::parse(bad).unwrap_err().to_string();
            assert!(e.contains(ENV), "{bad}: {e}");
        }
        // The removed setting says why, rather than being unknown.
        let e = KernelVariants::parse("pairwise_ties=exact")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pairwise_ties was removed"), "{e}");
        let e = KernelVariants::parse("mix=slices").unwrap_err().to_string();
        assert!(e.contains("center_dist kernel only"), "{e}");
        assert_eq!(
            KernelVariants::parse("center_dist=slices").unwrap().center_dist,
            StreamVariant::Slices
        );
    }
}
