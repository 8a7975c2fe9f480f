//! Exact ties at a selection's boundary: which rows' order the fast distances cannot settle.
//!
//! A backend's fast distances (the CPU's f32 lane sums) lie within a relative bound of the
//! exact ones ([`Kernels::dist_error`]); the reference breaks exact ties by row index (SPEC
//! 5). A rule that selects by distance (or by sums of distances: Krum's scores) only needs
//! the order right at its boundary: Krum's best row, Multi-Krum's m-th, the last row of a
//! mass prefix (NNM's neighbours, CTMA's kept rows). Rows whose fast values are further apart
//! than the bound allows are ordered as the exact values are; so the rules ask the backend
//! for the exact distances of just the run of values around the boundary that lie within the
//! bound of each other ([`uncertain_run`]) and select again. Random rows almost never have
//! one (the values differ by far more than the bound), rows of a few values (+-s) do, and pay
//! one exact pass per distance in the run. With the run exact, the selection is the one
//! exact arithmetic makes, whatever the SIMD level.

use crate::kernels::Kernels;

/// Whether `a <= b` (fast values, each within `rel` of its exact value, `rel` covering the
/// reference's own rounding too) could be equal in exact arithmetic: their exact values
/// `A`, `B` satisfy `|a - A| <= rel A`, so `A = B` gives `b - a <= 2 rel B <= 2 rel b / (1 -
/// rel)`; `1 + 2 rel` bounds `1 / (1 - rel)` for any `rel <= 1/2`. Non-finite values never
/// tie (they are exact).
fn could_tie(a: f64, b: f64, rel: f64) -> bool {
    a.is_finite() && b.is_finite() && b - a <= 2.0 * rel * (1.0 + 2.0 * rel) * b
}

/// The rows `order[lo..=hi]` around position `pos` of `order` (rows sorted by `values`)
/// whose consecutive values could tie, when their exact order could change the selection of
/// the rows `order[..=pos]` (the row at `pos` taken with all its mass unless `partial`): the
/// run must reach past `pos` (a row left out could swap with one taken) or, for a `partial`
/// last row, hold another row (which row is partial could change). Empty otherwise: the
/// fast values settle the selection.
pub(super) fn uncertain_run(
    values: &[f64],
    order: &[usize],
    pos: usize,
    partial: bool,
    rel: f64,
) -> Vec<usize> {
    if pos >= order.len() {
        return Vec::new();
    }
    let tie = |p: usize| could_tie(values[order[p]], values[order[p + 1]], rel);
    let (mut lo, mut hi) = (pos, pos);
    while lo > 0 && tie(lo - 1) {
        lo -= 1;
    }
    while hi + 1 < order.len() && tie(hi) {
        hi += 1;
    }
    if lo == hi || (hi == pos && !partial) {
        Vec::new()
    } else {
        order[lo..=hi].to_vec()
    }
}

/// The boundary of a mass prefix (`taken`, from
/// [`prefix_by_distance`](super::mass::prefix_by_distance) with weights `w`): the position of
/// its last row, and whether that row got only part of its weight.
pub(super) fn prefix_boundary(taken: &[(usize, f64)], w: &[f64]) -> (usize, bool) {
    match taken.last() {
        Some(&(i, mass)) => (taken.len() - 1, mass < w[i]),
        None => (0, false),
    }
}

/// The relative bound of the backend's distances for rows of `d` coordinates, when it can
/// recompute them exactly ([`Kernels::dist_error`]).
pub(super) fn dist_error<K: Kernels>(k: &K, rows: &K::Rows<'_>) -> Option<f64> {
    k.dist_error(k.shape(rows).1)
}

/// Rows ordered by (`r`, index) among those of positive weight: the order of
/// [`prefix_by_distance`](super::mass::prefix_by_distance).
pub(super) fn mass_order(r: &[f64], w: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..r.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| r[a].total_cmp(&r[b]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_is_the_values_within_the_bound_around_the_boundary() {
        let values = [
            1.0,
            2.0,
            2.0 + 1e-9,
            2.0 + 2e-9,
            3.0,
            f64::INFINITY,
            f64::INFINITY,
        ];
        let order: Vec<usize> = (0..values.len()).collect();
        let rel = 1e-9;
        assert_eq!(uncertain_run(&values, &order, 2, false, rel), vec![1, 2, 3]);
        assert_eq!(uncertain_run(&values, &order, 1, false, rel), vec![1, 2, 3]);
        assert!(uncertain_run(&values, &order, 0, false, rel).is_empty());
        assert!(uncertain_run(&values, &order, 4, false, rel).is_empty());
        // Infinite values are exact: never a run.
        assert!(uncertain_run(&values, &order, 5, false, rel).is_empty());
        assert!(uncertain_run(&values, &order, 9, false, rel).is_empty());
        // A bound too tight to join them.
        assert!(uncertain_run(&values, &order, 2, false, 1e-12).is_empty());
        // Exact zeros tie with each other.
        assert_eq!(
            uncertain_run(&[0.0, 0.0, 1.0], &[1, 0, 2], 0, false, 1e-9),
            vec![1, 0]
        );
        // A run that ends at the last row taken changes nothing, unless that row is partial.
        assert!(uncertain_run(&values, &order, 3, false, rel).is_empty());
        assert_eq!(uncertain_run(&values, &order, 3, true, rel), vec![1, 2, 3]);
    }

    #[test]
    fn the_boundary_is_the_last_row_taken() {
        let w = [1.0, 2.0, 1.0];
        assert_eq!(prefix_boundary(&[(2, 1.0), (1, 2.0)], &w), (1, false));
        assert_eq!(prefix_boundary(&[(2, 1.0), (1, 0.5)], &w), (1, true));
        assert_eq!(prefix_boundary(&[], &w), (0, false));
    }
}
