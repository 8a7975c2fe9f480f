//! The uniform-weight path of `order_stats` for a fixed row count, in AVX-512 registers.
//!
//! ## Why
//!
//! The generic path (`uniform_chunk`) runs the sorting network from a run-time comparator
//! list over a scratch matrix in memory: every comparator is two index loads, two vector
//! loads, a min, a max and two stores, and each stage waits on store-to-load forwarding. Here
//! the row count `N` is a const generic, the network is computed at compile time (a `const
//! fn`, the same Batcher odd-even merge network as `network`, pruned for the median to the
//! comparators ranks `(N - 1) / 2` and `N / 2` depend on), and the comparator loop is unrolled
//! by a macro into straight-line code over `[__m512i; N]` with constant indices, so the keys
//! live in the 32 zmm registers (above N = 32 each half of the rows is sorted in registers
//! before the last merge, which spills; `halves_first`) and each comparator is one
//! `vpminud` and one `vpmaxud`.
//!
//! ## Scope
//!
//! Only uniform weights, `N` in 1..=32 or 64, on a CPU with AVX-512 F/BW/DQ (checked at run
//! time by the caller); the median only when its ranks are the usual `(N - 1) / 2` and `N / 2`
//! (they are unless the weights' float sums round otherwise), else the caller's generic path.
//! Results are bit for bit those of the generic path: the same keys, the same midpoint in f64,
//! the same trimmed-mean sums in rank order (multiply, then add, never fused), and the same
//! cold scalar path for a zero median whose sign depends on row order.

use std::arch::x86_64::*;

use super::uniform::{Pick, zero_of_rank};
use super::{ZERO_KEY, midpoint, value};

/// Coordinates per block: one zmm register of u32 keys.
const LANES: usize = 16;
/// Room for the largest network built here (Batcher for 64 inputs has 543 comparators).
const MAX_CMP: usize = 576;
/// Largest row count built here.
const MAX_N: usize = 64;

/// A comparator list of fixed capacity and its length.
pub(super) type Net = ([(u8, u8); MAX_CMP], usize);

