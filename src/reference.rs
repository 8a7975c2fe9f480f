//! The f64 reference: every rule of SPEC section 4, written straight from the spec.
//!
//! This module is the oracle that the fast backends are tested against. It converts every
//! input value to `f64` and computes each rule with plain loops and sorts, favouring clarity
//! over speed; it shares no code with the rule layer (`aggregate/`), the CPU backend or the
//! [`Kernels`](crate::Kernels) trait. Only the contract functions of the crate
//! ([`bucket_permutation`], [`MASS_EPS`]) are shared, since every backend must agree on them.
//!
//! Conventions (the same for every backend; they decide wherever the spec is silent):
//!
//! - Rows of weight 0 take no part in anything: not in sorts, not as neighbours, not in sums.
//! - Values of one coordinate are ordered -inf < finite < +inf < NaN (any NaN, whatever its
//!   sign bit), ties (including `-0.0` against `+0.0`) by row index.
//! - Distances are squared Euclidean distances, `+inf` (never NaN) when a row or the center
//!   holds a non-finite value.
//! - A "prefix of mass M" orders the rows of positive weight by (distance, index) and takes
//!   mass `min(w_j, left)` from each in turn, stopping as soon as `left <= MASS_EPS * W`.
//! - Linear combinations skip terms whose coefficient is 0, so `0 * NaN` never appears.
//!
//! The primitive functions ([`order_stats`], [`pairwise_dist`], [`center_dist`], [`mix`]) are
//! public so that a backend's tests can compare each of its kernels with them.

use std::cmp::Ordering;

use crate::batch::Batch;
use crate::contract::MASS_EPS;
use crate::error::{Error, Result};
use crate::gm_scale::gm_scale;
use crate::kernels::OrderStat;
use crate::rule::{GmInit, GmParams, Plan, bucket_permutation};

mod subset_rules;

/// Aggregates with every value converted to f64.
///
/// Implements each [`Plan`] variant directly from SPEC section 4 (see the module docs for the
/// conventions). Non-finite input values are normal input and never cause a panic or an
/// error. The only errors are for hand-built plans that [`Rule::plan`](crate::Rule::plan)
/// would have rejected and that cannot be computed: Krum with `m` outside `1..=n`, and
/// bucketing with `s == 0`.
///
/// # Examples
///
/// ```
/// use byzagg::{Batch, Plan, reference};
///
/// let rows = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, f32::NAN]];
/// let out = reference::aggregate(&Plan::Median, &Batch::from_rows(&rows)?)?;
/// assert_eq!(out, vec![4.0, 5.0, 6.0]);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn aggregate(plan: &Plan, batch: &Batch<'_>) -> Result<Vec<f64>> {
    plan.check_depth()?;
    let rows: Vec<Vec<f64>> = batch
        .rows()
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let root: Option<Vec<f64>> = batch.root().map(|g| g.iter().map(|&v| f64::from(v)).collect());
    aggregate_rows(plan, &rows, batch.weights(), root.as_deref())
}

/// Weighted median (Median) or trimmed mean per coordinate, SPEC 4.2/4.3, over rows given as f64 vectors.
///
/// `rows` holds n rows of equal length d, `weights` n finite weights >= 0. Per coordinate the
/// values of the rows of positive weight are sorted (-inf < finite < +inf < NaN, ties by row
/// index) and their weights accumulated into C_1, C_2, ... with W the total weight:
///
/// - [`OrderStat::Median`]: if some k has `2 * C_k == W` exactly, the midpoint
///   `(v_k + v_{k+1}) / 2` of that value and the next one (plain arithmetic, so the midpoint
///   of -inf and +inf is NaN); otherwise the first `v_k` with `2 * C_k > W`.
/// - [`OrderStat::TrimmedMean`]: mass `L = lambda * W` is removed from each side; value i
///   keeps mass `max(0, min(C_i, W - L) - max(C_{i-1}, L))`, a kept mass below
///   `MASS_EPS * W` counts as zero, and the output is the kept-mass-weighted mean.
/// - [`OrderStat::MeaMed`]: the median `med` as above (a midpoint kept in f64); if it is not
///   finite, the output is `med`. Otherwise the values are ordered by their distance
///   `|v - med|` (a NaN distance counts as +inf), ties by value (lower first) then row index,
///   and the output is the weighted mean of the prefix of mass `(1 - lambda) W`.
///
/// A coordinate with no value of positive weight (all weights 0) gives NaN.
///
/// # Panics
///
/// If `weights` is shorter than `rows` or the rows differ in length (caller's contract).
pub fn order_stats(rows: &[Vec<f64>], weights: &[f64], stat: OrderStat) -> Vec<f64> {
    let d = rows.first().map_or(0, Vec::len);
    let total: f64 = weights.iter().sum();
    (0..d)
        .map(|j| {
            // (value, weight) of the rows of positive weight, in the order of SPEC section 3.
            let mut pairs: Vec<(f64, f64, usize)> = (0..rows.len())
                .filter(|&i| weights[i] > 0.0)
                .map(|i| (rows[i][j], weights[i], i))
                .collect();
            pairs.sort_by(|a, b| value_order(a.0, b.0).then(a.2.cmp(&b.2)));
            match stat {
                OrderStat::Median => weighted_median(&pairs, total),
                OrderStat::TrimmedMean { lambda } => weighted_trimmed_mean(&pairs, total, lambda),
                OrderStat::MeaMed { lambda } => weighted_mean_around_median(&pairs, total, lambda),
            }
        })
        .collect()
}

/// n*n squared distances, row-major; +inf for any entry touching a row with a non-finite value, INCLUDING the diagonal (0 for finite rows).
pub fn pairwise_dist(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.len();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = squared_distance(&rows[i], &rows[j]);
        }
    }
    out
}

