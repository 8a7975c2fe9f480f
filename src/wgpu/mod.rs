//! The WGSL compute backend: the four primitives of SPEC section 5 as shaders run by wgpu on
//! Vulkan, Metal or DX12 (never GL).
//!
//! Layout: a resident `k x d` matrix ([`WgpuRows`]) is a list of coordinate chunks, one storage
//! buffer of `k x len` f32 values each (row-major within the chunk). Each matrix carries its
//! chunk plan, chosen when it is made so that one chunk fits one storage binding (128 MiB on
//! lavapipe); results (medians, mixed rows) take their input's plan, and where a center or a
//! base planned for fewer rows meets the batch it is copied into the batch's plan. Every
//! primitive runs chunk by chunk. Coordinate-wise outputs are written per chunk; distance
//! partial sums come back per chunk and are added in f64.
//!
//! Files: `rows.rs` ([`WgpuRows`], the chunk plan, upload, download, re-chunking), `write_row.rs`
//! (one row of a resident matrix replaced), `caller.rs` (an application's device and
//! buffers: [`Wgpu::from_device`], [`Wgpu::rows_from_buffer`]), `handle.rs` ([`Wgpu`], the handle:
//! the device with its tuning and kernel variant), `device.rs` (the adapter, device,
//! pipelines, launch helpers), `params.rs` ([`WgpuParams`]: chunk length, grid cap and
//! `order_stats` budget, fixed when a handle is made), `kernel_variant.rs` (which kernels
//! run: `BYZAGG_WGPU_KERNELS`), `fast_dist.rs` (the `distances=fast` kernels' error bound and
//! exact recomputation: [`crate::Kernels::dist_error`]), `order_stats_network.rs` (the `order_stats=network` kernels,
//! WGSL generated per row count m with the networks of `src/sort_network.rs`), `memory.rs` (the counted buffers and
//! encoders: live and peak bytes), `float_bits.rs` (tests: a Rust mirror of the shaders'
//! arithmetic on f32 bits, run with subnormals flushed as NVIDIA does), one launcher per primitive, named after it
//! (`order_stats.rs`, `pairwise_dist.rs`, `center_dist.rs`, `mix.rs`) beside its shader in
//! `shaders/<stem>.wgsl`, and `reduce.rs` (row statistics and partial sums). This file holds
//! the [`crate::Kernels`] impl, which checks shapes and forwards.
//!
//! Accuracy and non-finite values: the order statistics order values by integer keys and sum
//! weights in exact u64 fixed point, so the median and the trimmed mean select exactly the
//! values the reference selects (for integer and dyadic weights; real weights are quantised to
//! 2^-60 of the total). Distances scale each pair by a power of two (exactly, by integer
//! exponent arithmetic, subnormal rows included) so that no f32 square can overflow, and add
//! the squares exactly as integers over tiles and chunks (the `distances=fast` kernels add 16
//! squares in f32 first, within a proven bound, with exact recomputation where the rules need
//! it: `fast_dist.rs`); rows holding NaN or an infinity are found by integer row statistics
//! and get `+inf` from the host. Mixes accumulate in f32.
//!
//! Memory: besides the resident matrices, a primitive holds at most one chunk's scratch at a
//! time (the distance partials are one reused buffer, read back per launch or chunk), plus
//! terms in n^2 for the pairwise distances; `memory.rs` counts it ([`memory_stats`]).
//! `order_stats` is cut into dispatches and submissions of bounded work (the OS watchdog).
//!
//! Without the `wgpu` cargo feature only [`adapters`] and the availability probe remain, and
//! they report that the feature is off.

#[cfg(feature = "wgpu")]
mod caller;
#[cfg(feature = "wgpu")]
mod center_dist;
#[cfg(feature = "wgpu")]
mod device;
#[cfg(feature = "wgpu")]
mod fast_dist;
#[cfg(test)]
mod float_bits;
#[cfg(feature = "wgpu")]
mod handle;
#[cfg(feature = "wgpu")]
mod kernel_variant;
#[cfg(feature = "wgpu")]
mod memory;
#[cfg(feature = "wgpu")]
mod mix;
#[cfg(feature = "wgpu")]
mod order_stats;
#[cfg(feature = "wgpu")]
mod order_stats_network;
#[cfg(feature = "wgpu")]
mod pairwise_dist;
#[cfg(feature = "wgpu")]
mod params;
#[cfg(feature = "wgpu")]
mod reduce;
#[cfg(feature = "wgpu")]
mod write_row;

#[cfg(feature = "wgpu")]
mod rows;

#[cfg(feature = "wgpu")]
pub use handle::Wgpu;
#[cfg(feature = "wgpu")]
pub use kernel_variant::{KERNELS_VAR, KernelVariant, MixVariant, OrderStatsVariant, WgpuKernels};
#[cfg(feature = "wgpu")]
#[doc(hidden)]
pub use memory::{MemoryStats, memory_stats, reset_peak};
#[cfg(feature = "wgpu")]
pub use params::WgpuParams;
#[cfg(feature = "wgpu")]
pub use rows::WgpuRows;
#[cfg(feature = "wgpu")]
use rows::{same_chunks, scale_for};

