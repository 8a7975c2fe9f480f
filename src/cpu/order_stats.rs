//! Primitive 1, `order_stats` (SPEC 4.2, 4.3 and section 3): per coordinate, the weighted
//! median or weighted trimmed mean of the values of the rows of positive weight.
//!
//! ## Layout and chunking
//!
//! rayon splits the coordinates into chunks of [`CHUNK`]; within a chunk, [`LANES`]
//! consecutive coordinates are processed in lockstep. Their values are gathered into a small
//! scratch matrix `[m][LANES]` (m = rows of positive weight), row `s` holding row `s`'s
//! `LANES` consecutive values, so the gather is `m` contiguous loads. Each value becomes a
//! `u32` key whose integer order is the value order of SPEC section 3 (-inf < finite < +inf
//! < NaN, every NaN one key, -0.0 and +0.0 one key). The columns are then sorted all at once
//! by a Batcher odd-even merge network: every comparator is a lane-wise min/max of two scratch
//! rows, which the compiler vectorises. No allocation and no per-coordinate `sort` in the loop.
//!
//! - Uniform weights (every positive weight equal): the cumulative weights depend on the rank
//!   only, so the ranks the rule needs (the median's one or two, the trimmed mean's kept ranks
//!   and their masses) are worked out once per call, and the network is pruned to the
//!   comparators those ranks depend on. Equal keys are equal values, so ties need no row
//!   index; the one exception, the sign of a zero median, is settled by a cold scalar path
//!   that finds the zero of that rank in row order (only when the block holds a -0.0).
//! - Other weights: each key travels with its row's slot and the network compares (key,
//!   slot) pairs, so ties come out in row order. All lanes then scan their sorted slots
//!   together, adding the weights in f64 exactly as SPEC 4.2/4.3 say, with values decoded
//!   from the keys; a block holding a -0.0 takes a per-lane scan that reads the values back
//!   from their rows instead.
//! - More than [`NETWORK_MAX`] rows: the per-lane scan over a per-chunk scratch of u64
//!   (key, slot) values sorted with `sort_unstable` per coordinate.
//!
//! SIMD is chosen at run time: the chunk functions run at the backend's level (`simd.rs`), and the
//! register kernels (`avx512.rs`, `weighted512.rs`) at the AVX-512 level.
//!
//! ## Accuracy
//!
//! The arithmetic on weights and values is the spec's, in f64 and in the same order as a
//! plain sequential implementation, so the median is exact (a midpoint is computed in f64 and
//! rounded once to f32) and the trimmed mean is the f64 value rounded to f32. A kept mass
//! below `MASS_EPS * W` counts as zero, so a NaN or infinite row just past the trimming
//! boundary never contributes `0 * inf`.
//!
//! ## Left to the caller
//!
//! Weights are validated by [`crate::Batch`]: finite, >= 0, not all zero (an all-zero weight
//! vector is still an `Err` here, not a panic).

use rayon::prelude::*;

use crate::contract::MASS_EPS;
use crate::error::{Error, Result};
use crate::kernels::OrderStat;

use super::SimdLevel;

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod weighted512;

/// Coordinates processed in lockstep: one AVX-512 register of u32 keys, two of AVX2.
const LANES: usize = 16;
/// Coordinates per rayon task.
const CHUNK: usize = 4096;
/// Above this many rows of positive weight, each coordinate is sorted on its own.
const NETWORK_MAX: usize = 2048;
/// The key of both zeros.
const ZERO_KEY: u32 = 0x8000_0000;
/// The key of every NaN, above +inf's.
const NAN_KEY: u32 = u32::MAX;

