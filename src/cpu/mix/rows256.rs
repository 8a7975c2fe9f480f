//! `mix` with several output rows over one coordinate chunk with AVX2: `rows512.rs` for CPUs
//! without AVX-512 (AMD Zen 2/3 servers, `BYZAGG_SIMD=avx2`).
//!
//! Each tile of [`TILE`] coordinates of every row in use is widened to f64 once into a scratch
//! in L1; each output row then accumulates its terms from there in eight ymm registers. The
//! arithmetic is the one-row AVX2 kernel's (`avx2.rs`), operation for operation:
//! `scale * base`, then `c * x + acc` as one fused multiply-add, in row order over the
//! non-zero coefficients, rounded to f32 once; so the output is bit-identical to it (and to
//! the AVX-512 kernels).

use std::arch::x86_64::*;

/// Coordinates per register tile: 8 vectors of 4 f64.
const TILE: usize = 32;

/// The output rows `outs` (one per row of C, each of the chunk's length) over coordinates
/// from `c0`; `coeffs` is `outs.len() x n` row-major; `base` as in the parent.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; every row (and base row) must hold `c0 + out.len()` values,
/// and every output row must have the same length.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chunk(
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
    // Per output row: (offset of the term's row in the scratch, coefficient), in row order.
    let terms: Vec<Vec<(usize, f64)>> = (0..outs.len())
        .map(|r| {
            (0..n)
                .filter(|&i| coeffs[r * n + i] != 0.0)
                .map(|i| (slot[i] * TILE, coeffs[r * n + i]))
                .collect()
        })
        .collect();
    let mut wide = vec![0.0f64; used.len() * TILE];
    let wide = wide.as_mut_ptr();
    let mut j = 0;
    while j < len {
        let w = (len - j).min(TILE);
        // The tile of `x` from `j` widened into `dst`; a ragged tail through a zero-padded copy.
        let widen = |x: &[f32], dst: *mut f64| {
            let mut pad = [0.0f32; TILE];
            let src = if w == TILE {
                x[c0 + j..c0 + j + TILE].as_ptr()
            } else {
                pad[..w].copy_from_slice(&x[c0 + j..c0 + j + w]);
                pad.as_ptr()
            };
            for v in 0..TILE / 4 {
                // SAFETY: `src` holds TILE values and `dst` TILE f64.
                unsafe { _mm256_storeu_pd(dst.add(4 * v), _mm256_cvtps_pd(_mm_loadu_ps(src.add(4 * v)))) };
            }
        };
        for (s, &i) in used.iter().enumerate() {
            // SAFETY: slot `s` of the scratch holds TILE values.
            widen(rows[i], unsafe { wide.add(s * TILE) });
        }
        for (r, (out, terms)) in outs.iter_mut().zip(&terms).enumerate() {
            let mut acc = [_mm256_setzero_pd(); TILE / 4];
            if let Some((b, scale)) = base
                && scale != 0.0
            {
                let mut row = [0.0f64; TILE];
                widen(b[r], row.as_mut_ptr());
                let s = _mm256_set1_pd(scale);
                for (v, a) in acc.iter_mut().enumerate() {
                    // SAFETY: `row` holds TILE values.
                    *a = _mm256_mul_pd(s, unsafe { _mm256_loadu_pd(row.as_ptr().add(4 * v)) });
                }
            }
            for &(at, c) in terms {
                let c = _mm256_set1_pd(c);
                for (v, a) in acc.iter_mut().enumerate() {
                    // SAFETY: `at` is a slot of the scratch, which holds TILE values.
                    let x = unsafe { _mm256_loadu_pd(wide.add(at + 4 * v)) };
                    *a = _mm256_fmadd_pd(c, x, *a);
                }
            }
            let mut narrow = [0.0f32; TILE];
            for (v, a) in acc.iter().enumerate() {
                // SAFETY: `narrow` holds TILE values.
                unsafe { _mm_storeu_ps(narrow.as_mut_ptr().add(4 * v), _mm256_cvtpd_ps(*a)) };
            }
            out[j..j + w].copy_from_slice(&narrow[..w]);
        }
        j += TILE;
    }
}
