//! Uniform weights (every positive weight equal): the ranks the rule reads are worked out
//! once per call ([`Pick`]), and the generic block kernel sorts each block of coordinates with
//! the network pruned to those ranks. Equal keys are equal values, so ties need no row index;
//! the one exception, the sign of a zero median, is settled by [`zero_of_rank`].

use super::block::{load, store};
use super::network::sort_lanes;
use super::reduce::{Reduce, meamed};
use super::{LANES, ZERO_KEY, key, midpoint, value};

/// With uniform weights the rule picks fixed ranks: what it picks, worked out once.
#[derive(Clone, Debug)]
pub(super) enum Pick {
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
    pub(super) fn new(reduce: &Reduce, w: &[f64]) -> Self {
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
    pub(super) fn ranks(&self, m: usize) -> Vec<usize> {
        match self {
            Pick::Median { a, b } => vec![*a, *b],
            Pick::Trim { kept, .. } => kept.iter().map(|&(k, _)| k).collect(),
            Pick::MeaMed { .. } => (0..m).collect(),
        }
    }
}

crate::cpu::simd::at_level!(
    /// [`uniform_chunk`] at a SIMD level.
    pub(super) fn uniform_chunk_at(
        rows: &[&[f32]],
        c0: usize,
        out: &mut [f32],
        net: &[(u32, u32)],
        pick: &Pick,
        keys: &mut [[u32; LANES]],
    ) = uniform_chunk
);

/// Uniform weights: the coordinates `c0..c0 + out.len()`; `keys` is scratch of one row per
/// row of `rows`.
/// Compiled into each SIMD level's function by `at_level!`.
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
pub(super) fn zero_of_rank(rows: &[&[f32]], c: usize, rank: usize) -> f32 {
    let below = rows.iter().filter(|r| key(r[c]) < ZERO_KEY).count();
    rows.iter()
        .map(|r| r[c])
        .filter(|v| *v == 0.0)
        .nth(rank - below)
        .unwrap_or(0.0)
}