/// The order statistic `stat` of every coordinate of `rows` (all of one length d) over the
/// rows of positive weight; see the module docs.
pub(super) fn order_stats(
    simd: SimdLevel,
    rows: &[&[f32]],
    weights: &[f64],
    stat: OrderStat,
) -> Result<Vec<f32>> {
    let d = rows.first().map_or(0, |r| r.len());
    let total: f64 = weights.iter().sum();
    let active: Vec<usize> = (0..rows.len()).filter(|&i| weights[i] > 0.0).collect();
    if active.is_empty() {
        return Err(Error::invalid(
            "weights",
            "all zero",
            "at least one weight must be > 0",
        ));
    }
    if let OrderStat::TrimmedMean { lambda } = stat
        && !(0.0..0.5).contains(&lambda)
    {
        return Err(Error::invalid("lambda", lambda, "must lie in [0, 1/2)"));
    }
    if let OrderStat::MeaMed { lambda } = stat
        && !(0.0..1.0).contains(&lambda)
    {
        return Err(Error::invalid("lambda", lambda, "must lie in [0, 1) for MeaMed"));
    }
    let rows: Vec<&[f32]> = active.iter().map(|&i| rows[i]).collect();
    let weights: Vec<f64> = active.iter().map(|&i| weights[i]).collect();
    let reduce = Reduce::new(stat, total);
    let m = rows.len();
    let mut out = vec![0.0f32; d];

    if m <= NETWORK_MAX && weights.iter().all(|&w| w == weights[0]) {
        let pick = Pick::new(&reduce, &weights);
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx512
            && let Some(f) = avx512::select(m, &pick)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx512 level means AVX-512 F/BW/DQ/VL were detected; every row holds d values.
                unsafe { f(&rows, ci * CHUNK, o, &pick) }
            });
            return Ok(out);
        }
        let net = network(m, Some(&pick.ranks(m)));
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let mut keys = vec![[0u32; LANES]; m];
            simd.run(|| uniform_chunk(&rows, ci * CHUNK, o, &net, &pick, &mut keys));
        });
    } else if m <= NETWORK_MAX {
        // Padded to a power of two so that `table[s & mask]` needs no bounds check.
        let mut table = weights.clone();
        table.resize(m.next_power_of_two(), 0.0);
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx512
            && let Some(f) = weighted512::select(m)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx512 level means AVX-512 F/BW/DQ/VL were detected; every row holds d values.
                unsafe { f(&rows, &table, &reduce, ci * CHUNK, o) }
            });
            return Ok(out);
        }
        let net = network(m, None);
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let mut keys = vec![[0u32; LANES]; m];
            let mut slots = vec![[0u32; LANES]; m];
            let plan = WeightedPlan {
                table: &table,
                net: &net,
                reduce,
            };
            simd.run(|| weighted_chunk(&rows, &plan, ci * CHUNK, o, &mut keys, &mut slots));
        });
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let mut keys = vec![0u64; m];
            for (l, o) in o.iter_mut().enumerate() {
                let c = ci * CHUNK + l;
                for (s, (k, r)) in keys.iter_mut().zip(&rows).enumerate() {
                    *k = wide_key(r[c], s);
                }
                keys.sort_unstable();
                *o = reduce.scan(&weights, |k| slot(keys[k]), |s| rows[s][c]);
            }
        });
    }
    Ok(out)
}

/// The monotone key of a value: integer order is the order of SPEC section 3, with every NaN
/// on one key above +inf and both zeros on one key.
#[inline(always)]
fn key(v: f32) -> u32 {
    let b = v.to_bits();
    let k = if b & 0x8000_0000 != 0 { !b } else { b | 0x8000_0000 };
    if v.is_nan() {
        NAN_KEY
    } else if k == 0x7FFF_FFFF {
        ZERO_KEY // -0.0
    } else {
        k
    }
}

/// The value of a key (a NaN for the NaN key, +0.0 for the zero key).
#[inline(always)]
fn value(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 { k & 0x7FFF_FFFF } else { !k })
}

/// The key with the row's slot below it, so that integer order breaks ties by row index.
#[inline(always)]
fn wide_key(v: f32, slot: usize) -> u64 {
    (u64::from(key(v)) << 32) | slot as u64
}

/// The slot (row among those of positive weight) of a wide key.
#[inline(always)]
fn slot(k: u64) -> usize {
    (k & 0xFFFF_FFFF) as usize
}

/// The rule applied to one coordinate's sorted values, with the constants it needs.
#[derive(Clone, Copy, Debug)]
enum Reduce {
    /// SPEC 4.2 over total weight `total`.
    Median { total: f64 },
    /// SPEC 4.3: keep the mass between `lo` and `hi`; masses below `eps` count as zero.
    Trim { lo: f64, hi: f64, eps: f64 },
    /// MeaMed: the mean of the mass `keep` closest to the median (see [`meamed`]).
    MeaMed { total: f64, keep: f64, eps: f64 },
}

impl Reduce {
    fn new(stat: OrderStat, total: f64) -> Self {
        match stat {
            OrderStat::Median => Reduce::Median { total },
            OrderStat::TrimmedMean { lambda } => {
                let trim = lambda * total;
                Reduce::Trim {
                    lo: trim,
                    hi: total - trim,
                    eps: MASS_EPS * total,
                }
            }
            OrderStat::MeaMed { lambda } => Reduce::MeaMed {
                total,
                keep: (1.0 - lambda) * total,
                eps: MASS_EPS * total,
            },
        }
    }

