//! The memory roofline: one pass that reads every value of the batch and sums it, on the same
//! rayon threads the CPU backend uses, as the yardstick for every timing of `byzagg bench`.
//!
//! Work is split into (row, coordinate chunk) tasks of [`CHUNK`] values, each summed with 16
//! independent f32 accumulators (vectorised, SIMD chosen at run time like the kernels), so the
//! pass runs at the speed memory delivers data, not at the speed of one dependent add chain.
//! The sum goes through [`std::hint::black_box`], so the compiler cannot drop the reads.

use rayon::prelude::*;

use crate::batch::Batch;

/// Values per rayon task.
const CHUNK: usize = 1 << 16;
/// Independent accumulators of one task.
const ACC: usize = 16;

/// Reads and sums every value of `batch` once; returns the sum (of no interest in itself).
///
/// # Examples
///
/// ```
/// let data = [1.0f32, 2.0, 3.0, 4.0];
/// let batch = byzagg::Batch::from_contiguous(&data, 2)?;
/// assert_eq!(byzagg::bench::read_pass(&batch), 10.0);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn read_pass(batch: &Batch<'_>) -> f64 {
    // `run` has checked BYZAGG_SIMD; a direct caller with a bad one gets the baseline.
    let simd = crate::cpu::simd_level().unwrap_or(crate::cpu::SimdLevel::Generic);
    let (n, d) = (batch.n(), batch.d());
    let chunks = d.div_ceil(CHUNK);
    let total = (0..n * chunks)
        .into_par_iter()
        .map(|t| {
            let (i, c) = (t / chunks, t % chunks);
            let row = batch.row(i);
            f64::from(sum_at(simd, &row[c * CHUNK..d.min((c + 1) * CHUNK)]))
        })
        .sum::<f64>();
    std::hint::black_box(total)
}

crate::cpu::simd::at_level!(
    /// [`sum`] at a SIMD level.
    fn sum_at(x: &[f32]) -> f32 = sum
);

/// Sum of `x` over [`ACC`] lanes.
/// Compiled into each SIMD level's function by `at_level!`.
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for l in 0..ACC {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}
