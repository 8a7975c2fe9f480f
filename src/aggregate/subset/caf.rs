//! CAF, the covariance-bound agnostic filter (Allouah, Guerraoui and Stephan, ICML 2025;
//! ByzFL's `CAF`), deterministic: the exact top eigenpair of each round's weighted covariance,
//! found in the Gram space of the rows from their pairwise squared distances (`gram.rs`),
//! where ByzFL takes one power step from a random vector.

use super::gram;
use crate::contract::MASS_EPS;

/// CAF's coefficients (summing to 1) over the rows, from their n x n squared distances.
///
/// Start with `c = w`. Each round: `mu = sum c_i x_i / C` (`C = sum c_i`), the top
/// eigenvalue `s` and unit eigenvector `v` of `sum c_i (x_i - mu)(x_i - mu)^T / C`, and the
/// round's candidate (`mu`, `s`); then `tau_i = ((x_i - mu) . v)^2` and
/// `c_i <- c_i (1 - tau_i / max_j tau_j)` over the rows of `c_i > 0`. The rounds stop once
/// `C <= (1 - 2 lambda) W` (the first round always runs, so lambda = 0 gives the weighted
/// mean), or when the rows still weighted coincide (`s = 0`, nothing can do better). The
/// output is the candidate of least `s`, the earliest among equals.
///
/// A round whose weighted rows include non-finite ones has `s = +inf` and their directions are
/// infinitely far: it gives those rows `c_i = 0` and leaves the others as they are.
pub(crate) fn caf_coeffs(dist: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    let stop = (1.0 - 2.0 * lambda) * total + MASS_EPS * total;
    let finite = |i: usize| dist[i * n + i] == 0.0;
    let mut c: Vec<f64> = w.iter().map(|&wi| wi.max(0.0)).collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    loop {
        let active: Vec<usize> = (0..n).filter(|&i| c[i] > 0.0).collect();
        if active.is_empty() {
            break;
        }
        let mass: Vec<f64> = active.iter().map(|&i| c[i]).collect();
        let weight: f64 = mass.iter().sum();
        let (spread, direction) = if active.iter().all(|&i| finite(i)) {
            let g = gram::centered_gram(dist, n, &active, &mass);
            let mut scaled = g.clone();
            gram::scale_by_masses(&mut scaled, &mass);
            let (top, u) = gram::top_eigen(&scaled, active.len());
            (top.max(0.0) / weight, Some((g, u)))
        } else {
            (f64::INFINITY, None)
        };
        if best.as_ref().is_none_or(|(s, _)| spread < *s) {
            best = Some((spread, c.clone()));
        }
        match direction {
            None => {
                for &i in &active {
                    if !finite(i) {
                        c[i] = 0.0;
                    }
                }
            }
            Some(_) if spread == 0.0 => break,
            Some((g, u)) => {
                // (x_a - mu) . v is proportional to (G D^(1/2) u)_a; only ratios matter.
                let k = active.len();
                let root: Vec<f64> = mass.iter().map(|m| m.sqrt()).collect();
                let tau: Vec<f64> = (0..k)
                    .map(|a| {
                        let p: f64 = (0..k).map(|b| g[a * k + b] * root[b] * u[b]).sum();
                        p * p
                    })
                    .collect();
                let max = tau.iter().copied().fold(0.0, f64::max);
                if max == 0.0 {
                    break;
                }
                for (a, &i) in active.iter().enumerate() {
                    c[i] *= 1.0 - tau[a] / max;
                }
            }
        }
        if c.iter().sum::<f64>() <= stop {
            break;
        }
    }
    let chosen = best.map_or_else(|| w.to_vec(), |(_, c)| c);
    let sum: f64 = chosen.iter().sum();
    chosen.iter().map(|ci| ci / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dimension_by_hand() {
        // 0, 1, 2, 9 with f = 1: round 1 (mean 3, variance 12.5, tau 9, 4, 1, 36) zeroes the
        // row at 9 and scales the others by 1 - tau_i / 36: 3/4, 8/9, 35/36. Their sum, 2.61,
        // is above (1 - 2/4) 4 = 2, so round 2 runs: variance 0.65, the least, and its
        // weights are the output (round 2 leaves a sum of 1.16, and the rounds stop).
        let xs = [0.0f64, 1.0, 2.0, 9.0];
        let dist: Vec<f64> = xs
            .iter()
            .flat_map(|a| xs.iter().map(move |b| (a - b) * (a - b)))
            .collect();
        let c = caf_coeffs(&dist, &[1.0; 4], 0.25);
        let (c0, c1, c2) = (0.75, 8.0 / 9.0, 35.0 / 36.0);
        let s = c0 + c1 + c2;
        let want = [c0 / s, c1 / s, c2 / s, 0.0];
        for (got, want) in c.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{c:?}");
        }
    }
}
