//! The weighted path of `order_stats` for a fixed row count, in AVX-512 registers: since the
//! composite keys (`composite512.rs`), the exact fallback for a block whose keys collide in
//! their low bits or that holds a -0.0, and the trimmed mean's arithmetic on 8 lanes
//! ([`TrimLanes`]) that both use.
//!
//! ## Why
//!
//! With arbitrary weights, ties must come out in row order and each rank's weight must be
//! looked up, so the generic path sorts (key, slot) pairs with a run-time network in memory
//! and then scans the lanes one at a time. Here each pair is one u64 (key above, slot below),
//! so integer order is (key, row) order and a comparator is one `vpminuq` and one `vpmaxuq`
//! on 8 coordinates; the network is the compile-time one of the uniform path (`avx512.rs`),
//! unrolled over `[__m512i; N]`; the scan runs on all 8 lanes at once in f64, each rank's
//! weights looked up from registers by permutes on the slots (a gather was the bottleneck).
//!
//! ## Exactness
//!
//! The arithmetic is `Reduce::scan`'s, lane by lane, in the same order: cumulative weights
//! added in rank order, `2 * cumulative` compared with the total, the midpoint in f64; the
//! trimmed mean's kept masses with the same min, max and skip rule, multiplied then added
//! (never fused). A block holding a -0.0 takes `Reduce::scan` itself, per lane, with values
//! read back from their rows.

use std::arch::x86_64::*;

use super::Reduce;
use super::avx512::{Nets, keys16};

/// Coordinates per block: one zmm register of u64 (key, slot) pairs.
const LANES: usize = 8;

/// The rule over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows of
/// positive weight), `table` their weights (at least `N`).
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW and DQ; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) unsafe fn chunk<const N: usize>(
    rows: &[&[f32]],
    table: &[f64],
    reduce: &Reduce,
    c0: usize,
    out: &mut [f32],
) {
    assert!(rows.len() == N && table.len() >= N && rows.iter().all(|r| r.len() >= c0 + out.len()));
    let ptrs: [*const f32; N] = std::array::from_fn(|s| rows[s].as_ptr());
    let mut sorted = [[0u64; LANES]; N];
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mask: __mmask16 = (1u16 << len) - 1;
        let mut k = [_mm512_setzero_si512(); N];
        // Every row holds `c + len` values; lanes past `len` are masked off.
        let neg_zero = load_keys16!(ptrs, c, mask, |s, key| {
            let wide = _mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(key)));
            k[s] = _mm512_or_si512(wide, _mm512_set1_epi64(s as i64));
        });
        sort_network!(k, Nets::<N>::FULL, _mm512_min_epu64, _mm512_max_epu64);
        macro_rules! spill {
            ($s:expr) => {
                if const { $s < N } {
                    // SAFETY: `sorted[$s]` is 64 bytes.
                    unsafe { _mm512_storeu_si512(sorted[$s].as_mut_ptr().cast(), k[$s]) };
                }
            };
        }
        unroll_64!(spill);
        if neg_zero & mask != 0 {
            // Cold: values read back from their rows, so a zero keeps its sign.
            for (l, o) in out.iter_mut().enumerate() {
                *o = reduce.scan(
                    &table[..N],
                    |r| (sorted[r][l] & 0xFFFF_FFFF) as usize,
                    |s| rows[s][c + l],
                );
            }
            continue;
        }
        // SAFETY: `sorted` holds N rows of 8 u64; slots index `table` (< N <= table.len()).
        let res = unsafe { scan(reduce, table, &sorted) };
        // SAFETY: lanes past `len` are masked off; `out` holds `len` values.
        unsafe { _mm256_mask_storeu_ps(out.as_mut_ptr(), mask as u8, res) };
    }
}

/// The f64 values of 8 wide keys.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn values(w: __m512i) -> __m512d {
    let key = _mm512_cvtepi64_epi32(_mm512_srli_epi64::<32>(w));
    let top = _mm256_set1_epi32(super::ZERO_KEY as i32);
    let not_sign = _mm256_andnot_si256(_mm256_srai_epi32::<31>(key), _mm256_set1_epi32(-1));
    _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_xor_si256(
        key,
        _mm256_or_si256(not_sign, top),
    )))
}

