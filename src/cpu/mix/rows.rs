//! `mix` with several output rows (`k > 1`) over one coordinate chunk, at a SIMD level: the
//! register kernels of `rows512.rs` at AVX-512 and `rows256.rs` at AVX2, the parent's tile
//! loop at the baseline. The fused
//! `mix_order_stats` (`cpu/mix_order_stats.rs`) mixes its chunks through here too.

use super::super::SimdLevel;

/// The output rows `outs` (one per row of C, all of the chunk's length) over coordinates from
/// `c0`; `coeffs` is `outs.len() x n` row-major; `base` as in [`super::mix`]. Bit-identical to
/// mixing each output row on its own at the same level.
pub(in crate::cpu) fn chunk(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx512 {
        // Widening once pays when the output rows share inputs; with about one term per
        // output row (a diagonal mix: `clip`'s scaled rows) the one-row kernel does less.
        let terms = coeffs.iter().filter(|c| **c != 0.0).count();
        if terms >= 2 * outs.len() {
            // SAFETY: the Avx512 level means AVX-512 F was detected; every row and base row
            // holds `c0 + len` values (the caller's chunking), and the outputs share one length.
            unsafe { super::rows512::chunk(rows, coeffs, base, c0, outs) };
        } else {
            // SAFETY: as above.
            unsafe { super::avx512::chunk(rows, coeffs, base, c0, outs) };
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx2 {
        // SAFETY: the Avx2 level means AVX2 and FMA were detected; rows and outputs as above.
        unsafe { super::rows256::chunk(rows, coeffs, base, c0, outs) };
        return;
    }
    let mut acc = vec![0.0f64; outs.first().map_or(0, |o| o.len())];
    super::mix_chunk_at(simd, rows, coeffs, base, c0, outs, &mut acc);
}

#[cfg(test)]
mod tests {
    use super::super::{CHUNK, mix};

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// Several output rows at once give, bit for bit, what each output row mixed alone (the
    /// one-row path) gives at the same level: zero coefficients skipping NaN rows, a base
    /// with zero and negative-zero scales, ragged tails and several chunks.
    #[test]
    fn bit_identical_to_one_row_at_a_time() {
        let simd = crate::cpu::simd_level().unwrap();
        let mut state = 5u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for &(n, k) in &[(1, 2), (2, 3), (5, 5), (17, 4), (33, 33), (70, 9)] {
            for &d in &[1, 16, 63, 65, 1001, 2 * CHUNK + 3] {
                let mut rows: Vec<Vec<f32>> = (0..n)
                    .map(|_| (0..d).map(|_| (next() * 1e4) as f32).collect())
                    .collect();
                rows[0][d - 1] = -0.0;
                if n > 2 {
                    rows[1].fill(f32::NAN);
                    rows[2][0] = f32::NEG_INFINITY;
                }
                let base: Vec<Vec<f32>> = (0..k)
                    .map(|r| {
                        (0..d)
                            .map(|j| if (r + j) % 3 == 0 { -0.0 } else { next() as f32 })
                            .collect()
                    })
                    .collect();
                let mut coeffs: Vec<f64> = (0..k * n)
                    .map(|i| {
                        let (r, col) = (i / n, i % n);
                        if col == 1 || (r == 0 && col == 2) || next() < -0.3 {
                            0.0
                        } else {
                            next()
                        }
                    })
                    .collect();
                // A huge row and its negation with coefficients c and c (1 + 1e-9): their
                // terms cancel to the size of the others, so a different rounding of the f64
                // products or sum (an FMA for a multiply and add, another order) shows in the
                // f32 results; elsewhere the final f32 rounding would hide it.
                if n >= 5 {
                    let huge: Vec<f32> = rows[3].iter().map(|v| v * 1e9).collect();
                    rows[n - 1] = huge.iter().map(|v| -v).collect();
                    rows[3] = huge;
                    for r in 0..k {
                        let c = next().abs() + 0.1;
                        coeffs[r * n + 3] = c;
                        coeffs[r * n + n - 1] = c * (1.0 + 1e-9 * (r + 1) as f64);
                    }
                }
                let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                let bslices: Vec<&[f32]> = base.iter().map(Vec::as_slice).collect();
                for scale in [None, Some(0.0), Some(-0.0), Some(0.7)] {
                    let with_base = scale.map(|s| (bslices.as_slice(), s));
                    let got = mix(simd, &slices, &coeffs, k, with_base, d);
                    for r in 0..k {
                        let one_base = scale.map(|s| (&bslices[r..r + 1], s));
                        let want = mix(simd, &slices, &coeffs[r * n..(r + 1) * n], 1, one_base, d);
                        assert_eq!(
                            bits(&got[r * d..(r + 1) * d]),
                            bits(&want),
                            "n {n} k {k} d {d} row {r} scale {scale:?} at {simd}"
                        );
                    }
                }
            }
        }
    }

    /// The same test at the lower SIMD levels (AVX2, generic).
    #[test]
    fn lower_simd_levels_too() {
        crate::cpu::simd::each_lower_level(bit_identical_to_one_row_at_a_time);
    }
}
