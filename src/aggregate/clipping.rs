//! Clipping (SPEC 4.7): centered clipping, and static clipping or ARC before a base rule.

use super::mass::mean_coeffs;
use super::{Context, Report, Step, run};
use crate::contract::MASS_EPS;
use crate::error::Result;
use crate::kernels::Kernels;
use crate::rule::Plan;

/// Centered clipping (SPEC 4.7): from zero or another rule's output, `iterations` steps
/// `v <- v + sum_i w_i/W clip_tau(x_i - v)`.
pub(super) fn centered_clipping<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    center: Option<&Plan>,
    (tau, iterations): (f64, usize),
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, d, w, .. } = *cx;
    let total: f64 = w.iter().sum();
    let mut v = match center {
        None => k.zeros(1, d)?,
        Some(c) => run(cx, c, report)?,
    };
    for _ in 0..iterations {
        // v <- v + sum_i w_i/W clip(x_i - v) = (1 - sum c_i) v + sum c_i x_i
        let r = k.center_dist(rows, &v)?;
        let coeffs: Vec<f64> = r
            .iter()
            .zip(w)
            .map(|(r2, wi)| {
                if *wi > 0.0 && r2.is_finite() {
                    wi / total * (tau / r2.sqrt()).min(1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let keep = 1.0 - coeffs.iter().sum::<f64>();
        v = k.mix(rows, &coeffs, 1, Some((&v, keep)))?;
    }
    Ok(v)
}

/// Where a clipping pre-aggregator puts its radius.
#[derive(Clone, Copy)]
pub(super) enum Threshold {
    /// Static clipping: the given radius.
    Fixed(f64),
    /// ARC with this Byzantine share: the norm at which the mass `2 lambda (1 - lambda) W`
    /// of largest norm ends.
    Arc(f64),
}

/// Static clipping and ARC ([`Rule::Clip`], [`Rule::Arc`]): one pass of norms, each row scaled
/// by `min(1, tau / ||x_i||)` (by 0 for a non-finite row, of infinite norm), then the base
/// with the same weights. Over the mean the two steps are one mix (the factors times the
/// mean's coefficients); over any other base the clipped rows are made (an `n x n` diagonal
/// mix) and the base runs on them.
pub(super) fn clip<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    base: &Plan,
    threshold: Threshold,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, d, w, .. } = *cx;
    let n = w.len();
    let norms: Vec<f64> = k
        .center_dist(rows, &k.zeros(1, d)?)?
        .into_iter()
        .map(f64::sqrt)
        .collect();
    let tau = match threshold {
        Threshold::Fixed(tau) => tau,
        Threshold::Arc(lambda) => arc_threshold(&norms, w, lambda),
    };
    let factors: Vec<f64> = norms
        .iter()
        .map(|&size| {
            if size <= tau {
                1.0
            } else if size.is_finite() {
                tau / size
            } else {
                0.0
            }
        })
        .collect();
    report.steps.push(Step::Clip {
        threshold: tau,
        clipped: (0..n).filter(|&i| factors[i] < 1.0).collect(),
    });
    if *base == Plan::Mean {
        let mean = mean_coeffs(w);
        let coeffs: Vec<f64> = factors.iter().zip(mean).map(|(c, m)| c * m).collect();
        return k.mix(rows, &coeffs, 1, None);
    }
    let mut diagonal = vec![0.0; n * n];
    for (i, c) in factors.iter().enumerate() {
        diagonal[i * n + i] = *c;
    }
    let clipped = k.mix(rows, &diagonal, n, None)?;
    run(&cx.on(&clipped, w), base, report)
}

/// ARC's radius ([`Rule::Arc`]): the rows of positive weight by norm, largest first; the norm
/// of the first row at which the mass taken exceeds `2 lambda (1 - lambda) W` (by more than
/// `MASS_EPS * W`, so that rounding in that product never moves the boundary by a row).
fn arc_threshold(norms: &[f64], w: &[f64], lambda: f64) -> f64 {
    let total: f64 = w.iter().sum();
    let mut order: Vec<usize> = (0..norms.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]));
    let limit = 2.0 * lambda * (1.0 - lambda) * total + MASS_EPS * total;
    let mut mass = 0.0;
    order
        .into_iter()
        .find(|&i| {
            mass += w[i];
            mass > limit
        })
        .map_or(f64::INFINITY, |i| norms[i])
}
