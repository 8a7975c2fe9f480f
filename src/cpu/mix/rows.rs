//! `mix` with several output rows (`k > 1`) over one coordinate chunk, at a SIMD level: the
//! register kernel of `rows512.rs` at AVX-512, an auto-vectorised loop of the same shape
//! below it (AVX2, the baseline). The fused
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
    wide_tiles_at(simd, rows, coeffs, base, c0, outs);
}

/// Coordinates per tile below AVX-512: eight AVX2 vectors of f64 accumulators.
const TILE: usize = 32;

super::super::simd::at_level!(
    /// [`wide_tiles`] at a SIMD level.
    fn wide_tiles_at(
        rows: &[&[f32]],
        coeffs: &[f64],
        base: Option<(&[&[f32]], f64)>,
        c0: usize,
        outs: &mut [&mut [f32]],
    ) = wide_tiles
);

/// [`chunk`] below AVX-512, auto-vectorised: each tile of [`TILE`] coordinates of every row
/// in use is widened to f64 once into a scratch in L1, then every output row adds its terms
/// from there. Per coordinate the arithmetic is the parent's `mix_chunk`, operation for
/// operation (`scale * base`, then `+= c * x` in row order over the non-zero coefficients, a
/// separate multiply and add), so the output is bit-identical to it; only the widening is
/// shared between the output rows.
#[inline(always)]
fn wide_tiles(
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    let n = rows.len();
    let Some(len) = outs.first().map(|o| o.len()) else {
        return;
    };
    let used: Vec<usize> = (0..n)
        .filter(|&i| (0..outs.len()).any(|r| coeffs[r * n + i] != 0.0))
        .collect();
    let mut slot = vec![0; n];
    for (s, &i) in used.iter().enumerate() {
        slot[i] = s;
    }
    // Per output row: (slot of the term's row in the scratch, coefficient), in row order.
    let terms: Vec<Vec<(usize, f64)>> = (0..outs.len())
        .map(|r| {
            (0..n)
                .filter(|&i| coeffs[r * n + i] != 0.0)
                .map(|i| (slot[i], coeffs[r * n + i]))
                .collect()
        })
        .collect();
    let mut wide = vec![[0.0f64; TILE]; used.len()];
    let mut j = 0;
    while j < len {
        let w = (len - j).min(TILE);
        // Lanes past `w` keep stale values in the ragged tail; no output reads them back.
        for (t, &i) in wide.iter_mut().zip(&used) {
            for (a, v) in t.iter_mut().zip(&rows[i][c0 + j..c0 + j + w]) {
                *a = f64::from(*v);
            }
        }
        for (r, (out, terms)) in outs.iter_mut().zip(&terms).enumerate() {
            let mut acc = [0.0f64; TILE];
            if let Some((b, scale)) = base
                && scale != 0.0
            {
                for (a, v) in acc.iter_mut().zip(&b[r][c0 + j..c0 + j + w]) {
                    *a = scale * f64::from(*v);
                }
            }
            for &(s, c) in terms {
                for (a, x) in acc.iter_mut().zip(&wide[s]) {
                    *a += c * *x;
                }
            }
            for (o, a) in out[j..j + w].iter_mut().zip(&acc) {
                *o = *a as f32;
            }
        }
        j += TILE;
    }
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
                let coeffs: Vec<f64> = (0..k * n)
                    .map(|i| {
                        let (r, col) = (i / n, i % n);
                        if col == 1 || (r == 0 && col == 2) || next() < -0.3 {
                            0.0
                        } else {
                            next()
                        }
                    })
                    .collect();
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
