//! `mix` over one coordinate chunk with AVX2 and FMA: the AVX-512 kernel's scheme on 8-lane
//! registers (16 rows at a time over an L1 block of f64 accumulators, `vfmadd`, one rounding
//! to f32 at the end), so the two levels give the same bits. The ragged tail of fewer than 8
//! values takes scalar fused multiply-adds, which round exactly as the vector ones do.

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
/// The CPU must support AVX2 and FMA; every row (and base row) must hold `c0 + out.len()`
/// values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chunk(
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    let mut acc = [_mm256_setzero_pd(); BLOCK / 4];
    let mut tail = [0.0f64; 8];
    for (r, out) in outs.iter_mut().enumerate() {
        let len = out.len();
        let (terms, base) = super::row_terms(rows, coeffs, base, r, c0, len);
        let mut b0 = 0;
        while b0 < len {
            let blen = (len - b0).min(BLOCK);
            let vecs = blen / 8;
            let rest = blen - vecs * 8;
            // SAFETY: vector `v` covers values b0 + 8v .. b0 + 8v + 8 <= b0 + blen <= len.
            let load = |x: &[f32], v: usize| unsafe {
                let x = _mm256_loadu_ps(x.as_ptr().add(b0 + v * 8));
                (
                    _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)),
                )
            };
            let at = b0 + vecs * 8;
            match base {
                Some((b, scale)) => {
                    let s = _mm256_set1_pd(scale);
                    for v in 0..vecs {
                        let (lo, hi) = load(b, v);
                        acc[2 * v] = _mm256_mul_pd(s, lo);
                        acc[2 * v + 1] = _mm256_mul_pd(s, hi);
                    }
                    for (t, x) in tail.iter_mut().zip(&b[at..at + rest]) {
                        *t = scale * f64::from(*x);
                    }
                }
                None => {
                    acc[..2 * vecs].fill(_mm256_setzero_pd());
                    tail.fill(0.0);
                }
            }
            for group in terms.chunks(GROUP) {
                for v in 0..vecs {
                    let (mut lo, mut hi) = (acc[2 * v], acc[2 * v + 1]);
                    for &(x, c) in group {
                        let c = _mm256_set1_pd(c);
                        let (xl, xh) = load(x, v);
                        lo = _mm256_fmadd_pd(c, xl, lo);
                        hi = _mm256_fmadd_pd(c, xh, hi);
                    }
                    acc[2 * v] = lo;
                    acc[2 * v + 1] = hi;
                }
                for &(x, c) in group {
                    for (t, x) in tail.iter_mut().zip(&x[at..at + rest]) {
                        *t = c.mul_add(f64::from(*x), *t);
                    }
                }
            }
            for v in 0..vecs {
                let lo = _mm256_cvtpd_ps(acc[2 * v]);
                let hi = _mm256_cvtpd_ps(acc[2 * v + 1]);
                let x = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(lo), hi);
                // SAFETY: values b0 + 8v .. + 8 lie within `out`.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(b0 + v * 8), x) };
            }
            for (o, t) in out[at..at + rest].iter_mut().zip(&tail) {
                *o = *t as f32;
            }
            b0 += blen;
        }
    }
}
