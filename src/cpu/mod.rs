//! The CPU backend: the four primitives of SPEC section 5 on host memory, rayon across
//! coordinate chunks and SIMD within them.
//!
//! Each primitive lives in its own file (`order_stats.rs`, `pairwise_dist.rs`,
//! `center_dist.rs`, `mix.rs`), and so does each fused pair of them (`order_stats_dist.rs`,
//! `mix_dist.rs`: a primitive and the distances to its result in one pass;
//! `mix_order_stats.rs`: an order statistic of mixed rows that are never stored); `buffer.rs`
//! keeps dropped outputs for reuse. This file only holds the resident matrix type and the
//! [`Kernels`] impl, which checks shapes (the rules of `kernels.rs`) and forwards. Uploading
//! borrows the caller's [`Batch`], so nothing is copied.
//!
//! SIMD is chosen at run time ([`simd_level`]): the best level the CPU supports (AVX-512,
//! AVX2+FMA or the baseline), capped by the `BYZAGG_SIMD` environment variable; the inner
//! chunk functions are compiled at that level (`simd.rs`). No `target-cpu=native` is needed.
//!
//! Threads come from rayon's global pool; size it with `RAYON_NUM_THREADS` or
//! `rayon::ThreadPoolBuilder` around the call.

mod buffer;
mod center_dist;
#[cfg(test)]
mod fused_tests;
mod mix;
mod mix_dist;
mod mix_order_stats;
mod order_stats;
mod order_stats_dist;
mod pairwise_dist;
pub(crate) mod simd;
#[cfg(test)]
mod stale_buffer_tests;
mod write_row;

pub use buffer::release_buffers;
pub use simd::{SIMD_VAR, SimdLevel, simd_cap, simd_level};

use crate::batch::Batch;
use crate::error::Result;
use crate::kernels::{Kernels, OrderStat, shape};

/// The CPU backend.
///
/// # Examples
///
/// ```
/// use byzagg::cpu::Cpu;
/// use byzagg::{Batch, Kernels, OrderStat};
///
/// let data = [1.0f32, 9.0, 2.0, 8.0, 3.0, f32::NAN];
/// let cpu = Cpu::new();
/// let rows = cpu.upload(&Batch::from_contiguous(&data, 3)?)?;
/// let median = cpu.order_stats(&rows, &[1.0; 3], OrderStat::Median)?;
/// let mut out = [0.0f32; 2];
/// cpu.download(&median, &mut out)?;
/// assert_eq!(out, [2.0, 9.0]); // NaN sorts above every number
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cpu;

impl Cpu {
    /// The CPU backend; it holds no state (threads come from rayon's global pool).
    pub fn new() -> Self {
        Cpu
    }
}

/// A `k x d` matrix resident on the host: the caller's batch, borrowed, or a matrix the
/// backend computed (whose buffer, when dropped, is kept for the backend's next output:
/// see [`release_buffers`]).
#[derive(Clone, Debug)]
pub enum HostRows<'a> {
    /// The uploaded batch (`k = n`), borrowed without a copy.
    Borrowed(Batch<'a>),
    /// A computed matrix, row-major.
    Owned {
        /// `k * d` values, row-major.
        data: Vec<f32>,
        /// Number of rows.
        k: usize,
        /// Values per row.
        d: usize,
    },
}

impl HostRows<'_> {
    /// Number of rows.
    pub fn k(&self) -> usize {
        match self {
            HostRows::Borrowed(b) => b.n(),
            HostRows::Owned { k, .. } => *k,
        }
    }

    /// Values per row.
    pub fn d(&self) -> usize {
        match self {
            HostRows::Borrowed(b) => b.d(),
            HostRows::Owned { d, .. } => *d,
        }
    }

    /// Row `i` (panics if `i >= k`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        match self {
            HostRows::Borrowed(b) => b.row(i),
            HostRows::Owned { data, d, .. } => &data[i * d..(i + 1) * d],
        }
    }

    /// All rows as slices: what the kernels work on.
    fn slices(&self) -> Vec<&[f32]> {
        (0..self.k()).map(|i| self.row(i)).collect()
    }
}

impl Drop for HostRows<'_> {
    fn drop(&mut self) {
        if let HostRows::Owned { data, .. } = self {
            buffer::give_back(std::mem::take(data));
        }
    }
}

impl Kernels for Cpu {
    type Rows<'a> = HostRows<'a>;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn shape(&self, rows: &HostRows<'_>) -> (usize, usize) {
        (rows.k(), rows.d())
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<HostRows<'a>> {
        Ok(HostRows::Borrowed(batch.clone()))
    }