/// `Reduce::scan` on the 8 lanes of `sorted` at once.
///
/// # Safety
///
/// Every slot in `sorted` indexes `table`, and `sorted` has at most 64 rows.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) unsafe fn scan(reduce: &Reduce, table: &[f64], sorted: &[[u64; LANES]]) -> __m256 {
    let m = sorted.len();
    assert!(m <= 64);
    // SAFETY: `sorted[r]` (index checked) is one row of 8 u64, exactly the 64 bytes an
    // unaligned 512-bit load reads; AVX-512 F is enabled on this function.
    let load = |r: usize| unsafe { _mm512_loadu_si512(sorted[r].as_ptr().cast()) };
    let table = Weights::new(table, m);
    let weight = |w: __m512i| table.of(w);
    match *reduce {
        Reduce::Median { total } => {
            let total = _mm512_set1_pd(total);
            let two = _mm512_set1_pd(2.0);
            let half = _mm512_set1_pd(0.5);
            let mut cumulative = _mm512_setzero_pd();
            let mut res = _mm512_setzero_pd();
            let mut open: __mmask8 = 0xFF;
            for r in 0..m {
                let w = load(r);
                cumulative = _mm512_add_pd(cumulative, weight(w));
                let twice = _mm512_mul_pd(two, cumulative);
                let at_half = open & _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(twice, total);
                let past_half = open & !at_half & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(twice, total);
                let v = values(w);
                if at_half != 0 {
                    let next = values(load((r + 1).min(m - 1)));
                    let mid = _mm512_mul_pd(_mm512_add_pd(v, next), half);
                    res = _mm512_mask_mov_pd(res, at_half, mid);
                }
                res = _mm512_mask_mov_pd(res, past_half, v);
                open &= !(at_half | past_half);
                if open == 0 {
                    break;
                }
            }
            if open != 0 {
                res = _mm512_mask_mov_pd(res, open, values(load(m - 1)));
            }
            _mm512_cvtpd_ps(res)
        }
        Reduce::Trim { lo, hi, eps } => {
            let mut trim = TrimLanes::new(lo, hi, eps);
            for r in 0..m {
                let w = load(r);
                trim.add(weight(w), values(w));
            }
            _mm512_cvtpd_ps(trim.mean())
        }
        Reduce::MeaMed { total, keep, eps } => {
            // The window walk branches on the values: lane by lane, over the sorted pairs.
            let res: [f32; LANES] = std::array::from_fn(|l| {
                super::reduce::meamed(
                    m,
                    total,
                    keep,
                    eps,
                    |k| table.table[(sorted[k][l] & 0xFFFF_FFFF) as usize],
                    |k| f64::from(super::value((sorted[k][l] >> 32) as u32)),
                )
            });
            // SAFETY: `res` holds 8 f32, the 32 bytes an unaligned 256-bit load reads.
            unsafe { _mm256_loadu_ps(res.as_ptr()) }
        }
    }
}

/// SPEC 4.3's trimmed mean on 8 lanes in f64, fed one rank at a time in rank order:
/// `Reduce::scan`'s arithmetic (the kept mass between `lo` and `hi` by min, max and
/// subtract, skipped below `eps` or at zero, multiplied by the value, then added, never fused).
#[derive(Clone, Copy)]
pub(super) struct TrimLanes {
    lo: __m512d,
    hi: __m512d,
    eps: __m512d,
    /// The cumulative weight of the ranks before the next one.
    below: __m512d,
    sum: __m512d,
    kept_total: __m512d,
}

impl TrimLanes {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn new(lo: f64, hi: f64, eps: f64) -> Self {
        let zero = _mm512_setzero_pd();
        TrimLanes {
            lo: _mm512_set1_pd(lo),
            hi: _mm512_set1_pd(hi),
            eps: _mm512_set1_pd(eps),
            below: zero,
            sum: zero,
            kept_total: zero,
        }
    }