/// Batcher's odd-even merge network for `m` inputs, as `network` in the parent builds it;
/// with `wanted = Some((a, b))`, pruned to the comparators ranks `a` and `b` depend on.
const fn batcher(m: usize, wanted: Option<(usize, usize)>) -> Net {
    let mut net = [(0u8, 0u8); MAX_CMP];
    let mut len = 0;
    let size = m.next_power_of_two();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                let lim = if k < size - j - k { k } else { size - j - k };
                let mut i = 0;
                while i < lim {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < m {
                        net[len] = (a as u8, b as u8);
                        len += 1;
                    }
                    i += 1;
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    if m > 32 {
        net = halves_first(net, len, size / 2);
    }
    if let Some((ra, rb)) = wanted {
        let mut live = [false; MAX_N];
        live[ra] = true;
        live[rb] = true;
        let mut keep = [false; MAX_CMP];
        let mut c = len;
        while c > 0 {
            c -= 1;
            let (a, b) = (net[c].0 as usize, net[c].1 as usize);
            if live[a] || live[b] {
                live[a] = true;
                live[b] = true;
                keep[c] = true;
            }
        }
        let mut out = [(0u8, 0u8); MAX_CMP];
        let mut n = 0;
        let mut c = 0;
        while c < len {
            if keep[c] {
                out[n] = net[c];
                n += 1;
            }
            c += 1;
        }
        return (out, n);
    }
    (net, len)
}

/// `net` (of `len` comparators) with the comparators before its first one across `half`
/// reordered: first all those within the rows below `half`, then all those within the rows
/// above. Above 32 rows the keys do not fit in the 32 zmm registers; in Batcher's order every
/// stage touches all of them, so they spill at every stage. Half by half, each half is sorted
/// with its keys in registers and only the final merge (across the halves) spills.
/// Comparators on disjoint rows commute and each row meets its comparators in the same order,
/// so the network computes the same function, bit for bit.
const fn halves_first(net: [(u8, u8); MAX_CMP], len: usize, half: usize) -> [(u8, u8); MAX_CMP] {
    let mut cross = 0;
    while cross < len && (within(net[cross], half, false) || within(net[cross], half, true)) {
        cross += 1;
    }
    let mut out = net;
    let mut n = 0;
    let mut upper = 0;
    while upper < 2 {
        let mut c = 0;
        while c < cross {
            if within(net[c], half, upper == 1) {
                out[n] = net[c];
                n += 1;
            }
            c += 1;
        }
        upper += 1;
    }
    out
}

/// Whether comparator `c` lies within the rows above `half` (`upper`) or below it.
const fn within(c: (u8, u8), half: usize, upper: bool) -> bool {
    if upper {
        c.0 as usize >= half
    } else {
        (c.1 as usize) < half
    }
}

/// The networks of one row count, built at compile time.
pub(super) struct Nets<const N: usize>;

impl<const N: usize> Nets<N> {
    /// The full sort (trimmed mean).
    pub(super) const FULL: Net = batcher(N, None);
    /// Pruned to the median's ranks.
    pub(super) const MEDIAN: Net = batcher(N, Some(((N - 1) / 2, N / 2)));

    /// [`Nets::MEDIAN`] for the median, else [`Nets::FULL`].
    pub(super) const fn pruned(median: bool) -> Net {
        if median { Self::MEDIAN } else { Self::FULL }
    }
}

/// Expands `$body!(i)` for i in `0..MAX_CMP` (9 x 8 x 8 = 576), each `i` a constant.
macro_rules! unroll_576 {
    ($body:ident) => {
        unroll_576!(@a $body, 0);
        unroll_576!(@a $body, 1);
        unroll_576!(@a $body, 2);
        unroll_576!(@a $body, 3);
        unroll_576!(@a $body, 4);
        unroll_576!(@a $body, 5);
        unroll_576!(@a $body, 6);
        unroll_576!(@a $body, 7);
        unroll_576!(@a $body, 8);
    };
    (@a $body:ident, $x:expr) => {
        unroll_576!(@b $body, $x * 8);
        unroll_576!(@b $body, $x * 8 + 1);
        unroll_576!(@b $body, $x * 8 + 2);
        unroll_576!(@b $body, $x * 8 + 3);
        unroll_576!(@b $body, $x * 8 + 4);
        unroll_576!(@b $body, $x * 8 + 5);
        unroll_576!(@b $body, $x * 8 + 6);
        unroll_576!(@b $body, $x * 8 + 7);
    };
    (@b $body:ident, $x:expr) => {
        $body!($x * 8);
        $body!($x * 8 + 1);
        $body!($x * 8 + 2);
        $body!($x * 8 + 3);
        $body!($x * 8 + 4);
        $body!($x * 8 + 5);
        $body!($x * 8 + 6);
        $body!($x * 8 + 7);
    };
}

/// Expands `$body!(i)` for i in `0..64`, each `i` a constant.
macro_rules! unroll_64 {
    ($body:ident) => {
        unroll_576!(@a $body, 0);
    };
}

/// Sorts the registers `$k` (an array of `N` vectors, N the caller's row count) with the
/// compile-time comparator list `$net` (a [`Net`] constant, which may name the caller's const
/// generics) and the lane-wise `$min` and `$max`: each comparator one straight-line min and
/// max on constant indices, so the keys stay in registers. Every register kernel sorts its
/// block with this; they differ in the vectors (u32 keys or u64 pairs, zmm or ymm) only.
macro_rules! sort_network {
    ($k:ident, $net:expr, $min:path, $max:path) => {
        macro_rules! compare {
            ($i:expr) => {
                if const { $i < $net.1 } {
                    let (x, y) = const { ($net.0[$i].0 as usize, $net.0[$i].1 as usize) };
                    let (p, q) = ($k[x], $k[y]);
                    $k[x] = $min(p, q);
                    $k[y] = $max(p, q);
                }
            };
        }
        unroll_576!(compare);
    };
}

/// `Some($chunk::<m> as $ty)` for the row counts the register kernels are built for (1..=32,
/// whose keys stay in registers, and 64), else `None`.
macro_rules! register_kernel {
    ($m:expr, $chunk:ident, $ty:ty) => {
        register_kernel!(@arms $m, $chunk, $ty,
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 64)
    };
    (@arms $m:expr, $chunk:ident, $ty:ty, $($n:literal)*) => {
        match $m {
            $($n => Some($chunk::<$n> as $ty),)*
            _ => None,
        }
    };
}

/// From this many rows on, [`load_keys16!`] prefetches each row's line `PREFETCH_AHEAD`
/// values ahead: a block reads one cache line from each of N streams, more than the hardware
/// prefetchers follow, and the kernel's samples at N = 64 sat on the first use of the loads.
pub(super) const PREFETCH_ROWS: usize = 24;
/// How far ahead, in values: 8 blocks of 16.
pub(super) const PREFETCH_AHEAD: usize = 8 * LANES;

/// Loads the keys of the 16 coordinates from `$c` of each of the `N` rows `$ptrs` (a
/// `[*const f32; N]`, N the caller's row count; lanes outside `$mask` are not read and hold
/// +0.0's key), runs `$body` with `$s` the row and `$key` its keys, and is the mask of the
/// lanes where any row holds -0.0. The caller's safety: every row holds the lanes of `$mask`
/// from `$c`.
macro_rules! load_keys16 {
    ($ptrs:ident, $c:expr, $mask:expr, |$s:ident, $key:ident| $body:expr) => {{
        let mut neg_zero: __mmask16 = 0;
        macro_rules! load {
            ($i:expr) => {
                if const { $i < N } {
                    let $s: usize = $i;
                    if const { N >= super::avx512::PREFETCH_ROWS } {
                        // A hint only: it reads nothing and cannot fault, even past the row's
                        // end (hence `wrapping_add`).
                        let ahead = $ptrs[$s].wrapping_add($c + super::avx512::PREFETCH_AHEAD);
                        _mm_prefetch::<_MM_HINT_T0>(ahead.cast::<i8>());
                    }
                    // SAFETY: the caller's (above); lanes outside `$mask` are not read.
                    let v = unsafe { _mm512_maskz_loadu_ps($mask, $ptrs[$s].wrapping_add($c)) };
                    let ($key, nz) = keys16(v);
                    neg_zero |= nz;
                    $body;
                }
            };
        }
        unroll_64!(load);
        neg_zero
    }};
}

/// The keys of 16 values (see `key` in the parent), and a mask of the lanes holding -0.0.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
pub(super) fn keys16(v: __m512) -> (__m512i, __mmask16) {
    let bits = _mm512_castps_si512(v);
    let top = _mm512_set1_epi32(ZERO_KEY as i32);
    let sign = _mm512_srai_epi32::<31>(bits);
    let k = _mm512_xor_si512(bits, _mm512_or_si512(sign, top));
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    let k = _mm512_mask_mov_epi32(k, nan, _mm512_set1_epi32(-1));
    let neg_zero = _mm512_cmpeq_epi32_mask(bits, top);
    (_mm512_mask_mov_epi32(k, neg_zero, top), neg_zero)
}

/// The values of 16 keys (see `value` in the parent), as two halves in f64.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
pub(super) fn values_f64(k: __m512i) -> (__m512d, __m512d) {
    let top = _mm512_set1_epi32(ZERO_KEY as i32);
    let not_sign = _mm512_andnot_si512(_mm512_srai_epi32::<31>(k), _mm512_set1_epi32(-1));
    let v = _mm512_castsi512_ps(_mm512_xor_si512(k, _mm512_or_si512(not_sign, top)));
    (
        _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
        _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(v)),
    )
}

