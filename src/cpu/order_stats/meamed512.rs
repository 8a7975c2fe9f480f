//! MeaMed with uniform weights for a fixed row count, in AVX-512 registers.
//!
//! ## Why
//!
//! The generic path sorts every rank with the in-memory network, then walks each
//! coordinate's window around the median on its own: a scalar loop whose branches follow the
//! data (47x a read pass). Here the keys are sorted in registers by the compile-time network
//! of `avx512.rs`, and the walk runs on 16 coordinates at once: each lane holds its next
//! candidate below and above the window (value and distance to the median, in f64), takes
//! the closer one (ties to the lower value, as the scalar walk does), and fetches the next
//! candidate on the side it took with one 16-lane gather from the sorted block.
//!
//! ## Exactness
//!
//! With uniform weights the walk's masses, their number and their total do not depend on
//! the values: [`Walk`] works them out once per call with `meamed`'s own arithmetic. Each
//! lane then adds `mass * value` in the same order as `meamed` (multiply, then add, never
//! fused), and a lane whose median is not finite returns it: results are bit for bit those of
//! the scalar walk. Values come from the keys (a -0.0 reads as +0.0, which no sum of masses
//! times values can tell apart, since the sum starts at +0.0).

use std::arch::x86_64::*;

use super::avx512::{Nets, keys16, to_f32, values_f64};

/// Coordinates per block: one zmm register of u32 keys.
const LANES: usize = 16;

/// What the walk does for every coordinate, worked out from the weights alone.
#[derive(Clone, Debug)]
pub(super) struct Walk {
    /// The median's rank, and whether it is the midpoint of ranks `a` and `a + 1`.
    a: usize,
    mid: bool,
    /// The mass taken at each step, in order.
    masses: Vec<f64>,
    /// Their sum, added in order.
    kept: f64,
}

impl Walk {
    /// `meamed`'s weight arithmetic for `m` rows of weight `w`.
    pub(super) fn new(m: usize, w: f64, total: f64, keep: f64, eps: f64) -> Walk {
        let (mut a, mut mid) = (m - 1, false);
        let mut cumulative = 0.0;
        for k in 0..m {
            cumulative += w;
            if 2.0 * cumulative == total {
                (a, mid) = (k, k + 1 < m);
                break;
            }
            if 2.0 * cumulative > total {
                a = k;
                break;
            }
        }
        let (mut left, mut masses, mut kept) = (keep, Vec::new(), 0.0);
        while left > eps && masses.len() < m {
            let mass = w.min(left);
            masses.push(mass);
            kept += mass;
            left -= mass;
        }
        Walk { a, mid, masses, kept }
    }
}

/// `|v - med|`, NaN as +inf.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) fn distance(v: __m512d, med: __m512d) -> __m512d {
    let d = _mm512_abs_pd(_mm512_sub_pd(v, med));
    _mm512_mask_mov_pd(
        d,
        _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(d, d),
        _mm512_set1_pd(f64::INFINITY),
    )
}

/// Blocks walked together (their walks are independent chains). Two measured no faster than
/// one: the walk is bound by its instructions (about 50 per step for 16 lanes), not by the
/// latency of its gathers, so one it is; the structure is kept for wider machines to try.
const BLOCKS: usize = 1;

