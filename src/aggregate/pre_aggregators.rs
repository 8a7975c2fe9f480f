//! The pre-aggregators that mix the rows before a base rule (SPEC 4.7): NNM and bucketing.
//! Over a base that is one order statistic, the mix and the base run as one
//! [`Kernels::mix_order_stats`].

use super::exact_ties::{dist_error, exact_pair_dist_once, mass_order, prefix_boundary, uncertain_run};
use super::mass::prefix_by_distance;
use super::{Context, Report, run};
use crate::error::Result;
use crate::kernels::Kernels;
use crate::rule::{Plan, bucket_permutation};

/// NNM (SPEC 4.7): each row replaced by the mean of its `(1 - lambda) W` nearest mass
/// (itself first), then the base rule on the mixed rows.
pub(super) fn nnm<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    base: &Plan,
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let n = w.len();
    let total: f64 = w.iter().sum();
    let dist = k.pairwise_dist(rows)?;
    let target = (1.0 - lambda) * total;
    // Per row: itself first (distance 0, even for a non-finite row), then the others.
    let mut near: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut r = dist[i * n..(i + 1) * n].to_vec();
            r[i] = f64::NEG_INFINITY;
            r
        })
        .collect();
    if let Some(rel) = dist_error(k, rows) {
        exact_neighbour_boundaries(k, rows, &dist, &mut near, w, target, rel)?;
    }
    let mut coeffs = vec![0.0; n * n];
    for (i, r) in near.iter().enumerate() {
        for (j, mass) in prefix_by_distance(r, w, target, total) {
            coeffs[i * n + j] = mass / target;
        }
    }
    if let Some(stat) = base.order_stat() {
        return k.mix_order_stats(rows, &coeffs, n, w, stat);
    }
    let mixed = k.mix(rows, &coeffs, n, None)?;
    run(&cx.on(&mixed, w), base, report)
}

/// Replaces by the backend's exact distances, in each row's distances `near` (a row's own
/// entry `-inf`), the run of values around its last neighbour that the fast values cannot
/// order ([`uncertain_run`]): then each row's neighbours are those of exact arithmetic. All
/// rows' runs are recomputed in one call, equal rows' once ([`exact_pair_dist_once`], by the
/// fast distances `dist`).
fn exact_neighbour_boundaries<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    dist: &[f64],
    near: &mut [Vec<f64>],
    w: &[f64],
    target: f64,
    rel: f64,
) -> Result<()> {
    let total: f64 = w.iter().sum();
    let mut wanted: Vec<(usize, usize)> = Vec::new();
    for (i, r) in near.iter().enumerate() {
        let (last, partial) = prefix_boundary(&prefix_by_distance(r, w, target, total), w);
        let run = uncertain_run(r, &mass_order(r, w), last, partial, rel);
        // A fast 0 is exact (equal rows), as is +inf.
        wanted.extend(run.into_iter().filter(|&j| r[j] != 0.0).map(|j| (i, j)));
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut pairs: Vec<(usize, usize)> = wanted.iter().map(|&(i, j)| (i.min(j), i.max(j))).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let exact = exact_pair_dist_once(k, rows, dist, &pairs, true)?;
    for (i, j) in wanted {
        let at = pairs.binary_search(&(i.min(j), i.max(j))).expect("a wanted pair");
        near[i][j] = exact[at];
    }
    Ok(())
}

/// Bucketing (SPEC 4.7): a seeded shuffle into buckets of `s` rows, their weighted means
/// (weighted by the buckets' masses), then the base rule.
pub(super) fn bucketing<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    base: &Plan,
    (s, seed): (usize, u64),
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let n = w.len();
    let order = bucket_permutation(n, seed);
    let buckets: Vec<&[usize]> = order.chunks(s).collect();
    let nb = buckets.len();
    let mut coeffs = vec![0.0; nb * n];
    let mut masses = vec![0.0; nb];
    for (b, members) in buckets.iter().enumerate() {
        masses[b] = members.iter().map(|&i| w[i]).sum();
        if masses[b] > 0.0 {
            for &i in members.iter() {
                coeffs[b * n + i] = w[i] / masses[b];
            }
        }
    }
    if let Some(stat) = base.order_stat() {
        return k.mix_order_stats(rows, &coeffs, nb, &masses, stat);
    }
    let means = k.mix(rows, &coeffs, nb, None)?;
    run(&cx.on(&means, &masses), base, report)
}
