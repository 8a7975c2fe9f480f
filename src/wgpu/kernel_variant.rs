//! Which of the competing WGSL kernels a [`super::Wgpu`] handle launches: the one setting
//! `BYZAGG_WGPU_KERNELS`, read once when a handle is made ([`Wgpu::new`],
//! [`Wgpu::from_device`]); a value it does not know is an error naming the variable. Its text
//! is a comma-separated list of `primitive=variant` (`order_stats=network,distances=serial`);
//! a bare `serial`, `coalesced` or `fast` names the distance kernels, as before there was a list.
//!
//! Distance kernels (`distances=`, [`KernelVariant`]):
//! - `serial`: one invocation per (pair or row,
//!   tile of 64 coordinates) walks its 64 consecutive floats alone
//!   (`pairwise_dist_partial`, `center_dist_partial`).
//! - `coalesced` (the default: faster on an H200, see docs/PERFORMANCE.md): one workgroup per (pair or row, tile of 1024 coordinates), its lanes along the
//!   coordinates so that each load reads 64 consecutive floats, the lanes' exact sums added in
//!   workgroup memory (`pairwise_dist_coalesced`, `center_dist_coalesced`).
//!
//! - `fast` (not the default until a GPU has timed it): the coalesced layout, but each lane
//!   adds its 16 squares in f32 and converts that one lane sum to the exact integer sum
//!   (`pairwise_dist_fast`, `center_dist_fast`), so the 128-bit additions run once per 16
//!   coordinates. Its distances lie within a proven bound of the exact-sum ones, and the
//!   backend recomputes exactly (with the `coalesced` kernels) the distances the rules cannot
//!   order from the bound, so selections stay the other variants' (`fast_dist.rs`).
//!
//! `serial` and `coalesced` add the same squares as exact integers, so their distances are
//! bit-identical; only the speed differs. `byzagg bench --backend wgpu` times whichever the
//! variable selects.
//!
//! `order_stats` ([`OrderStatsVariant`]):
//! - `recount` (the default until a GPU has timed the other): `order_stats.wgsl`, each value's
//!   cumulative weight counted over the others, O(m^2) loads per coordinate.
//! - `network`: kernels generated per row count m <= 64 with straight-line min/max networks
//!   and one weight scan (`order_stats_network.rs`); more rows take `recount`. The same
//!   results bit for bit.
//!
//! `mix` ([`MixVariant`]):
//! - `classic` (the default until a GPU has timed the others): one invocation per output value
//!   (`mix`).
//! - `wide`: one workgroup per (output row, 256 coordinates), four coordinates per lane, the
//!   row's terms staged in workgroup memory (`mix_wide`).
//! - `wide_direct`: `wide` with the terms read from global memory instead (no workgroup
//!   memory, no barrier: `mix_wide_direct`).
//!
//! The three give the same results bit for bit.
//!
//! [`Wgpu::new`]: super::Wgpu::new
//! [`Wgpu::from_device`]: super::Wgpu::from_device

use super::device::{
    CENTER_DIST_COALESCED, CENTER_DIST_FAST, CENTER_DIST_PARTIAL, PAIRWISE_DIST_COALESCED,
    PAIRWISE_DIST_FAST, PAIRWISE_DIST_PARTIAL, WORKGROUP,
};
use crate::error::{Error, Result};

/// Coordinates per lane of the coalesced and fast kernels (`COALESCED_STEPS` in
/// wide_sum.wgsl): the fast kernels' f32 lane sums have this many terms (`fast_dist.rs`).
pub(crate) const COALESCED_STEPS: u64 = 16;

/// The environment variable that selects the variant.
pub const KERNELS_VAR: &str = "BYZAGG_WGPU_KERNELS";

/// The distance kernels a [`super::Wgpu`] handle launches (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelVariant {
    /// One invocation walks a tile of 64 consecutive coordinates.
    Serial,
    /// A workgroup's lanes run along the coordinates (coalesced loads). The default since an
    /// H200 (NVIDIA's Vulkan driver) measured it 3.1-3.5x faster than `serial` for
    /// pairwise_dist and 2.0-2.2x for center_dist at d = 10^8 (docs/PERFORMANCE.md).
    #[default]
    Coalesced,
    /// The coalesced layout with f32 lane sums of 16 squares, each converted exactly: within
    /// a proven bound of the others (`fast_dist.rs`), exact recomputation where the rules need
    /// it. Not yet timed on a GPU, so not the default.
    Fast,
}