use crate::error::Result;
#[cfg(feature = "wgpu")]
use crate::{
    batch::Batch,
    kernels::{Kernels, OrderStat, shape},
};

/// The wgpu adapters on this machine, one line each (name, graphics API, device type,
/// driver), as `byzagg devices` lists them. Empty without the `wgpu` feature or a driver.
pub fn adapters() -> Vec<String> {
    #[cfg(feature = "wgpu")]
    {
        device::adapter_lines()
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Vec::new()
    }
}

/// `Ok(())` if the wgpu backend can run here (opens the shared device once), else
/// [`Error::Unavailable`](crate::Error::Unavailable) with the reason.
pub(crate) fn probe() -> Result<()> {
    #[cfg(feature = "wgpu")]
    {
        device::shared().map(|_| ())
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Err(crate::error::Error::Unavailable {
            backend: "wgpu",
            reason: "byzagg was built without the `wgpu` cargo feature".into(),
        })
    }
}

/// The four primitives, each forwarded to its own file after the shape rules of `kernels.rs`.
#[cfg(feature = "wgpu")]
impl Kernels for Wgpu {
    type Rows<'a> = WgpuRows;

    fn name(&self) -> &'static str {
        "wgpu"
    }

    fn shape(&self, rows: &WgpuRows) -> (usize, usize) {
        rows.shape()
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<WgpuRows> {
        self.upload_batch(batch)
    }

    fn zeros(&self, k: usize, d: usize) -> Result<WgpuRows> {
        self.alloc(k, d, self.chunk_for(k, d)?, "zeros")
    }

    fn download(&self, rows: &WgpuRows, out: &mut [f32]) -> Result<()> {
        shape::download(rows.shape(), out.len())?;
        self.download_rows(rows, out)
    }

    fn write_row(&self, rows: &mut WgpuRows, row: usize, values: &[f32]) -> Result<()> {
        write_row::write_row(self, rows, row, values)
    }

    fn order_stats(&self, rows: &WgpuRows, weights: &[f64], stat: OrderStat) -> Result<WgpuRows> {
        shape::order_stats(rows.shape(), weights.len())?;
        order_stats::order_stats(self, rows, weights, stat)
    }

    fn pairwise_dist(&self, rows: &WgpuRows) -> Result<Vec<f64>> {
        pairwise_dist::pairwise_dist(self, rows)
    }

    fn center_dist(&self, rows: &WgpuRows, center: &WgpuRows) -> Result<Vec<f64>> {
        shape::center_dist(rows.shape(), center.shape())?;
        let copy = self.chunked_like(center, rows)?;
        center_dist::center_dist(self, rows, copy.as_ref().unwrap_or(center))
    }

    // Only the fast kernels' distances need exact recomputation (`fast_dist.rs`); the
    // exact-sum variants' distances are the recomputation itself.
    fn dist_error(&self, _d: usize) -> Option<f64> {
        (!self.kernels.is_exact_sum()).then(fast_dist::relative_bound)
    }

    // One recomputation kernel: the refined distances are the exact-sum ones already.
    fn refined_dist_error(&self, d: usize) -> Option<f64> {
        self.dist_error(d).map(|_| 0.0)
    }

    // wgpu's exact distance is the exact sum of the f32-rounded squares, with `exact` or not.
    fn exact_pair_dist(&self, rows: &WgpuRows, pairs: &[(usize, usize)], _exact: bool) -> Result<Vec<f64>> {
        shape::pairs(rows.shape(), pairs)?;
        pairwise_dist::pair_dist(self, rows, pairs, self.kernels.exact_sum())
    }

    fn exact_center_dist(
        &self,
        rows: &WgpuRows,
        center: &WgpuRows,
        which: &[usize],
        _exact: bool,
    ) -> Result<Vec<f64>> {
        shape::center_dist(rows.shape(), center.shape())?;
        shape::which(rows.shape(), which)?;
        let copy = self.chunked_like(center, rows)?;
        let center = copy.as_ref().unwrap_or(center);
        center_dist::center_dist_rows(self, rows, center, which, self.kernels.exact_sum())
    }

    fn mix(
        &self,
        rows: &WgpuRows,
        coeffs: &[f64],
        k: usize,
        base: Option<(&WgpuRows, f64)>,
    ) -> Result<WgpuRows> {
        shape::mix(rows.shape(), coeffs.len(), k, base.map(|(b, _)| b.shape()))?;
        let copy = match base {
            Some((b, _)) => self.chunked_like(b, rows)?,
            None => None,
        };
        let base = base.map(|(b, scale)| (copy.as_ref().unwrap_or(b), scale));
        mix::mix(self, rows, coeffs, k, base)
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod tests;
