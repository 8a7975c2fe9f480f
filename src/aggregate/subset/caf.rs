//! CAF, the covariance-bound agnostic filter (Allouah, Guerraoui and Stephan, ICML 2025;
//! ByzFL's `CAF`), deterministic: the exact top eigenpair of each round's weighted covariance,
//! found in the Gram space of the rows from their pairwise squared distances (`gram.rs`),
//! where ByzFL takes one power step from a random vector.

use super::gram;
use crate::contract::{CAF_MAX_ROUNDS, MASS_EPS};

/// The relative accuracy of the backends' squared distances (SPEC 5: about 1e-5 of the
/// reference's), which bounds what the distances can tell about a far row's direction.
const DIST_ACCURACY: f64 = 1e-5;

/// How CAF's rounds ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CafRun {
    /// Rounds run.
    pub(crate) rounds: usize,
    /// Whether the filter finished: the weight left fell to `(1 - 2 lambda) W`, or the rows
    /// still weighted coincide, or a round changed no weight (every later round would repeat
    /// it). `false` when [`CAF_MAX_ROUNDS`] cut it short.
    pub(crate) finished: bool,
}

/// CAF's coefficients (summing to 1) over the rows, from their n x n squared distances.
///
/// Start with `c = w`. Each round: `mu = sum c_i x_i / C` (`C = sum c_i`), the top
/// eigenvalue `s` and unit eigenvector `v` of `sum c_i (x_i - mu)(x_i - mu)^T / C`, and the
/// round's candidate (`mu`, `s`); then `tau_i = ((x_i - mu) . v)^2` for every row of the
/// batch (positive weight `w_i`, finite values), those the filter already set to `c_i = 0`
/// included, and `c_i <- c_i (1 - tau_i / max_j tau_j)`: the maximum runs over all those
/// rows, as in ByzFL's `CAF` (the paper's authors' library), not only over the rows still
/// weighted. The rounds stop once `C <= (1 - 2 lambda) W` (the first round always runs, so
/// lambda = 0 gives the weighted mean), when the rows still weighted coincide (`s = 0`,
/// nothing can do better), when a round changes no weight, or after [`CAF_MAX_ROUNDS`]. The
/// output is the candidate of least `s`, the earliest among equals.
///
/// Why the cap: once a far row is filtered out, its `tau` stays the maximum, and the rows
/// still weighted lose only `C s / tau_max` of weight a round; a Byzantine row 1e6 times
/// farther than the spread makes that ~1e-12 a round (ByzFL's loop then runs for days, or
/// forever when the step rounds to nothing in f64). The cap bounds the work; the output is
/// still the least-spread candidate seen, and the report says the rounds were cut short.
///
/// A filtered row so far out that the distances' rounding hides its direction (the error
/// bound of its projection exceeds the projection) is scored with the largest `tau` that
/// bound allows: its length is known, and the exact `tau` is of that order.
///
/// A round whose weighted rows include non-finite ones has `s = +inf` and their directions are
/// infinitely far: it gives those rows `c_i = 0` and leaves the others as they are. Rows of
/// non-finite values never enter `max_j tau_j` (their `tau` is undefined).
pub(crate) fn caf_coeffs(dist: &[f64], w: &[f64], lambda: f64) -> (Vec<f64>, CafRun) {
    let n = w.len();
    let total: f64 = w.iter().sum();
    let stop = (1.0 - 2.0 * lambda) * total + MASS_EPS * total;
    let finite = |i: usize| dist[i * n + i] == 0.0;
    // The rows tau is scored over: all of the batch that can carry a direction.
    let scored: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0 && finite(i)).collect();
    let mut c: Vec<f64> = w.iter().map(|&wi| wi.max(0.0)).collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut run = CafRun {
        rounds: 0,
        finished: true,
    };
    loop {
        let active: Vec<usize> = (0..n).filter(|&i| c[i] > 0.0).collect();
        if active.is_empty() {
            break;
        }
        if run.rounds == CAF_MAX_ROUNDS {
            run.finished = false;
            break;
        }
        run.rounds += 1;
        let mass: Vec<f64> = active.iter().map(|&i| c[i]).collect();
        let weight: f64 = mass.iter().sum();
        let (spread, direction) = if active.iter().all(|&i| finite(i)) {
            let mut scaled = gram::centered_gram(dist, n, &active, &mass);
            gram::scale_by_masses(&mut scaled, &mass);
            let (top, u) = gram::top_eigen(&scaled, active.len());
            (top.max(0.0) / weight, Some(u))
        } else {
            (f64::INFINITY, None)
        };
        if best.as_ref().is_none_or(|(s, _)| spread < *s) {
            best = Some((spread, c.clone()));
        }
        let before = c.clone();
        match direction {
            None => {
                for &i in &active {
                    if !finite(i) {
                        c[i] = 0.0;
                    }
                }
            }
            Some(_) if spread == 0.0 => break,
            Some(u) => {
                // (x_i - mu) . v is proportional to (H D^(1/2) u)_i, H the Gram entries of
                // every scored row against the weighted ones; only ratios matter.
                let h = gram::centered_cross_gram(dist, n, &scored, &active, &mass);
                let k = active.len();
                let weighted_u: Vec<f64> = mass.iter().zip(&u).map(|(m, ub)| m.sqrt() * ub).collect();
                let spread = active
                    .iter()
                    .flat_map(|&a| active.iter().map(move |&b| dist[a * n + b]))
                    .fold(0.0, f64::max);
                let reach: f64 = weighted_u.iter().map(|x| x.abs()).sum();
                let tau: Vec<f64> = scored
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| {
                        let p: f64 = (0..k).map(|b| h[a * k + b] * weighted_u[b]).sum();
                        if c[i] > 0.0 {
                            return p * p;
                        }
                        // A filtered row far from the weighted ones: its Gram entries are
                        // differences of distances much larger than them, each known to the
                        // backend's relative accuracy only. Where that error bound exceeds the
                        // projection, the direction is lost in rounding but the length is not:
                        // take the largest tau the error allows (the exact one is of that
                        // order), as the f64 reference's coordinates would give.
                        let far = active.iter().map(|&b| dist[i * n + b]).fold(0.0, f64::max);
                        let error = DIST_ACCURACY * (far + spread) * reach;
                        if p.abs() > error {
                            p * p
                        } else {
                            (p.abs() + error).powi(2)
                        }
                    })
                    .collect();
                let max = tau.iter().copied().fold(0.0, f64::max);
                if max == 0.0 {
                    break;
                }
                for (a, &i) in scored.iter().enumerate() {
                    if c[i] > 0.0 {
                        c[i] *= 1.0 - tau[a] / max;
                    }
                }
            }
        }
        if c.iter().sum::<f64>() <= stop || c == before {
            break;
        }
    }
    let chosen = best.map_or_else(|| w.to_vec(), |(_, c)| c);
    let sum: f64 = chosen.iter().sum();
    (chosen.iter().map(|ci| ci / sum).collect(), run)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The n x n squared distances of points on a line.
    fn line(xs: &[f64]) -> Vec<f64> {
        xs.iter()
            .flat_map(|a| xs.iter().map(move |b| (a - b) * (a - b)))
            .collect()
    }

    #[test]
    fn one_dimension_by_hand() {
        // 0, 1, 2, 9 with lambda = 0.17875 (stop at a weight of 2.57). Round 1 (mean 3,
        // variance 12.5, tau 9, 4, 1, 36) zeroes the row at 9 and leaves 3/4, 8/9, 35/36
        // (sum 2.61). Round 2 (mean mu2 = 1.085, variance 0.652) scores the row at 9 too,
        // though its weight is 0: its tau (9 - mu2)^2 = 62.6 is the maximum, so the others
        // lose only a little (sum 2.58) and round 3 runs, with variance 0.649, the least: its
        // weights (round 2's output) are the answer, and round 3 leaves 2.557 <= 2.57. Taking
        // the maximum over the weighted rows only would zero the row at 0 in round 2 (its tau
        // 1.18 beats 0.84) and stop there.
        let xs = [0.0f64, 1.0, 2.0, 9.0];
        let (c, run) = caf_coeffs(&line(&xs), &[1.0; 4], 0.17875);
        assert_eq!(
            run,
            CafRun {
                rounds: 3,
                finished: true
            }
        );
        let c1 = [0.75, 8.0 / 9.0, 35.0 / 36.0, 0.0];
        let mu2 = (c1[1] + 2.0 * c1[2]) / (c1[0] + c1[1] + c1[2]);
        let max = (9.0 - mu2) * (9.0 - mu2);
        let c2: Vec<f64> = (0..4)
            .map(|i| c1[i] * (1.0 - (xs[i] - mu2) * (xs[i] - mu2) / max))
            .collect();
        let s: f64 = c2.iter().sum();
        for (got, want) in c.iter().zip(&c2) {
            assert!((got - want / s).abs() < 1e-12, "{c:?} vs {c2:?}");
        }
    }

    #[test]
    fn a_far_row_cannot_make_it_run_forever() {
        // Once the row at 1e6 is filtered out its tau stays ~1e12 times the others', and the
        // weighted rows lose ~1e-12 of their weight a round: the cap ends it, the row at 1e6
        // keeps weight 0, and the run says it was cut short.
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1e6];
        let (c, run) = caf_coeffs(&line(&xs), &[1.0; 10], 0.2);
        assert_eq!(
            run,
            CafRun {
                rounds: CAF_MAX_ROUNDS,
                finished: false
            }
        );
        assert_eq!(c[9], 0.0);
        assert!(c[..9].iter().all(|&ci| ci > 0.0), "{c:?}");
    }
}
