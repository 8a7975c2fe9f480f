//! The reference's MDA, SMEA and CAF (SPEC 4.8), from their definitions in the rows'
//! coordinates: MDA and SMEA enumerate their candidate subsets (pruned only where no
//! candidate can be lost), CAF runs its rounds in d dimensions. Eigenvalues come from a
//! bisection on positive definiteness (a Cholesky factorization succeeds exactly above the top
//! eigenvalue) and eigenvectors from inverse iteration, an independent route from the rule
//! layer's Jacobi rotations over distance-built Gram matrices.

use super::{is_finite_row, squared_distance};
use crate::contract::MASS_EPS;
use crate::error::{Error, Result};

/// An error if n exceeds the rule's documented limit (a plan built by hand may skip it).
fn check_limit(rule: &str, n: usize, limit: usize) -> Result<()> {
    if n > limit {
        return Err(Error::invalid(
            "n",
            n,
            format!("{rule} accepts at most n = {limit} rows"),
        ));
    }
    Ok(())
}

/// `sum m_i x_i / sum m_i`.
fn mean_of(rows: &[Vec<f64>], m: &[f64]) -> Vec<f64> {
    let d = rows.first().map_or(0, Vec::len);
    let total: f64 = m.iter().sum();
    let mut out = vec![0.0; d];
    for (x, &mi) in rows.iter().zip(m) {
        if mi > 0.0 {
            for (o, v) in out.iter_mut().zip(x) {
                *o += mi * v;
            }
        }
    }
    out.iter().map(|o| o / total).collect()
}

/// Whether mass vector `a` is lexicographically larger than `b`.
fn lex_greater(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).find(|(x, y)| x != y).is_some_and(|(x, y)| x > y)
}

/// MDA: every set of rows taken in index order until its mass reaches `T = (1 - lambda) W`
/// (the last row in part) is a candidate; the least diameter (largest squared distance
/// between two of its rows, `+inf` with a non-finite row) wins, then the lexicographically
/// largest masses. Branches whose diameter already exceeds the best are cut.
pub(super) fn mda(rows: &[Vec<f64>], w: &[f64], lambda: f64) -> Result<Vec<f64>> {
    let n = rows.len();
    check_limit("mda", n, crate::contract::MDA_MAX_N)?;
    let total: f64 = w.iter().sum();
    let dist: Vec<f64> = (0..n * n)
        .map(|ij| squared_distance(&rows[ij / n], &rows[ij % n]))
        .collect();
    let mut search = Mda {
        w,
        n,
        dist,
        target: (1.0 - lambda) * total,
        eps: MASS_EPS * total,
        live_mass: w.iter().filter(|&&v| v > 0.0).sum(),
        best: None,
    };
    search.visit(0, &mut Vec::new(), 0.0, 0.0, 0.0);
    let (_, masses) = search
        .best
        .expect("the rows of positive weight always form a candidate");
    Ok(mean_of(rows, &masses))
}

struct Mda<'a> {
    w: &'a [f64],
    n: usize,
    dist: Vec<f64>,
    target: f64,
    eps: f64,
    live_mass: f64,
    best: Option<(f64, Vec<f64>)>,
}

impl Mda<'_> {
    fn visit(&mut self, pos: usize, taken: &mut Vec<usize>, mass: f64, left_out: f64, diameter: f64) {
        if mass >= self.target - self.eps {
            let mut masses = vec![0.0; self.n];
            let mut left = self.target;
            for &i in taken.iter() {
                masses[i] = self.w[i].min(left);
                left -= masses[i];
            }
            let better = match &self.best {
                None => true,
                Some((d, m)) => diameter < *d || (diameter == *d && lex_greater(&masses, m)),
            };
            if better {
                self.best = Some((diameter, masses));
            }
            return;
        }
        if pos == self.n {
            return;
        }
        if self.w[pos] == 0.0 {
            return self.visit(pos + 1, taken, mass, left_out, diameter);
        }
        let mut with = diameter.max(self.dist[pos * self.n + pos]);
        for &j in taken.iter() {
            with = with.max(self.dist[pos * self.n + j]);
        }
        if self.best.as_ref().is_none_or(|(d, _)| with <= *d) {
            taken.push(pos);
            self.visit(pos + 1, taken, mass + self.w[pos], left_out, with);
            taken.pop();
        }
        if self.live_mass - left_out - self.w[pos] >= self.target - self.eps {
            self.visit(pos + 1, taken, mass, left_out + self.w[pos], diameter);
        }
    }
}

