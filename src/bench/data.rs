//! Seeded benchmark data: an `n x d` batch of approximately standard normal f32 values and
//! non-uniform weights, the same for a given seed on every machine and thread count.
//!
//! Values are the sum of four uniforms on [-1, 1), scaled to unit variance (Irwin-Hall: close
//! to a Gaussian, and cheap enough to fill gigabytes in seconds). Each block of
//! [`GEN_BLOCK`] values has its own SplitMix64 stream, so rayon can fill blocks in any order.

use rayon::prelude::*;

/// Values per independently seeded block.
const GEN_BLOCK: usize = 1 << 16;

/// One step of the crate's SplitMix64 whose state is `state`: the generator behind every
/// benchmark value.
#[inline(always)]
fn splitmix(state: &mut u64) -> u64 {
    let mut g = crate::rng::SplitMix64(*state);
    let value = g.next_u64();
    *state = g.0;
    value
}

/// `n * d` row-major values, approximately N(0, 1), from `seed`.
///
/// # Examples
///
/// ```
/// let x = byzagg::bench::gaussian_rows(4, 1000, 7);
/// assert_eq!(x.len(), 4000);
/// assert_eq!(x, byzagg::bench::gaussian_rows(4, 1000, 7));
/// let mean = x.iter().map(|v| f64::from(*v)).sum::<f64>() / 4000.0;
/// assert!(mean.abs() < 0.1);
/// ```
pub fn gaussian_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut data = vec![0.0f32; n * d];
    // sqrt(3 / 4): four uniforms on [-1, 1) have variance 4/3.
    let scale = (0.75f64).sqrt() as f32;
    data.par_chunks_mut(GEN_BLOCK).enumerate().for_each(|(b, block)| {
        let mut state = seed ^ (b as u64).wrapping_mul(0xD134_2543_DE82_EF95);
        for v in block.iter_mut() {
            let r = splitmix(&mut state);
            // Four 16-bit uniforms from one draw.
            let u = |s: u32| f32::from((r >> s) as u16) / 32768.0 - 1.0;
            *v = (u(0) + u(16) + u(32) + u(48)) * scale;
        }
    });
    data
}

/// Weights for a weighted benchmark: 1, 2, 3, 4, 1, 2, ... (update counts of asynchronous
/// workers), not all equal as soon as n >= 2.
pub fn bench_weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| (1 + i % 4) as f64).collect()
}
