//! `pairwise_dist` over one coordinate chunk with AVX-512, pairs taken in 4 x 4 tiles.
//!
//! ## Why
//!
//! The generic path walks the pairs one at a time: each value loaded serves one pair, and
//! each pair's block ends in a 32-step sequential reduction. Here a tile of 4 rows `i` by 4
//! rows `j` keeps 16 accumulators (one zmm register per pair) and 8 loaded vectors in
//! registers, so each value loaded serves 4 pairs; at the end of a block the 16 sums are
//! reduced together by one transposing tree of shuffles into one vector, checked, widened to
//! f64 and added into the tile's 16 f64 partials, all in registers.
//!
//! ## Accuracy
//!
//! The rules of the parent module hold: per block of [`BLOCK`] coordinates a pair's squared
//! differences are summed in f32 (16 lanes of 16 terms, fused multiply-add, then a tree),
//! added into an f64 partial, and a block sum that is not finite or below [`TINY`] is
//! recomputed in f64. Only the order of the f32 additions inside a block differs from the
//! generic path (so results may differ from it in the last bits of f32 rounding).

use std::arch::x86_64::*;

use super::TINY;
use super::tiles::walk_tiles;

/// Rows per tile side.
const T: usize = 4;

/// Adds the squared distances over coordinates `c0..c1` into `sums` (`n x n`, row-major,
/// only entries `i < j` written) and marks non-finite rows in `bad`.
///
/// # Safety
///
/// The CPU must support AVX-512 F; every row must hold at least `c1` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chunk_matrix(rows: &[&[f32]], c0: usize, c1: usize, sums: &mut [f64], bad: &mut [bool]) {
    walk_tiles::<T, T, 16>(rows, (c0, c1), sums, bad, |x, y, (b0, b1), valid, acc64| {
        // SAFETY: every pointer is a row holding at least `b1` values (`walk_tiles`).
        let fast = transpose_sum(unsafe { tile_sums(x, y, b0, b1) });
        let ok = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(fast, _mm512_set1_ps(TINY))
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(fast, _mm512_set1_ps(f32::INFINITY));
        let good = valid & ok;
        // SAFETY: `acc64` is 16 f64.
        unsafe {
            let p = acc64.as_mut_ptr();
            let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(fast));
            let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(
                fast,
            ))));
            let (m_lo, m_hi) = (good as u8, (good >> 8) as u8);
            _mm512_storeu_pd(
                p,
                _mm512_mask_add_pd(_mm512_loadu_pd(p), m_lo, _mm512_loadu_pd(p), lo),
            );
            let q = p.add(8);
            _mm512_storeu_pd(
                q,
                _mm512_mask_add_pd(_mm512_loadu_pd(q), m_hi, _mm512_loadu_pd(q), hi),
            );
        }
        valid & !ok
    });
}

/// The 16 horizontal sums of `v` (pair `a * 4 + b` in lane `a * 4 + b`), as one vector.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose_sum(v: [[__m512; T]; T]) -> __m512 {
    let v: [__m512; 16] = std::array::from_fn(|k| v[k / T][k % T]);
    // Within each 128-bit chunk: u[k] holds partials of v[2k] (lanes 0, 2), v[2k + 1] (1, 3).
    let u: [__m512; 8] = std::array::from_fn(|k| {
        let (p, q) = (v[2 * k], v[2 * k + 1]);
        _mm512_add_ps(_mm512_unpacklo_ps(p, q), _mm512_unpackhi_ps(p, q))
    });
    // w[k], lane 4q + j: the partial over chunk q of v[4k + j].
    let w: [__m512; 4] = std::array::from_fn(|k| {
        let (p, q) = (u[2 * k], u[2 * k + 1]);
        _mm512_add_ps(
            _mm512_shuffle_ps::<0b01_00_01_00>(p, q),
            _mm512_shuffle_ps::<0b11_10_11_10>(p, q),
        )
    });
    let pair = |p: __m512, q: __m512| {
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(p, q),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(p, q),
        )
    };
    let (y01, y23) = (pair(w[0], w[1]), pair(w[2], w[3]));
    pair(y01, y23)
}

/// The 16-lane f32 sums of squared differences over `b0..b1` of the 4 x 4 pairs `(x[a],
/// y[b])`.
///
/// # Safety
///
/// Every pointer must point at a row holding at least `b1` values.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile_sums(x: [*const f32; T], y: [*const f32; T], b0: usize, b1: usize) -> [[__m512; T]; T] {
    let mut acc = [[_mm512_setzero_ps(); T]; T];
    let mut c = b0;
    while c < b1 {
        let mask: __mmask16 = if b1 - c >= 16 {
            0xFFFF
        } else {
            (1u16 << (b1 - c)) - 1
        };
        // SAFETY: lanes past `b1` are masked off.
        let xv: [__m512; T] = std::array::from_fn(|a| unsafe { _mm512_maskz_loadu_ps(mask, x[a].add(c)) });
        let yv: [__m512; T] = std::array::from_fn(|b| unsafe { _mm512_maskz_loadu_ps(mask, y[b].add(c)) });
        for a in 0..T {
            for b in 0..T {
                let t = _mm512_sub_ps(xv[a], yv[b]);
                acc[a][b] = _mm512_fmadd_ps(t, t, acc[a][b]);
            }
        }
        c += 16;
    }
    acc
}