/// squared distances to center; +inf for rows (or a center) with a non-finite value.
pub fn center_dist(rows: &[Vec<f64>], center: &[f64]) -> Vec<f64> {
    rows.iter().map(|r| squared_distance(r, center)).collect()
}

/// out (k x d, row-major) = C (k x n) * rows, skipping zero coefficients (so 0*NaN never appears).
///
/// `coeffs` is the `k x n` matrix C, row-major. A non-finite value with a non-zero
/// coefficient propagates as arithmetic says.
///
/// # Panics
///
/// If `coeffs` holds fewer than `k * n` values or the rows differ in length (caller's
/// contract).
pub fn mix(rows: &[Vec<f64>], coeffs: &[f64], k: usize) -> Vec<f64> {
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    let mut out = vec![0.0; k * d];
    for r in 0..k {
        for i in 0..n {
            let c = coeffs[r * n + i];
            if c == 0.0 {
                continue;
            }
            for j in 0..d {
                out[r * d + j] += c * rows[i][j];
            }
        }
    }
    out
}

/// The order of values within one coordinate: -inf < finite < +inf < NaN, all NaNs equal
/// (whatever their sign bit; `f64::total_cmp` would put a negative NaN below -inf).
fn value_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Whether every value of `x` is finite.
fn is_finite_row(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Squared Euclidean distance, `+inf` if either side holds a non-finite value. The squares
/// are added by [`exact_sum`], so the distance does not depend on the order of the
/// coordinates: distances that are equal as multisets of squared differences are equal, and
/// their ties are exact ties, broken by row index.
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    if !is_finite_row(a) || !is_finite_row(b) {
        return f64::INFINITY;
    }
    exact_sum(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)))
}

