//! The exact subset searches of MDA and SMEA (SPEC 4.8), on the host over the n x n squared
//! distances of the `pairwise_dist` primitive: no d-sized work per subset.
//!
//! Both pick a *mass vector* `m` (`0 <= m_i <= w_i`, `sum m_i = T = (1 - lambda) W`) and
//! output `sum m_i x_i / T`. With integer weights a mass vector is a sub-multiset of the
//! multiset in which row i appears `w_i` times. Among optimal mass vectors both take the
//! lexicographically largest `(m_0, m_1, ...)`: for integer weights that is the
//! lexicographically first combination of copies, the one that the published rules'
//! `itertools.combinations` loop keeps (it replaces its best only on a strictly smaller value).
//!
//! A row with a non-finite value has distance `+inf` to every row, itself included (SPEC 3),
//! so a subset holding it has infinite diameter and infinite covariance. Rows of weight 0
//! take no part.

use crate::aggregate::Context;
use crate::contract::{MASS_EPS, MDA_MAX_N, check_n};
use crate::error::Result;
use crate::kernels::Kernels;

pub(crate) mod caf;
mod gram;

/// MDA, SMEA and CAF ([`Rule::Mda`](crate::Rule::Mda), [`Rule::Smea`](crate::Rule::Smea), [`Rule::Caf`](crate::Rule::Caf)): one pass of pairwise
/// distances, a host search over them that returns a mass per row, and the mix of the rows
/// with those masses normalized. `n` above `limit` is an error (a plan built by hand may
/// skip the check that [`Rule::plan`](crate::Rule::plan) makes).
pub(in crate::aggregate) fn subset_mean<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    rule: &str,
    limit: usize,
    search: impl FnOnce(&[f64]) -> Vec<f64>,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    check_n(rule, w.len(), limit)?;
    let dist = k.pairwise_dist(rows)?;
    let masses = search(&dist);
    let total: f64 = masses.iter().sum();
    let coeffs: Vec<f64> = masses.iter().map(|m| m / total).collect();
    k.mix(rows, &coeffs, 1, None)
}

/// The distance between rows i and j, NaN read as `+inf` (a non-finite row is infinitely far).
fn far(dist: &[f64], n: usize, i: usize, j: usize) -> f64 {
    let v = dist[i * n + j];
    if v.is_nan() { f64::INFINITY } else { v }
}

/// Whether mass vector `a` is lexicographically larger than `b`.
fn lex_greater(a: &[f64], b: &[f64]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x > y;
        }
    }
    false
}