/// SMEA: the candidates are the mass vectors of total T giving each row all of its weight
/// or none, but for at most one row given part of it (`T - ` the rest, above `MASS_EPS * W`
/// and below its weight); each is scored by the top eigenvalue of its weighted covariance
/// (`+inf` with a non-finite row), the least wins, then the lexicographically largest.
pub(super) fn smea(rows: &[Vec<f64>], w: &[f64], lambda: f64) -> Result<Vec<f64>> {
    let n = rows.len();
    check_limit("smea", n, crate::contract::SMEA_MAX_N)?;
    let total: f64 = w.iter().sum();
    let (target, eps) = ((1.0 - lambda) * total, MASS_EPS * total);
    let live: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    // Inner products of the raw rows, once: each candidate's centered Gram follows in k x k.
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let inner: Vec<f64> = (0..n * n).map(|ij| dot(&rows[ij / n], &rows[ij % n])).collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    // Every subset of the rows of positive weight as the whole rows, then each partial row.
    let count = live.len();
    for set in 0u64..1 << count {
        let whole: Vec<usize> = (0..count)
            .filter(|b| set >> b & 1 == 1)
            .map(|b| live[b])
            .collect();
        let mass: f64 = whole.iter().map(|&i| w[i]).sum();
        let mut candidates: Vec<Vec<(usize, f64)>> = Vec::new();
        let base: Vec<(usize, f64)> = whole.iter().map(|&i| (i, w[i])).collect();
        if (mass - target).abs() <= eps {
            candidates.push(base.clone());
        } else if mass < target - eps {
            for &p in live.iter().filter(|p| !whole.contains(p)) {
                if mass + w[p] > target + eps {
                    let mut c = base.clone();
                    c.push((p, target - mass));
                    candidates.push(c);
                }
            }
        }
        for cand in candidates {
            let score = if cand.iter().any(|&(i, _)| !is_finite_row(&rows[i])) {
                f64::INFINITY
            } else {
                covariance_top(&inner, n, &cand)
            };
            let mut masses = vec![0.0; n];
            for &(i, m) in &cand {
                masses[i] = m;
            }
            let better = match &best {
                None => true,
                Some((s, m)) => score < *s || (score == *s && lex_greater(&masses, m)),
            };
            if better {
                best = Some((score, masses));
            }
        }
    }
    let (_, masses) = best.expect("the rows of positive weight always hold a candidate");
    Ok(mean_of(rows, &masses))
}

/// The top eigenvalue of the weighted covariance of the rows in `cand` (row, mass), from the
/// raw inner products `inner` (n x n).
fn covariance_top(inner: &[f64], n: usize, cand: &[(usize, f64)]) -> f64 {
    let k = cand.len();
    let total: f64 = cand.iter().map(|c| c.1).sum();
    // <x_a, mu> and <mu, mu>.
    let with_mean: Vec<f64> = cand
        .iter()
        .map(|&(a, _)| cand.iter().map(|&(b, mb)| mb * inner[a * n + b]).sum::<f64>() / total)
        .collect();
    let mean_sq: f64 = cand.iter().zip(&with_mean).map(|(c, v)| c.1 * v).sum::<f64>() / total;
    let mut m = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            let (ia, ma) = cand[a];
            let (ib, mb) = cand[b];
            let centered = inner[ia * n + ib] - with_mean[a] - with_mean[b] + mean_sq;
            m[a * k + b] = (ma * mb).sqrt() * centered;
        }
    }
    top_eigenvalue(&m, k) / total
}

