//! The weighted path of `order_stats` for a fixed row count, on 32-bit composite keys in
//! AVX2 registers: `composite512.rs` for CPUs with AVX2 only.
//!
//! ## Why
//!
//! AVX2 has no u64 min/max, so below AVX-512 the weighted path sorted (key, slot) pairs with
//! the run-time network in memory (`weighted.rs`, a compare-and-blend of four arrays per
//! comparator). With the slot in the low `ceil(log2 N)` bits of the 32-bit key, the pairs
//! are plain u32 keys, and the uniform path's compile-time network (`avx512.rs`'s, as
//! `avx2.rs` runs it) sorts them with `vpminud`/`vpmaxud` on `[__m256i; N]`, 8 coordinates
//! per block.
//!
//! ## Exactness
//!
//! As in `composite512.rs`: each rank's full key is gathered back by its slot and checked to
//! be non-decreasing along the ranks, which makes the order exactly the (key, slot) order; a
//! block of 16 coordinates where that fails (a real collision) or that holds a -0.0 takes the
//! generic weighted kernel whole. The sorted (full key, slot) pairs then go to
//! `Reduce::scan_lanes`, the scan of the generic kernel, so results are bit for bit its.

use std::arch::x86_64::*;

use super::avx2::keys8;
use super::avx512::Nets;
use super::block::store;
use super::weighted::{WeightedPlan, weighted_chunk_at};
use super::{LANES, SimdLevel, slot_bits};

/// Coordinates per register: one ymm of u32 composite keys (two make a block of [`LANES`]).
const HALF: usize = 8;

/// The rule over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows of
/// positive weight); `keys` and `slots` are scratch of `N` rows (the sorted pairs, and the
/// generic kernel's scratch when a block falls back).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chunk<const N: usize>(
    rows: &[&[f32]],
    plan: &WeightedPlan<'_>,
    c0: usize,
    out: &mut [f32],
    keys: &mut [[u32; LANES]],
    slots: &mut [[u32; LANES]],
) {
    assert!(rows.len() == N && N <= 64 && keys.len() == N && slots.len() == N);
    assert!(plan.table.len() >= N && rows.iter().all(|r| r.len() >= c0 + out.len()));
    let ptrs: [*const f32; N] = std::array::from_fn(|s| rows[s].as_ptr());
    let low = _mm256_set1_epi32(((1u64 << slot_bits(N)) - 1) as i32);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // The unsorted full keys of one half block, row by row (what the gathers read).
    let mut full = [[0u32; HALF]; N];
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let mut exact = true;
        for h in 0..LANES / HALF {
            let len = out.len().saturating_sub(h * HALF).min(HALF);
            let ch = c + h * HALF;
            // Lanes past `len` read nothing (masked loads do not fault) and hold +0.0.
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), lane);
            let mut k = [_mm256_setzero_si256(); N];
            // Every row holds `ch + len` values; `mask` keeps the lanes below `len`.
            let neg_zero = load_keys8!(ptrs, ch, len, mask, |s, key| {
                // SAFETY: `full[s]` is 32 bytes.
                unsafe { _mm256_storeu_si256(full[s].as_mut_ptr().cast(), key) };
                k[s] = _mm256_or_si256(_mm256_andnot_si256(low, key), _mm256_set1_epi32(s as i32));
            });
            if _mm256_testz_si256(neg_zero, neg_zero) == 0 {
                exact = false;
                break;
            }
            sort_network!(k, Nets::<N>::FULL, _mm256_min_epu32, _mm256_max_epu32);
            // Each rank's full key fetched back by its slot; a descent between neighbours
            // (max(prev, key) != key) is a real collision.
            let mut prev = _mm256_setzero_si256();
            let mut ascending = _mm256_set1_epi32(-1);
            macro_rules! restore {
                ($r:expr) => {
                    if const { $r < N } {
                        let slot = _mm256_and_si256(k[$r], low);
                        let index = _mm256_or_si256(_mm256_slli_epi32::<3>(slot), lane);
                        // SAFETY: every index is slot * 8 + lane with slot < N: inside `full`.
                        let key = unsafe { _mm256_i32gather_epi32::<4>(full.as_ptr().cast(), index) };
                        let up = _mm256_cmpeq_epi32(_mm256_max_epu32(prev, key), key);
                        ascending = _mm256_and_si256(ascending, up);
                        prev = key;
                        // SAFETY: each destination is 8 of the 16 u32 of a scratch row.
                        unsafe {
                            _mm256_storeu_si256(keys[$r].as_mut_ptr().add(h * HALF).cast(), key);
                            _mm256_storeu_si256(slots[$r].as_mut_ptr().add(h * HALF).cast(), slot);
                        }
                    }
                };
            }
            unroll_64!(restore);
            if _mm256_movemask_epi8(ascending) != -1 {
                exact = false;
                break;
            }
        }
        if exact {
            let res = plan.reduce.scan_lanes(plan.table, keys, slots);
            store(out, &res);
        } else {
            // Cold: a real collision or a -0.0; the generic kernel on the whole block.
            weighted_chunk_at(SimdLevel::Avx2, rows, plan, c, out, keys, slots);
        }
    }
}

/// The instance of [`chunk`] for `m` rows, if one is built.
pub(super) type ChunkFn =
    unsafe fn(&[&[f32]], &WeightedPlan<'_>, usize, &mut [f32], &mut [[u32; LANES]], &mut [[u32; LANES]]);

/// See [`ChunkFn`]: the row counts the uniform AVX2 kernel is built for.
pub(super) fn select(m: usize) -> Option<ChunkFn> {
    register_kernel!(m, chunk, ChunkFn)
}
