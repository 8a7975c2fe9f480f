//! Krum, Multi-Krum (SPEC 4.4) and Bulyan: weighted Krum scores over the pairwise distances,
//! host-side, then one mix or one MeaMed.

use super::exact_ties::{dist_error, exact_pair_dist_once, prefix_boundary, uncertain_run};
use super::mass::prefix_by_distance;
use super::{Context, Report, Step};
use crate::contract::MASS_EPS;
use crate::error::Result;
use crate::kernels::{Kernels, OrderStat};
use crate::reference::exact_sum;

/// Krum and Multi-Krum (SPEC 4.4): the best row alone for `m = Some(1)`, else the weighted
/// mean of the `m` rows of lowest score, or (`m = None`) of the rows of lowest score up to a
/// mass of `(1 - lambda) W`, the last one in part. Rows of score `+inf` (a non-finite value,
/// or neighbours that reach one) are left out; only when every candidate has one are they
/// averaged as they are (the tolerance is exceeded, and the report says so).
pub(super) fn krum<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    lambda: f64,
    m: Option<usize>,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let n = w.len();
    let mut dist = k.pairwise_dist(rows)?;
    let mut scores = krum_scores(&dist, w, lambda);
    let rank = |scores: &[f64]| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            scores[a]
                .total_cmp(&scores[b])
                .then((w[a] == 0.0).cmp(&(w[b] == 0.0)))
                .then(a.cmp(&b))
        });
        order
    };
    let mut order = rank(&scores);
    if let Some(rel) = dist_error(k, rows) {
        // The last row selected: the boundary whose place must be exact.
        let (last, partial) = match m {
            Some(m) => (m - 1, false),
            None => {
                let total: f64 = w.iter().sum();
                let finite: Vec<f64> = (0..n)
                    .map(|i| if scores[i].is_finite() { w[i] } else { 0.0 })
                    .collect();
                let taken = prefix_by_distance(&scores, &finite, (1.0 - lambda) * total, total);
                prefix_boundary(&taken, w)
            }
        };
        // A score is a sum of masses times distances, each within `rel`; exactly rounded.
        // First refined distances (cheap, and enough unless the scores really tie), then
        // exact ones for the rows whose scores the refined ones cannot order either. A
        // refined bound of 0 says the refined distances are the exact ones already (wgpu):
        // no second pass, so a real tie costs one recomputation per distance.
        let refined = k.refined_dist_error(k.shape(rows).1).unwrap_or(0.0);
        for (exact, rel) in [(false, rel), (true, refined)] {
            let run = uncertain_run(&scores, &order, last, partial, rel + 2f64.powi(-50));
            if run.is_empty() {
                break;
            }
            exact_rows(k, rows, &mut dist, &run, exact)?;
            scores = krum_scores(&dist, w, lambda);
            order = rank(&scores);
            if refined == 0.0 {
                break;
            }
        }
    }
    let mut coeffs = vec![0.0; n];
    let selected: Vec<usize> = if m == Some(1) {
        coeffs[order[0]] = 1.0;
        vec![order[0]]
    } else {
        let total: f64 = w.iter().sum();
        let pick = |finite_only: bool| -> Vec<(usize, f64)> {
            // The candidates in score order, as weights for a prefix (0: left out).
            let usable = |i: usize| w[i] > 0.0 && (!finite_only || scores[i].is_finite());
            let mut mass = vec![0.0; n];
            match m {
                Some(m) => order[..m]
                    .iter()
                    .filter(|&&i| usable(i))
                    .map(|&i| (i, w[i]))
                    .collect(),
                None => {
                    for i in (0..n).filter(|&i| usable(i)) {
                        mass[i] = w[i];
                    }
                    // Ordered by (score, index), as `order` ranks rows of positive weight.
                    prefix_by_distance(&scores, &mass, (1.0 - lambda) * total, total)
                }
            }
        };
        let mut taken = pick(true);
        if taken.is_empty() {
            taken = pick(false);
        }
        let mass: f64 = taken.iter().map(|&(_, mi)| mi).sum();
        for &(i, mi) in &taken {
            coeffs[i] = mi / mass;
        }
        taken.into_iter().map(|(i, _)| i).collect()
    };
    report.steps.push(Step::Krum { scores, selected });
    k.mix(rows, &coeffs, 1, None)
}

/// Weighted Krum scores (SPEC 4.4): the neighbours of i are the other rows of positive
/// weight by (distance, index), up to a mass of `(1 - lambda) W - w_i - W/n`; the score is
/// the sum of their masses times their squared distances. Rows of weight 0 and rows with a
/// non-finite value (infinite diagonal) score `+inf`.
fn krum_scores(dist: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    (0..n)
        .map(|i| {
            if w[i] == 0.0 || dist[i * n + i] != 0.0 {
                return f64::INFINITY;
            }
            let target = (1.0 - lambda) * total - w[i] - total / n as f64;
            let mut r: Vec<f64> = dist[i * n..(i + 1) * n].to_vec();
            r[i] = f64::INFINITY;
            let mut wo = w.to_vec();
            wo[i] = 0.0;
            // Exactly rounded: equal neighbour distances give equal scores in any order.
            exact_sum(
                prefix_by_distance(&r, &wo, target, total)
                    .into_iter()
                    .map(|(j, mass)| mass * r[j]),
            )
        })
        .collect()
}