/// CAF (`Rule::Caf`): rounds in the rows' coordinates.
pub(super) fn caf(rows: &[Vec<f64>], w: &[f64], lambda: f64) -> Result<Vec<f64>> {
    let n = rows.len();
    check_limit("caf", n, crate::contract::CAF_MAX_N)?;
    let d = rows.first().map_or(0, Vec::len);
    let total: f64 = w.iter().sum();
    let stop = (1.0 - 2.0 * lambda) * total + MASS_EPS * total;
    // tau's maximum runs over every row of positive weight and finite values, those the
    // filter already set to 0 included (ByzFL's CAF); the rounds are bounded as in the rule.
    let scored: Vec<usize> = (0..n)
        .filter(|&i| w[i] > 0.0 && is_finite_row(&rows[i]))
        .collect();
    let mut c: Vec<f64> = w.to_vec();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..crate::contract::CAF_MAX_ROUNDS {
        let active: Vec<usize> = (0..n).filter(|&i| c[i] > 0.0).collect();
        if active.is_empty() {
            break;
        }
        let before = c.clone();
        let mu = mean_of(rows, &c);
        let finite = active.iter().all(|&i| is_finite_row(&rows[i]));
        let weight: f64 = active.iter().map(|&i| c[i]).sum();
        if !finite {
            if best.is_none() {
                best = Some((f64::INFINITY, mu));
            }
            for &i in &active {
                if !is_finite_row(&rows[i]) {
                    c[i] = 0.0;
                }
            }
        } else {
            let k = active.len();
            let y: Vec<Vec<f64>> = active
                .iter()
                .map(|&i| {
                    rows[i]
                        .iter()
                        .zip(&mu)
                        .map(|(x, m)| (x - m) * c[i].sqrt())
                        .collect()
                })
                .collect();
            let mut m = vec![0.0; k * k];
            for a in 0..k {
                for b in 0..k {
                    m[a * k + b] = y[a].iter().zip(&y[b]).map(|(p, q)| p * q).sum();
                }
            }
            let top = top_eigenvalue(&m, k);
            let spread = top / weight;
            if best.as_ref().is_none_or(|(s, _)| spread < *s) {
                best = Some((spread, mu.clone()));
            }
            if top <= 0.0 {
                break;
            }
            // The covariance's eigenvector: v = Y^T u for M's top eigenvector u.
            let u = top_eigenvector(&m, k, top);
            let mut v = vec![0.0; d];
            for (ya, ua) in y.iter().zip(&u) {
                for (vc, yc) in v.iter_mut().zip(ya) {
                    *vc += ua * yc;
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let tau: Vec<f64> = scored
                .iter()
                .map(|&i| {
                    let p: f64 = rows[i]
                        .iter()
                        .zip(&mu)
                        .zip(&v)
                        .map(|((x, m), vc)| (x - m) * vc)
                        .sum();
                    (p / norm) * (p / norm)
                })
                .collect();
            let max = tau.iter().copied().fold(0.0, f64::max);
            if max == 0.0 {
                break;
            }
            for (a, &i) in scored.iter().enumerate() {
                c[i] *= 1.0 - tau[a] / max;
            }
        }
        if c.iter().sum::<f64>() <= stop || c == before {
            break;
        }
    }
    Ok(best.map_or_else(|| mean_of(rows, w), |(_, mu)| mu))
}

/// The lower Cholesky factor of the symmetric k x k matrix `a`, or `None` if `a` is not
/// positive definite.
fn cholesky(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            if i == j {
                let diag = a[i * k + i] - s;
                if diag.is_nan() || diag <= 0.0 {
                    return None;
                }
                l[i * k + i] = diag.sqrt();
            } else {
                l[i * k + j] = (a[i * k + j] - s) / l[j * k + j];
            }
        }
    }
    Some(l)
}

/// `x I - a` for the symmetric k x k matrix `a`.
fn shifted(a: &[f64], k: usize, x: f64) -> Vec<f64> {
    let mut s: Vec<f64> = a.iter().map(|v| -v).collect();
    for i in 0..k {
        s[i * k + i] += x;
    }
    s
}

/// The top eigenvalue of the positive semidefinite k x k matrix `a`: the least x for which
/// `x I - a` is positive definite, by bisection between 0 and the trace.
fn top_eigenvalue(a: &[f64], k: usize) -> f64 {
    let trace: f64 = (0..k).map(|i| a[i * k + i]).sum();
    if trace <= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0, trace * (1.0 + 1e-12));
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi || hi - lo <= 1e-16 * hi {
            break;
        }
        if cholesky(&shifted(a, k, mid), k).is_some() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A unit eigenvector of the top eigenvalue `top` of the symmetric k x k matrix `a`, by
/// inverse iteration with a shift just above it.
fn top_eigenvector(a: &[f64], k: usize, top: f64) -> Vec<f64> {
    let mut shift = top * (1.0 + 1e-9);
    let l = loop {
        if let Some(l) = cholesky(&shifted(a, k, shift), k) {
            break l;
        }
        shift = shift * (1.0 + 1e-9) + f64::MIN_POSITIVE;
    };
    let mut y: Vec<f64> = (0..k).map(|i| 1.0 + 0.1 * i as f64).collect();
    for _ in 0..6 {
        // Solve L L^T z = y.
        let mut z = y.clone();
        for i in 0..k {
            let s: f64 = (0..i).map(|p| l[i * k + p] * z[p]).sum();
            z[i] = (z[i] - s) / l[i * k + i];
        }
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|p| l[p * k + i] * z[p]).sum();
            z[i] = (z[i] - s) / l[i * k + i];
        }
        let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
        y = z.iter().map(|v| v / norm).collect();
    }
    y
}
