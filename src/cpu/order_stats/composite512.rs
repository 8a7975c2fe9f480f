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
//! (full key, slot) pairs are then the very input of `weighted512`'s scan, and the scans here
//! do its arithmetic in its order (the trimmed mean with the same `TrimLanes`), so the results
//! are bit for bit those of that path.

use std::arch::x86_64::*;

use super::avx512::{Nets, keys16};
use super::avx512::{to_f32, values_f64};
use super::meamed512::distance;
use super::weighted512::{self, TrimLanes, Weights};
use super::{Reduce, slot_bits};

/// Coordinates per block: one zmm register of u32 composite keys.
const LANES: usize = 16;

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
    // The sorted composite keys (the median's scan reads them), or for MeaMed the slots of
    // the ranks, and their full keys.
    let mut sorted = [[0u32; LANES]; N];
    let mut ranked = [[0u32; LANES]; N];
    let weights = Weights::new(table, N);
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mask: __mmask16 = if len == LANES { 0xFFFF } else { (1u16 << len) - 1 };
        let mut k = [_mm512_setzero_si512(); N];
        // Every row holds `c + len` values; lanes past `len` are masked off.
        let neg_zero = load_keys16!(ptrs, c, mask, |s, key| {
            // SAFETY: `full[s]` is 64 bytes.
            unsafe { _mm512_storeu_si512(full[s].as_mut_ptr().cast(), key) };
            k[s] = _mm512_or_si512(_mm512_andnot_si512(low, key), _mm512_set1_epi32(s as i32));
        });
        if neg_zero & mask != 0 {
            // SAFETY: as this function's; `out` is this block's part of the caller's.
            unsafe { weighted512::chunk::<N>(rows, table, reduce, c, out) };
            continue;
        }
        sort_network!(k, Nets::<N>::FULL, _mm512_min_epu32, _mm512_max_epu32);
        if let Reduce::Median { total } = *reduce {
            // The median reads the values of one or two ranks only: the order is checked
            // where it can be wrong (neighbours with equal prefixes), and the composite keys
            // are scanned as they are.
            let mut collision = false;
            macro_rules! check {
                ($r:expr) => {
                    if const { $r + 1 < N } {
                        let same =
                            _mm512_mask_cmple_epu32_mask(mask, _mm512_xor_si512(k[$r], k[$r + 1]), low);
                        if same != 0 {
                            collision |= descends(&full, k[$r], k[$r + 1], same, low);
                        }
                    }
                };
            }
            unroll_64!(check);
            if collision {
                // SAFETY: as this function's; `out` is this block's part of the caller's.
                unsafe { weighted512::chunk::<N>(rows, table, reduce, c, out) };
                continue;
            }
            macro_rules! spill {
                ($s:expr) => {
                    if const { $s < N } {
                        // SAFETY: `sorted[$s]` is 64 bytes.
                        unsafe { _mm512_storeu_si512(sorted[$s].as_mut_ptr().cast(), k[$s]) };
                    }
                };
            }
            unroll_64!(spill);
            let res = median(total, &weights, &full, &sorted, low);
            // SAFETY: lanes past `len` are masked off; `out` holds `len` values.
            unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), mask, res) };
            continue;
        }
        // Each rank's full key fetched back by its slot; a descent between neighbours is a
        // real collision. The full keys and slots are stored by rank and scanned after this
        // loop: a scan along it would hold its state beside the N keys, which spill.
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
                    // SAFETY: `ranked[$r]` and `sorted[$r]` are 64 bytes.
                    unsafe {
                        _mm512_storeu_si512(ranked[$r].as_mut_ptr().cast(), key);
                        _mm512_storeu_si512(sorted[$r].as_mut_ptr().cast(), slot);
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
        let res = match *reduce {
            Reduce::Trim { lo, hi, eps } => {
                trimmed_mean(TrimLanes::new(lo, hi, eps), &weights, &ranked, &sorted)
            }
            Reduce::MeaMed { total, keep, eps } => {
                meamed(&Walk { total, keep, eps }, &weights, &ranked, &sorted)
            }
            Reduce::Median { .. } => unreachable!("the median is done above"),
        };
        // SAFETY: lanes past `len` are masked off; `out` holds `len` values.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), mask, res) };
    }
}