impl KernelVariant {
    /// Every variant, for tests and benchmarks that compare them.
    pub const ALL: [KernelVariant; 3] = [
        KernelVariant::Serial,
        KernelVariant::Coalesced,
        KernelVariant::Fast,
    ];

    /// The variant's name, as `BYZAGG_WGPU_KERNELS` spells it.
    pub fn name(self) -> &'static str {
        match self {
            KernelVariant::Serial => "serial",
            KernelVariant::Coalesced => "coalesced",
            KernelVariant::Fast => "fast",
        }
    }

    /// The variant `text` names (case and surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|v| v.name() == wanted).ok_or_else(|| {
            Error::invalid(
                KERNELS_VAR,
                format!("{text:?}"),
                "must be serial, coalesced or fast, or unset (coalesced)",
            )
        })
    }

    /// Coordinates per partial sum (per tile) of the distance kernels.
    pub(crate) fn tile(self) -> u64 {
        match self {
            KernelVariant::Serial => WORKGROUP,
            KernelVariant::Coalesced | KernelVariant::Fast => COALESCED_STEPS * WORKGROUP,
        }
    }

    /// Invocations to dispatch for `partials` partial sums: one each, or one workgroup each.
    pub(crate) fn invocations(self, partials: u64) -> u64 {
        match self {
            KernelVariant::Serial => partials,
            KernelVariant::Coalesced | KernelVariant::Fast => partials * WORKGROUP,
        }
    }

    /// The entry point of `pairwise_dist`.
    pub(crate) fn pairwise_entry(self) -> &'static str {
        match self {
            KernelVariant::Serial => PAIRWISE_DIST_PARTIAL,
            KernelVariant::Coalesced => PAIRWISE_DIST_COALESCED,
            KernelVariant::Fast => PAIRWISE_DIST_FAST,
        }
    }

    /// The entry point of `center_dist`.
    pub(crate) fn center_entry(self) -> &'static str {
        match self {
            KernelVariant::Serial => CENTER_DIST_PARTIAL,
            KernelVariant::Coalesced => CENTER_DIST_COALESCED,
            KernelVariant::Fast => CENTER_DIST_FAST,
        }
    }

    /// Whether the distances are the exact sums of the f32 squares (bit-identical across
    /// such variants); `fast`'s are within `fast_dist.rs`'s bound of them.
    pub fn is_exact_sum(self) -> bool {
        self != KernelVariant::Fast
    }

    /// The exact-sum variant that recomputes this one's distances where its bound cannot
    /// order them: itself for an exact variant, `coalesced` (the same layout) for `fast`.
    pub(crate) fn exact_sum(self) -> Self {
        if self.is_exact_sum() {
            self
        } else {
            KernelVariant::Coalesced
        }
    }
}

/// How `order_stats` runs (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderStatsVariant {
    /// `order_stats.wgsl`: each value's weight below it counted over the others (O(m^2)).
    #[default]
    Recount,
    /// Kernels generated per row count m <= 64: min/max networks pruned to the ranks the
    /// rule reads (equal weights) or a composite-key sort and one weight scan (weighted).
    /// Not yet timed on a GPU, so not the default.
    Network,
}

impl OrderStatsVariant {
    /// Every variant, for tests and benchmarks that compare them.
    pub const ALL: [OrderStatsVariant; 2] = [OrderStatsVariant::Recount, OrderStatsVariant::Network];

    /// The variant's name, as `BYZAGG_WGPU_KERNELS` spells it after `order_stats=`.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatsVariant::Recount => "recount",
            OrderStatsVariant::Network => "network",
        }
    }
}

/// How `mix` runs (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MixVariant {
    /// One invocation per output value (`mix` in mix.wgsl).
    #[default]
    Classic,
    /// One workgroup per (output row, 256 coordinates), four coordinates per lane, the row's
    /// terms staged in workgroup memory (`mix_wide`). Not yet timed on a GPU, so not the
    /// default.
    Wide,
    /// `Wide` reading the terms from global memory (`mix_wide_direct`): no barrier. Not yet
    /// timed on a GPU, so not the default.
    WideDirect,
}

impl MixVariant {
    /// Every variant, for tests and benchmarks that compare them.
    pub const ALL: [MixVariant; 3] = [MixVariant::Classic, MixVariant::Wide, MixVariant::WideDirect];