    /// The next rank: its weights `w` and values `v`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn add(&mut self, w: __m512d, v: __m512d) {
        let zero = _mm512_setzero_pd();
        let above = _mm512_add_pd(self.below, w);
        let kept = _mm512_max_pd(
            _mm512_sub_pd(_mm512_min_pd(above, self.hi), _mm512_max_pd(self.below, self.lo)),
            zero,
        );
        self.below = above;
        let take =
            _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(kept, self.eps) & _mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(kept, zero);
        self.sum = _mm512_mask_add_pd(self.sum, take, self.sum, _mm512_mul_pd(kept, v));
        self.kept_total = _mm512_mask_add_pd(self.kept_total, take, self.kept_total, kept);
    }

    /// The lanes where every rank from the next one on keeps nothing: their cumulative
    /// weight has reached `hi` (weights are positive, so it only grows).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn past_hi(&self) -> __mmask8 {
        _mm512_cmp_pd_mask::<_CMP_GE_OQ>(self.below, self.hi)
    }

    /// Whether the next rank, of weights `w`, keeps nothing in any lane: its cumulative
    /// weight stays at or below `lo` in every lane, so [`TrimLanes::add`] would skip it
    /// everywhere and [`TrimLanes::pass`] does its work.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn below_lo(&self, w: __m512d) -> bool {
        _mm512_cmp_pd_mask::<_CMP_LE_OQ>(_mm512_add_pd(self.below, w), self.lo) == 0xFF
    }

    /// The next rank by its weights alone (see [`TrimLanes::below_lo`]).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn pass(&mut self, w: __m512d) {
        self.below = _mm512_add_pd(self.below, w);
    }

    /// The trimmed mean in f64 once every rank is added.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn mean(&self) -> __m512d {
        _mm512_div_pd(self.sum, self.kept_total)
    }
}

/// The weights of up to 64 rows as 8 registers of 8: a lookup by slot is one permute per
/// pair of registers (the slot's low 4 bits) and blends on bits 4 and 5, no gather.
pub(super) struct Weights<'a> {
    /// The weights, one per slot.
    pub(super) table: &'a [f64],
    regs: [__m512d; 8],
    m: usize,
}

impl<'a> Weights<'a> {
    /// The first `m <= 64` weights of `table`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn new(table: &'a [f64], m: usize) -> Self {
        assert!(m <= 64 && table.len() >= m);
        let mut padded = [0.0f64; 64];
        for (p, w) in padded.iter_mut().zip(&table[..m]) {
            *p = *w;
        }
        // SAFETY: `padded` holds 64 f64.
        let regs = std::array::from_fn(|q| unsafe { _mm512_loadu_pd(padded.as_ptr().add(8 * q)) });
        Weights { table, regs, m }
    }

    /// The weights of the slots in the low bits of 8 u64 lanes (each below `m`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn of(&self, w: __m512i) -> __m512d {
        let t = &self.regs;
        let (bit4, bit5) = (_mm512_set1_epi64(16), _mm512_set1_epi64(32));
        let a = _mm512_permutex2var_pd(t[0], w, t[1]);
        if self.m <= 16 {
            return a;
        }
        let b = _mm512_permutex2var_pd(t[2], w, t[3]);
        let low = _mm512_mask_mov_pd(a, _mm512_test_epi64_mask(w, bit4), b);
        if self.m <= 32 {
            return low;
        }
        let c = _mm512_permutex2var_pd(t[4], w, t[5]);
        let d = _mm512_permutex2var_pd(t[6], w, t[7]);
        let high = _mm512_mask_mov_pd(c, _mm512_test_epi64_mask(w, bit4), d);
        _mm512_mask_mov_pd(low, _mm512_test_epi64_mask(w, bit5), high)
    }

    /// The weights of the slots in 16 u32 lanes (each below `m`), as two halves of 8. A
    /// method, not a closure at the call site: a closure around [`Weights::of`] was compiled
    /// out of line (a call per lookup, the table reloaded from memory each time).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) fn of16(&self, slots: __m512i) -> [__m512d; 2] {
        [
            self.of(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(slots))),
            self.of(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(slots))),
        ]
    }
}

/// The signature of [`chunk`]'s instances (and of `composite512`'s).
pub(super) type ChunkFn = unsafe fn(&[&[f32]], &[f64], &Reduce, usize, &mut [f32]);