/// MeaMed over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows, each of
/// the weight `walk` was made for).
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW, DQ and VL; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) unsafe fn chunk<const N: usize>(rows: &[&[f32]], c0: usize, out: &mut [f32], walk: &Walk) {
    assert!(rows.len() == N && walk.a < N && walk.masses.len() <= N);
    assert!(rows.iter().all(|r| r.len() >= c0 + out.len()));
    let ptrs: [*const f32; N] = std::array::from_fn(|s| rows[s].as_ptr());
    let mut sorted = [[[0u32; LANES]; N]; BLOCKS];
    for (pi, group) in out.chunks_mut(BLOCKS * LANES).enumerate() {
        let c = c0 + pi * BLOCKS * LANES;
        let mut masks = [0u16; BLOCKS];
        for (b, m) in masks.iter_mut().enumerate() {
            let len = group.len().saturating_sub(b * LANES).min(LANES);
            *m = if len == LANES { 0xFFFF } else { (1u16 << len) - 1 };
            // SAFETY: a block's lanes past the rows' end are masked off (all of them for a
            // block past the end, whose pointers are only formed, never read through).
            unsafe { sort_block::<N>(&ptrs, c + b * LANES, *m, &mut sorted[b]) };
        }
        let res = walk_blocks::<N>(&sorted, walk);
        for (b, (m, r)) in masks.iter().zip(res).enumerate() {
            if *m != 0 {
                // SAFETY: lanes past the block's length are masked off; `group` holds them.
                unsafe { _mm512_mask_storeu_ps(group.as_mut_ptr().add(b * LANES), *m, r) };
            }
        }
    }
}

/// Sorts the keys of the block of 16 coordinates from `c` (lanes outside `mask` read as
/// +0.0) into `sorted`, rank by rank.
///
/// # Safety
///
/// Every row holds the lanes of `mask` from `c`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn sort_block<const N: usize>(
    ptrs: &[*const f32; N],
    c: usize,
    mask: __mmask16,
    sorted: &mut [[u32; LANES]; N],
) {
    let mut k = [_mm512_setzero_si512(); N];
    // Every row holds the lanes of `mask` from `c` (this function's contract).
    load_keys16!(ptrs, c, mask, |s, key| k[s] = key);
    sort_network!(k, Nets::<N>::FULL, _mm512_min_epu32, _mm512_max_epu32);
    macro_rules! spill {
        ($s:expr) => {
            if const { $s < N } {
                // SAFETY: `sorted[$s]` is 64 bytes.
                unsafe { _mm512_storeu_si512(sorted[$s].as_mut_ptr().cast(), k[$s]) };
            }
        };
    }
    unroll_64!(spill);
}