    /// The rule over the values in sorted order: `at(k)` is the slot of rank k, `val(s)` the
    /// value of slot s, `w[s]` its weight. Weights are added in rank order, in f64.
    #[inline(always)]
    fn scan(&self, w: &[f64], at: impl Fn(usize) -> usize, val: impl Fn(usize) -> f32) -> f32 {
        let m = w.len();
        match *self {
            Reduce::Median { total } => {
                let mut cumulative = 0.0;
                for k in 0..m {
                    let s = at(k);
                    cumulative += w[s];
                    if 2.0 * cumulative == total {
                        let v = val(s);
                        return if k + 1 < m { midpoint(v, val(at(k + 1))) } else { v };
                    }
                    if 2.0 * cumulative > total {
                        return val(s);
                    }
                }
                val(at(m - 1))
            }
            Reduce::Trim { lo, hi, eps, .. } => {
                let (mut below, mut sum, mut kept_total) = (0.0, 0.0, 0.0);
                for k in 0..m {
                    let s = at(k);
                    let above = below + w[s];
                    let kept = (above.min(hi) - below.max(lo)).max(0.0);
                    below = above;
                    if kept < eps || kept == 0.0 {
                        continue;
                    }
                    sum += kept * f64::from(val(s));
                    kept_total += kept;
                }
                (sum / kept_total) as f32
            }
            Reduce::MeaMed { total, keep, eps } => {
                meamed(m, total, keep, eps, |k| w[at(k)], |k| f64::from(val(at(k))))
            }
        }
    }
}

impl Reduce {
    /// [`Reduce::scan`] for all lanes at once over sorted wide keys, values decoded from
    /// the keys (so a zero comes out as +0.0: the caller handles blocks holding -0.0).
    #[inline(always)]
    fn scan_lanes(&self, table: &[f64], keys: &[[u32; LANES]], slots: &[[u32; LANES]]) -> [f32; LANES] {
        let m = keys.len().min(slots.len());
        let mask = table.len() - 1;
        let w = |s: u32| table[s as usize & mask];
        let val = value;
        let mut res = [0.0f32; LANES];
        match *self {
            Reduce::Median { total } => {
                let mut cumulative = [0.0f64; LANES];
                let mut open = [true; LANES];
                for k in 0..m {
                    let (keys_k, keys_next, slots_k) = (&keys[k], &keys[(k + 1).min(m - 1)], &slots[k]);
                    let mut any_open = false;
                    for l in 0..LANES {
                        let c = cumulative[l] + w(slots_k[l]);
                        cumulative[l] = c;
                        let v = val(keys_k[l]);
                        let at_half = open[l] && 2.0 * c == total;
                        let past_half = open[l] && 2.0 * c > total;
                        if at_half {
                            res[l] = midpoint(v, val(keys_next[l]));
                        } else if past_half {
                            res[l] = v;
                        }
                        open[l] &= !(at_half || past_half);
                        any_open |= open[l];
                    }
                    if !any_open {
                        return res;
                    }
                }
                for l in 0..LANES {
                    if open[l] {
                        res[l] = val(keys[m - 1][l]);
                    }
                }
            }
            Reduce::Trim { lo, hi, eps } => {
                let (mut below, mut sum, mut kept_total) =
                    ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
                for (keys_k, slots_k) in keys.iter().zip(slots) {
                    for l in 0..LANES {
                        let above = below[l] + w(slots_k[l]);
                        let kept = (above.min(hi) - below[l].max(lo)).max(0.0);
                        below[l] = above;
                        if !(kept < eps || kept == 0.0) {
                            sum[l] += kept * f64::from(val(keys_k[l]));
                            kept_total[l] += kept;
                        }
                    }
                }
                for l in 0..LANES {
                    res[l] = (sum[l] / kept_total[l]) as f32;
                }
            }
            Reduce::MeaMed { total, keep, eps } => {
                for (l, r) in res.iter_mut().enumerate() {
                    *r = meamed(
                        m,
                        total,
                        keep,
                        eps,
                        |k| w(slots[k][l]),
                        |k| f64::from(val(keys[k][l])),
                    );
                }
            }
        }
        res
    }
}

/// MeaMed over one coordinate's `m` values in sorted order (SPEC section 3 order, ties by
/// row index), `w(k)` and `v(k)` the weight and value of rank k: the weighted median `med`
/// (SPEC 4.2, a midpoint kept in f64), then the weighted mean of the prefix of mass `keep`
/// ordered by `|v - med|` (NaN as +inf), ties lower value first; a non-finite `med` is the
/// output. The values closest to `med` form a window of ranks around it, so the prefix is a
/// merge of the ranks below the median (walked down) and above it (walked up): O(m), no sort.
/// Stops when the mass left is at most `eps`, as every prefix of mass in the crate does.
#[inline(always)]
pub(super) fn meamed(
    m: usize,
    total: f64,
    keep: f64,
    eps: f64,
    w: impl Fn(usize) -> f64,
    v: impl Fn(usize) -> f64,
) -> f32 {
    let (mut a, mut mid) = (m - 1, false);
    let mut cumulative = 0.0;
    for k in 0..m {
        cumulative += w(k);
        if 2.0 * cumulative == total {
            (a, mid) = (k, k + 1 < m);
            break;
        }
        if 2.0 * cumulative > total {
            a = k;
            break;
        }
    }
    let med = if mid { (v(a) + v(a + 1)) / 2.0 } else { v(a) };
    if !med.is_finite() {
        return med as f32;
    }
    let distance = |k: usize| {
        let d = (v(k) - med).abs();
        if d.is_nan() { f64::INFINITY } else { d }
    };
    // Ranks 0..=a hold values <= med, ranks a + 1.. values >= med: `down` is one past the
    // next rank below, `up` the next rank above. A tie goes below (the lower value).
    let (mut down, mut up) = (a + 1, a + 1);
    let (mut left, mut sum, mut kept) = (keep, 0.0, 0.0);
    while left > eps {
        let k = match (down > 0, up < m) {
            (true, true) if distance(down - 1) <= distance(up) => down - 1,
            (true, false) => down - 1,
            (_, true) => up,
            (false, false) => break,
        };
        if k < down {
            down = k;
        } else {
            up = k + 1;
        }
        let mass = w(k).min(left);
        sum += mass * v(k);
        kept += mass;
        left -= mass;
    }
    (sum / kept) as f32
}

