//! `mix` over one coordinate chunk with AVX-512 and fused multiply-add.
//!
//! ## Why
//!
//! The generic tile loop spends three vector operations per 8 values and row (widen to f64,
//! multiply, add): it is compute-bound well below memory speed. Here the multiply and the add
//! are one `vfmadd` (one rounding instead of two, so the f64 sum is at least as accurate as
//! the generic path's), and the ragged tail takes masked loads instead of a scalar loop.
//!
//! The order of the sum is the generic path's: `scale * base` first (a plain product), then
//! the rows with a non-zero coefficient in row order, in f64, rounded to f32 once.

use std::arch::x86_64::*;

/// Coordinates per register tile: 8 f64 vectors.
const TILE: usize = 64;
/// How far ahead of the tile each row is prefetched, in values.
const PREFETCH: usize = 1024;

/// The output rows `outs` (one per row of C, each of the chunk's length) over coordinates
/// from `c0`; `coeffs` is `k x n` row-major; `base` as in the parent.
///
/// # Safety
///
/// The CPU must support AVX-512 F; every row (and base row) must hold `c0 + out.len()`
/// values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chunk(
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    let n = rows.len();
    for (r, out) in outs.iter_mut().enumerate() {
        let len = out.len();
        let terms: Vec<(*const f32, f64)> = rows
            .iter()
            .zip(&coeffs[r * n..(r + 1) * n])
            .filter(|(_, c)| **c != 0.0)
            .map(|(row, c)| (row[c0..c0 + len].as_ptr(), *c))
            .collect();
        let base = match base {
            Some((b, scale)) if scale != 0.0 => Some((b[r][c0..c0 + len].as_ptr(), scale)),
            _ => None,
        };
        let mut j = 0;
        while j < len {
            let left = len - j;
            // Per 16 values: a load mask (the ragged tail is masked, never read past `len`).
            let masks: [__mmask16; 4] = std::array::from_fn(|q| {
                let have = left.saturating_sub(q * 16).min(16);
                if have == 16 {
                    0xFFFF
                } else {
                    ((1u32 << have) - 1) as __mmask16
                }
            });
            // SAFETY: masked-off lanes are not read; the rest lie within `len` values of `p`.
            let load = |p: *const f32, q: usize| unsafe {
                let v = _mm512_maskz_loadu_ps(masks[q], p.wrapping_add(j + q * 16));
                (
                    _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))),
                )
            };
            let mut acc = [_mm512_setzero_pd(); 8];
            if let Some((b, scale)) = base {
                let s = _mm512_set1_pd(scale);
                for q in 0..4 {
                    let (lo, hi) = load(b, q);
                    acc[2 * q] = _mm512_mul_pd(s, lo);
                    acc[2 * q + 1] = _mm512_mul_pd(s, hi);
                }
            }
            for &(p, c) in &terms {
                // Many rows are read in lockstep: fetch ahead, as the hardware prefetcher
                // tracks fewer streams than that.
                for q in 0..4 {
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(j + PREFETCH + q * 16).cast());
                }
                let c = _mm512_set1_pd(c);
                for q in 0..4 {
                    let (lo, hi) = load(p, q);
                    acc[2 * q] = _mm512_fmadd_pd(c, lo, acc[2 * q]);
                    acc[2 * q + 1] = _mm512_fmadd_pd(c, hi, acc[2 * q + 1]);
                }
            }
            for q in 0..4 {
                let v = join_halves(_mm512_cvtpd_ps(acc[2 * q]), _mm512_cvtpd_ps(acc[2 * q + 1]));
                // SAFETY: masked-off lanes are not written; the rest lie within `out`.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(j + q * 16), masks[q], v) };
            }
            j += TILE;
        }
    }
}

/// Two halves of 8 f32 as one vector (AVX-512 F only, no DQ needed).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn join_halves(lo: __m256, hi: __m256) -> __m512 {
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(
        _mm512_castps_pd(_mm512_castps256_ps512(lo)),
        _mm256_castps_pd(hi),
    ))
}
