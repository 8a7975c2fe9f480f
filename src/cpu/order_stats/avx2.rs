//! The uniform-weight path of `order_stats` for a fixed row count, in AVX2 registers: the
//! AVX-512 kernel (`avx512.rs`) for CPUs with AVX2 only (most AMD Zen 2/3 servers).
//!
//! ## Why
//!
//! Below AVX-512 the generic path runs the sorting network from a run-time comparator list
//! over a scratch matrix in memory (about 15x slower than the register kernel). Here, as in
//! `avx512.rs`, the row count `N` is a const generic, the network is the compile-time one of
//! that file (pruned for the median), and the comparators are unrolled into straight-line
//! `vpminud`/`vpmaxud` on `[__m256i; N]`: 8 coordinates per block. With 16 ymm registers
//! the keys of more than about 14 rows spill to the stack, which the min/max read as memory
//! operands.
//!
//! ## Exactness
//!
//! The same keys, the same midpoint in f64, the same trimmed-mean sums in rank order
//! (multiply, then add, never fused) and the same cold path for a zero median whose sign
//! depends on row order: results are bit for bit those of the other paths.

use std::arch::x86_64::*;

use super::avx512::{Nets, zero_median};
use super::{Pick, ZERO_KEY};

/// Coordinates per block: one ymm register of u32 keys.
const LANES: usize = 8;

/// `load_keys16!` of `avx512.rs` on 8 lanes: loads the keys of the 8 coordinates from `$c` of
/// each of the `N` rows `$ptrs` (only `$len` of them where `$len < 8`: lanes outside `$mask`
/// are not read and hold +0.0's key), runs `$body` with `$s` the row and `$key` its keys, and
/// is the lanes where any row holds -0.0 (all ones there). The caller's safety: every row
/// holds `$len` values from `$c`.
macro_rules! load_keys8 {
    ($ptrs:ident, $c:expr, $len:expr, $mask:expr, |$s:ident, $key:ident| $body:expr) => {{
        let mut neg_zero = _mm256_setzero_si256();
        macro_rules! load {
            ($i:expr) => {
                if const { $i < N } {
                    let $s: usize = $i;
                    // SAFETY: the caller's (above); a full block reads 8 values, a ragged one
                    // only the lanes the mask keeps.
                    let v = unsafe {
                        if $len == 8 {
                            _mm256_loadu_ps($ptrs[$s].add($c))
                        } else {
                            _mm256_maskload_ps($ptrs[$s].wrapping_add($c), $mask)
                        }
                    };
                    let ($key, nz) = keys8(v);
                    neg_zero = _mm256_or_si256(neg_zero, nz);
                    $body;
                }
            };
        }
        unroll_64!(load);
        neg_zero
    }};
}

/// The keys of 8 values (see `key` in the parent), and the lanes holding -0.0 (all ones).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn keys8(v: __m256) -> (__m256i, __m256i) {
    let bits = _mm256_castps_si256(v);
    let top = _mm256_set1_epi32(ZERO_KEY as i32);
    let sign = _mm256_srai_epi32::<31>(bits);
    let k = _mm256_xor_si256(bits, _mm256_or_si256(sign, top));
    // Every NaN to the all-ones key.
    let k = _mm256_or_si256(k, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v)));
    let neg_zero = _mm256_cmpeq_epi32(bits, top);
    (_mm256_blendv_epi8(k, top, neg_zero), neg_zero)
}

/// The values of 8 keys (see `value` in the parent), as two halves in f64.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn values_f64(k: __m256i) -> (__m256d, __m256d) {
    let top = _mm256_set1_epi32(ZERO_KEY as i32);
    let not_sign = _mm256_andnot_si256(_mm256_srai_epi32::<31>(k), _mm256_set1_epi32(-1));
    let v = _mm256_castsi256_ps(_mm256_xor_si256(k, _mm256_or_si256(not_sign, top)));
    (
        _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
        _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
    )
}

/// Two halves in f64 rounded to 8 f32.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn to_f32(lo: __m256d, hi: __m256d) -> __m256 {
    _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))
}

