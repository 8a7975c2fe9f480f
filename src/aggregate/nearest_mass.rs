//! The rules that average the `(1 - lambda) W` mass nearest a center: CTMA (SPEC 4.6) around
//! a base rule's output, CGE around the origin, MoNNA around a pivot row.

use super::exact_ties::{dist_error, mass_order, prefix_boundary, uncertain_run};
use super::mass::prefix_by_distance;
use super::{Context, Report, Step, run};
use crate::error::Result;
use crate::kernels::Kernels;
use crate::rule::Plan;

/// CTMA (SPEC 4.6): the mean of the `(1 - lambda) W` mass nearest the base rule's output.
pub(super) fn ctma<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    base: &Plan,
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let n = w.len();
    let total: f64 = w.iter().sum();
    // A plain order statistic and the distances to it come from one pass over the rows.
    let (center, mut r) = match base.order_stat() {
        Some(stat) => k.order_stats_with_dist(rows, w, stat)?,
        None => {
            let center = run(cx, base, report)?;
            let r = k.center_dist(rows, &center)?;
            (center, r)
        }
    };
    let target = (1.0 - lambda) * total;
    let taken = nearest_prefix(cx, &center, &mut r, target)?;
    let mut coeffs = vec![0.0; n];
    for &(i, mass) in &taken {
        coeffs[i] = mass / target;
    }
    let kept: Vec<usize> = taken.iter().map(|&(i, _)| i).collect();
    let rejected = (0..n).filter(|i| coeffs[*i] == 0.0).collect();
    report.steps.push(Step::Ctma { kept, rejected });
    k.mix(rows, &coeffs, 1, None)
}

/// The weighted mean of the mass `(1 - lambda) W` nearest to `center`, given the rows'
/// squared distances `r` to it (by squared distance, then index; non-finite rows last; near
/// ties at the boundary recomputed exactly, as CTMA's): CGE with the origin as center, MoNNA
/// with the pivot.
pub(super) fn nearest_mass_mean<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    center: &K::Rows<'_>,
    mut r: Vec<f64>,
    lambda: f64,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, w, .. } = *cx;
    let total: f64 = w.iter().sum();
    let target = (1.0 - lambda) * total;
    let mut coeffs = vec![0.0; w.len()];
    for (i, mass) in nearest_prefix(cx, center, &mut r, target)? {
        coeffs[i] = mass / target;
    }
    k.mix(rows, &coeffs, 1, None)
}

/// The mass `target` nearest to `center` (`r`: the rows' fast squared distances to it), by
/// squared distance, then index, with the exact distances (written into `r`) of the rows
/// around the last one kept whose order the fast distances cannot settle, where the backend
/// has them (`exact_ties.rs`; a fast 0 is exact already).
fn nearest_prefix<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    center: &K::Rows<'_>,
    r: &mut [f64],
    target: f64,
) -> Result<Vec<(usize, f64)>> {
    let Context { k, rows, w, .. } = *cx;
    let total: f64 = w.iter().sum();
    let mut taken = prefix_by_distance(r, w, target, total);
    if let Some(rel) = dist_error(k, rows) {
        let (last, partial) = prefix_boundary(&taken, w);
        let near: Vec<usize> = uncertain_run(r, &mass_order(r, w), last, partial, rel)
            .into_iter()
            .filter(|&i| r[i] != 0.0)
            .collect();
        if !near.is_empty() {
            for (i, v) in near.iter().zip(k.exact_center_dist(rows, center, &near, true)?) {
                r[*i] = v;
            }
            taken = prefix_by_distance(r, w, target, total);
        }
    }
    Ok(taken)
}