/// The sum of finite `terms`, correctly rounded once, whatever their order: Shewchuk's exact
/// partials, as Python's `math.fsum`.
pub(crate) fn exact_sum(terms: impl IntoIterator<Item = f64>) -> f64 {
    // Non-overlapping partials, smallest first, whose exact sum is the exact sum so far.
    let mut partials: Vec<f64> = Vec::new();
    for mut x in terms {
        let mut kept = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down until a rounding error appears, then correct a
    // tie-to-even that the next partial decides.
    let Some(mut k) = partials.len().checked_sub(1) else {
        return 0.0;
    };
    let mut hi = partials[k];
    let mut lo = 0.0;
    while k > 0 {
        k -= 1;
        let (x, y) = (hi, partials[k]);
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    if k > 0 && ((lo < 0.0 && partials[k - 1] < 0.0) || (lo > 0.0 && partials[k - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// Euclidean norm.
fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// SPEC 4.2 over sorted (value, weight, row) triples of positive weight.
fn weighted_median(pairs: &[(f64, f64, usize)], total: f64) -> f64 {
    let mut cumulative = 0.0;
    for (k, &(v, w, _)) in pairs.iter().enumerate() {
        cumulative += w;
        if 2.0 * cumulative == total {
            // Exactly half the weight lies at or below v: midpoint with the next value.
            return match pairs.get(k + 1) {
                Some(&(next, _, _)) => (v + next) / 2.0,
                None => v,
            };
        }
        if 2.0 * cumulative > total {
            return v;
        }
    }
    // Only reachable when rounding leaves the last cumulative weight a hair below W (or
    // when there is no value at all).
    pairs.last().map_or(f64::NAN, |p| p.0)
}

/// SPEC 4.3 over sorted (value, weight, row) triples of positive weight.
fn weighted_trimmed_mean(pairs: &[(f64, f64, usize)], total: f64, lambda: f64) -> f64 {
    let trim = lambda * total;
    let (lo, hi) = (trim, total - trim);
    let mut below = 0.0; // C_{i-1}
    let mut sum = 0.0;
    let mut kept_total = 0.0;
    for &(v, w, _) in pairs {
        let above = below + w; // C_i
        let kept = (above.min(hi) - below.max(lo)).max(0.0);
        below = above;
        if kept < MASS_EPS * total || kept == 0.0 {
            continue;
        }
        sum += kept * v;
        kept_total += kept;
    }
    sum / kept_total
}

/// MeaMed (SPEC 4.8) over sorted (value, weight, row) triples of positive weight: the mean
/// of the mass `(1 - lambda) W` closest to the weighted median.
fn weighted_mean_around_median(pairs: &[(f64, f64, usize)], total: f64, lambda: f64) -> f64 {
    let med = weighted_median(pairs, total);
    if !med.is_finite() {
        return med;
    }
    let distance = |v: f64| {
        let d = (v - med).abs();
        if d.is_nan() { f64::INFINITY } else { d }
    };
    let mut by_distance = pairs.to_vec();
    by_distance.sort_by(|a, b| {
        distance(a.0)
            .total_cmp(&distance(b.0))
            .then(value_order(a.0, b.0))
            .then(a.2.cmp(&b.2))
    });
    let mut left = (1.0 - lambda) * total;
    let (mut sum, mut kept) = (0.0, 0.0);
    for (v, w, _) in by_distance {
        if left <= MASS_EPS * total {
            break;
        }
        let mass = w.min(left);
        sum += mass * v;
        kept += mass;
        left -= mass;
    }
    sum / kept
}

/// The prefix of mass `target` (SPEC section 2): the rows of positive weight ordered by
/// (`r`, index), each taking mass `min(w_j, left)`, until `left <= MASS_EPS * total`.
/// Rows listed in `first` are taken before all others (in that order, if of positive
/// weight); rows in `exclude` are never taken. Returns (row, mass) pairs.
fn prefix_of_mass(
    r: &[f64],
    w: &[f64],
    target: f64,
    total: f64,
    first: Option<usize>,
    exclude: Option<usize>,
) -> Vec<(usize, f64)> {
    let mut order: Vec<usize> = (0..r.len())
        .filter(|&j| w[j] > 0.0 && Some(j) != first && Some(j) != exclude)
        .collect();
    order.sort_by(|&a, &b| value_order(r[a], r[b]).then(a.cmp(&b)));
    if let Some(i) = first.filter(|&i| w[i] > 0.0) {
        order.insert(0, i);
    }
    let mut left = target;
    let mut taken = Vec::new();
    for j in order {
        if left <= MASS_EPS * total {
            break;
        }
        let mass = w[j].min(left);
        taken.push((j, mass));
        left -= mass;
    }
    taken
}

/// Weighted mean of the rows of positive weight, coefficients `w_i / W` (SPEC 4.1).
fn weighted_mean(rows: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    let coeffs: Vec<f64> = w
        .iter()
        .map(|&wi| if wi > 0.0 { wi / total } else { 0.0 })
        .collect();
    mix(rows, &coeffs, 1)
}

/// One plan over f64 rows with weights `w` (n rows at this level).
/// `root` is the batch's root update (FLTrust), the same at every level.
fn aggregate_rows(plan: &Plan, rows: &[Vec<f64>], w: &[f64], root: Option<&[f64]>) -> Result<Vec<f64>> {
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    let total: f64 = w.iter().sum();
    Ok(match plan {
        Plan::Mean => weighted_mean(rows, w),
        Plan::Median => order_stats(rows, w, OrderStat::Median),
        Plan::TrimmedMean { lambda } => order_stats(rows, w, OrderStat::TrimmedMean { lambda: *lambda }),
        Plan::MeaMed { lambda } => order_stats(rows, w, OrderStat::MeaMed { lambda: *lambda }),
        Plan::Bulyan { lambda } => bulyan(rows, w, *lambda),
        Plan::Cge { lambda } => mean_of_nearest_mass(rows, w, &vec![0.0; d], *lambda),
        Plan::Monna { lambda, pivot } => {
            let Some(center) = rows.get(*pivot) else {
                return Err(Error::invalid(
                    "pivot",
                    pivot,
                    format!("monna needs a pivot row 0 <= pivot < n = {n}"),
                ));
            };
            mean_of_nearest_mass(rows, w, center, *lambda)
        }
        Plan::Mda { lambda } => subset_rules::mda(rows, w, *lambda)?,
        Plan::Smea { lambda } => subset_rules::smea(rows, w, *lambda)?,
        Plan::Caf { lambda } => subset_rules::caf(rows, w, *lambda)?,
        Plan::Krum { lambda, m } => krum(rows, w, *lambda, *m)?,
        Plan::Gm(p) => geometric_median(rows, w, p),
        Plan::Ctma { base, lambda } => {
            let center = aggregate_rows(base, rows, w, root)?;
            let r = center_dist(rows, &center);
            let target = (1.0 - lambda) * total;
            let mut out = vec![0.0; d];
            for (i, mass) in prefix_of_mass(&r, w, target, total, None, None) {
                for (o, x) in out.iter_mut().zip(&rows[i]) {
                    *o += mass * x;
                }
            }
            out.iter().map(|o| o / target).collect()
        }
        Plan::Nnm { base, lambda } => {
            let dist = pairwise_dist(rows);
            let target = (1.0 - lambda) * total;
            let mixed: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    let r = &dist[i * n..(i + 1) * n];
                    let mut out = vec![0.0; d];
                    // Row i itself first (even if non-finite), then its nearest others.
                    for (j, mass) in prefix_of_mass(r, w, target, total, Some(i), None) {
                        for (o, x) in out.iter_mut().zip(&rows[j]) {
                            *o += mass * x;
                        }
                    }
                    out.iter().map(|o| o / target).collect()
                })
                .collect();
            aggregate_rows(base, &mixed, w, root)?
        }
        Plan::Bucketing { base, s, seed } => {
            if *s == 0 {
                return Err(Error::invalid(
                    "s",
                    s,
                    format!("bucketing needs 1 <= s <= n = {n}"),
                ));
            }
            let order = bucket_permutation(n, *seed);
            let mut means = Vec::new();
            let mut masses = Vec::new();
            for members in order.chunks(*s) {
                let mass: f64 = members.iter().map(|&i| w[i]).sum();
                let mut mean = vec![0.0; d];
                if mass > 0.0 {
                    for &i in members.iter().filter(|&&i| w[i] > 0.0) {
                        for (o, x) in mean.iter_mut().zip(&rows[i]) {
                            *o += w[i] / mass * x;
                        }
                    }
                }
                means.push(mean);
                masses.push(mass);
            }
            aggregate_rows(base, &means, &masses, root)?
        }
        Plan::CenteredClipping {
            center,
            tau,
            iterations,
        } => {
            let mut v = match center {
                None => vec![0.0; d],
                Some(c) => aggregate_rows(c, rows, w, root)?,
            };
            for _ in 0..*iterations {
                let r = center_dist(rows, &v);
                let c: Vec<f64> = (0..n)
                    .map(|i| {
                        if w[i] == 0.0 || !r[i].is_finite() {
                            0.0
                        } else if r[i] == 0.0 {
                            w[i] / total
                        } else {
                            w[i] / total * (tau / r[i].sqrt()).min(1.0)
                        }
                    })
                    .collect();
                let keep = 1.0 - c.iter().sum::<f64>();
                let mut next = if keep == 0.0 {
                    vec![0.0; d]
                } else {
                    v.iter().map(|x| keep * x).collect()
                };
                for (i, &ci) in c.iter().enumerate() {
                    if ci != 0.0 {
                        for (o, x) in next.iter_mut().zip(&rows[i]) {
                            *o += ci * x;
                        }
                    }
                }
                v = next;
            }
            v
        }
        Plan::Clip { base, tau } => {
            let clipped: Vec<Vec<f64>> = rows.iter().map(|x| clipped_row(x, *tau)).collect();
            aggregate_rows(base, &clipped, w, root)?
        }
        Plan::Arc { base, lambda } => {
            let tau = arc_threshold(rows, w, *lambda);
            let clipped: Vec<Vec<f64>> = rows.iter().map(|x| clipped_row(x, tau)).collect();
            aggregate_rows(base, &clipped, w, root)?
        }
        Plan::FlTrust => {
            let Some(g) = root else {
                return Err(Error::invalid(
                    "root",
                    "not given",
                    "fltrust needs the server's root update: Batch::with_root",
                ));
            };
            fltrust(rows, w, g)
        }
    })
}

/// `x * min(1, tau / ||x||)` (SPEC 4.8, static clipping and ARC): unchanged when `||x|| <= tau`
/// (an infinite `tau` clips nothing, a non-finite row included); otherwise scaled, and a row
/// holding NaN or an infinity, whose norm is infinite, becomes the zero vector.
fn clipped_row(x: &[f64], tau: f64) -> Vec<f64> {
    let size = if is_finite_row(x) { norm(x) } else { f64::INFINITY };
    if size <= tau {
        x.to_vec()
    } else if size.is_finite() {
        x.iter().map(|v| v * (tau / size)).collect()
    } else {
        vec![0.0; x.len()]
    }
}

/// ARC's threshold (`Rule::Arc`): the rows of positive weight by norm, largest first; the
/// norm of the first row at which the mass so far exceeds `2 lambda (1 - lambda) W` by more
/// than `MASS_EPS * W`.
fn arc_threshold(rows: &[Vec<f64>], w: &[f64], lambda: f64) -> f64 {
    let total: f64 = w.iter().sum();
    let sizes: Vec<f64> = rows
        .iter()
        .map(|x| if is_finite_row(x) { norm(x) } else { f64::INFINITY })
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| sizes[b].total_cmp(&sizes[a]));
    let clipped_mass = 2.0 * lambda * (1.0 - lambda) * total;
    let mut mass = 0.0;
    for &i in &order {
        mass += w[i];
        if mass > clipped_mass + MASS_EPS * total {
            return sizes[i];
        }
    }
    // Unreachable for lambda < 1/2 (the clipped mass is at most W/2): clip nothing.
    f64::INFINITY
}

/// FLTrust (`Rule::FlTrust`) from its definition: cosines by exact dot products in f64,
/// `trust_i = max(0, cos)`, rows rescaled to `||g||`, the mean weighted by `w_i trust_i`;
/// the zero vector when every trust is 0.
fn fltrust(rows: &[Vec<f64>], w: &[f64], g: &[f64]) -> Vec<f64> {
    let g_norm = norm(g);
    let mut out = vec![0.0; g.len()];
    // (row, w_i trust_i, ||x_i||) for the rows of positive trust.
    let mut trusted = Vec::new();
    for (i, x) in rows.iter().enumerate() {
        let size = norm(x);
        if w[i] == 0.0 || !is_finite_row(x) || size == 0.0 || g_norm == 0.0 {
            continue;
        }
        let cos = exact_sum(x.iter().zip(g).map(|(a, b)| a * b)) / (size * g_norm);
        if cos > 0.0 {
            trusted.push((i, w[i] * cos, size));
        }
    }
    let total: f64 = trusted.iter().map(|t| t.1).sum();
    if total == 0.0 {
        return out;
    }
    for (i, mass, size) in trusted {
        let c = mass / total * g_norm / size;
        for (o, v) in out.iter_mut().zip(&rows[i]) {
            *o += c * v;
        }
    }
    out
}

/// Weighted (Multi-)Krum (SPEC 4.4).
fn krum(rows: &[Vec<f64>], w: &[f64], lambda: f64, m: Option<usize>) -> Result<Vec<f64>> {
    let n = rows.len();
    if let Some(m) = m
        && (m == 0 || m > n)
    {
        return Err(Error::invalid(
            "m",
            m,
            format!("multikrum needs 1 <= m <= n = {n}"),
        ));
    }
    let total: f64 = w.iter().sum();
    let dist = pairwise_dist(rows);
    let scores: Vec<f64> = (0..n)
        .map(|i| {
            if w[i] == 0.0 || !is_finite_row(&rows[i]) {
                return f64::INFINITY;
            }
            let target = (1.0 - lambda) * total - w[i] - total / n as f64;
            if target <= MASS_EPS * total {
                return 0.0;
            }
            let r = &dist[i * n..(i + 1) * n];
            // Exactly rounded: equal neighbour distances give equal scores in any order.
            exact_sum(
                prefix_of_mass(r, w, target, total, None, Some(i))
                    .into_iter()
                    .map(|(j, mass)| mass * r[j]),
            )
        })
        .collect();
    let mut ranked: Vec<usize> = (0..n).collect();
    ranked.sort_by(|&a, &b| {
        value_order(scores[a], scores[b])
            .then((w[a] == 0.0).cmp(&(w[b] == 0.0)))
            .then(a.cmp(&b))
    });
    if m == Some(1) {
        return Ok(rows[ranked[0]].clone());
    }
    // The rows averaged, with their masses: the first m, or a prefix of mass (1 - lambda) W
    // (the last row in part). Rows of infinite score never enter; if no candidate has a
    // finite score, the tolerance is exceeded and the candidates are averaged as they are.
    let pick = |finite_only: bool| -> Vec<(usize, f64)> {
        let candidates = ranked
            .iter()
            .copied()
            .filter(|&i| w[i] > 0.0 && (!finite_only || scores[i].is_finite()));
        match m {
            Some(m) => candidates
                .filter(|&i| ranked[..m].contains(&i))
                .map(|i| (i, w[i]))
                .collect(),
            None => {
                let mut left = (1.0 - lambda) * total;
                let mut taken = Vec::new();
                for i in candidates {
                    if left <= MASS_EPS * total {
                        break;
                    }
                    let mass = w[i].min(left);
                    taken.push((i, mass));
                    left -= mass;
                }
                taken
            }
        }
    };
    let mut best = pick(true);
    if best.is_empty() {
        best = pick(false);
    }
    let mass: f64 = best.iter().map(|&(_, m)| m).sum();
    let mut out = vec![0.0; rows[0].len()];
    for &(i, mi) in &best {
        for (o, x) in out.iter_mut().zip(&rows[i]) {
            *o += mi / mass * x;
        }
    }
    Ok(out)
}

/// CGE and MoNNA (SPEC 4.8): the rows of positive weight by (squared distance to `center`,
/// index), the weighted mean of the prefix of mass `(1 - lambda) W`.
fn mean_of_nearest_mass(rows: &[Vec<f64>], w: &[f64], center: &[f64], lambda: f64) -> Vec<f64> {
    let d = center.len();
    let total: f64 = w.iter().sum();
    let r = center_dist(rows, center);
    let target = (1.0 - lambda) * total;
    let mut out = vec![0.0; d];
    for (i, mass) in prefix_of_mass(&r, w, target, total, None, None) {
        for (o, x) in out.iter_mut().zip(&rows[i]) {
            *o += mass * x;
        }
    }
    out.iter().map(|o| o / target).collect()
}

/// Bulyan (SPEC 4.8, `Rule::Bulyan`): rounds of weighted Krum over the rows not yet chosen,
/// with the Byzantine mass fixed at lambda W, until mass `(1 - 2 lambda) W` is chosen; then
/// MeaMed over the chosen masses keeping `(1 - 4 lambda) W`.
fn bulyan(rows: &[Vec<f64>], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = rows.len();
    let total: f64 = w.iter().sum();
    let dist = pairwise_dist(rows);
    let mut chosen = vec![0.0; n];
    let mut open: Vec<bool> = w.iter().map(|&wi| wi > 0.0).collect();
    let mut need = (1.0 - 2.0 * lambda) * total;
    while need > MASS_EPS * total {
        let pool: Vec<f64> = (0..n).map(|j| if open[j] { w[j] } else { 0.0 }).collect();
        let pool_mass: f64 = pool.iter().sum();
        let size = open.iter().filter(|&&o| o).count();
        let score = |i: usize| -> f64 {
            if !is_finite_row(&rows[i]) {
                return f64::INFINITY;
            }
            // Never under one row's mean mass (Flower's one neighbour at least).
            let one_row = pool_mass / size as f64;
            let target = (pool_mass - lambda * total - w[i] - one_row).max(one_row);
            let r = &dist[i * n..(i + 1) * n];
            prefix_of_mass(r, &pool, target, total, None, Some(i))
                .into_iter()
                .map(|(j, mass)| mass * r[j])
                .sum()
        };
        let Some(best) = (0..n)
            .filter(|&i| open[i])
            .map(|i| (score(i), i))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, i)| i)
        else {
            break;
        };
        chosen[best] = w[best].min(need);
        need -= chosen[best];
        open[best] = false;
    }
    let chosen_mass: f64 = chosen.iter().sum();
    let keep = ((1.0 - 4.0 * lambda) * total / chosen_mass).min(1.0);
    order_stats(rows, &chosen, OrderStat::MeaMed { lambda: 1.0 - keep })
}

/// Smoothed Weiszfeld geometric median (SPEC 4.5).
fn geometric_median(rows: &[Vec<f64>], w: &[f64], p: &GmParams) -> Vec<f64> {
    let d = rows.first().map_or(0, Vec::len);
    let mut z = match p.init {
        GmInit::Zero => vec![0.0; d],
        GmInit::Median => order_stats(rows, w, OrderStat::Median),
        GmInit::Mean => weighted_mean(rows, w),
    };
    // With a tolerance, it and nu are fractions of the data's own scale (SPEC 4.5).
    let (tol, nu) = if p.tol > 0.0 {
        let r2: Vec<f64> = rows.iter().map(|x| squared_distance(&z, x)).collect();
        let scale = gm_scale(&r2, w);
        (p.tol * scale, p.nu * scale)
    } else {
        (0.0, p.nu)
    };
    for _ in 0..p.max_iter {
        let b: Vec<f64> = rows
            .iter()
            .zip(w)
            .map(|(x, &wi)| {
                let r = squared_distance(&z, x).sqrt();
                if wi > 0.0 && r.is_finite() {
                    wi / r.max(nu)
                } else {
                    0.0
                }
            })
            .collect();
        let sum: f64 = b.iter().sum();
        if sum == 0.0 {
            break;
        }
        let mut coeffs: Vec<f64> = b.iter().map(|bi| bi / sum).collect();
        // On data rows (within nu of z), with a tolerance: Vardi and Zhang's step (the plain
        // smoothed step would stay on them whether or not they are the median).
        if p.tol > 0.0 {
            let live = |i: usize| w[i] > 0.0 && squared_distance(&z, &rows[i]).is_finite();
            let dist = |i: usize| squared_distance(&z, &rows[i]).sqrt();
            let at: Vec<bool> = (0..rows.len()).map(|i| live(i) && dist(i) <= nu).collect();
            let eta: f64 = (0..rows.len()).filter(|&i| at[i]).map(|i| w[i]).sum();
            if eta > 0.0 {
                let others: Vec<usize> = (0..rows.len()).filter(|&i| live(i) && !at[i]).collect();
                if others.is_empty() {
                    break; // every row of positive weight is at z
                }
                // The resultant pull of the other rows: sum w_i (x_i - z) / ||x_i - z||.
                let mut pull = vec![0.0; d];
                for &i in &others {
                    let r = dist(i);
                    for (g, (x, zj)) in pull.iter_mut().zip(rows[i].iter().zip(&z)) {
                        *g += w[i] * (x - zj) / r;
                    }
                }
                let pull = norm(&pull);
                if pull <= eta {
                    break; // z is the geometric median
                }
                let a = eta / pull;
                let s: f64 = others.iter().map(|&i| w[i] / dist(i)).sum();
                coeffs = (0..rows.len())
                    .map(|i| {
                        if at[i] {
                            a * w[i] / eta
                        } else if live(i) {
                            (1.0 - a) * w[i] / dist(i) / s
                        } else {
                            0.0
                        }
                    })
                    .collect();
            }
        }
        let mut next = vec![0.0; d];
        for (x, &ci) in rows.iter().zip(&coeffs) {
            if ci != 0.0 {
                for (o, v) in next.iter_mut().zip(x) {
                    *o += ci * v;
                }
            }
        }
        let step = norm(&next.iter().zip(&z).map(|(a, b)| a - b).collect::<Vec<_>>());
        let converged = p.tol > 0.0 && step <= tol;
        z = next;
        if converged {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(v: &[&[f64]]) -> Vec<Vec<f64>> {
        v.iter().map(|r| r.to_vec()).collect()
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    /// Uniform numbers in [0, 1) for test data.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut rng = crate::rng::SplitMix64(seed);
        move || rng.unit()
    }

    const GOLDEN: [[f32; 3]; 3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];

    #[test]
    fn golden_median() {
        let batch = Batch::from_rows(&GOLDEN).unwrap();
        assert_eq!(aggregate(&Plan::Median, &batch).unwrap(), vec![4.0, 5.0, 6.0]);
    }

    #[test]
    fn golden_rfa_gm() {
        let batch = Batch::from_rows(&GOLDEN).unwrap();
        let out = aggregate(&Plan::Gm(GmParams::RFA), &batch).unwrap();
        let want = [3.78788764, 4.78788764, 5.78788764];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-7, "{out:?}");
        }
    }

    #[test]
    fn median_matches_numpy_for_even_n() {
        // np.median([3, 1, 4, 2]) = 2.5; np.median([1, 9, 2, 8, 7, 3]) = 5.0
        let rows = rows_of(&[&[3.0, 1.0], &[1.0, 9.0], &[4.0, 2.0], &[2.0, 8.0]]);
        assert_eq!(order_stats(&rows, &[1.0; 4], OrderStat::Median), vec![2.5, 5.0]);
        let rows = rows_of(&[&[1.0], &[9.0], &[2.0], &[8.0], &[7.0], &[3.0]]);
        assert_eq!(order_stats(&rows, &[1.0; 6], OrderStat::Median), vec![5.0]);
        // Infinities sort to the tails; the midpoint follows arithmetic.
        let rows = rows_of(&[&[f64::INFINITY, f64::NEG_INFINITY], &[f64::NEG_INFINITY, 2.0]]);
        let out = order_stats(&rows, &[1.0; 2], OrderStat::Median);
        assert!(out[0].is_nan());
        assert_eq!(out[1], f64::NEG_INFINITY);
    }

    #[test]
    fn median_and_weights() {
        // Weight 0 takes no part; a weight of half exactly gives the midpoint.
        let rows = rows_of(&[&[10.0], &[1.0], &[f64::NAN], &[3.0]]);
        assert_eq!(
            order_stats(&rows, &[2.0, 1.0, 0.0, 1.0], OrderStat::Median),
            vec![6.5]
        );
        assert_eq!(
            order_stats(&rows, &[2.5, 1.0, 0.0, 1.0], OrderStat::Median),
            vec![10.0]
        );
        // A negative NaN sorts to the top, like any NaN.
        let rows = rows_of(&[&[-f64::NAN], &[1.0], &[2.0]]);
        assert_eq!(order_stats(&rows, &[1.0; 3], OrderStat::Median), vec![2.0]);
    }

    #[test]
    fn trimmed_mean_drops_f_from_each_side() {
        let rows = rows_of(&[&[5.0], &[-100.0], &[1.0], &[f64::NAN], &[3.0]]);
        // lambda = 1/5: drop -100 and NaN, mean of 1, 3, 5.
        let out = order_stats(&rows, &[1.0; 5], OrderStat::TrimmedMean { lambda: 0.2 });
        assert_close(&out, &[3.0], 1e-12);
        // Fractional boundary: lambda = 0.3 keeps half of 1 and half of 5.
        let out = order_stats(&rows, &[1.0; 5], OrderStat::TrimmedMean { lambda: 0.3 });
        assert_close(&out, &[3.0], 1e-12);
        let rows = rows_of(&[&[0.0], &[1.0], &[2.0], &[10.0]]);
        let out = order_stats(&rows, &[1.0; 4], OrderStat::TrimmedMean { lambda: 0.3 });
        // keeps 0.8 of 1 and 0.8 of 2 => 1.5
        assert_close(&out, &[1.5], 1e-12);
    }

    /// Integer weights give the same median and trimmed mean as repeating each row that often.
    #[test]
    fn weights_are_multiplicities() {
        let mut rnd = uniform(7);
        for case in 0..200 {
            let n = 1 + case % 9;
            let d = 3;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..d).map(|_| (rnd() * 10.0).floor() - 5.0).collect())
                .collect();
            let mut weights: Vec<f64> = (0..n).map(|_| (rnd() * 4.0).floor()).collect();
            if weights.iter().all(|w| *w == 0.0) {
                weights[0] = 1.0;
            }
            let mut repeated = Vec::new();
            for (r, w) in rows.iter().zip(&weights) {
                for _ in 0..*w as usize {
                    repeated.push(r.clone());
                }
            }
            let ones = vec![1.0; repeated.len()];
            assert_eq!(
                order_stats(&rows, &weights, OrderStat::Median),
                order_stats(&repeated, &ones, OrderStat::Median),
                "{rows:?} {weights:?}"
            );
            for lambda in [0.0, 0.1, 0.25, 0.4, 0.49] {
                let stat = OrderStat::TrimmedMean { lambda };
                assert_close(
                    &order_stats(&rows, &weights, stat),
                    &order_stats(&repeated, &ones, stat),
                    1e-12,
                );
            }
            // Only ratios matter.
            let scaled: Vec<f64> = weights.iter().map(|w| w * 0.37).collect();
            let stat = OrderStat::TrimmedMean { lambda: 0.2 };
            assert_close(
                &order_stats(&rows, &scaled, stat),
                &order_stats(&rows, &weights, stat),
                1e-9,
            );
        }
    }

    #[test]
    fn distances_and_mix() {
        let rows = rows_of(&[&[0.0, 0.0], &[3.0, 4.0], &[f64::NAN, 0.0]]);
        let inf = f64::INFINITY;
        assert_eq!(
            pairwise_dist(&rows),
            vec![0.0, 25.0, inf, 25.0, 0.0, inf, inf, inf, inf]
        );
        assert_eq!(center_dist(&rows, &[0.0, 1.0]), vec![1.0, 18.0, inf]);
        assert!(center_dist(&rows, &[0.0, inf]).iter().all(|r| *r == inf));
        // Zero coefficients skip the NaN row.
        assert_eq!(
            mix(&rows, &[0.5, 0.5, 0.0, 0.0, 2.0, 0.0], 2),
            vec![1.5, 2.0, 6.0, 8.0]
        );
        assert!(mix(&rows, &[0.0, 0.0, 1.0], 1)[0].is_nan());
    }

    /// Blanchard's Krum, written literally for uniform weights.
    fn blanchard(rows: &[Vec<f64>], f: usize) -> usize {
        let n = rows.len();
        let dist = pairwise_dist(rows);
        let score = |i: usize| {
            let mut r: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| dist[i * n + j]).collect();
            r.sort_by(f64::total_cmp);
            r[..n - f - 2].iter().sum::<f64>()
        };
        (0..n)
            .min_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)))
            .unwrap()
    }

    #[test]
    fn exact_sums_do_not_depend_on_order() {
        let terms = [1e16, 1.0, -1e16, 3.0, 1e-3, 2.5e-17, 7e15, -7e15];
        let mut rnd = uniform(17);
        let want = exact_sum(terms);
        assert_eq!(want, 4.001);
        for _ in 0..50 {
            let mut t = terms.to_vec();
            for i in (1..t.len()).rev() {
                t.swap(i, (rnd() * (i + 1) as f64) as usize);
            }
            assert_eq!(exact_sum(t), want);
        }
        assert_eq!(exact_sum([]), 0.0);
        // Ten equal squares, summed in any grouping, are ten times one square.
        let q = (2.0 * f64::from(3e9f32)).powi(2);
        assert_eq!(exact_sum([q; 10]), 10.0 * q);
    }

    #[test]
    fn krum_matches_blanchard_with_uniform_weights() {
        let mut rnd = uniform(11);
        for case in 0..100 {
            let n = 3 + case % 8;
            let f = (n - 3) / 2;
            let rows: Vec<Vec<f64>> = (0..n).map(|_| (0..4).map(|_| rnd() * 10.0).collect()).collect();
            let plan = Plan::Krum {
                lambda: f as f64 / n as f64,
                m: Some(1),
            };
            let out = aggregate_rows(&plan, &rows, &vec![1.0; n], None).unwrap();
            assert_eq!(out, rows[blanchard(&rows, f)]);
        }
    }

    /// Nine rows, two of them all NaN (one with the sign bit set): no robust rule is poisoned.
    #[test]
    fn non_finite_rows_do_not_poison() {
        let mut rnd = uniform(3);
        let mut rows: Vec<Vec<f32>> = (0..9).map(|_| (0..5).map(|_| rnd() as f32).collect()).collect();
        rows[1] = vec![f32::NAN; 5];
        rows[6] = vec![-f32::NAN; 5];
        let batch = Batch::from_rows(&rows).unwrap();
        let lambda = 2.0 / 9.0;
        let plans = [
            Plan::Median,
            Plan::TrimmedMean { lambda },
            Plan::Krum { lambda, m: Some(1) },
            Plan::Krum { lambda, m: Some(7) },
            Plan::Krum { lambda, m: None },
            Plan::Gm(GmParams::DEFAULT),
            Plan::Gm(GmParams::RFA),
            Plan::Ctma {
                base: Box::new(Plan::Median),
                lambda,
            },
            Plan::Nnm {
                base: Box::new(Plan::Median),
                lambda,
            },
            Plan::Ctma {
                base: Box::new(Plan::Nnm {
                    base: Box::new(Plan::TrimmedMean { lambda }),
                    lambda,
                }),
                lambda,
            },
            Plan::CenteredClipping {
                center: Some(Box::new(Plan::Median)),
                tau: 0.1,
                iterations: 3,
            },
        ];
        for plan in &plans {
            let out = aggregate(plan, &batch).unwrap();
            assert!(out.iter().all(|v| v.is_finite()), "{plan:?} gave {out:?}");
        }
        // CTMA over the median drops exactly the two NaN rows: the mean of the others.
        let finite: Vec<f32> = (0..5)
            .map(|j| {
                let s: f64 = rows
                    .iter()
                    .filter(|r| r[0].is_finite())
                    .map(|r| f64::from(r[j]))
                    .sum();
                (s / 7.0) as f32
            })
            .collect();
        let ctma = aggregate(
            &Plan::Ctma {
                base: Box::new(Plan::Median),
                lambda,
            },
            &batch,
        )
        .unwrap();
        assert_close(
            &ctma,
            &finite.iter().map(|v| f64::from(*v)).collect::<Vec<_>>(),
            1e-6,
        );
        // The mean is not robust.
        assert!(aggregate(&Plan::Mean, &batch).unwrap().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn bucketing_and_weight_zero_rows() {
        let rows: Vec<[f32; 2]> = vec![[1.0, 2.0], [f32::NAN, 0.0], [3.0, 4.0], [5.0, 6.0]];
        let batch = Batch::from_rows(&rows)
            .unwrap()
            .with_weights(&[1.0, 0.0, 1.0, 2.0])
            .unwrap();
        // The weight-0 NaN row takes no part in anything.
        assert_close(&aggregate(&Plan::Mean, &batch).unwrap(), &[3.5, 4.5], 1e-12);
        let plan = Plan::Bucketing {
            base: Box::new(Plan::Mean),
            s: 2,
            seed: 42,
        };
        assert_close(&aggregate(&plan, &batch).unwrap(), &[3.5, 4.5], 1e-12);
        let plan = Plan::Bucketing {
            base: Box::new(Plan::Mean),
            s: 1,
            seed: 5,
        };
        assert_close(&aggregate(&plan, &batch).unwrap(), &[3.5, 4.5], 1e-12);
        // Hand-built invalid plans are errors, not panics.
        assert!(
            aggregate(
                &Plan::Krum {
                    lambda: 0.0,
                    m: Some(5)
                },
                &batch
            )
            .is_err()
        );
        assert!(
            aggregate(
                &Plan::Bucketing {
                    base: Box::new(Plan::Mean),
                    s: 0,
                    seed: 0
                },
                &batch
            )
            .is_err()
        );
    }

    #[test]
    fn gm_default_satisfies_optimality() {
        let mut rnd = uniform(5);
        let rows: Vec<Vec<f64>> = (0..7).map(|_| (0..3).map(|_| rnd() * 4.0).collect()).collect();
        let w: Vec<f64> = (0..7).map(|_| 0.5 + rnd()).collect();
        let z = aggregate_rows(&Plan::Gm(GmParams::DEFAULT), &rows, &w, None).unwrap();
        let mut g = [0.0; 3];
        for (x, wi) in rows.iter().zip(&w) {
            let r = squared_distance(x, &z).sqrt();
            for j in 0..3 {
                g[j] += wi * (x[j] - z[j]) / r;
            }
        }
        assert!(norm(&g) < 1e-4 * w.iter().sum::<f64>(), "{g:?}");
    }

    #[test]
    fn centered_clipping_moves_at_most_tau_per_step() {
        let rows = rows_of(&[&[10.0, 0.0], &[10.0, 0.0]]);
        let plan = Plan::CenteredClipping {
            center: None,
            tau: 1.0,
            iterations: 3,
        };
        assert_close(
            &aggregate_rows(&plan, &rows, &[1.0, 1.0], None).unwrap(),
            &[3.0, 0.0],
            1e-12,
        );
        // A large tau reaches the mean in one step.
        let plan = Plan::CenteredClipping {
            center: None,
            tau: 100.0,
            iterations: 1,
        };
        assert_close(
            &aggregate_rows(&plan, &rows, &[1.0, 3.0], None).unwrap(),
            &[10.0, 0.0],
            1e-12,
        );
    }

    /// CTMA and NNM treat integer weights as multiplicities; weighted Krum is scale invariant.
    #[test]
    fn meta_rules_and_weights() {
        let mut rnd = uniform(13);
        for case in 0..50 {
            let n = 3 + case % 6;
            let rows: Vec<Vec<f64>> = (0..n).map(|_| (0..3).map(|_| rnd() * 8.0).collect()).collect();
            let weights: Vec<f64> = (0..n).map(|_| 1.0 + (rnd() * 3.0).floor()).collect();
            let mut repeated = Vec::new();
            for (r, w) in rows.iter().zip(&weights) {
                for _ in 0..*w as usize {
                    repeated.push(r.clone());
                }
            }
            let ones = vec![1.0; repeated.len()];
            for plan in [
                Plan::Ctma {
                    base: Box::new(Plan::Median),
                    lambda: 0.3,
                },
                Plan::Ctma {
                    base: Box::new(Plan::TrimmedMean { lambda: 0.2 }),
                    lambda: 0.1,
                },
                Plan::Nnm {
                    base: Box::new(Plan::Median),
                    lambda: 0.25,
                },
                Plan::Clip {
                    base: Box::new(Plan::Median),
                    tau: 1.0,
                },
                Plan::Arc {
                    base: Box::new(Plan::TrimmedMean { lambda: 0.2 }),
                    lambda: 0.2,
                },
                Plan::FlTrust,
            ] {
                // A root near the rows' mean, leaning on the first coordinate.
                let mut root = rows[0].clone();
                root[0] += 0.5;
                let a = aggregate_rows(&plan, &rows, &weights, Some(&root)).unwrap();
                let b = aggregate_rows(&plan, &repeated, &ones, Some(&root)).unwrap();
                assert_close(&a, &b, 1e-9);
            }
            let plan = Plan::Krum {
                lambda: 0.2,
                m: Some(1),
            };
            let scaled: Vec<f64> = weights.iter().map(|w| w * 1e-3).collect();
            assert_eq!(
                aggregate_rows(&plan, &rows, &weights, None).unwrap(),
                aggregate_rows(&plan, &rows, &scaled, None).unwrap()
            );
        }
    }
}