/// MDA's masses: among mass vectors of total `(1 - lambda) W` whose rows of positive mass
/// are pairwise within the least possible distance (the diameter), the lexicographically
/// largest.
///
/// The least diameter is found by bisection over the distinct pairwise distances: a
/// diameter D is feasible when the rows to leave out (mass at most `W - T`) cover every pair
/// farther apart than D, a weighted vertex cover solved by branch and bound. The
/// lexicographically largest vector then takes rows in index order, each whenever the rows
/// taken so far can still be completed to a feasible subset.
pub(crate) fn mda_masses(dist: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = w.len();
    debug_assert!(n <= MDA_MAX_N);
    let total: f64 = w.iter().sum();
    let eps = MASS_EPS * total;
    let target = (1.0 - lambda) * total;
    let slack = total - target + eps;
    let live: u64 = (0..n).filter(|&i| w[i] > 0.0).fold(0, |m, i| m | 1 << i);
    let mut diameters: Vec<f64> = vec![0.0];
    for i in 0..n {
        for j in i..n {
            if live >> i & 1 == 1 && live >> j & 1 == 1 {
                diameters.push(far(dist, n, i, j));
            }
        }
    }
    diameters.sort_by(f64::total_cmp);
    diameters.dedup();
    let search = |d: f64| Cover::new(dist, w, live, d, slack);
    // The largest candidate keeps every row: always feasible, as W >= T.
    let (mut lo, mut hi) = (0, diameters.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if search(diameters[mid]).feasible(0, 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cover = search(diameters[lo]);
    let (mut kept, mut dropped) = (0u64, 0u64);
    let mut masses = vec![0.0; n];
    let mut left = target;
    for i in (0..n).filter(|&i| live >> i & 1 == 1) {
        if left <= eps {
            break;
        }
        if cover.feasible(kept | 1 << i, dropped) {
            kept |= 1 << i;
            masses[i] = w[i].min(left);
            left -= masses[i];
        } else {
            dropped |= 1 << i;
        }
    }
    masses
}

/// The conflict graph of one candidate diameter: rows farther apart than it cannot both stay.
struct Cover<'a> {
    w: &'a [f64],
    live: u64,
    /// Bit j of `conflict[i]`: rows i and j are farther apart than the diameter (bit i: row i
    /// is non-finite, farther than any finite diameter from itself).
    conflict: Vec<u64>,
    /// Mass that may be left out: `W - T` plus the mass tolerance.
    slack: f64,
}

impl<'a> Cover<'a> {
    fn new(dist: &[f64], w: &'a [f64], live: u64, diameter: f64, slack: f64) -> Self {
        let n = w.len();
        let conflict = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| live >> j & 1 == 1 && far(dist, n, i, j) > diameter)
                    .fold(0, |m, j| m | 1 << j)
            })
            .collect();
        Cover {
            w,
            live,
            conflict,
            slack,
        }
    }

    fn mass(&self, set: u64) -> f64 {
        bits(set).map(|i| self.w[i]).sum()
    }

    /// Whether a subset of mass `>= T` keeps every row of `kept`, none of `dropped`, and no
    /// pair in conflict.
    fn feasible(&self, kept: u64, dropped: u64) -> bool {
        let mut out = dropped;
        for i in bits(kept) {
            out |= self.conflict[i];
        }
        if out & kept != 0 {
            return false;
        }
        // A row in conflict with itself (non-finite) must go too.
        for i in bits(self.live & !kept & !out) {
            if self.conflict[i] >> i & 1 == 1 {
                out |= 1 << i;
            }
        }
        let cost = self.mass(out & self.live);
        cost <= self.slack && self.cover(self.live & !kept & !out, self.slack - cost)
    }

    /// Whether rows of `free` weighing at most `budget` cover every conflict inside `free`.
    fn cover(&self, free: u64, budget: f64) -> bool {
        let degree = |i: usize| (self.conflict[i] & free).count_ones();
        let Some(v) = bits(free).max_by_key(|&i| (degree(i), std::cmp::Reverse(i))) else {
            return true;
        };
        if degree(v) == 0 {
            return true;
        }
        // A greedy matching: each matched pair needs one of its rows left out.
        let (mut unmatched, mut bound) = (free, 0.0);
        for i in bits(free) {
            if unmatched >> i & 1 == 0 {
                continue;
            }
            let partners = self.conflict[i] & unmatched & !(1 << i);
            if partners != 0 {
                let j = partners.trailing_zeros() as usize;
                unmatched &= !(1 << i | 1 << j);
                bound += self.w[i].min(self.w[j]);
            }
        }
        if bound > budget {
            return false;
        }
        // Either v goes, or it stays and every row in conflict with it goes.
        let rest = free & !(1 << v);
        if self.w[v] <= budget && self.cover(rest, budget - self.w[v]) {
            return true;
        }
        let neighbours = self.conflict[v] & rest;
        let cost = self.mass(neighbours);
        cost <= budget && self.cover(rest & !neighbours, budget - cost)
    }
}

/// The indices of the set bits, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            i
        })
    })
}

/// SMEA's masses: among the mass vectors of total `T = (1 - lambda) W` that give every row
/// its whole weight or nothing, except at most one row given part of it, the one whose
/// weighted covariance has the least top eigenvalue; ties to the lexicographically largest.
///
/// Depth-first over the rows (whole, in part, left out), pruned by mass and by a lower bound
/// that holds for every completion: a covariance of total mass T holding rows a and b whole
/// has top eigenvalue at least `w_a w_b / (w_a + w_b) * dist_ab / T` (the scatter matrix only
/// grows as mass is added). Each complete candidate costs one k x k eigenvalue of its
/// centered Gram matrix.
pub(crate) fn smea_masses(dist: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    let eps = MASS_EPS * total;
    let target = (1.0 - lambda) * total;
    let live: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let finite = |i: usize| dist[i * n + i] == 0.0;
    let finite_mass: f64 = live.iter().filter(|&&i| finite(i)).map(|&i| w[i]).sum();
    if finite_mass < target - eps {
        // Every candidate holds a non-finite row: all tie at +inf, and the lexicographically
        // largest is the prefix of mass T in index order.
        return index_prefix(w, target, eps);
    }
    let mut suffix = vec![0.0; live.len() + 1];
    for p in (0..live.len()).rev() {
        suffix[p] = suffix[p + 1] + w[live[p]];
    }
    let mut search = SmeaSearch {
        dist,
        n,
        w,
        target,
        eps,
        live,
        suffix,
        whole: Vec::new(),
        partial: None,
        best: f64::INFINITY,
        best_masses: Vec::new(),
        partials: true,
        along: Vec::new(),
        trial: vec![0.0; n],
    };
    let first = w[search.live[0]];
    let copies = target / first;
    search.partials =
        !(search.live.iter().all(|&i| w[i] == first) && (copies - copies.round()).abs() * first <= eps);
    search.seed();
    search.visit(0, 0.0, 0.0);
    search.best_masses
}