/// The walk of [`BLOCKS`] sorted blocks side by side; the results as f32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn walk_blocks<const N: usize>(sorted: &[[[u32; LANES]; N]; BLOCKS], walk: &Walk) -> [__m512; BLOCKS] {
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let (one, zero, top) = (
        _mm512_set1_epi32(1),
        _mm512_setzero_si512(),
        _mm512_set1_epi32(N as i32 - 1),
    );
    let a = walk.a;
    // SAFETY: `sorted[b][r]` (indices checked) is 64 bytes.
    let load = |b: usize, r: usize| unsafe { _mm512_loadu_si512(sorted[b][r].as_ptr().cast()) };
    let zero_pd = _mm512_setzero_pd();
    let (mut med, mut v_lo, mut d_lo) = (
        [[zero_pd; 2]; BLOCKS],
        [[zero_pd; 2]; BLOCKS],
        [[zero_pd; 2]; BLOCKS],
    );
    let (mut v_hi, mut d_hi, mut sum) = (
        [[zero_pd; 2]; BLOCKS],
        [[zero_pd; 2]; BLOCKS],
        [[zero_pd; 2]; BLOCKS],
    );
    for b in 0..BLOCKS {
        let (lo_a, hi_a) = values_f64(load(b, a));
        med[b] = if walk.mid {
            let (lo_b, hi_b) = values_f64(load(b, a + 1));
            let two = _mm512_set1_pd(2.0);
            [
                _mm512_div_pd(_mm512_add_pd(lo_a, lo_b), two),
                _mm512_div_pd(_mm512_add_pd(hi_a, hi_b), two),
            ]
        } else {
            [lo_a, hi_a]
        };
        // Candidates: below the window rank down - 1, above it rank up (both start at a + 1).
        v_lo[b] = [lo_a, hi_a];
        d_lo[b] = [distance(lo_a, med[b][0]), distance(hi_a, med[b][1])];
        if a + 1 < N {
            let (lo, hi) = values_f64(load(b, a + 1));
            v_hi[b] = [lo, hi];
            d_hi[b] = [distance(lo, med[b][0]), distance(hi, med[b][1])];
        }
    }
    let (mut down, mut up) = (
        [_mm512_set1_epi32(a as i32 + 1); BLOCKS],
        [_mm512_set1_epi32(a as i32 + 1); BLOCKS],
    );
    let steps = walk.masses.len();
    for (j, &mass) in walk.masses.iter().enumerate() {
        let mass = _mm512_set1_pd(mass);
        for b in 0..BLOCKS {
            let lo_ok = _mm512_cmpgt_epi32_mask(down[b], zero);
            let hi_ok = _mm512_cmple_epi32_mask(up[b], top);
            let mut take_lo: __mmask16 = 0;
            for h in 0..2 {
                let (lo_ok, hi_ok) = ((lo_ok >> (8 * h)) as __mmask8, (hi_ok >> (8 * h)) as __mmask8);
                let closer = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(d_lo[b][h], d_hi[b][h]);
                let take = lo_ok & (!hi_ok | closer);
                let v = _mm512_mask_mov_pd(v_hi[b][h], take, v_lo[b][h]);
                sum[b][h] = _mm512_add_pd(sum[b][h], _mm512_mul_pd(mass, v));
                take_lo |= u16::from(take) << (8 * h);
            }
            if j + 1 == steps {
                continue;
            }
            down[b] = _mm512_mask_sub_epi32(down[b], take_lo, down[b], one);
            up[b] = _mm512_mask_add_epi32(up[b], !take_lo, up[b], one);
            // The next candidate on the side each lane took (clamped in range; a side that
            // is used up is masked off by lo_ok / hi_ok at the next step).
            let rank = _mm512_mask_mov_epi32(up[b], take_lo, _mm512_sub_epi32(down[b], one));
            let rank = _mm512_min_epi32(_mm512_max_epi32(rank, zero), top);
            let index = _mm512_add_epi32(_mm512_slli_epi32::<4>(rank), lane);
            // SAFETY: every index is rank * 16 + lane with rank < N: inside `sorted[b]`.
            let next = unsafe { _mm512_i32gather_epi32::<4>(index, sorted[b].as_ptr().cast()) };
            let (lo, hi) = values_f64(next);
            for (h, v) in [lo, hi].into_iter().enumerate() {
                let take = (take_lo >> (8 * h)) as __mmask8;
                let d = distance(v, med[b][h]);
                v_lo[b][h] = _mm512_mask_mov_pd(v_lo[b][h], take, v);
                d_lo[b][h] = _mm512_mask_mov_pd(d_lo[b][h], take, d);
                v_hi[b][h] = _mm512_mask_mov_pd(v, take, v_hi[b][h]);
                d_hi[b][h] = _mm512_mask_mov_pd(d, take, d_hi[b][h]);
            }
        }
    }
    let kept = _mm512_set1_pd(walk.kept);
    let inf = _mm512_set1_pd(f64::INFINITY);
    std::array::from_fn(|b| {
        let res: [__m512d; 2] = std::array::from_fn(|h| {
            // A lane whose median is not finite returns it.
            let finite = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(med[b][h]), inf);
            _mm512_mask_mov_pd(med[b][h], finite, _mm512_div_pd(sum[b][h], kept))
        });
        to_f32(res[0], res[1])
    })
}

/// The instance of [`chunk`] for `m` rows and the rule, if one is built for them.
pub(super) type ChunkFn = unsafe fn(&[&[f32]], usize, &mut [f32], &Walk);

/// See [`ChunkFn`]: 1..=32 rows (the sorted keys stay in registers) and 64.
pub(super) fn select(m: usize) -> Option<ChunkFn> {
    register_kernel!(m, chunk, ChunkFn)
}
