//! The weighted path of `order_stats` for a fixed row count, on 32-bit composite keys in
//! AVX-512 registers.
//!
//! ## Why
//!
//! With arbitrary weights ties must come out in row order, so `weighted512.rs` sorts u64
//! (key, slot) pairs: 8 coordinates per register and a u64 min/max per comparator. Here the
//! low `BITS = ceil(log2 N)` bits of each 32-bit key are replaced by the row's slot, and these
//! composite keys are sorted with the uniform path's u32 network (`vpminud`/`vpmaxud`, 16
//! coordinates per register): half the comparator work per coordinate, and the keys of
//! N <= 32 rows stay in registers.
//!
//! ## Exactness
//!
//! Integer order of the composite keys is (key prefix, slot) order. After the network each
//! rank's full key is fetched back by its slot (one 16-lane gather from the unsorted keys,
//! which stay in L1) and the full keys are checked to be non-decreasing along the ranks.
//! If they are, the order is exactly the (key, slot) order of the other paths: keys with
//! different prefixes are ordered by the prefix, and equal full keys have equal prefixes, so
//! they are ordered by slot. If they are not (two rows whose keys differ only in the low
//! `BITS` bits, met as neighbours), the block is a real collision and takes `weighted512.rs`
//! whole, as does a block holding a -0.0 (its scalar scan reads the zero's sign back). The
//! (full key, slot) pairs are then the very input of `weighted512`'s scan, so the arithmetic
//! and the results are bit for bit those of that path.

use std::arch::x86_64::*;

use super::Reduce;
use super::avx512::{Nets, keys16};
use super::weighted512;

/// Coordinates per block: one zmm register of u32 composite keys.
const LANES: usize = 16;

/// The bits that hold the slot in a composite key for `n` rows: `ceil(log2 n)`.
const fn slot_bits(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// The rule over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows of
/// positive weight), `table` their weights (at least `N`).
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW, DQ and VL; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) unsafe fn chunk<const N: usize>(
    rows: &[&[f32]],
    table: &[f64],
    reduce: &Reduce,
    c0: usize,
    out: &mut [f32],
) {
    assert!(rows.len() == N && N <= 64 && table.len() >= N);
    assert!(rows.iter().all(|r| r.len() >= c0 + out.len()));
    let ptrs: [*const f32; N] = std::array::from_fn(|s| rows[s].as_ptr());
    let low = _mm512_set1_epi32(((1u64 << slot_bits(N)) - 1) as i32);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // The unsorted full keys, row by row (what the gathers read), and the sorted
    // (key, slot) pairs of each half block (what the scan reads).
    let mut full = [[0u32; LANES]; N];
    let mut halves = [[[0u64; 8]; N]; 2];
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mask: __mmask16 = if len == LANES { 0xFFFF } else { (1u16 << len) - 1 };
        let mut k = [_mm512_setzero_si512(); N];
        let mut neg_zero: __mmask16 = 0;
        macro_rules! gather {
            ($s:expr) => {
                if const { $s < N } {
                    // SAFETY: lanes past `len` are masked off; row `$s` holds `c + len` values.
                    let v = unsafe { _mm512_maskz_loadu_ps(mask, ptrs[$s].add(c)) };
                    let (key, nz) = keys16(v);
                    // SAFETY: `full[$s]` is 64 bytes.
                    unsafe { _mm512_storeu_si512(full[$s].as_mut_ptr().cast(), key) };
                    k[$s] = _mm512_or_si512(_mm512_andnot_si512(low, key), _mm512_set1_epi32($s as i32));
                    neg_zero |= nz;
                }
            };
        }
        unroll_64!(gather);
        if neg_zero & mask != 0 {
            // SAFETY: as this function's; `out` is this block's part of the caller's.
            unsafe { weighted512::chunk::<N>(rows, table, reduce, c, out) };
            continue;
        }
        macro_rules! compare {
            ($i:expr) => {
                if const { $i < Nets::<N>::FULL.1 } {
                    let (x, y) = const {
                        (
                            Nets::<N>::FULL.0[$i].0 as usize,
                            Nets::<N>::FULL.0[$i].1 as usize,
                        )
                    };
                    let (p, q) = (k[x], k[y]);
                    k[x] = _mm512_min_epu32(p, q);
                    k[y] = _mm512_max_epu32(p, q);
                }
            };
        }
        unroll_576!(compare);
        // Each rank's full key fetched back by its slot; a descent between neighbours is a
        // real collision.
        let mut prev = _mm512_setzero_si512();
        let mut descent: __mmask16 = 0;
        macro_rules! restore {
            ($r:expr) => {
                if const { $r < N } {
                    let slot = _mm512_and_si512(k[$r], low);
                    let index = _mm512_or_si512(_mm512_slli_epi32::<4>(slot), lane);
                    // SAFETY: every index is slot * 16 + lane with slot < N: inside `full`.
                    let key = unsafe { _mm512_i32gather_epi32::<4>(index, full.as_ptr().cast()) };
                    descent |= _mm512_cmpgt_epu32_mask(prev, key);
                    prev = key;
                    for (h, half) in halves.iter_mut().enumerate() {
                        let (key, slot) = if h == 0 {
                            (_mm512_castsi512_si256(key), _mm512_castsi512_si256(slot))
                        } else {
                            (
                                _mm512_extracti64x4_epi64::<1>(key),
                                _mm512_extracti64x4_epi64::<1>(slot),
                            )
                        };
                        let wide = _mm512_or_si512(
                            _mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(key)),
                            _mm512_cvtepu32_epi64(slot),
                        );
                        // SAFETY: `half[$r]` is 64 bytes.
                        unsafe { _mm512_storeu_si512(half[$r].as_mut_ptr().cast(), wide) };
                    }
                }
            };
        }
        unroll_64!(restore);
        if descent & mask != 0 {
            // Cold: a real collision.
            // SAFETY: as this function's; `out` is this block's part of the caller's.
            unsafe { weighted512::chunk::<N>(rows, table, reduce, c, out) };
            continue;
        }
        // SAFETY: each half holds N ranks of (key, slot) with slot < N <= table.len().
        let (lo, hi) = unsafe {
            (
                weighted512::scan(reduce, table, &halves[0]),
                weighted512::scan(reduce, table, &halves[1]),
            )
        };
        let res = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi);
        // SAFETY: lanes past `len` are masked off; `out` holds `len` values.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), mask, res) };
    }
}

/// The instance of [`chunk`] for `m` rows, if one is built.
pub(super) type ChunkFn = weighted512::ChunkFn;

/// See [`ChunkFn`]: the row counts `weighted512` is built for.
pub(super) fn select(m: usize) -> Option<ChunkFn> {
    macro_rules! arms {
        ($($n:literal)*) => {
            match m {
                $($n => Some(chunk::<$n> as ChunkFn),)*
                _ => None,
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 64)
}

#[cfg(test)]
mod tests {
    use super::slot_bits;

    #[test]
    fn slot_bits_hold_every_slot() {
        for n in 1..=64usize {
            let b = slot_bits(n);
            assert!(n <= 1 << b, "n = {n}");
            assert!(b == 0 || n > 1 << (b - 1), "n = {n}");
        }
    }
}