    fn zeros(&self, k: usize, d: usize) -> Result<HostRows<'static>> {
        Ok(HostRows::Owned {
            data: buffer::zeros(k * d),
            k,
            d,
        })
    }

    fn download(&self, rows: &HostRows<'_>, out: &mut [f32]) -> Result<()> {
        let d = rows.d();
        shape::download(self.shape(rows), out.len())?;
        for (i, o) in out.chunks_exact_mut(d.max(1)).enumerate().take(rows.k()) {
            o.copy_from_slice(rows.row(i));
        }
        Ok(())
    }

    fn write_row(&self, rows: &mut HostRows<'_>, row: usize, values: &[f32]) -> Result<()> {
        write_row::write_row(rows, row, values)
    }

    fn order_stats(
        &self,
        rows: &HostRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<HostRows<'static>> {
        shape::order_stats(self.shape(rows), weights.len())?;
        let data = order_stats::order_stats(simd_level()?, &rows.slices(), weights, stat)?;
        Ok(HostRows::Owned {
            data,
            k: 1,
            d: rows.d(),
        })
    }

    fn pairwise_dist(&self, rows: &HostRows<'_>) -> Result<Vec<f64>> {
        Ok(pairwise_dist::pairwise_dist(simd_level()?, &rows.slices()))
    }

    fn center_dist(&self, rows: &HostRows<'_>, center: &HostRows<'_>) -> Result<Vec<f64>> {
        shape::center_dist(self.shape(rows), self.shape(center))?;
        Ok(center_dist::center_dist(
            simd_level()?,
            &rows.slices(),
            center.row(0),
        ))
    }

    fn dist_error(&self, d: usize) -> Option<f64> {
        simd_level()
            .ok()
            .map(|simd| pairwise_dist::exact::relative_bound(simd, d))
    }

    fn refined_dist_error(&self, d: usize) -> Option<f64> {
        Some(pairwise_dist::exact::refined_bound(d))
    }

    fn exact_pair_dist(
        &self,
        rows: &HostRows<'_>,
        pairs: &[(usize, usize)],
        exact: bool,
    ) -> Result<Vec<f64>> {
        shape::pairs(self.shape(rows), pairs)?;
        Ok(pairwise_dist::exact::exact_pairs(
            simd_level()?,
            &rows.slices(),
            pairs,
            exact,
        ))
    }

    fn exact_center_dist(
        &self,
        rows: &HostRows<'_>,
        center: &HostRows<'_>,
        which: &[usize],
        exact: bool,
    ) -> Result<Vec<f64>> {
        shape::center_dist(self.shape(rows), self.shape(center))?;
        shape::which(self.shape(rows), which)?;
        Ok(pairwise_dist::exact::exact_center(
            simd_level()?,
            &rows.slices(),
            center.row(0),
            which,
            exact,
        ))
    }

    fn mix(
        &self,
        rows: &HostRows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&HostRows<'_>, f64)>,
    ) -> Result<HostRows<'static>> {
        let d = rows.d();
        shape::mix(
            self.shape(rows),
            coeffs.len(),
            k,
            base.map(|(b, _)| self.shape(b)),
        )?;
        let base_rows = base.map(|(b, scale)| (b.slices(), scale));
        let base_ref = base_rows.as_ref().map(|(b, s)| (b.as_slice(), *s));
        let data = mix::mix(simd_level()?, &rows.slices(), coeffs, k, base_ref, d);
        Ok(HostRows::Owned { data, k, d })
    }

    fn fuses_dist(&self) -> bool {
        true
    }

    fn order_stats_with_dist(
        &self,
        rows: &HostRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<(HostRows<'static>, Vec<f64>)> {
        shape::order_stats(self.shape(rows), weights.len())?;
        let (data, dist) =
            order_stats_dist::order_stats_with_dist(simd_level()?, &rows.slices(), weights, stat)?;
        let center = HostRows::Owned {
            data,
            k: 1,
            d: rows.d(),
        };
        Ok((center, dist))
    }

    fn mix_with_dist(&self, rows: &HostRows<'_>, coeffs: &[f64]) -> Result<(HostRows<'static>, Vec<f64>)> {
        let d = rows.d();
        shape::mix(self.shape(rows), coeffs.len(), 1, None)?;
        let (data, dist) = mix_dist::mix_with_dist(simd_level()?, &rows.slices(), coeffs, d)?;
        Ok((HostRows::Owned { data, k: 1, d }, dist))
    }

    fn mix_order_stats(
        &self,
        rows: &HostRows<'_>,
        coeffs: &[f64],
        k: usize,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<HostRows<'static>> {
        let d = rows.d();
        shape::mix(self.shape(rows), coeffs.len(), k, None)?;
        shape::order_stats((k, d), weights.len())?;
        let data = mix_order_stats::mix_order_stats(simd_level()?, &rows.slices(), coeffs, k, weights, stat)?;
        Ok(HostRows::Owned { data, k: 1, d })
    }
}