/// The prefix of mass `target` in index order (rows of weight 0 skipped).
fn index_prefix(w: &[f64], target: f64, eps: f64) -> Vec<f64> {
    let mut masses = vec![0.0; w.len()];
    let mut left = target;
    for (i, &wi) in w.iter().enumerate() {
        if left <= eps {
            break;
        }
        if wi > 0.0 {
            masses[i] = wi.min(left);
            left -= masses[i];
        }
    }
    masses
}

struct SmeaSearch<'a> {
    dist: &'a [f64],
    n: usize,
    w: &'a [f64],
    target: f64,
    eps: f64,
    /// The rows of positive weight, in index order.
    live: Vec<usize>,
    /// `suffix[p]`: the weight of `live[p..]`.
    suffix: Vec<f64>,
    whole: Vec<usize>,
    partial: Option<usize>,
    best: f64,
    best_masses: Vec<f64>,
    /// Whether a candidate may hold a row in part (not when every weight is equal and T is a
    /// whole number of them: then no whole mass falls strictly between T - w and T).
    partials: bool,
    /// `(x_i - mu) . v` for every row, with `v` the top eigenvector of the best candidate's
    /// covariance and `mu` its mean (empty before one with a positive top eigenvalue): the
    /// variance of any candidate along `v` is a lower bound on its top eigenvalue.
    along: Vec<f64>,
    /// The last trial vector of [`SmeaSearch::rayleigh_bound`], by row (0 off its rows).
    trial: Vec<f64>,
}