/// Two halves in f64 rounded to 16 f32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
pub(super) fn to_f32(lo: __m512d, hi: __m512d) -> __m512 {
    _mm512_insertf32x8::<1>(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi))
}

/// The rule over the coordinates `c0..c0 + out.len()` of `rows` (exactly `N` rows): the
/// median with `MEDIAN` (pick must be `Median { a: (N - 1) / 2, b: N / 2 }`), else the
/// trimmed mean of `pick`.
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW and DQ; every row must hold `c0 + out.len()` values.
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
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
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mask: __mmask16 = if len == LANES { 0xFFFF } else { (1u16 << len) - 1 };
        let mut k = [_mm512_setzero_si512(); N];
        // Every row holds `c + len` values; lanes past `len` are masked off.
        let neg_zero = load_keys16!(ptrs, c, mask, |s, key| k[s] = key);
        sort_network!(k, Nets::<N>::pruned(MEDIAN), _mm512_min_epu32, _mm512_max_epu32);
        let res = if MEDIAN {
            let ((a0, a1), (b0, b1)) = (values_f64(k[a]), values_f64(k[b]));
            let half = _mm512_set1_pd(0.5);
            let lo = _mm512_mul_pd(_mm512_add_pd(a0, b0), half);
            let hi = _mm512_mul_pd(_mm512_add_pd(a1, b1), half);
            let mut res = to_f32(lo, hi);
            if neg_zero & mask != 0 {
                let (mut ka, mut kb, mut r) = ([0u32; LANES], [0u32; LANES], [0f32; LANES]);
                // SAFETY: each array is 64 bytes.
                unsafe {
                    _mm512_storeu_si512(ka.as_mut_ptr().cast(), k[a]);
                    _mm512_storeu_si512(kb.as_mut_ptr().cast(), k[b]);
                    _mm512_storeu_ps(r.as_mut_ptr(), res);
                }
                zero_median(rows, c, (a, b), (&ka, &kb), &mut r[..len]);
                // SAFETY: as above.
                res = unsafe { _mm512_loadu_ps(r.as_ptr()) };
            }
            res
        } else {
            let Pick::Trim { kept, kept_total } = pick else {
                unreachable!("the trimmed mean takes Pick::Trim")
            };
            macro_rules! spill {
                ($s:expr) => {
                    if const { $s < N } {
                        // SAFETY: `sorted[$s]` is 64 bytes.
                        unsafe { _mm512_storeu_si512(sorted[$s].as_mut_ptr().cast(), k[$s]) };
                    }
                };
            }
            unroll_64!(spill);
            let (mut lo, mut hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
            for &(rank, mass) in kept {
                // SAFETY: `sorted[rank]` is 64 bytes.
                let key = unsafe { _mm512_loadu_si512(sorted[rank].as_ptr().cast()) };
                let (v0, v1) = values_f64(key);
                let m = _mm512_set1_pd(mass);
                lo = _mm512_add_pd(lo, _mm512_mul_pd(m, v0));
                hi = _mm512_add_pd(hi, _mm512_mul_pd(m, v1));
            }
            let t = _mm512_set1_pd(*kept_total);
            to_f32(_mm512_div_pd(lo, t), _mm512_div_pd(hi, t))
        };
        // SAFETY: lanes past `len` are masked off; `out` holds `len` values.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), mask, res) };
    }
}