/// The weighted trimmed mean (SPEC 4.3) of the 16 lanes of the ranks' full keys `keys` and
/// slots `slots`: `TrimLanes` (the arithmetic of `weighted512`'s scan) on each half.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn trimmed_mean(
    start: TrimLanes,
    weights: &Weights<'_>,
    keys: &[[u32; LANES]],
    slots: &[[u32; LANES]],
) -> __m512 {
    let mut trim = [start; 2];
    // The ranks trimmed off in every lane (about lambda of them at each end) are passed by
    // their weights alone below the kept range, and not visited above it: `TrimLanes::add`
    // would skip each of them in every lane, so the sums are the same, bit for bit.
    let mut below = true;
    for (key, slot) in keys.iter().zip(slots) {
        if (trim[0].past_hi() & trim[1].past_hi()) == 0xFF {
            break;
        }
        // SAFETY: `slot` is 64 bytes.
        let [w0, w1] = weights.of16(unsafe { _mm512_loadu_si512(slot.as_ptr().cast()) });
        if below {
            if trim[0].below_lo(w0) && trim[1].below_lo(w1) {
                trim[0].pass(w0);
                trim[1].pass(w1);
                continue;
            }
            below = false;
        }
        // SAFETY: `key` is 64 bytes.
        let (v0, v1) = values_f64(unsafe { _mm512_loadu_si512(key.as_ptr().cast()) });
        trim[0].add(w0, v0);
        trim[1].add(w1, v1);
    }
    to_f32(trim[0].mean(), trim[1].mean())
}

/// Whether, in a lane of `lanes`, the full key of the row in `a`'s slot is above that of
/// `b`'s (two sorted neighbours whose composite keys have equal prefixes).
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn descends(full: &[[u32; LANES]], a: __m512i, b: __m512i, lanes: __mmask16, low: __m512i) -> bool {
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let index = |k: __m512i| _mm512_or_si512(_mm512_slli_epi32::<4>(_mm512_and_si512(k, low)), lane);
    let zero = _mm512_setzero_si512();
    // SAFETY: every index is slot * 16 + lane with slot < full.len() (the caller's slots).
    let (ka, kb) = unsafe {
        (
            _mm512_mask_i32gather_epi32::<4>(zero, lanes, index(a), full.as_ptr().cast()),
            _mm512_mask_i32gather_epi32::<4>(zero, lanes, index(b), full.as_ptr().cast()),
        )
    };
    _mm512_mask_cmpgt_epu32_mask(lanes, ka, kb) != 0
}

/// The weighted median (SPEC 4.2) of the 16 lanes of the sorted composite keys `sorted`,
/// with `weighted512::scan`'s arithmetic: cumulative weights added in rank order in f64,
/// `2 * cumulative` compared with `total`, the midpoint `(a + b) * 0.5` in f64. The values of
/// the ranks found are the full keys of their slots (`full`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn median(
    total: f64,
    weights: &Weights<'_>,
    full: &[[u32; LANES]],
    sorted: &[[u32; LANES]],
    low: __m512i,
) -> __m512 {
    let m = sorted.len();
    assert!((1..=64).contains(&m) && full.len() == m);
    // SAFETY: `sorted[r]` (index checked) is 64 bytes.
    let load = |r: usize| unsafe { _mm512_loadu_si512(sorted[r].as_ptr().cast()) };
    let (total, two) = (_mm512_set1_pd(total), _mm512_set1_pd(2.0));
    let mut cumulative = [_mm512_setzero_pd(); 2];
    let (mut open, mut mid): (__mmask16, __mmask16) = (0xFFFF, 0);
    let (mut at_a, mut at_b) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    for r in 0..m {
        let key = load(r);
        let slot = _mm512_and_si512(key, low);
        let w = weights.of16(slot);
        let (mut at_half, mut past_half): (__mmask16, __mmask16) = (0, 0);
        for h in 0..2 {
            cumulative[h] = _mm512_add_pd(cumulative[h], w[h]);
            let twice = _mm512_mul_pd(two, cumulative[h]);
            let o = (open >> (8 * h)) as __mmask8;
            let at = o & _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(twice, total);
            let past = o & !at & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(twice, total);
            at_half |= u16::from(at) << (8 * h);
            past_half |= u16::from(past) << (8 * h);
        }
        let close = at_half | past_half;
        if close != 0 {
            at_a = _mm512_mask_mov_epi32(at_a, close, key);
            at_b = _mm512_mask_mov_epi32(at_b, past_half, key);
            at_b = _mm512_mask_mov_epi32(at_b, at_half, load((r + 1).min(m - 1)));
            mid |= at_half;
            open &= !close;
            if open == 0 {
                break;
            }
        }
    }
    if open != 0 {
        let last = load(m - 1);
        at_a = _mm512_mask_mov_epi32(at_a, open, last);
        at_b = _mm512_mask_mov_epi32(at_b, open, last);
    }
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let index = |k: __m512i| _mm512_or_si512(_mm512_slli_epi32::<4>(_mm512_and_si512(k, low)), lane);
    // SAFETY: every index is slot * 16 + lane with slot < m: inside `full`.
    let (ka, kb) = unsafe {
        (
            _mm512_i32gather_epi32::<4>(index(at_a), full.as_ptr().cast()),
            _mm512_i32gather_epi32::<4>(index(at_b), full.as_ptr().cast()),
        )
    };
    let ((a0, a1), (b0, b1)) = (values_f64(ka), values_f64(kb));
    let half = _mm512_set1_pd(0.5);
    let res = [(a0, b0), (a1, b1)].map(|(a, b)| (a, _mm512_mul_pd(_mm512_add_pd(a, b), half)));
    let pick = |h: usize| _mm512_mask_mov_pd(res[h].0, (mid >> (8 * h)) as __mmask8, res[h].1);
    to_f32(pick(0), pick(1))
}

