//! `mix` over one coordinate chunk with AVX-512 and fused multiply-add.
//!
//! ## Why
//!
//! The generic tile loop spends three vector operations per 8 values and row (widen to f64,
//! multiply, add): it is compute-bound well below memory speed. Here the multiply and the add
//! are one `vfmadd` (one rounding instead of two, so the f64 sum is at least as accurate as
//! the generic path's), and the ragged tail takes masked loads instead of a scalar loop.
//!
//! Rows are taken [`GROUP`] at a time over a block of [`BLOCK`] f64 accumulators that stays in
//! L1: each group's rows are read in lockstep, one vector of 16 values each, into two
//! accumulator registers, which are stored back once per group. Measured on the 2-core Zen 4
//! of `docs/PERFORMANCE.md` (`byzagg bench --rule mix --d 1e7`): 16 rows at a time ran at
//! 1.5x a read pass at n = 16, 32 and 64, where 2, 4 and 8 rows at a time ran at 2.6, 2.0 and
//! 1.6x (more accumulator traffic), all rows at once over a 64-value register tile (the
//! earlier kernel, with software prefetch) at 2.2-3.0x and 64 rows at once at 4.3x (more
//! streams than the prefetchers follow).
//!
//! The order of the sum is the generic path's: `scale * base` first (a plain product), then
//! the rows with a non-zero coefficient in row order, in f64, rounded to f32 once.

use std::arch::x86_64::*;

/// Values per block of f64 accumulators (16 KiB).
const BLOCK: usize = 2048;
/// Rows read in lockstep per pass over a block.
const GROUP: usize = 16;

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
    let mut acc = [_mm512_setzero_pd(); BLOCK / 8];
    for (r, out) in outs.iter_mut().enumerate() {
        let len = out.len();
        let (terms, base) = super::row_terms(rows, coeffs, base, r, c0, len);
        let terms: Vec<(*const f32, f64)> = terms.iter().map(|(row, c)| (row.as_ptr(), *c)).collect();
        let base = base.map(|(b, scale)| (b.as_ptr(), scale));
        let mut b0 = 0;
        while b0 < len {
            let blen = (len - b0).min(BLOCK);
            let vecs = blen.div_ceil(16);
            let mask = |v: usize| -> __mmask16 {
                let have = (blen - v * 16).min(16);
                if have == 16 {
                    0xFFFF
                } else {
                    ((1u32 << have) - 1) as __mmask16
                }
            };
            // SAFETY: masked-off lanes are not read; the rest lie within the chunk.
            let load = |p: *const f32, v: usize| unsafe {
                let x = _mm512_maskz_loadu_ps(mask(v), p.wrapping_add(b0 + v * 16));
                (
                    _mm512_cvtps_pd(_mm512_castps512_ps256(x)),
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)))),
                )
            };
            match base {
                Some((b, scale)) => {
                    let s = _mm512_set1_pd(scale);
                    for v in 0..vecs {
                        let (lo, hi) = load(b, v);
                        acc[2 * v] = _mm512_mul_pd(s, lo);
                        acc[2 * v + 1] = _mm512_mul_pd(s, hi);
                    }
                }
                None => acc[..2 * vecs].fill(_mm512_setzero_pd()),
            }
            for group in terms.chunks(GROUP) {
                for v in 0..vecs {
                    let (mut lo, mut hi) = (acc[2 * v], acc[2 * v + 1]);
                    for &(p, c) in group {
                        let c = _mm512_set1_pd(c);
                        let (xl, xh) = load(p, v);
                        lo = _mm512_fmadd_pd(c, xl, lo);
                        hi = _mm512_fmadd_pd(c, xh, hi);
                    }
                    acc[2 * v] = lo;
                    acc[2 * v + 1] = hi;
                }
            }
            for v in 0..vecs {
                let x = join_halves(_mm512_cvtpd_ps(acc[2 * v]), _mm512_cvtpd_ps(acc[2 * v + 1]));
                // SAFETY: masked-off lanes are not written; the rest lie within `out`.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(b0 + v * 16), mask(v), x) };
            }
            b0 += blen;
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
