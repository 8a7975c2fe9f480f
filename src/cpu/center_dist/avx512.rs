//! `center_dist` over one coordinate chunk with AVX-512, four rows at a time.
//!
//! ## Why
//!
//! The generic path ends every 256-coordinate block of every row with a 32-step sequential
//! f32 reduction, a latency chain longer than the block's arithmetic. Here four rows share
//! each load of the center, each row's block is summed in one register (fused multiply-add)
//! and reduced by a shuffle tree, and the four rows' chains run side by side.
//!
//! ## Accuracy
//!
//! The parent's rules: f32 block sums of [`BLOCK`] coordinates added into f64, a block sum
//! that is not finite or below [`TINY`] checked for non-finite values (the row is then bad)
//! or recomputed in f64. Only the f32 summation order inside a block differs.

use std::arch::x86_64::*;

use super::super::pairwise_dist::{BLOCK, TINY, block_f64, block_finite};
use super::Partial;

/// Rows handled together.
const R: usize = 4;

/// Adds the sums over coordinates `c0..c0 + c.len()` into `part`; `c` holds the center's
/// values over that span. Rows already found non-finite are skipped. With `ahead > 0`, each
/// row's values `ahead` further on are fetched into L2 as the span is read (a fused kernel's
/// next span: memory works while this span's arithmetic runs); no value changes.
///
/// # Safety
///
/// The CPU must support AVX-512 F (every row must hold `c0 + c.len()` values: asserted).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chunk(rows: &[&[f32]], c: &[f32], c0: usize, ahead: usize, part: &mut Partial) {
    let c1 = c0 + c.len();
    assert!(rows.iter().all(|r| r.len() >= c1));
    if part.center_bad || !c.chunks(BLOCK).all(block_finite) {
        part.center_bad = true;
        return;
    }
    let n = rows.len();
    for g in (0..n).step_by(R) {
        // Pad the group with its first row (results discarded).
        let idx: [usize; R] = std::array::from_fn(|a| if g + a < n { g + a } else { g });
        let x: [*const f32; R] = std::array::from_fn(|a| rows[idx[a]][c0..].as_ptr());
        let mut b0 = 0;
        while b0 < c.len() {
            let b1 = c.len().min(b0 + BLOCK);
            let mut acc = [_mm512_setzero_ps(); R];
            let mut j = b0;
            while j < b1 {
                let mask: __mmask16 = if b1 - j >= 16 {
                    0xFFFF
                } else {
                    (1u16 << (b1 - j)) - 1
                };
                // SAFETY: masked-off lanes are not read; the rest lie below `c1`.
                let cv = unsafe { _mm512_maskz_loadu_ps(mask, c.as_ptr().add(j)) };
                if ahead > 0 {
                    for p in x {
                        // A hint: no fault, whatever the address.
                        _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(j + ahead).cast());
                    }
                }
                for a in 0..R {
                    // SAFETY: as above.
                    let t = _mm512_sub_ps(unsafe { _mm512_maskz_loadu_ps(mask, x[a].add(j)) }, cv);
                    acc[a] = _mm512_fmadd_ps(t, t, acc[a]);
                }
                j += 16;
            }
            for (a, acc) in acc.iter().enumerate() {
                let i = g + a;
                if i >= n || part.bad[i] {
                    continue;
                }
                let fast = _mm512_reduce_add_ps(*acc);
                let (xb, cb) = (&rows[i][c0 + b0..c0 + b1], &c[b0..b1]);
                if fast.is_finite() && fast >= TINY {
                    part.sums[i] += f64::from(fast);
                } else if !block_finite(xb) {
                    part.bad[i] = true;
                } else {
                    part.sums[i] += block_f64(xb, cb);
                }
            }
            b0 = b1;
        }
    }
}