/// Cold: the block holds a -0.0, so a zero median takes its sign from row order, as in the
/// generic path; `r` holds the block's results (also used by `avx2.rs`).
#[cold]
#[inline(never)]
pub(super) fn zero_median(
    rows: &[&[f32]],
    c: usize,
    (a, b): (usize, usize),
    (ka, kb): (&[u32], &[u32]),
    r: &mut [f32],
) {
    for (l, r) in r.iter_mut().enumerate() {
        if ka[l] == ZERO_KEY || kb[l] == ZERO_KEY {
            let at = |rank: usize, k: u32| {
                if k == ZERO_KEY {
                    zero_of_rank(rows, c + l, rank)
                } else {
                    value(k)
                }
            };
            *r = midpoint(at(a, ka[l]), at(b, kb[l]));
        }
    }
}

/// The instance of [`chunk`] for `m` rows and the rule, if one is built for them: a function
/// pointer, so the caller pays the match once per call, not per chunk.
pub(super) type ChunkFn = unsafe fn(&[&[f32]], usize, &mut [f32], &Pick);

/// See [`ChunkFn`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_networks_match_the_runtime_builder() {
        for m in 1..=32 {
            let check = |got: Net, want: Vec<(u32, u32)>| {
                let got: Vec<(u32, u32)> = got.0[..got.1]
                    .iter()
                    .map(|&(a, b)| (u32::from(a), u32::from(b)))
                    .collect();
                assert_eq!(got, want, "m = {m}");
            };
            check(batcher(m, None), super::super::network(m, None));
            let (a, b) = ((m - 1) / 2, m / 2);
            check(batcher(m, Some((a, b))), super::super::network(m, Some(&[a, b])));
        }
    }

    /// Above 32 rows the const networks are the runtime ones with the comparators before the
    /// last merge put half by half: the same comparators, and each row meets its comparators
    /// in the same order (which makes the two the same function, since comparators on
    /// disjoint rows commute), as the full sort of the 0-1 inputs below also shows.
    #[test]
    fn const_networks_above_32_rows_are_reorders() {
        let m = 64;
        let (a, b) = ((m - 1) / 2, m / 2);
        let pairs = [
            (batcher(m, None), super::super::network(m, None)),
            (batcher(m, Some((a, b))), super::super::network(m, Some(&[a, b]))),
        ];
        for (got, want) in pairs {
            let got: Vec<(u32, u32)> = got.0[..got.1]
                .iter()
                .map(|&(a, b)| (u32::from(a), u32::from(b)))
                .collect();
            assert_ne!(got, want, "the reorder is in effect");
            let (mut sorted_got, mut sorted_want) = (got.clone(), want.clone());
            sorted_got.sort_unstable();
            sorted_want.sort_unstable();
            assert_eq!(sorted_got, sorted_want);
            for row in 0..m as u32 {
                let meets = |net: &[(u32, u32)]| -> Vec<(u32, u32)> {
                    net.iter()
                        .copied()
                        .filter(|&(a, b)| a == row || b == row)
                        .collect()
                };
                assert_eq!(meets(&got), meets(&want), "row {row}");
            }
        }
        // A few 0-1 inputs through the full const network come out sorted.
        let net = batcher(m, None);
        let mut rng = crate::SplitMix64(5);
        for _ in 0..2000 {
            let ones = rng.below(65) as usize;
            let mut v: Vec<u8> = (0..m).map(|i| u8::from(i < ones)).collect();
            for i in (1..m).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for &(a, b) in &net.0[..net.1] {
                let (a, b) = (a as usize, b as usize);
                if v[a] > v[b] {
                    v.swap(a, b);
                }
            }
            assert!(v.windows(2).all(|w| w[0] <= w[1]), "{v:?}");
        }
    }
}
