//! `pairwise_dist` over one coordinate chunk with AVX-512, pairs taken in 4 x 4 tiles.
//!
//! ## Why
//!
//! The generic path walks the pairs one at a time: each value loaded serves one pair, and
//! each pair's block ends in a 32-step sequential reduction. Here a tile of 4 rows `i` by 4
//! rows `j` keeps 16 accumulators (one zmm register per pair) and 8 loaded vectors in
//! registers, so each value loaded serves 4 pairs, and a block's reduction is one tree of
//! shuffles per pair, off the critical path.
//!
//! ## Accuracy
//!
//! The rules of the parent module hold: per block of [`BLOCK`] coordinates a pair's squared
//! differences are summed in f32 (16 lanes of 16 terms, fused multiply-add, then a tree),
//! added into an f64 partial, and a block sum that is not finite or below [`TINY`] is
//! recomputed in f64. Only the order of the f32 additions inside a block differs from the
//! generic path (so results may differ from it in the last bits of f32 rounding).

use std::arch::x86_64::*;

use super::{BLOCK, TINY, block_f64, block_finite};

/// Rows per tile side.
const T: usize = 4;

/// Whether this CPU runs [`chunk_matrix`].
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
}

/// Adds the squared distances over coordinates `c0..c1` into `sums` (`n x n`, row-major,
/// only entries `i < j` written) and marks non-finite rows in `bad`.
///
/// # Safety
///
/// The CPU must support AVX-512 F; every row must hold at least `c1` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chunk_matrix(rows: &[&[f32]], c0: usize, c1: usize, sums: &mut [f64], bad: &mut [bool]) {
    let n = rows.len();
    assert!(sums.len() == n * n && bad.len() == n && rows.iter().all(|r| r.len() >= c1));
    let tiles = n.div_ceil(T);
    // Row pointers padded to whole tiles with the last row (its results are discarded).
    let ptrs: Vec<*const f32> = (0..tiles * T).map(|i| rows[i.min(n - 1)].as_ptr()).collect();
    let mut b0 = c0;
    while b0 < c1 {
        let b1 = c1.min(b0 + BLOCK);
        for (r, bad) in rows.iter().zip(bad.iter_mut()) {
            if !*bad && !block_finite(&r[b0..b1]) {
                *bad = true;
            }
        }
        for ti in 0..tiles {
            for tj in ti..tiles {
                let (i0, j0) = (ti * T, tj * T);
                let x: [*const f32; T] = std::array::from_fn(|a| ptrs[i0 + a]);
                let y: [*const f32; T] = std::array::from_fn(|b| ptrs[j0 + b]);
                // SAFETY: every pointer is a row holding at least `b1` values.
                let acc = unsafe { tile(x, y, b0, b1) };
                for a in 0..T {
                    let i = i0 + a;
                    for (b, acc) in acc[a].iter().enumerate() {
                        let j = j0 + b;
                        if i >= j || j >= n || bad[i] || bad[j] {
                            continue;
                        }
                        let fast = _mm512_reduce_add_ps(*acc);
                        sums[i * n + j] += if fast.is_finite() && fast >= TINY {
                            f64::from(fast)
                        } else {
                            block_f64(&rows[i][b0..b1], &rows[j][b0..b1])
                        };
                    }
                }
            }
        }
        b0 = b1;
    }
}

/// The 16-lane f32 sums of squared differences over `b0..b1` of the 4 x 4 pairs `(x[a],
/// y[b])`.
///
/// # Safety
///
/// Every pointer must point at a row holding at least `b1` values.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile(x: [*const f32; T], y: [*const f32; T], b0: usize, b1: usize) -> [[__m512; T]; T] {
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
