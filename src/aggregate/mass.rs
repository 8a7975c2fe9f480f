//! The mass arithmetic every rule shares: the mean's coefficients and the prefix of rows
//! by distance up to a target mass, with the [`MASS_EPS`] boundary of the contract.

use crate::contract::MASS_EPS;

/// The coefficients of the weighted mean: `w_i / W`.
pub(super) fn mean_coeffs(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    w.iter().map(|wi| wi / total).collect()
}

/// The shortest prefix of the rows of positive weight, ordered by (`r`, index), whose mass
/// reaches `target`; the last row gets only the mass needed. Masses below `MASS_EPS * total`
/// are dropped (see [`MASS_EPS`]). Returns (row, mass) pairs in order.
pub(super) fn prefix_by_distance(r: &[f64], w: &[f64], target: f64, total: f64) -> Vec<(usize, f64)> {
    let mut order: Vec<usize> = (0..r.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| r[a].total_cmp(&r[b]).then(a.cmp(&b)));
    let eps = MASS_EPS * total;
    let mut left = target;
    let mut taken = Vec::new();
    for i in order {
        if left <= eps {
            break;
        }
        let mass = w[i].min(left);
        taken.push((i, mass));
        left -= mass;
    }
    taken
}