    /// The variant's name, as `BYZAGG_WGPU_KERNELS` spells it after `mix=`.
    pub fn name(self) -> &'static str {
        match self {
            MixVariant::Classic => "classic",
            MixVariant::Wide => "wide",
            MixVariant::WideDirect => "wide_direct",
        }
    }
}

/// Every kernel choice of a handle, as `BYZAGG_WGPU_KERNELS` spells it (the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WgpuKernels {
    /// `pairwise_dist` and `center_dist`.
    pub distances: KernelVariant,
    /// `order_stats`.
    pub order_stats: OrderStatsVariant,
    /// `mix`.
    pub mix: MixVariant,
}

impl WgpuKernels {
    /// The choices `text` names: `primitive=variant` items separated by commas, or a bare
    /// distance variant; a primitive not named keeps its default.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = WgpuKernels::default();
        let bad = |why: String| Error::invalid(KERNELS_VAR, format!("{text:?}"), why);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or(("distances", item));
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "distances" => out.distances = KernelVariant::parse(value)?,
                "order_stats" => {
                    let wanted = value.to_ascii_lowercase();
                    out.order_stats = OrderStatsVariant::ALL
                        .into_iter()
                        .find(|v| v.name() == wanted)
                        .ok_or_else(|| bad(format!("order_stats takes recount or network, not {value:?}")))?;
                }
                "mix" => {
                    let wanted = value.to_ascii_lowercase();
                    out.mix = MixVariant::ALL
                        .into_iter()
                        .find(|v| v.name() == wanted)
                        .ok_or_else(|| {
                            bad(format!("mix takes classic, wide or wide_direct, not {value:?}"))
                        })?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown primitive {other:?}; known: distances (serial, coalesced, fast), order_stats \
                         (recount, network), mix (classic, wide, wide_direct)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The choices `BYZAGG_WGPU_KERNELS` names; every default when it is unset or empty.
    pub(crate) fn from_env() -> Result<Self> {
        match std::env::var_os(KERNELS_VAR) {
            Some(raw) => Self::parse(&raw.to_string_lossy()),
            None => Ok(Self::default()),
        }
    }
}

impl std::fmt::Display for WgpuKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "distances={},order_stats={},mix={}",
            self.distances.name(),
            self.order_stats.name(),
            self.mix.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_values_name_the_variable() {
        for v in KernelVariant::ALL {
            assert_eq!(KernelVariant::parse(v.name()).unwrap(), v);
        }
        assert_eq!(
            KernelVariant::parse(" Coalesced ").unwrap(),
            KernelVariant::Coalesced
        );
        let err = KernelVariant::parse("fastest").unwrap_err().to_string();
        assert!(err.contains(KERNELS_VAR) && err.contains("serial"), "{err}");
    }

    #[test]
    fn lists_name_each_primitive_and_bare_names_the_distances() {
        assert_eq!(WgpuKernels::parse("").unwrap(), WgpuKernels::default());
        let both = WgpuKernels::parse(" order_stats=Network , distances=serial").unwrap();
        assert_eq!(both.order_stats, OrderStatsVariant::Network);
        assert_eq!(both.distances, KernelVariant::Serial);
        assert_eq!(WgpuKernels::parse(&both.to_string()).unwrap(), both);
        let bare = WgpuKernels::parse("serial").unwrap();
        assert_eq!(bare.distances, KernelVariant::Serial);
        assert_eq!(bare.order_stats, OrderStatsVariant::Recount);
        assert_eq!(
            WgpuKernels::parse("order_stats=network,distances=fast")
                .unwrap()
                .distances,
            KernelVariant::Fast
        );
        let mixed = WgpuKernels::parse("mix=Wide").unwrap();
        assert_eq!(mixed.mix, MixVariant::Wide);
        assert_eq!(mixed.order_stats, OrderStatsVariant::Recount);
        assert_eq!(bare.mix, MixVariant::Classic);
        assert_eq!(
            WgpuKernels::parse("mix=wide_direct").unwrap().mix,
            MixVariant::WideDirect
        );
        let all = WgpuKernels::parse("distances=fast,order_stats=network,mix=wide").unwrap();
        assert_eq!(WgpuKernels::parse(&all.to_string()).unwrap(), all);
        for wrong in ["order_stats=fast", "mix=fast", "fastest", "reduce=wide"] {
            let err = WgpuKernels::parse(wrong).unwrap_err().to_string();
            assert!(err.contains(KERNELS_VAR), "{wrong}: {err}");
        }
    }
}