impl SmeaSearch<'_> {
    /// The mass-weighted scatter along the best direction of `rows` with masses `m`, over T:
    /// a lower bound on the top eigenvalue of every candidate holding them (Welford's update,
    /// stable where the projections are large).
    fn along_bound(&self, rows: impl Iterator<Item = (usize, f64)>) -> f64 {
        if self.along.is_empty() {
            return 0.0;
        }
        let (mut weight, mut mean, mut scatter) = (0.0, 0.0, 0.0);
        for (i, m) in rows {
            let p = self.along[i];
            let next = weight + m;
            let delta = p - mean;
            mean += delta * m / next;
            scatter += m * weight / next * delta * delta;
            weight = next;
        }
        scatter / self.target
    }

    /// Whether `value` cannot beat or tie the best (with room for rounding).
    fn beaten(&self, value: f64) -> bool {
        value > self.best * (1.0 + 1e-9)
    }

    /// Makes the candidate of rows `idx` with masses `m` (top eigenvalue `value`) the best and
    /// points the direction bound along its top eigenvector.
    fn set_best(&mut self, value: f64, masses: Vec<f64>, idx: &[usize], m: &[f64]) {
        self.best = value;
        self.best_masses = masses;
        self.along.clear();
        if !(value.is_finite() && value > 0.0) {
            return;
        }
        let (n, k) = (self.n, idx.len());
        let total: f64 = m.iter().sum();
        let g = gram::centered_gram(self.dist, n, idx, m);
        let mut scaled = g;
        gram::scale_by_masses(&mut scaled, m);
        let (top, u) = gram::top_eigen(&scaled, k);
        if top <= 0.0 {
            return;
        }
        // (x_i - mu) . (x_a - mu) = -1/2 (D_ia - r_i - r_a + s), for members a and any row i.
        let r: Vec<f64> = (0..n)
            .map(|i| {
                idx.iter()
                    .zip(m)
                    .map(|(&b, mb)| mb / total * far(self.dist, n, i, b))
                    .sum()
            })
            .collect();
        let s: f64 = idx.iter().zip(m).map(|(&a, ma)| ma / total * r[a]).sum();
        let coef: Vec<f64> = (0..k).map(|a| m[a].sqrt() * u[a] / top.sqrt()).collect();
        self.along = (0..n)
            .map(|i| {
                (0..k)
                    .map(|a| coef[a] * -0.5 * (far(self.dist, n, i, idx[a]) - r[i] - r[idx[a]] + s))
                    .sum()
            })
            .collect();
        if self.along.iter().any(|p| !p.is_finite()) {
            self.along.clear();
        }
    }

    /// Decides `live[pos..]`, with `mass` already taken whole and `bound` a lower bound on the
    /// top eigenvalue of any completion.
    fn visit(&mut self, pos: usize, mass: f64, bound: f64) {
        if self.beaten(bound) {
            return;
        }
        let whole_rows = self.whole.iter().map(|&j| (j, self.w[j]));
        if self.beaten(self.along_bound(whole_rows)) {
            return;
        }
        let partial_weight = self.partial.map_or(0.0, |p| self.w[p]);
        if pos == self.live.len() {
            self.evaluate(mass);
            return;
        }
        // Even everything left (and the partial row whole) cannot reach T.
        if mass + partial_weight + self.suffix[pos] < self.target - self.eps {
            return;
        }
        let i = self.live[pos];
        let wi = self.w[i];
        if mass + wi <= self.target + self.eps {
            let mut b = bound;
            for &j in &self.whole {
                let pair = wi * self.w[j] / (wi + self.w[j]) * far(self.dist, self.n, i, j);
                b = b.max(pair / self.target);
            }
            if self.dist[i * self.n + i] != 0.0 {
                b = f64::INFINITY;
            }
            self.whole.push(i);
            self.visit(pos + 1, mass + wi, b);
            self.whole.pop();
        }
        if self.partials && self.partial.is_none() && mass < self.target - self.eps {
            self.partial = Some(i);
            let b = if self.dist[i * self.n + i] != 0.0 {
                f64::INFINITY
            } else {
                bound
            };
            self.visit(pos + 1, mass, b);
            self.partial = None;
        }
        self.visit(pos + 1, mass, bound);
    }

    /// Scores the candidate of the current whole rows and partial row, if it is one.
    fn evaluate(&mut self, mass: f64) {
        let (target, eps) = (self.target, self.eps);
        let mut idx = self.whole.clone();
        let mut m: Vec<f64> = idx.iter().map(|&i| self.w[i]).collect();
        match self.partial {
            None if (mass - target).abs() <= eps => {}
            Some(p) if mass < target - eps && mass + self.w[p] > target + eps => {
                idx.push(p);
                m.push(target - mass);
            }
            _ => return,
        }
        self.consider(idx, m);
    }

    /// A first candidate, so that the bounds cut from the start: rows dropped one at a time
    /// along the top eigenvector (the farthest projection first, non-finite rows before all),
    /// and the candidate filled from the rows dropped last. Only a head start: the search
    /// that follows still sees every candidate the bounds cannot rule out.
    fn seed(&mut self) {
        let n = self.n;
        let finite = |i: usize| self.dist[i * n + i] == 0.0;
        let (mut active, mut dropped): (Vec<usize>, Vec<usize>) = self.live.iter().partition(|&&i| finite(i));
        while active.len() > 1 {
            let m: Vec<f64> = active.iter().map(|&i| self.w[i]).collect();
            let g = gram::centered_gram(self.dist, n, &active, &m);
            let mut scaled = g.clone();
            gram::scale_by_masses(&mut scaled, &m);
            let k = active.len();
            let (top, u) = gram::top_eigen(&scaled, k);
            if top.is_nan() || top <= 0.0 {
                break;
            }
            let projection = |a: usize| -> f64 {
                (0..k)
                    .map(|b| g[a * k + b] * m[b].sqrt() * u[b])
                    .sum::<f64>()
                    .abs()
            };
            let far = (0..k).fold(
                0,
                |best, a| if projection(a) > projection(best) { a } else { best },
            );
            dropped.push(active.remove(far));
        }
        let order: Vec<usize> = active.into_iter().chain(dropped.into_iter().rev()).collect();
        let (mut whole, mut partial) = (Vec::new(), None);
        let mut left = self.target;
        for i in order {
            if left <= self.eps {
                break;
            }
            if self.w[i] <= left + self.eps {
                whole.push(i);
                left -= self.w[i];
            } else {
                partial = Some((i, left));
                left = 0.0;
            }
        }
        whole.sort_unstable();
        let mut m: Vec<f64> = whole.iter().map(|&i| self.w[i]).collect();
        if let Some((p, mass)) = partial {
            whole.push(p);
            m.push(mass);
        }
        self.consider(whole, m);
    }

    /// A lower bound on the top eigenvalue of the k x k matrix `g` over rows `idx`: the
    /// Rayleigh quotient of a trial vector after two power steps. The trial vector is the one
    /// the previous candidate ended with, read on the rows the two share; consecutive
    /// candidates differ in a row or two, so the bound is nearly their top eigenvalue and
    /// most candidates are ruled out without the exact eigenvalue.
    fn rayleigh_bound(&mut self, g: &[f64], idx: &[usize]) -> f64 {
        let k = idx.len();
        let mut y: Vec<f64> = idx.iter().map(|&i| self.trial[i]).collect();
        if y.iter().all(|v| *v == 0.0) {
            y.iter_mut().for_each(|v| *v = 1.0);
        }
        let mut quotient = 0.0;
        for _ in 0..2 {
            let z: Vec<f64> = (0..k)
                .map(|a| (0..k).map(|b| g[a * k + b] * y[b]).sum())
                .collect();
            let yy: f64 = y.iter().map(|v| v * v).sum();
            let yz: f64 = y.iter().zip(&z).map(|(a, b)| a * b).sum();
            let zz: f64 = z.iter().map(|v| v * v).sum::<f64>().sqrt();
            let usable = yy > 0.0 && zz > 0.0 && zz.is_finite();
            if !usable {
                return 0.0;
            }
            quotient = f64::max(quotient, yz / yy);
            y = z.iter().map(|v| v / zz).collect();
        }
        self.trial.iter_mut().for_each(|v| *v = 0.0);
        for (&i, v) in idx.iter().zip(&y) {
            self.trial[i] = *v;
        }
        // Rounding may lift the quotient a hair above the eigenvalue; the margin in
        // `beaten` (1e-9 relative) covers it.
        quotient
    }

    /// Scores the candidate of rows `idx` (whole rows in index order, then the partial one)
    /// with masses `m`, and keeps it if it beats the best.
    fn consider(&mut self, idx: Vec<usize>, m: Vec<f64>) {
        let n = self.n;
        if self.beaten(self.along_bound(idx.iter().copied().zip(m.iter().copied()))) {
            return;
        }
        let value = if idx.iter().any(|&i| self.dist[i * n + i] != 0.0) {
            f64::INFINITY
        } else {
            let mut g = gram::centered_gram(self.dist, n, &idx, &m);
            gram::scale_by_masses(&mut g, &m);
            let total: f64 = m.iter().sum();
            let bound = self.rayleigh_bound(&g, &idx) / total;
            if self.beaten(bound) {
                return;
            }
            gram::top_eigenvalue(&g, idx.len()).max(0.0) / total
        };
        let mut masses = vec![0.0; n];
        for (&i, &mi) in idx.iter().zip(&m) {
            masses[i] = mi;
        }
        if self.best_masses.is_empty()
            || value < self.best
            || (value == self.best && lex_greater(&masses, &self.best_masses))
        {
            self.set_best(value, masses, &idx, &m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squared distances of points on a line.
    fn line(xs: &[f64]) -> Vec<f64> {
        xs.iter()
            .flat_map(|a| xs.iter().map(move |b| (a - b) * (a - b)))
            .collect()
    }

    #[test]
    fn mda_keeps_the_tightest_cluster() {
        // 0, 1, 2, 10, 11: f = 2 keeps {0, 1, 2} (diameter 2).
        let dist = line(&[0.0, 1.0, 2.0, 10.0, 11.0]);
        assert_eq!(mda_masses(&dist, &[1.0; 5], 0.4), vec![1.0, 1.0, 1.0, 0.0, 0.0]);
        // Weights 1, 1, 1, 2, 2 (W = 7), T = 5: the rows at 10 and 11 weigh 4, and adding
        // the row at 2 gives diameter 9^2 = 81, less than any set holding 0 or 1 and 10.
        let m = mda_masses(&dist, &[1.0, 1.0, 1.0, 2.0, 2.0], 2.0 / 7.0);
        assert_eq!(m, vec![0.0, 0.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn mda_leaves_non_finite_rows_out() {
        let mut dist = line(&[0.0, 1.0, 5.0, 2.0]);
        for j in 0..4 {
            dist[2 * 4 + j] = f64::INFINITY;
            dist[j * 4 + 2] = f64::INFINITY;
        }
        assert_eq!(mda_masses(&dist, &[1.0; 4], 0.25), vec![1.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn smea_prefers_the_least_spread() {
        // 0, 1, 2, 10: f = 1 drops 10 (variance 2/3, against 16.7 or more with 10 in).
        let dist = line(&[0.0, 1.0, 2.0, 10.0]);
        assert_eq!(smea_masses(&dist, &[1.0; 4], 0.25), vec![1.0, 1.0, 1.0, 0.0]);
    }
}