/// MeaMed's constants (see `Reduce::MeaMed`).
struct Walk {
    total: f64,
    keep: f64,
    eps: f64,
}

/// MeaMed (`reduce::meamed`) on 16 lanes at once, over the ranks' full keys `keys` and slots
/// `slots`: the weighted median's rank per lane with [`median`]'s arithmetic, then the walk
/// of `meamed` with each lane's state in registers (its next candidate below and above the
/// window: value, distance to the median and weight). Each step every lane still walking
/// (mass left above `eps`, a side left) takes the closer candidate (ties to the lower
/// value), adds `mass * value` and `mass` (multiply, then add, never fused) and fetches its
/// next candidate with a gather; the steps run until no lane walks. A lane whose median is
/// not finite returns it. The arithmetic is `meamed`'s, in the same order, lane by lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn meamed(walk: &Walk, weights: &Weights<'_>, keys: &[[u32; LANES]], slots: &[[u32; LANES]]) -> __m512 {
    let m = keys.len();
    assert!((1..=64).contains(&m) && slots.len() == m);
    let (zero_i, one_i, top) = (
        _mm512_setzero_si512(),
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(m as i32 - 1),
    );
    let pair = |(lo, hi): (__m512d, __m512d)| [lo, hi];
    let half_mask = |m16: __mmask16, h: usize| (m16 >> (8 * h)) as __mmask8;
    let join = |lo: __mmask8, hi: __mmask8| u16::from(lo) | (u16::from(hi) << 8);
    // The median: rank `a` per lane, and whether it is the midpoint of `a` and `a + 1`.
    let (total, two) = (_mm512_set1_pd(walk.total), _mm512_set1_pd(2.0));
    let mut cumulative = [_mm512_setzero_pd(); 2];
    let (mut open, mut mid): (__mmask16, __mmask16) = (0xFFFF, 0);
    let mut a = top;
    for (r, slot) in slots.iter().enumerate() {
        // SAFETY: `slot` is 64 bytes.
        let w = weights.of16(unsafe { _mm512_loadu_si512(slot.as_ptr().cast()) });
        let mut flags = [[0u8; 2]; 2];
        for h in 0..2 {
            cumulative[h] = _mm512_add_pd(cumulative[h], w[h]);
            let twice = _mm512_mul_pd(two, cumulative[h]);
            let o = half_mask(open, h);
            let at_half = o & _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(twice, total);
            let past_half = o & !at_half & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(twice, total);
            flags[h] = [at_half, past_half];
        }
        let (at_half, past_half) = (join(flags[0][0], flags[1][0]), join(flags[0][1], flags[1][1]));
        let close = at_half | past_half;
        a = _mm512_mask_mov_epi32(a, close, _mm512_set1_epi32(r as i32));
        if r + 1 < m {
            mid |= at_half;
        }
        open &= !close;
        if open == 0 {
            break;
        }
    }
    let above = _mm512_add_epi32(a, one_i);
    let (va, vb) = (
        pair(values_f64(at_rank(keys, a))),
        pair(values_f64(at_rank(keys, above))),
    );
    let med: [__m512d; 2] = std::array::from_fn(|h| {
        _mm512_mask_mov_pd(
            va[h],
            half_mask(mid, h),
            _mm512_div_pd(_mm512_add_pd(va[h], vb[h]), two),
        )
    });
    // The candidates: below the window rank down - 1, above it rank up (both start at a + 1).
    let (mut down, mut up) = (above, above);
    let (mut v_lo, mut v_hi) = (va, vb);
    let mut d_lo = [0, 1].map(|h| distance(va[h], med[h]));
    let mut d_hi = [0, 1].map(|h| distance(vb[h], med[h]));
    let (mut w_lo, mut w_hi) = (
        weights.of16(at_rank(slots, a)),
        weights.of16(at_rank(slots, above)),
    );
    let eps = _mm512_set1_pd(walk.eps);
    let zero = _mm512_setzero_pd();
    let (mut left, mut sum, mut kept) = ([_mm512_set1_pd(walk.keep); 2], [zero; 2], [zero; 2]);
    let end = _mm512_set1_epi32(m as i32);
    loop {
        let lo_ok = _mm512_cmpgt_epi32_mask(down, zero_i);
        let hi_ok = _mm512_cmplt_epi32_mask(up, end);
        let more = join(
            _mm512_cmp_pd_mask::<_CMP_GT_OQ>(left[0], eps),
            _mm512_cmp_pd_mask::<_CMP_GT_OQ>(left[1], eps),
        );
        let active = more & (lo_ok | hi_ok);
        if active == 0 {
            break;
        }
        let mut take = [0u8; 2];
        for h in 0..2 {
            let (lo_ok, hi_ok, act) = (half_mask(lo_ok, h), half_mask(hi_ok, h), half_mask(active, h));
            let closer = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(d_lo[h], d_hi[h]);
            let take_lo = lo_ok & (!hi_ok | closer);
            let v = _mm512_mask_mov_pd(v_hi[h], take_lo, v_lo[h]);
            let w = _mm512_mask_mov_pd(w_hi[h], take_lo, w_lo[h]);
            let mass = _mm512_min_pd(w, left[h]);
            sum[h] = _mm512_mask_add_pd(sum[h], act, sum[h], _mm512_mul_pd(mass, v));
            kept[h] = _mm512_mask_add_pd(kept[h], act, kept[h], mass);
            left[h] = _mm512_mask_sub_pd(left[h], act, left[h], mass);
            take[h] = take_lo & act;
        }
        let take_lo = join(take[0], take[1]);
        let take_hi = active & !take_lo;
        down = _mm512_mask_sub_epi32(down, take_lo, down, one_i);
        up = _mm512_mask_add_epi32(up, take_hi, up, one_i);
        // The next candidate on the side each lane took (a side used up is masked off by
        // lo_ok / hi_ok at the next step; the rank is clamped in range by `at`).
        let rank = _mm512_mask_mov_epi32(up, take_lo, _mm512_sub_epi32(down, one_i));
        let (v, w) = (
            pair(values_f64(at_rank(keys, rank))),
            weights.of16(at_rank(slots, rank)),
        );
        for h in 0..2 {
            let (tl, th) = (half_mask(take_lo, h), half_mask(take_hi, h));
            let d = distance(v[h], med[h]);
            v_lo[h] = _mm512_mask_mov_pd(v_lo[h], tl, v[h]);
            d_lo[h] = _mm512_mask_mov_pd(d_lo[h], tl, d);
            w_lo[h] = _mm512_mask_mov_pd(w_lo[h], tl, w[h]);
            v_hi[h] = _mm512_mask_mov_pd(v_hi[h], th, v[h]);
            d_hi[h] = _mm512_mask_mov_pd(d_hi[h], th, d);
            w_hi[h] = _mm512_mask_mov_pd(w_hi[h], th, w[h]);
        }
    }
    let inf = _mm512_set1_pd(f64::INFINITY);
    let res: [__m512d; 2] = std::array::from_fn(|h| {
        let finite = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(med[h]), inf);
        _mm512_mask_mov_pd(med[h], finite, _mm512_div_pd(sum[h], kept[h]))
    });
    to_f32(res[0], res[1])
}

/// Each lane's u32 of rank `rank` in `arr` (the rank clamped to `0..arr.len()`): one gather.
/// A function, not a closure in the walk, so that it is compiled inline.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn at_rank(arr: &[[u32; LANES]], rank: __m512i) -> __m512i {
    assert!(!arr.is_empty() && arr.len() <= 64);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let top = _mm512_set1_epi32(arr.len() as i32 - 1);
    let rank = _mm512_min_epi32(_mm512_max_epi32(rank, _mm512_setzero_si512()), top);
    // SAFETY: the rank is clamped to 0..arr.len(), so rank * 16 + lane lies inside `arr`.
    unsafe {
        _mm512_i32gather_epi32::<4>(
            _mm512_or_si512(_mm512_slli_epi32::<4>(rank), lane),
            arr.as_ptr().cast(),
        )
    }
}

/// The instance of [`chunk`] for `m` rows, if one is built.
pub(super) type ChunkFn = weighted512::ChunkFn;

/// See [`ChunkFn`]: the row counts `weighted512` is built for.
pub(super) fn select(m: usize) -> Option<ChunkFn> {
    register_kernel!(m, chunk, ChunkFn)
}
