//! Host linear algebra for the spectral rules (SMEA, CAF): the weighted, centered Gram
//! matrix of a set of rows built from their pairwise squared distances alone, and a
//! symmetric eigen solver for it.
//!
//! The nonzero eigenvalues of a weighted covariance `(1/M) sum_i m_i (x_i - mu)(x_i - mu)^T`
//! (d x d, with `mu` the weighted mean and `M = sum m_i`) are those of the k x k matrix
//! `(1/M) D^(1/2) G D^(1/2)`, `D = diag(m)`, `G_ij = (x_i - mu) . (x_j - mu)`; and `G` follows
//! from the squared distances by double centering, `G = -1/2 J Dist J^T` with the weighted
//! centering `J = I - 1 m^T / M`. So once the backend has computed the n x n distances (one
//! d-sized pass), every subset's spectrum costs k x k work on the host, none of it d-sized.
//! Distances between rows do not depend on the origin, so nothing here loses accuracy when the
//! rows sit far from zero.

/// The centered Gram matrix of the rows `idx` with masses `m` (one per entry of `idx`, all
/// positive), from the n x n squared distances `dist`: `G[a * k + b] = (x_ia - mu) . (x_ib - mu)`
/// with `mu` the `m`-weighted mean of the rows. Every distance must be finite.
pub(crate) fn centered_gram(dist: &[f64], n: usize, idx: &[usize], m: &[f64]) -> Vec<f64> {
    let k = idx.len();
    let (r, s) = centering(dist, n, idx, idx, m);
    let mut g = vec![0.0; k * k];
    for a in 0..k {
        for b in a..k {
            let v = if a == b {
                r[a] - s / 2.0
            } else {
                -0.5 * (dist[idx[a] * n + idx[b]] - r[a] - r[b] + s)
            };
            g[a * k + b] = v;
            g[b * k + a] = v;
        }
    }
    g
}

/// `r_a = sum_b p_b |x_a - x_b|^2` for each row `a` of `rows` (with `p = m / sum m` over
/// the rows `idx`), and `s = sum_b p_b r_b` over `idx`. Then `|x_a - mu|^2 = r_a - s / 2` and
/// `(x_a - mu) . (x_b - mu) = -(|x_a - x_b|^2 - r_a - r_b + s) / 2` for the `m`-weighted
/// mean `mu` of the rows `idx`, whether or not `a` is one of them.
fn centering(dist: &[f64], n: usize, rows: &[usize], idx: &[usize], m: &[f64]) -> (Vec<f64>, f64) {
    let total: f64 = m.iter().sum();
    let spread = |i: usize| -> f64 {
        idx.iter()
            .zip(m)
            .map(|(&j, mj)| mj / total * dist[i * n + j])
            .sum()
    };
    let r: Vec<f64> = rows.iter().map(|&i| spread(i)).collect();
    let s: f64 = idx.iter().zip(m).map(|(&j, mj)| mj / total * spread(j)).sum();
    (r, s)
}

/// `H[a * k + b] = (x_oa - mu) . (x_ib - mu)` for the rows `others` (any rows, weighted or
/// not) against the rows `idx` with masses `m`, `mu` their `m`-weighted mean: the Gram
/// entries of rows outside the weighted set, from the squared distances alone (CAF scores
/// every row, filtered ones included, against the weighted set's top direction). Every
/// distance involved must be finite.
pub(crate) fn centered_cross_gram(
    dist: &[f64],
    n: usize,
    others: &[usize],
    idx: &[usize],
    m: &[f64],
) -> Vec<f64> {
    let k = idx.len();
    let (r_others, s) = centering(dist, n, others, idx, m);
    let (r_idx, _) = centering(dist, n, idx, idx, m);
    let mut h = vec![0.0; others.len() * k];
    for (a, &o) in others.iter().enumerate() {
        for (b, &i) in idx.iter().enumerate() {
            h[a * k + b] = -0.5 * (dist[o * n + i] - r_others[a] - r_idx[b] + s);
        }
    }
    h
}

