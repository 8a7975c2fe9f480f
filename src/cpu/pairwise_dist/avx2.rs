//! `pairwise_dist` over one coordinate chunk with AVX2 and FMA, pairs taken in 2 x 4 tiles.
//!
//! ## Why
//!
//! AVX2 has 16 vector registers, so the AVX-512 kernel's 4 x 4 tile (16 accumulators) does
//! not fit; a tile of 2 rows `i` by 4 rows `j` keeps 8 accumulators, the 2 `x` vectors and
//! one `y` vector at a time in registers, so each value loaded still serves 2 to 4 pairs
//! (the generic path loads two values per pair and ends each pair's block in a 32-step
//! sequential reduction). On a CPU whose AVX-512 units are 256 bits wide (Zen 4) this
//! kernel does the same arithmetic per cycle as the AVX-512 one. At the end of a block the 8
//! sums are reduced together by one transposing tree (`hadd`, then a 128-bit swap) into one
//! vector, checked, widened to f64 and added into the tile's 8 f64 partials.
//!
//! ## Accuracy
//!
//! The rules of the parent module hold: per block of [`BLOCK`] coordinates a pair's squared
//! differences are summed in f32 (8 lanes of 32 terms, fused multiply-add, then a tree of 3
//! levels), added into an f64 partial, and a block sum that is not finite or below [`TINY`]
//! is recomputed in f64. Each square passes at most 2 + 32 + 3 = 37 roundings on its way to
//! the block sum, within the 44 that `exact::relative_bound` allows below AVX-512.

use std::arch::x86_64::*;

use super::TINY;
use super::tiles::walk_tiles;

/// Rows `i` per tile.
const TI: usize = 2;
/// Rows `j` per tile.
const TJ: usize = 4;
/// Pairs per tile: one f32 lane each in the reduced vector.
const P: usize = TI * TJ;

/// Adds the squared distances over coordinates `c0..c1` into `sums` (`n x n`, row-major,
/// only entries `i < j` written) and marks non-finite rows in `bad`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; every row must hold at least `c1` values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chunk_matrix(rows: &[&[f32]], c0: usize, c1: usize, sums: &mut [f64], bad: &mut [bool]) {
    let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    walk_tiles::<TI, TJ, P>(rows, (c0, c1), sums, bad, |x, y, (b0, b1), valid, acc64| {
        // SAFETY: every pointer is a row holding at least `b1` values (`walk_tiles`).
        let fast = transpose_sum(unsafe { tile_sums(x, y, b0, b1) });
        let ok = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(fast, _mm256_set1_ps(TINY)),
            _mm256_cmp_ps::<_CMP_LT_OQ>(fast, _mm256_set1_ps(f32::INFINITY)),
        );
        let ok_bits = _mm256_movemask_ps(ok) as u16;
        let want = _mm256_castsi256_ps(_mm256_cmpeq_epi32(
            _mm256_and_si256(_mm256_set1_epi32(i32::from(valid)), lane_bits),
            lane_bits,
        ));
        // Lanes not both valid and in range become +0, which leaves a sum unchanged.
        let keep = _mm256_and_ps(fast, _mm256_and_ps(ok, want));
        // SAFETY: `acc64` is 8 f64.
        unsafe {
            let p = acc64.as_mut_ptr();
            let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(keep));
            let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(keep));
            _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), lo));
            let q = p.add(4);
            _mm256_storeu_pd(q, _mm256_add_pd(_mm256_loadu_pd(q), hi));
        }
        valid & !ok_bits
    });
}

/// The 8 horizontal sums of `v` (pair `a * 4 + b` in lane `a * 4 + b`), as one vector.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose_sum(v: [[__m256; TJ]; TI]) -> __m256 {
    let [[v0, v1, v2, v3], [v4, v5, v6, v7]] = v;
    // Per 128-bit half: lanes of h01 hold the half's pair sums of v0, v0, v1, v1, and so on.
    let (h01, h23) = (_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    let (h45, h67) = (_mm256_hadd_ps(v4, v5), _mm256_hadd_ps(v6, v7));
    // Per 128-bit half: lane k holds the half's sum of v[k] (low half) or v[4 + k] (high).
    let (g0, g1) = (_mm256_hadd_ps(h01, h23), _mm256_hadd_ps(h45, h67));
    _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(g0, g1),
        _mm256_permute2f128_ps::<0x31>(g0, g1),
    )
}

/// The 8-lane f32 sums of squared differences over `b0..b1` of the 2 x 4 pairs `(x[a],
/// y[b])`.
///
/// # Safety
///
/// Every pointer must point at a row holding at least `b1` values.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_sums(x: [*const f32; TI], y: [*const f32; TJ], b0: usize, b1: usize) -> [[__m256; TJ]; TI] {
    let mut acc = [[_mm256_setzero_ps(); TJ]; TI];
    let full = b0 + (b1 - b0) / 8 * 8;
    let mut c = b0;
    while c < full {
        // SAFETY: c + 8 <= b1.
        let xv: [__m256; TI] = std::array::from_fn(|a| unsafe { _mm256_loadu_ps(x[a].add(c)) });
        for b in 0..TJ {
            // SAFETY: as above.
            let yv = unsafe { _mm256_loadu_ps(y[b].add(c)) };
            for a in 0..TI {
                let t = _mm256_sub_ps(xv[a], yv);
                acc[a][b] = _mm256_fmadd_ps(t, t, acc[a][b]);
            }
        }
        c += 8;
    }
    if c < b1 {
        // The ragged end: lanes past `b1` load nothing and hold 0 in both rows.
        let m = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((b1 - c) as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        // SAFETY: lanes past `b1` are masked off.
        let xv: [__m256; TI] = std::array::from_fn(|a| unsafe { _mm256_maskload_ps(x[a].add(c), m) });
        for b in 0..TJ {
            // SAFETY: as above.
            let yv = unsafe { _mm256_maskload_ps(y[b].add(c), m) };
            for a in 0..TI {
                let t = _mm256_sub_ps(xv[a], yv);
                acc[a][b] = _mm256_fmadd_ps(t, t, acc[a][b]);
            }
        }
    }
    acc
}