/// Replaces the distances of the rows `run` to every other row (the rows of `dist` that
/// their Krum scores sum) by the backend's exact (or refined) ones. The other rows' entries
/// stay as they are, so their scores do not move. Entries that are exact already (`0`: equal
/// rows; `+inf`) are not recomputed, nor equal rows' twice ([`exact_pair_dist_once`]).
fn exact_rows<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    dist: &mut [f64],
    run: &[usize],
    exact: bool,
) -> Result<()> {
    let n = (dist.len() as f64).sqrt() as usize;
    let mut pairs: Vec<(usize, usize)> = run
        .iter()
        .flat_map(|&i| (0..n).map(move |j| (i.min(j), i.max(j))))
        .filter(|&(i, j)| i != j && dist[i * n + j] != 0.0 && dist[i * n + j].is_finite())
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let values = exact_pair_dist_once(k, rows, dist, &pairs, exact)?;
    for (&(i, j), v) in pairs.iter().zip(values) {
        if run.contains(&i) {
            dist[i * n + j] = v;
        }
        if run.contains(&j) {
            dist[j * n + i] = v;
        }
    }
    Ok(())
}

/// Bulyan ([`Rule::Bulyan`]): iterated weighted Krum selects mass `(1 - 2 lambda) W`, then
/// MeaMed over the selection keeps mass `(1 - 4 lambda) W`. One pass of pairwise distances;
/// the rounds of Krum are host-side over the n x n matrix.
pub(super) fn bulyan<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let n = w.len();
    let total: f64 = w.iter().sum();
    let dist = k.pairwise_dist(rows)?;
    let byzantine = lambda * total;
    let eps = MASS_EPS * total;
    // The pool: the weights of the rows not yet selected (0 once selected).
    let mut pool = w.to_vec();
    let mut masses = vec![0.0; n];
    let mut left = (1.0 - 2.0 * lambda) * total;
    let mut selected = Vec::new();
    let mut first_scores = None;
    while left > eps {
        let scores = pool_krum_scores(&dist, &pool, byzantine, total);
        let Some(best) = (0..n)
            .filter(|&i| pool[i] > 0.0)
            .min_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)))
        else {
            break;
        };
        masses[best] = pool[best].min(left);
        left -= masses[best];
        pool[best] = 0.0;
        selected.push(best);
        first_scores.get_or_insert(scores);
    }
    report.steps.push(Step::Krum {
        scores: first_scores.unwrap_or_else(|| vec![f64::INFINITY; n]),
        selected,
    });
    let chosen: f64 = masses.iter().sum();
    let keep = ((1.0 - 4.0 * lambda) * total / chosen).min(1.0);
    k.order_stats(rows, &masses, OrderStat::MeaMed { lambda: 1.0 - keep })
}

/// Weighted Krum scores over a pool of rows (`pool`: the weight of each row still in it, 0
/// for the others) with the Byzantine mass fixed at `byzantine`: the neighbours of i are the
/// other rows of the pool by (distance, index) up to mass `W_R - byzantine - w_i - W_R / |R|`,
/// and at least `W_R / |R|`.
/// Rows outside the pool, and rows with a non-finite value, score `+inf`. `total` (W) sets the
/// prefix's `MASS_EPS` as everywhere else.
fn pool_krum_scores(dist: &[f64], pool: &[f64], byzantine: f64, total: f64) -> Vec<f64> {
    let n = pool.len();
    let mass: f64 = pool.iter().sum();
    let size = pool.iter().filter(|&&p| p > 0.0).count();
    (0..n)
        .map(|i| {
            if pool[i] == 0.0 || dist[i * n + i] != 0.0 {
                return f64::INFINITY;
            }
            // At least one row's mean mass W_R / |R|: with uniform weights the neighbour count
            // is max(1, |R| - f - 2), as Flower's Bulyan, so the last rounds (3 candidates for
            // f = 1) still rank the rows by their data instead of tying at score 0.
            let one_row = mass / size as f64;
            let target = (mass - byzantine - pool[i] - one_row).max(one_row);
            let mut r: Vec<f64> = dist[i * n..(i + 1) * n].to_vec();
            r[i] = f64::INFINITY;
            let mut others = pool.to_vec();
            others[i] = 0.0;
            prefix_by_distance(&r, &others, target, total)
                .into_iter()
                .map(|(j, m)| m * r[j])
                .sum()
        })
        .collect()
}