/// `D^(1/2) G D^(1/2)` in place: the matrix whose eigenvalues, divided by `sum m`, are the
/// nonzero eigenvalues of the `m`-weighted covariance.
pub(crate) fn scale_by_masses(g: &mut [f64], m: &[f64]) {
    let k = m.len();
    let root: Vec<f64> = m.iter().map(|v| v.sqrt()).collect();
    for a in 0..k {
        for b in 0..k {
            g[a * k + b] *= root[a] * root[b];
        }
    }
}

/// The largest eigenvalue of the symmetric k x k matrix `a` and a unit eigenvector for it,
/// by cyclic Jacobi rotations (exact to rounding: the off-diagonal mass is driven below
/// `1e-15` of the matrix's norm, or 100 sweeps). Among equal top eigenvalues, the one the
/// rotations leave first on the diagonal.
pub(crate) fn top_eigen(a: &[f64], k: usize) -> (f64, Vec<f64>) {
    let (values, vectors) = jacobi(a, k, true);
    let top = (0..k).fold(0, |best, i| if values[i] > values[best] { i } else { best });
    let v = (0..k).map(|r| vectors[r * k + top]).collect();
    (values[top], v)
}

/// The largest eigenvalue of the symmetric k x k matrix `a`, exact to rounding: a Householder
/// reduction to tridiagonal form (backward stable, about `4/3 k^3` flops), then bisection on
/// its Sturm sequence down to the spacing of doubles. Several times cheaper than the
/// rotations of [`top_eigen`] when the eigenvector is not needed (SMEA scores thousands of
/// subsets this way).
pub(crate) fn top_eigenvalue(a: &[f64], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let (diag, off) = tridiagonal(a, k);
    // Gershgorin bounds on the spectrum.
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..k {
        let left = if i > 0 { off[i - 1].abs() } else { 0.0 };
        let right = off.get(i).map_or(0.0, |e| e.abs());
        lo = lo.min(diag[i] - left - right);
        hi = hi.max(diag[i] + left + right);
    }
    // How many eigenvalues lie below x (the negative pivots of T - x I).
    let below = |x: f64| {
        let mut count = 0;
        let mut q = 1.0;
        for i in 0..k {
            let coupling = if i > 0 { off[i - 1] * off[i - 1] / q } else { 0.0 };
            q = diag[i] - x - coupling;
            if q == 0.0 {
                q = -f64::EPSILON * (x.abs() + f64::MIN_POSITIVE);
            }
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    // Halving the interval until no double lies strictly inside (at most ~2100 steps from
    // any Gershgorin interval of doubles, far fewer in practice).
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if below(mid) == k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The diagonal and off-diagonal of a tridiagonal matrix similar to the symmetric k x k `a`
/// (Householder reflections `I - 2 v v^T` applied from both sides, column by column).
fn tridiagonal(a: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; k];
    let mut q = vec![0.0; k];
    for j in 0..k.saturating_sub(2) {
        let norm = (j + 1..k)
            .map(|i| a[i * k + j] * a[i * k + j])
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let x0 = a[(j + 1) * k + j];
        let alpha = if x0 > 0.0 { -norm } else { norm };
        v.iter_mut().for_each(|x| *x = 0.0);
        for i in j + 1..k {
            v[i] = a[i * k + j];
        }
        v[j + 1] -= alpha;
        let vnorm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if vnorm == 0.0 {
            continue;
        }
        v.iter_mut().for_each(|x| *x /= vnorm);
        // A <- A - 2 v q^T - 2 q v^T with p = A v and q = p - (v . p) v.
        for (r, qr) in q.iter_mut().enumerate() {
            *qr = (j + 1..k).map(|c| a[r * k + c] * v[c]).sum();
        }
        let vp: f64 = v.iter().zip(&q).map(|(x, y)| x * y).sum();
        for (qi, vi) in q.iter_mut().zip(&v) {
            *qi -= vp * vi;
        }
        for r in j..k {
            for c in j..k {
                a[r * k + c] -= 2.0 * (v[r] * q[c] + q[r] * v[c]);
            }
        }
    }
    let diag = (0..k).map(|i| a[i * k + i]).collect();
    let off = (0..k.saturating_sub(1)).map(|i| a[(i + 1) * k + i]).collect();
    (diag, off)
}

/// Cyclic Jacobi: the eigenvalues (the diagonal once the rotations converge) and, if asked,
/// the eigenvectors as the columns of a k x k matrix (empty otherwise).
fn jacobi(a: &[f64], k: usize, want_vectors: bool) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = Vec::new();
    if want_vectors {
        v = vec![0.0; k * k];
        for i in 0..k {
            v[i * k + i] = 1.0;
        }
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _ in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|p| (p + 1..k).map(move |q| (p, q)))
            .map(|(p, q)| a[p * k + q] * a[p * k + q])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm || off == 0.0 {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * k + p], a[q * k + q]);
                // The rotation that zeroes a[p][q] (Golub & Van Loan, the symmetric Schur step).
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                if want_vectors {
                    for r in 0..k {
                        let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                        v[r * k + p] = c * vrp - s * vrq;
                        v[r * k + q] = s * vrp + c * vrq;
                    }
                }
            }
        }
    }
    ((0..k).map(|i| a[i * k + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenpairs_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, top eigenvector (1, 1) / sqrt 2.
        let (value, v) = top_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((value - 3.0).abs() < 1e-14, "{value}");
        assert!(
            (v[0].abs() - 0.5f64.sqrt()).abs() < 1e-14 && (v[0] - v[1]).abs() < 1e-14,
            "{v:?}"
        );
        // A diagonal matrix.
        let top = top_eigenvalue(&[1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 2.0], 3);
        assert!((top - 5.0).abs() <= 1e-15 * 5.0, "{top}");
        // The two solvers agree on a dense matrix (A = B B^T for a fixed B).
        let k = 6;
        let b: Vec<f64> = (0..k * k).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0).collect();
        let a: Vec<f64> = (0..k * k)
            .map(|ij| (0..k).map(|c| b[ij / k * k + c] * b[ij % k * k + c]).sum())
            .collect();
        let (jacobi, _) = top_eigen(&a, k);
        let sturm = top_eigenvalue(&a, k);
        assert!((jacobi - sturm).abs() <= 1e-12 * jacobi, "{jacobi} vs {sturm}");
    }

    #[test]
    fn gram_from_distances_matches_coordinates() {
        let x: [[f64; 2]; 4] = [[0.0, 0.0], [3.0, 1.0], [1.0, 4.0], [10.0, -2.0]];
        let n = x.len();
        let dist: Vec<f64> = (0..n * n)
            .map(|ij| {
                let (a, b) = (x[ij / n], x[ij % n]);
                (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
            })
            .collect();
        let idx = [0, 1, 3];
        let m = [1.0, 2.0, 0.5];
        let total: f64 = m.iter().sum();
        let mu: Vec<f64> = (0..2)
            .map(|c| idx.iter().zip(&m).map(|(&i, mi)| mi * x[i][c]).sum::<f64>() / total)
            .collect();
        let g = centered_gram(&dist, n, &idx, &m);
        for a in 0..3 {
            for b in 0..3 {
                let want: f64 = (0..2)
                    .map(|c| (x[idx[a]][c] - mu[c]) * (x[idx[b]][c] - mu[c]))
                    .sum();
                assert!(
                    (g[a * 3 + b] - want).abs() < 1e-12,
                    "{a} {b}: {} vs {want}",
                    g[a * 3 + b]
                );
            }
        }
        // Row 2 is outside the weighted set; row 1 inside (its entries equal G's).
        let others = [2, 1];
        let h = centered_cross_gram(&dist, n, &others, &idx, &m);
        for (a, &o) in others.iter().enumerate() {
            for b in 0..3 {
                let want: f64 = (0..2).map(|c| (x[o][c] - mu[c]) * (x[idx[b]][c] - mu[c])).sum();
                assert!((h[a * 3 + b] - want).abs() < 1e-12, "{o} {b}: {}", h[a * 3 + b]);
            }
        }
    }
}