/// `(a + b) / 2` computed in f64 and rounded once.
#[inline(always)]
fn midpoint(a: f32, b: f32) -> f32 {
    ((f64::from(a) + f64::from(b)) / 2.0) as f32
}

/// With uniform weights the rule picks fixed ranks: what it picks, worked out once.
#[derive(Clone, Debug)]
enum Pick {
    /// The value of rank `a`, or the midpoint of ranks `a` and `b = a + 1` when they differ.
    Median { a: usize, b: usize },
    /// `sum kept * v[rank] / kept_total` over `(rank, kept)` in rank order.
    Trim {
        kept: Vec<(usize, f64)>,
        kept_total: f64,
    },
    /// MeaMed: the window depends on the values, so every rank is sorted and [`meamed`] runs
    /// per lane with every weight `w`.
    MeaMed { w: f64, total: f64, keep: f64, eps: f64 },
}

impl Pick {
    /// Runs the rule's weight arithmetic (the same as [`Reduce::scan`]) without values.
    fn new(reduce: &Reduce, w: &[f64]) -> Self {
        let m = w.len();
        match *reduce {
            Reduce::Median { total } => {
                let mut cumulative = 0.0;
                for (k, wk) in w.iter().enumerate() {
                    cumulative += wk;
                    if 2.0 * cumulative == total {
                        return Pick::Median {
                            a: k,
                            b: (k + 1).min(m - 1),
                        };
                    }
                    if 2.0 * cumulative > total {
                        return Pick::Median { a: k, b: k };
                    }
                }
                Pick::Median { a: m - 1, b: m - 1 }
            }
            Reduce::Trim { lo, hi, eps, .. } => {
                let (mut below, mut kept_list, mut kept_total) = (0.0, Vec::new(), 0.0);
                for (k, wk) in w.iter().enumerate() {
                    let above = below + wk;
                    let kept = (above.min(hi) - below.max(lo)).max(0.0);
                    below = above;
                    if kept < eps || kept == 0.0 {
                        continue;
                    }
                    kept_list.push((k, kept));
                    kept_total += kept;
                }
                Pick::Trim {
                    kept: kept_list,
                    kept_total,
                }
            }
            Reduce::MeaMed { total, keep, eps } => Pick::MeaMed {
                w: w[0],
                total,
                keep,
                eps,
            },
        }
    }

    /// The ranks (of `m`) whose values the rule reads.
    fn ranks(&self, m: usize) -> Vec<usize> {
        match self {
            Pick::Median { a, b } => vec![*a, *b],
            Pick::Trim { kept, .. } => kept.iter().map(|&(k, _)| k).collect(),
            Pick::MeaMed { .. } => (0..m).collect(),
        }
    }
}

