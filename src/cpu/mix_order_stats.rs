//! `mix` fused with `order_stats` (the default of `Kernels::mix_order_stats` runs them one
//! after the other): NNM and bucketing over a coordinate-wise base.
//!
//! ## Why
//!
//! Composed, the `k` mixed rows are a `k x d` matrix in fresh memory: as large as the batch
//! for NNM (`k = n`), written once (page faults included) and read back once by the order
//! statistics. Fused, each rayon task mixes one chunk of coordinates of the `k` rows into a
//! scratch that stays in the core's L2, and the order-statistics kernel reduces that scratch
//! into the output at once. Only the batch is read and only `d` values are written.
//!
//! ## Same result as the composition
//!
//! The chunk is mixed by the kernels `mix` runs (`mix/rows.rs`), and reduced by the one
//! `order_stats` runs, over the same weights: per coordinate both are independent of the
//! chunking, so the output is bit-identical to `order_stats(mix(rows))`. Output rows of weight
//! zero are not mixed at all (the order statistics never read them).

use rayon::prelude::*;

use crate::error::Result;
use crate::kernels::OrderStat;

use super::SimdLevel;
use super::mix::rows;
use super::order_stats::order_stats_into;

/// Bytes of mixed values per task: a quarter of a 1 MiB L2, so that the input rows' chunk
/// streams through beside it.
const SCRATCH_BYTES: usize = 256 << 10;
/// Bounds of the chunk (coordinates per task); a multiple of the kernels' 64-value tiles.
const CHUNK_MIN: usize = 256;
const CHUNK_MAX: usize = 4096;

/// `order_stats(mix(rows, coeffs, k), weights, stat)` as one pass; `coeffs` is `k x n`
/// row-major and `weights` holds `k` values (shapes checked by the caller).
pub(super) fn mix_order_stats(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    k: usize,
    weights: &[f64],
    stat: OrderStat,
) -> Result<Vec<f32>> {
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    // Bad weights or a bad lambda are errors before any work (and at d = 0 too).
    order_stats_into(simd, &vec![&[][..]; k], weights, stat, &mut [])?;
    let chunk = chunk_len(k);
    // Only the output rows of positive weight are mixed; the others stay zero in the scratch.
    let active: Vec<usize> = (0..k).filter(|&r| weights[r] > 0.0).collect();
    let active_coeffs: Vec<f64> = active
        .iter()
        .flat_map(|&r| coeffs[r * n..(r + 1) * n].iter().copied())
        .collect();
    let mut out = super::buffer::take(d);
    out.par_chunks_mut(chunk).enumerate().try_for_each_init(
        || vec![0.0f32; k * chunk],
        |scratch, (ci, o)| {
            let len = o.len();
            let mut mixed: Vec<&mut [f32]> = scratch
                .chunks_exact_mut(chunk)
                .map(|row| &mut row[..len])
                .collect();
            {
                let mut outs: Vec<&mut [f32]> = Vec::with_capacity(active.len());
                let mut at = active.iter().peekable();
                for (r, row) in mixed.iter_mut().enumerate() {
                    if at.next_if_eq(&&r).is_some() {
                        outs.push(row);
                    }
                }
                if !outs.is_empty() {
                    rows::chunk(simd, rows, &active_coeffs, None, ci * chunk, &mut outs);
                }
            }
            let mixed: Vec<&[f32]> = mixed.iter().map(|row| &**row).collect();
            order_stats_into(simd, &mixed, weights, stat, o)
        },
    )?;
    Ok(out)
}

/// Coordinates per task for `k` mixed rows: [`SCRATCH_BYTES`] of f32, in whole tiles.
fn chunk_len(k: usize) -> usize {
    (SCRATCH_BYTES / 4 / k.max(1) / 64 * 64).clamp(CHUNK_MIN, CHUNK_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The composition the fused pass must match, at the same level.
    fn composed(
        simd: SimdLevel,
        rows: &[&[f32]],
        coeffs: &[f64],
        k: usize,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<Vec<f32>> {
        let d = rows[0].len();
        let mixed = super::super::mix::mix(simd, rows, coeffs, k, None, d);
        let slices: Vec<&[f32]> = mixed.chunks(d.max(1)).take(k).collect();
        super::super::order_stats::order_stats(simd, &slices, weights, stat)
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn bit_identical_to_mix_then_order_stats() {
        let simd = crate::cpu::simd_level().unwrap();
        let mut state = 17u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let stats = [
            OrderStat::Median,
            OrderStat::TrimmedMean { lambda: 0.2 },
            OrderStat::MeaMed { lambda: 0.3 },
        ];
        for &(n, k) in &[(1, 1), (3, 2), (7, 7), (16, 16), (33, 33), (64, 64), (9, 3)] {
            for &d in &[1, 15, 100, 1000, 2 * chunk_len(k) + 37] {
                let mut rows: Vec<Vec<f32>> = (0..n)
                    .map(|_| (0..d).map(|_| (next() * 1e3) as f32).collect())
                    .collect();
                // Byzantine values: a NaN row, an infinity, negative zeros.
                if n > 2 {
                    rows[1].fill(f32::NAN);
                    rows[2][d / 2] = f32::INFINITY;
                    rows[0][0] = -0.0;
                }
                let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                let coeffs: Vec<f64> = (0..k * n)
                    .map(|i| {
                        if i % n == 1 || next() < -0.4 {
                            0.0 // keeps the NaN row out where it lands
                        } else {
                            next().abs() + 0.01
                        }
                    })
                    .collect();
                for weights in [
                    vec![1.0; k],
                    (0..k).map(|r| (r % 4) as f64).collect::<Vec<_>>(),
                    (0..k).map(|r| 1.0 + (r % 3) as f64).collect(),
                ] {
                    if weights.iter().all(|w| *w == 0.0) {
                        continue;
                    }
                    for stat in stats {
                        let want = composed(simd, &slices, &coeffs, k, &weights, stat).unwrap();
                        let got = mix_order_stats(simd, &slices, &coeffs, k, &weights, stat).unwrap();
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "n {n} k {k} d {d} {stat:?} weights {weights:?} at {simd}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_weights_and_lambda_are_errors() {
        let simd = crate::cpu::simd_level().unwrap();
        let row = [1.0f32, 2.0];
        let rows: [&[f32]; 2] = [&row, &row];
        let coeffs = [0.5; 4];
        let err = mix_order_stats(simd, &rows, &coeffs, 2, &[0.0, 0.0], OrderStat::Median).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        let stat = OrderStat::TrimmedMean { lambda: 0.5 };
        let err = mix_order_stats(simd, &rows, &coeffs, 2, &[1.0, 1.0], stat).unwrap_err();
        assert!(err.to_string().contains("lambda"), "{err}");
    }

    /// The same tests at the lower SIMD levels (AVX2, generic).
    #[test]
    fn lower_simd_levels_too() {
        crate::cpu::simd::each_lower_level(|| {
            bit_identical_to_mix_then_order_stats();
            bad_weights_and_lambda_are_errors();
        });
    }
}