/// The rule over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows): the
/// median with the pruned network (pick must be `Median { a: (N - 1) / 2, b: N / 2 }`), else
/// the trimmed mean of `pick`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chunk<const N: usize, const MEDIAN: bool>(
    rows: &[&[f32]],
    c0: usize,
    out: &mut [f32],
    pick: &Pick,
) {
    assert!(rows.len() == N && rows.iter().all(|r| r.len() >= c0 + out.len()));
    let ptrs: [*const f32; N] = std::array::from_fn(|s| rows[s].as_ptr());
    let (a, b) = ((N - 1) / 2, N / 2);
    let mut sorted = [[0u32; LANES]; N];
    let lane_ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        // Lanes past `len` read nothing (masked loads do not fault) and hold +0.0.
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), lane_ids);
        let mut k = [_mm256_setzero_si256(); N];
        // Every row holds `c + len` values; `mask` keeps the lanes below `len`.
        let neg_zero = load_keys8!(ptrs, c, len, mask, |s, key| k[s] = key);
        sort_network!(k, Nets::<N>::pruned(MEDIAN), _mm256_min_epu32, _mm256_max_epu32);
        let res = if MEDIAN {
            let ((a0, a1), (b0, b1)) = (values_f64(k[a]), values_f64(k[b]));
            let half = _mm256_set1_pd(0.5);
            let lo = _mm256_mul_pd(_mm256_add_pd(a0, b0), half);
            let hi = _mm256_mul_pd(_mm256_add_pd(a1, b1), half);
            let mut res = to_f32(lo, hi);
            if _mm256_testz_si256(neg_zero, neg_zero) == 0 {
                let (mut ka, mut kb, mut r) = ([0u32; LANES], [0u32; LANES], [0f32; LANES]);
                // SAFETY: each array is 32 bytes.
                unsafe {
                    _mm256_storeu_si256(ka.as_mut_ptr().cast(), k[a]);
                    _mm256_storeu_si256(kb.as_mut_ptr().cast(), k[b]);
                    _mm256_storeu_ps(r.as_mut_ptr(), res);
                }
                zero_median(rows, c, (a, b), (&ka, &kb), &mut r[..len]);
                // SAFETY: as above.
                res = unsafe { _mm256_loadu_ps(r.as_ptr()) };
            }
            res
        } else {
            let Pick::Trim { kept, kept_total } = pick else {
                unreachable!("the trimmed mean takes Pick::Trim")
            };
            macro_rules! spill {
                ($s:expr) => {
                    if const { $s < N } {
                        // SAFETY: `sorted[$s]` is 32 bytes.
                        unsafe { _mm256_storeu_si256(sorted[$s].as_mut_ptr().cast(), k[$s]) };
                    }
                };
            }
            unroll_64!(spill);
            let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
            for &(rank, mass) in kept {
                // SAFETY: `sorted[rank]` is 32 bytes.
                let key = unsafe { _mm256_loadu_si256(sorted[rank].as_ptr().cast()) };
                let (v0, v1) = values_f64(key);
                let m = _mm256_set1_pd(mass);
                lo = _mm256_add_pd(lo, _mm256_mul_pd(m, v0));
                hi = _mm256_add_pd(hi, _mm256_mul_pd(m, v1));
            }
            let t = _mm256_set1_pd(*kept_total);
            to_f32(_mm256_div_pd(lo, t), _mm256_div_pd(hi, t))
        };
        if len == LANES {
            // SAFETY: `out` holds 8 values.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), res) };
        } else {
            // SAFETY: only the lanes the mask keeps, which `out` holds, are written.
            unsafe { _mm256_maskstore_ps(out.as_mut_ptr(), mask, res) };
        }
    }
}

/// The instance of [`chunk`] for `m` rows and the rule, if one is built for them.
pub(super) type ChunkFn = unsafe fn(&[&[f32]], usize, &mut [f32], &Pick);

/// See [`ChunkFn`]; the same cases as `avx512::select`.
pub(super) fn select(m: usize, pick: &Pick) -> Option<ChunkFn> {
    let median = match pick {
        Pick::Median { a, b } if (*a, *b) == ((m - 1) / 2, m / 2) => true,
        Pick::Median { .. } => return None,
        Pick::Trim { .. } => false,
        Pick::MeaMed { .. } => return None,
    };
    macro_rules! arms {
        ($($n:literal)*) => {
            match (m, median) {
                $(
                    ($n, true) => Some(chunk::<$n, true> as ChunkFn),
                    ($n, false) => Some(chunk::<$n, false> as ChunkFn),
                )*
                _ => None,
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 64)
}
