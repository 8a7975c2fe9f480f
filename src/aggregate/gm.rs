//! The smoothed Weiszfeld geometric median (SPEC 4.5), with Vardi and Zhang's step on data
//! rows.

use super::mass::mean_coeffs;
use super::{Context, Report, Step};
use crate::error::Result;
use crate::gm_scale::gm_scale;
use crate::kernels::{Kernels, OrderStat};
use crate::rule::{GmInit, GmParams};

/// The smoothed Weiszfeld geometric median (SPEC 4.5).
pub(super) fn geometric_median<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    p: &GmParams,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, d, w, .. } = *cx;
    // The rows' squared distances to `z`, when the step that made `z` gave them too: the start
    // (a median or mean) always, the iterates on a backend that fuses them (then each iteration
    // reads the rows once, `Kernels::mix_with_dist`, not twice).
    let (mut z, mut dist) = match p.init {
        GmInit::Zero => (k.zeros(1, d)?, None),
        GmInit::Median if p.max_iter > 0 => {
            let (z, r) = k.order_stats_with_dist(rows, w, OrderStat::Median)?;
            (z, Some(r))
        }
        GmInit::Median => (k.order_stats(rows, w, OrderStat::Median)?, None),
        GmInit::Mean if p.max_iter > 0 => {
            let (z, r) = k.mix_with_dist(rows, &mean_coeffs(w))?;
            (z, Some(r))
        }
        GmInit::Mean => (k.mix(rows, &mean_coeffs(w), 1, None)?, None),
    };
    // With a tolerance, it and nu are fractions of the data's own scale (SPEC 4.5); 0 means
    // every live row is at the start, which the data-point step below then finds optimal.
    let (tol, nu) = if p.tol > 0.0 && p.max_iter > 0 {
        let r = match dist.take() {
            Some(r) => r,
            None => k.center_dist(rows, &z)?,
        };
        let scale = gm_scale(&r, w);
        dist = Some(r);
        (p.tol * scale, p.nu * scale)
    } else {
        (0.0, p.nu)
    };
    let (mut iterations, mut converged) = (0, false);
    while iterations < p.max_iter {
        let r = match dist.take() {
            Some(r) => r,
            None => k.center_dist(rows, &z)?,
        };
        let b: Vec<f64> = r
            .iter()
            .zip(w)
            .map(|(r2, wi)| {
                if *wi > 0.0 && r2.is_finite() {
                    wi / r2.sqrt().max(nu)
                } else {
                    0.0
                }
            })
            .collect();
        let sum: f64 = b.iter().sum();
        if sum == 0.0 {
            break; // every row of positive weight is non-finite: nothing to move towards
        }
        let coeffs = match data_point_step(&r, w, p.tol, nu) {
            DataPoint::No => b.iter().map(|bi| bi / sum).collect::<Vec<_>>(),
            DataPoint::Optimal => {
                converged = true;
                break;
            }
            DataPoint::Step { away, at, eta } => {
                // Where the plain step's weight sum is S = sum(away) and its point
                // T = sum(away_i x_i) / S, the resultant pull of the other rows is S ||T - z||.
                let s: f64 = away.iter().sum();
                let t = k.mix(rows, &away.iter().map(|a| a / s).collect::<Vec<_>>(), 1, None)?;
                let pull = s * k.center_dist(&t, &z)?[0].sqrt();
                if pull <= eta {
                    converged = true; // the rows at z outweigh every pull: z is the median
                    break;
                }
                let a = eta / pull;
                away.iter()
                    .zip(&at)
                    .map(|(bi, wi)| (1.0 - a) * bi / s + a * wi / eta)
                    .collect()
            }
        };
        // The next iteration needs the distances to `next`; the convergence test may end the
        // loop first, so they are asked for with `next` only where that costs about nothing
        // (a fused backend), and never in the last iteration allowed.
        let next = if k.fuses_dist() && iterations + 1 < p.max_iter {
            let (next, r) = k.mix_with_dist(rows, &coeffs)?;
            dist = Some(r);
            next
        } else {
            k.mix(rows, &coeffs, 1, None)?
        };
        iterations += 1;
        if p.tol > 0.0 {
            let step = k.center_dist(&next, &z)?[0].sqrt();
            z = next;
            if step <= tol {
                converged = true;
                break;
            }
        } else {
            z = next;
        }
    }
    report.steps.push(Step::Gm {
        iterations,
        converged,
    });
    Ok(z)
}

/// Where a Weiszfeld iterate stands on data rows (the starting median often is one in low
/// dimensions), the smoothed step gives those rows the weight `w / nu` and stays put whether or
/// not they are the geometric median. Vardi and Zhang's step decides instead: the rows within
/// `nu` of `z` hold the mass `eta`; the others pull with the resultant `R` of their unit
/// vectors, weighted; `||R|| <= eta` means `z` is optimal, otherwise the step moves to
/// `(1 - eta/||R||) T + (eta/||R||) x_k`, `T` the plain Weiszfeld point of the other rows.
/// Only with a convergence tolerance (the default): the papers' fixed-iteration preset keeps
/// their plain step.
enum DataPoint {
    /// `z` is on no row: the plain step.
    No,
    /// Every row of positive weight is at `z`.
    Optimal,
    /// `away`: the other rows' step weights `w_i / ||z - x_i||` (0 for rows at `z`); `at`: the
    /// weights of the rows at `z` (0 elsewhere); `eta`: their sum.
    Step { away: Vec<f64>, at: Vec<f64>, eta: f64 },
}

/// Decides the Weiszfeld step from the squared distances `r2` of the rows to `z`; `nu` is the
/// smoothing radius in the data's units.
fn data_point_step(r2: &[f64], w: &[f64], tol: f64, nu: f64) -> DataPoint {
    if tol <= 0.0 {
        return DataPoint::No;
    }
    let live = |i: usize| w[i] > 0.0 && r2[i].is_finite();
    let at: Vec<f64> = (0..w.len())
        .map(|i| if live(i) && r2[i].sqrt() <= nu { w[i] } else { 0.0 })
        .collect();
    let eta: f64 = at.iter().sum();
    if eta == 0.0 {
        return DataPoint::No;
    }
    let away: Vec<f64> = (0..w.len())
        .map(|i| {
            if live(i) && at[i] == 0.0 {
                w[i] / r2[i].sqrt()
            } else {
                0.0
            }
        })
        .collect();
    if away.iter().all(|&a| a == 0.0) {
        return DataPoint::Optimal;
    }
    DataPoint::Step { away, at, eta }
}
