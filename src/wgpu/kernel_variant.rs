//! Which of two competing WGSL kernels the distance primitives launch: the one setting
//! `BYZAGG_WGPU_KERNELS`, read once when a [`super::Wgpu`] handle is made ([`Wgpu::new`],
//! [`Wgpu::from_device`]); a value it does not know is an error naming the variable.
//!
//! - `serial`: one invocation per (pair or row,
//!   tile of 64 coordinates) walks its 64 consecutive floats alone
//!   (`pairwise_dist_partial`, `center_dist_partial`).
//! - `coalesced` (the default: faster on an H200, see docs/PERFORMANCE.md): one workgroup per (pair or row, tile of 1024 coordinates), its lanes along the
//!   coordinates so that each load reads 64 consecutive floats, the lanes' exact sums added in
//!   workgroup memory (`pairwise_dist_coalesced`, `center_dist_coalesced`).
//!
//! Both add the same squares as exact integers, so their distances are bit-identical; only
//! the speed differs. `byzagg bench --backend wgpu` times whichever the variable selects.
//!
//! [`Wgpu::new`]: super::Wgpu::new
//! [`Wgpu::from_device`]: super::Wgpu::from_device

use super::device::{
    CENTER_DIST_COALESCED, CENTER_DIST_PARTIAL, PAIRWISE_DIST_COALESCED, PAIRWISE_DIST_PARTIAL, WORKGROUP,
};
use crate::error::{Error, Result};

/// Coordinates per lane of the coalesced kernels (`COALESCED_STEPS` in wide_sum.wgsl).
const COALESCED_STEPS: u64 = 16;

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
}

impl KernelVariant {
    /// Every variant, for tests and benchmarks that compare them.
    pub const ALL: [KernelVariant; 2] = [KernelVariant::Serial, KernelVariant::Coalesced];

    /// The variant's name, as `BYZAGG_WGPU_KERNELS` spells it.
    pub fn name(self) -> &'static str {
        match self {
            KernelVariant::Serial => "serial",
            KernelVariant::Coalesced => "coalesced",
        }
    }

    /// The variant `text` names (case and surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|v| v.name() == wanted).ok_or_else(|| {
            Error::invalid(
                KERNELS_VAR,
                format!("{text:?}"),
                "must be serial or coalesced, or unset (serial)",
            )
        })
    }

    /// The variant `BYZAGG_WGPU_KERNELS` selects; the default when it is unset or empty.
    pub(crate) fn from_env() -> Result<Self> {
        match std::env::var_os(KERNELS_VAR) {
            Some(raw) if !raw.to_string_lossy().trim().is_empty() => Self::parse(&raw.to_string_lossy()),
            _ => Ok(Self::default()),
        }
    }

    /// Coordinates per partial sum (per tile) of the distance kernels.
    pub(crate) fn tile(self) -> u64 {
        match self {
            KernelVariant::Serial => WORKGROUP,
            KernelVariant::Coalesced => COALESCED_STEPS * WORKGROUP,
        }
    }

    /// Invocations to dispatch for `partials` partial sums: one each, or one workgroup each.
    pub(crate) fn invocations(self, partials: u64) -> u64 {
        match self {
            KernelVariant::Serial => partials,
            KernelVariant::Coalesced => partials * WORKGROUP,
        }
    }

    /// The entry point of `pairwise_dist`.
    pub(crate) fn pairwise_entry(self) -> &'static str {
        match self {
            KernelVariant::Serial => PAIRWISE_DIST_PARTIAL,
            KernelVariant::Coalesced => PAIRWISE_DIST_COALESCED,
        }
    }

    /// The entry point of `center_dist`.
    pub(crate) fn center_entry(self) -> &'static str {
        match self {
            KernelVariant::Serial => CENTER_DIST_PARTIAL,
            KernelVariant::Coalesced => CENTER_DIST_COALESCED,
        }
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
        let err = KernelVariant::parse("fast").unwrap_err().to_string();
        assert!(err.contains(KERNELS_VAR) && err.contains("serial"), "{err}");
    }
}