/// Batcher's odd-even merge sorting network for `m` inputs, as (low, high) comparator
/// pairs in order. Built for the next power of two; comparators that touch the padding are
/// dropped (padding acts as values above all others, which never move). With `wanted`, only
/// the comparators that the outputs at those ranks depend on are kept.
fn network(m: usize, wanted: Option<&[usize]>) -> Vec<(u32, u32)> {
    let size = m.next_power_of_two();
    let mut net = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < m {
                        net.push((a as u32, b as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    if let Some(wanted) = wanted {
        // Backwards: a comparator matters if one of its outputs is wanted later.
        let mut live = vec![false; m];
        for &r in wanted {
            live[r] = true;
        }
        let mut kept: Vec<(u32, u32)> = net
            .into_iter()
            .rev()
            .filter(|&(a, b)| {
                let used = live[a as usize] || live[b as usize];
                if used {
                    live[a as usize] = true;
                    live[b as usize] = true;
                }
                used
            })
            .collect();
        kept.reverse();
        net = kept;
    }
    net
}

/// `len <= LANES` values of `r` from `c`, zero-padded. A full block is one fixed-size copy
/// (one vector load); the ragged tail goes through a cold function, so that the compiler does
/// not merge both into one `memcpy` call of run-time length (a call per row and block).
#[inline(always)]
fn load(r: &[f32], c: usize, len: usize) -> [f32; LANES] {
    if len == LANES
        && let Some(full) = r
            .get(c..c + LANES)
            .and_then(|s| <&[f32; LANES]>::try_from(s).ok())
    {
        return *full;
    }
    load_partial(r, c, len)
}

/// The ragged tail of [`load`].
#[cold]
#[inline(never)]
fn load_partial(r: &[f32], c: usize, len: usize) -> [f32; LANES] {
    let mut src = [0.0f32; LANES];
    for (s, v) in src.iter_mut().zip(&r[c..c + len]) {
        *s = *v;
    }
    src
}

/// Writes the first `out.len() <= LANES` results (a full block as one vector store).
#[inline(always)]
fn store(out: &mut [f32], res: &[f32; LANES]) {
    if let Ok(full) = <&mut [f32; LANES]>::try_from(&mut *out) {
        *full = *res;
    } else {
        store_partial(out, res);
    }
}

/// The ragged tail of [`store`].
#[cold]
#[inline(never)]
fn store_partial(out: &mut [f32], res: &[f32; LANES]) {
    for (o, v) in out.iter_mut().zip(res) {
        *o = *v;
    }
}

/// Applies the network to every lane: rank k ends up in `keys[k]`.
#[inline(always)]
fn sort_lanes<T: Copy + Ord>(keys: &mut [[T; LANES]], net: &[(u32, u32)]) {
    for &(a, b) in net {
        let (lo, hi) = keys.split_at_mut(b as usize);
        let (x, y) = (&mut lo[a as usize], &mut hi[0]);
        // Whole arrays in and out, so the lanes are one vector operation (u64 included).
        let (p, q) = (*x, *y);
        let mut lo_l = p;
        let mut hi_l = q;
        for l in 0..LANES {
            let swap = q[l] < p[l];
            lo_l[l] = if swap { q[l] } else { p[l] };
            hi_l[l] = if swap { p[l] } else { q[l] };
        }
        *x = lo_l;
        *y = hi_l;
    }
}

/// Applies the network to (key, slot) pairs in every lane, ordered by key then slot, so
/// ties come out in row order.
#[inline(always)]
fn sort_pairs(keys: &mut [[u32; LANES]], slots: &mut [[u32; LANES]], net: &[(u32, u32)]) {
    for &(a, b) in net {
        let (a, b) = (a as usize, b as usize);
        let (pk, qk, ps, qs) = (keys[a], keys[b], slots[a], slots[b]);
        let (mut lk, mut hk, mut ls, mut hs) = (pk, qk, ps, qs);
        for l in 0..LANES {
            let swap = (qk[l] < pk[l]) | ((qk[l] == pk[l]) & (qs[l] < ps[l]));
            lk[l] = if swap { qk[l] } else { pk[l] };
            hk[l] = if swap { pk[l] } else { qk[l] };
            ls[l] = if swap { qs[l] } else { ps[l] };
            hs[l] = if swap { ps[l] } else { qs[l] };
        }
        (keys[a], keys[b], slots[a], slots[b]) = (lk, hk, ls, hs);
    }
}

/// Uniform weights: the coordinates `c0..c0 + out.len()`; `keys` is scratch of one row per
/// row of `rows`.
/// Compiled at the caller's SIMD level (`SimdLevel::run`).
#[inline(always)]
fn uniform_chunk(
    rows: &[&[f32]],
    c0: usize,
    out: &mut [f32],
    net: &[(u32, u32)],
    pick: &Pick,
    keys: &mut [[u32; LANES]],
) {
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        // Gather, noting whether the block holds a -0.0 (the one case where equal keys
        // stand for values that differ).
        let mut neg_zero = [0u32; LANES];
        for (k, r) in keys.iter_mut().zip(rows) {
            let src = load(r, c, len);
            for l in 0..LANES {
                k[l] = key(src[l]);
                neg_zero[l] |= u32::from(src[l].to_bits() == 0x8000_0000);
            }
        }
        let neg_zero = neg_zero.iter().any(|&z| z != 0);
        sort_lanes(keys, net);
        let mut res = [0.0f32; LANES];
        match pick {
            Pick::Median { a, b } => {
                let (ka, kb) = (&keys[*a], &keys[*b]);
                for l in 0..LANES {
                    res[l] = midpoint(value(ka[l]), value(kb[l]));
                }
                if neg_zero {
                    // Cold: a zero median whose sign depends on row order.
                    for (l, r) in res.iter_mut().enumerate().take(len) {
                        if ka[l] == ZERO_KEY || kb[l] == ZERO_KEY {
                            let at = |rank: usize, k: u32| {
                                if k == ZERO_KEY {
                                    zero_of_rank(rows, c + l, rank)
                                } else {
                                    value(k)
                                }
                            };
                            *r = midpoint(at(*a, ka[l]), at(*b, kb[l]));
                        }
                    }
                }
            }
            Pick::Trim { kept, kept_total } => {
                let mut sum = [0.0f64; LANES];
                for &(rank, mass) in kept {
                    let k = &keys[rank];
                    for l in 0..LANES {
                        sum[l] += mass * f64::from(value(k[l]));
                    }
                }
                for l in 0..LANES {
                    res[l] = (sum[l] / kept_total) as f32;
                }
            }
            Pick::MeaMed { w, total, keep, eps } => {
                for (l, r) in res.iter_mut().enumerate() {
                    *r = meamed(
                        keys.len(),
                        *total,
                        *keep,
                        *eps,
                        |_| *w,
                        |k| f64::from(value(keys[k][l])),
                    );
                }
            }
        }
        store(out, &res);
    }
}

/// The zero of rank `rank` at coordinate `c` (its sign), with ties in row order.
#[cold]
#[inline(never)]
fn zero_of_rank(rows: &[&[f32]], c: usize, rank: usize) -> f32 {
    let below = rows.iter().filter(|r| key(r[c]) < ZERO_KEY).count();
    rows.iter()
        .map(|r| r[c])
        .filter(|v| *v == 0.0)
        .nth(rank - below)
        .unwrap_or(0.0)
}

/// What every chunk of the weighted path shares.
#[derive(Clone, Copy, Debug)]
struct WeightedPlan<'a> {
    /// The weights of the rows, padded with zeros to a power of two.
    table: &'a [f64],
    /// The full sorting network.
    net: &'a [(u32, u32)],
    /// The rule.
    reduce: Reduce,
}

/// Any weights: the coordinates `c0..c0 + out.len()`; `keys` and `slots` are scratch of
/// one row per row.
/// Compiled at the caller's SIMD level (`SimdLevel::run`).
#[inline(always)]
fn weighted_chunk(
    rows: &[&[f32]],
    plan: &WeightedPlan<'_>,
    c0: usize,
    out: &mut [f32],
    keys: &mut [[u32; LANES]],
    slots: &mut [[u32; LANES]],
) {
    let WeightedPlan { table, net, reduce } = *plan;
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mut neg_zero = [0u32; LANES];
        for (s, ((k, sl), r)) in keys.iter_mut().zip(slots.iter_mut()).zip(rows).enumerate() {
            let src = load(r, c, len);
            *sl = [s as u32; LANES];
            for l in 0..LANES {
                k[l] = key(src[l]);
                neg_zero[l] |= u32::from(src[l].to_bits() == 0x8000_0000);
            }
        }
        sort_pairs(keys, slots, net);
        if neg_zero.iter().any(|&z| z != 0) {
            // Cold: values read back from their rows, so a zero keeps its sign.
            for (l, o) in out.iter_mut().enumerate() {
                *o = reduce.scan(&table[..rows.len()], |k| slots[k][l] as usize, |s| rows[s][c + l]);
            }
        } else {
            let res = reduce.scan_lanes(table, keys, slots);
            store(out, &res);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The primitive at the level the backend would run it at.
    fn order_stats(rows: &[&[f32]], weights: &[f64], stat: OrderStat) -> Result<Vec<f32>> {
        super::order_stats(crate::cpu::simd_level().unwrap(), rows, weights, stat)
    }

    /// splitmix64: a tiny deterministic generator for test data.
    /// Test data from the crate's SplitMix64.
    struct Rng(crate::SplitMix64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0.below(n as u64) as usize
        }
        fn unit(&mut self) -> f64 {
            self.0.unit()
        }
    }

    /// SPEC 4.2/4.3 straight from the text, one coordinate at a time, in f64.
    fn naive(rows: &[Vec<f32>], w: &[f64], stat: OrderStat) -> Vec<f32> {
        let total: f64 = w.iter().sum();
        let order = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.partial_cmp(&b).unwrap(),
        };
        (0..rows[0].len())
            .map(|j| {
                let mut p: Vec<(f64, f64, usize)> = (0..rows.len())
                    .filter(|&i| w[i] > 0.0)
                    .map(|i| (f64::from(rows[i][j]), w[i], i))
                    .collect();
                p.sort_by(|a, b| order(a.0, b.0).then(a.2.cmp(&b.2)));
                let v = match stat {
                    OrderStat::Median => {
                        let mut c = 0.0;
                        let mut out = p.last().unwrap().0;
                        for k in 0..p.len() {
                            c += p[k].1;
                            if 2.0 * c == total {
                                out = if k + 1 < p.len() {
                                    (p[k].0 + p[k + 1].0) / 2.0
                                } else {
                                    p[k].0
                                };
                                break;
                            }
                            if 2.0 * c > total {
                                out = p[k].0;
                                break;
                            }
                        }
                        out
                    }
                    OrderStat::TrimmedMean { lambda } => {
                        let (lo, hi) = (lambda * total, total - lambda * total);
                        let (mut below, mut s, mut kt) = (0.0, 0.0, 0.0);
                        for &(v, wi, _) in &p {
                            let above = below + wi;
                            let kept = (above.min(hi) - below.max(lo)).max(0.0);
                            below = above;
                            if kept >= MASS_EPS * total && kept > 0.0 {
                                s += kept * v;
                                kt += kept;
                            }
                        }
                        s / kt
                    }
                    // The definition is the reference's; the CPU walks a window instead of
                    // sorting by distance.
                    OrderStat::MeaMed { .. } => {
                        let col: Vec<Vec<f64>> = rows.iter().map(|r| vec![f64::from(r[j])]).collect();
                        crate::reference::order_stats(&col, w, stat)[0]
                    }
                };
                v as f32
            })
            .collect()
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn check(rows: &[Vec<f32>], w: &[f64], stat: OrderStat, what: &str) {
        let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let got = order_stats(&slices, w, stat).unwrap();
        let want = naive(rows, w, stat);
        for (j, (g, e)) in got.iter().zip(&want).enumerate() {
            let col: Vec<f32> = rows.iter().map(|r| r[j]).collect();
            assert!(
                same(*g, *e),
                "{what} {stat:?} coordinate {j}: got {g:?}, want {e:?}; w {w:?}, values {col:?}"
            );
        }
    }

    fn value_pool(rng: &mut Rng, kind: usize) -> f32 {
        match kind {
            // Many ties, zeros of both signs.
            0 => [-2.0, -1.0, -0.0, 0.0, 0.0, 1.0, 1.5, 2.0][rng.below(8)],
            // Magnitudes from 1e-30 to 1e30, either sign.
            1 => {
                let e = rng.unit() * 60.0 - 30.0;
                let s = if rng.below(2) == 0 { -1.0 } else { 1.0 };
                (s * 10f64.powf(e)) as f32
            }
            _ => (rng.unit() * 2.0 - 1.0) as f32,
        }
    }

    fn random_rows(rng: &mut Rng, n: usize, d: usize) -> Vec<Vec<f32>> {
        let kind = rng.below(3);
        let mut rows: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..d).map(|_| value_pool(rng, kind)).collect())
            .collect();
        // Byzantine rows and scattered non-finite values.
        for r in rows.iter_mut() {
            match rng.below(6) {
                0 => r.fill(f32::NAN),
                1 => r.fill(f32::INFINITY),
                2 => r.fill(f32::NEG_INFINITY),
                3 => {
                    for v in r.iter_mut() {
                        *v = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, *v, *v][rng.below(6)];
                    }
                }
                _ => {}
            }
        }
        rows
    }

    fn random_weights(rng: &mut Rng, n: usize, kind: usize) -> Vec<f64> {
        let mut w: Vec<f64> = match kind {
            0 => vec![1.0; n],
            1 => vec![0.1; n],
            2 => (0..n).map(|_| rng.below(4) as f64).collect(),
            _ => (0..n)
                .map(|_| if rng.below(5) == 0 { 0.0 } else { rng.unit() * 3.0 })
                .collect(),
        };
        if w.iter().all(|x| *x == 0.0) {
            w[0] = 1.0;
        }
        w
    }

    #[test]
    fn network_sorts_every_zero_one_input() {
        for m in 1..=12 {
            let net = network(m, None);
            for bits in 0u32..(1 << m) {
                let mut v: Vec<u32> = (0..m).map(|i| (bits >> i) & 1).collect();
                for &(a, b) in &net {
                    let (a, b) = (a as usize, b as usize);
                    if v[a] > v[b] {
                        v.swap(a, b);
                    }
                }
                assert!(v.windows(2).all(|p| p[0] <= p[1]), "m = {m}, input {bits:b}");
            }
        }
    }

    #[test]
    fn keys_follow_the_spec_order() {
        let vals = [
            f32::NEG_INFINITY,
            -1e30,
            -1.0,
            -1e-40,
            0.0,
            1e-40,
            1.0,
            3e38,
            f32::INFINITY,
        ];
        for p in vals.windows(2) {
            assert!(key(p[0]) < key(p[1]), "{p:?}");
        }
        assert_eq!(key(-0.0), key(0.0));
        assert_eq!(key(f32::NAN), key(-f32::NAN));
        assert!(key(f32::NAN) > key(f32::INFINITY));
        for v in vals {
            assert_eq!(value(key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn small_cases() {
        let rows = [vec![3.0f32], vec![1.0], vec![2.0], vec![4.0]];
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(order_stats(&s, &[1.0; 4], OrderStat::Median).unwrap(), vec![2.5]);
        assert_eq!(
            order_stats(&s, &[1.0, 1.0, 1.0, 0.0], OrderStat::Median).unwrap(),
            vec![2.0]
        );
        let tm = OrderStat::TrimmedMean { lambda: 0.25 };
        assert_eq!(order_stats(&s, &[1.0; 4], tm).unwrap(), vec![2.5]);
        // Weight 4 of 7 on the value 1 is more than half: the weighted median is 1.
        assert_eq!(
            order_stats(&s, &[1.0, 4.0, 1.0, 1.0], OrderStat::Median).unwrap(),
            vec![1.0]
        );
        // Exactly half at or below 1: the midpoint with the next value.
        assert_eq!(
            order_stats(&s, &[1.0, 3.0, 1.0, 1.0], OrderStat::Median).unwrap(),
            vec![1.5]
        );
        // MeaMed, f = 1 of 4: the median 2.5, then the three values closest to it: 2, 3 and
        // the tie between 1 and 4 goes to the lower value, 1.
        let mm = OrderStat::MeaMed { lambda: 0.25 };
        assert_eq!(order_stats(&s, &[1.0; 4], mm).unwrap(), vec![2.0]);
        // Weights 1, 4, 1, 1 (values 3, 1, 2, 4): the median is 1; mass 5.25 closest to it is
        // the 4 of 1, the 1 of 2 and 0.25 of 3: (4 + 2 + 0.75) / 5.25.
        assert_eq!(
            order_stats(&s, &[1.0, 4.0, 1.0, 1.0], mm).unwrap(),
            vec![(6.75f64 / 5.25) as f32]
        );
        assert!(order_stats(&s, &[0.0; 4], OrderStat::Median).is_err());
        assert!(order_stats(&s, &[1.0; 4], OrderStat::TrimmedMean { lambda: 0.5 }).is_err());
    }

    #[test]
    fn nan_rows_do_not_poison() {
        let rows = [
            vec![1.0f32; 33],
            vec![f32::NAN; 33],
            vec![2.0; 33],
            vec![f32::INFINITY; 33],
            vec![3.0; 33],
        ];
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(
            order_stats(&s, &[1.0; 5], OrderStat::Median).unwrap(),
            vec![3.0; 33]
        );
        let tm = OrderStat::TrimmedMean { lambda: 0.4 };
        assert_eq!(order_stats(&s, &[1.0; 5], tm).unwrap(), vec![3.0; 33]);
        let tm = OrderStat::TrimmedMean { lambda: 0.2 };
        assert_eq!(order_stats(&s, &[1.0; 5], tm).unwrap(), vec![f32::INFINITY; 33]);
    }

    #[test]
    fn zero_sign_follows_row_order() {
        let rows = [vec![0.0f32, -0.0], vec![-0.0, 0.0], vec![-0.0, 0.0]];
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let got = order_stats(&s, &[1.0; 3], OrderStat::Median).unwrap();
        assert_eq!(
            (got[0].to_bits(), got[1].to_bits()),
            ((-0.0f32).to_bits(), 0.0f32.to_bits())
        );
    }

    #[test]
    fn matches_naive_on_random_batches() {
        let mut rng = Rng(crate::SplitMix64(7));
        for &n in &[1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 70] {
            for &d in &[1, 7, 33, 1001] {
                for wk in 0..4 {
                    let rows = random_rows(&mut rng, n, d);
                    let w = random_weights(&mut rng, n, wk);
                    let what = format!("n = {n}, d = {d}");
                    check(&rows, &w, OrderStat::Median, &what);
                    for lambda in [0.0, 0.1, 0.2, 0.25, 1.0 / 3.0, 0.49] {
                        check(&rows, &w, OrderStat::TrimmedMean { lambda }, &what);
                        check(&rows, &w, OrderStat::MeaMed { lambda }, &what);
                    }
                }
            }
        }
    }

    #[test]
    fn chunk_boundaries_and_large_n() {
        let mut rng = Rng(crate::SplitMix64(11));
        // Several rayon chunks with a ragged tail.
        let rows = random_rows(&mut rng, 6, 3 * CHUNK + 5);
        check(&rows, &[1.0; 6], OrderStat::Median, "chunks");
        check(
            &rows,
            &random_weights(&mut rng, 6, 3),
            OrderStat::Median,
            "chunks",
        );
        // Past the network: the per-coordinate sort.
        let n = NETWORK_MAX + 3;
        let rows = random_rows(&mut rng, n, 3);
        for wk in [0, 3] {
            let w = random_weights(&mut rng, n, wk);
            check(&rows, &w, OrderStat::Median, "large n");
            check(&rows, &w, OrderStat::TrimmedMean { lambda: 0.3 }, "large n");
            check(&rows, &w, OrderStat::MeaMed { lambda: 0.3 }, "large n");
        }
    }

    /// The same tests through the generic path, which a CPU with AVX-512 otherwise skips.
    #[test]
    fn generic_path_too() {
        crate::cpu::simd::with_cap(SimdLevel::Generic, || {
            small_cases();
            nan_rows_do_not_poison();
            zero_sign_follows_row_order();
            matches_naive_on_random_batches();
            chunk_boundaries_and_large_n();
        });
    }
}
