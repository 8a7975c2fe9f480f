//! The rules over one coordinate's sorted values (SPEC 4.2, 4.3 and MeaMed), with any
//! weights: [`Reduce::scan`] one coordinate at a time, [`Reduce::scan_lanes`] all lanes of
//! a block at once, and the MeaMed window walk [`meamed`].

use crate::contract::MASS_EPS;
use crate::kernels::OrderStat;

use super::{LANES, midpoint, value};

/// The rule applied to one coordinate's sorted values, with the constants it needs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reduce {
    /// SPEC 4.2 over total weight `total`.
    Median { total: f64 },
    /// SPEC 4.3: keep the mass between `lo` and `hi`; masses below `eps` count as zero.
    Trim { lo: f64, hi: f64, eps: f64 },
    /// MeaMed: the mean of the mass `keep` closest to the median (see [`meamed`]).
    MeaMed { total: f64, keep: f64, eps: f64 },
}

impl Reduce {
    pub(super) fn new(stat: OrderStat, total: f64) -> Self {
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
    pub(super) fn scan(&self, w: &[f64], at: impl Fn(usize) -> usize, val: impl Fn(usize) -> f32) -> f32 {
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
    pub(super) fn scan_lanes(
        &self,
        table: &[f64],
        keys: &[[u32; LANES]],
        slots: &[[u32; LANES]],
    ) -> [f32; LANES] {
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
