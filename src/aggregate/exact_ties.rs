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

use crate::error::Result;
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

/// The backend's exact (or refined: `exact = false`) squared distances of `pairs` (each
/// `(i, j)` with `i < j`), as [`Kernels::exact_pair_dist`], with equal rows' values
/// recomputed once ([`SharedPairs`]). The attacks that send one vector from every Byzantine
/// worker (ALIE, IPM, empire, min-max, ...) tie every honest row's distances to those copies
/// exactly, so without this each honest row would ask for its distance to every copy, each
/// an exact pass over the coordinates. The stand-ins are checked in the same call (an exact
/// or refined distance is 0 only between equal rows); should one not be equal after all, the
/// pairs are recomputed as asked.
pub(super) fn exact_pair_dist_once<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    dist: &[f64],
    pairs: &[(usize, usize)],
    exact: bool,
) -> Result<Vec<f64>> {
    let shared = SharedPairs::new(dist, k.shape(rows).0, pairs);
    if shared.ask.len() >= pairs.len() {
        return k.exact_pair_dist(rows, pairs, exact);
    }
    let values = k.exact_pair_dist(rows, &shared.ask, exact)?;
    let at = |p: (usize, usize)| values[shared.ask.binary_search(&p).expect("an asked pair")];
    if shared.stand_ins.iter().any(|&p| at(p) != 0.0) {
        return k.exact_pair_dist(rows, pairs, exact);
    }
    Ok(shared.pairs.iter().map(|&p| at(p)).collect())
}

/// The pairs to recompute when equal rows share their distances: a row at fast distance 0
/// (`dist`, `n x n`; the fast 0 of equal rows) from an earlier one stands in for it by the
/// first such row.
#[derive(Debug, PartialEq)]
struct SharedPairs {
    /// Each asked pair with its rows replaced by their stand-ins (a pair whose two rows share
    /// one is kept as asked: two equal rows' fast 0 never asks).
    pairs: Vec<(usize, usize)>,
    /// `(first, row)` for each row a stand-in replaced: the pairs whose exact 0 confirms it.
    stand_ins: Vec<(usize, usize)>,
    /// What to ask the backend for: the replaced pairs and the stand-ins, sorted, once each.
    ask: Vec<(usize, usize)>,
}

impl SharedPairs {
    fn new(dist: &[f64], n: usize, asked: &[(usize, usize)]) -> SharedPairs {
        let first: Vec<usize> = (0..n)
            .map(|i| (0..i).find(|&j| dist[i * n + j] == 0.0).unwrap_or(i))
            .collect();
        let pairs: Vec<(usize, usize)> = asked
            .iter()
            .map(|&(i, j)| match (first[i], first[j]) {
                (a, b) if a == b => (i, j),
                (a, b) => (a.min(b), a.max(b)),
            })
            .collect();
        let mut stand_ins: Vec<(usize, usize)> = asked
            .iter()
            .zip(&pairs)
            .filter(|(a, p)| a != p)
            .flat_map(|(&(i, j), _)| [i, j])
            .filter(|&m| first[m] != m)
            .map(|m| (first[m], m))
            .collect();
        stand_ins.sort_unstable();
        stand_ins.dedup();
        let mut ask: Vec<(usize, usize)> = pairs.iter().chain(&stand_ins).copied().collect();
        ask.sort_unstable();
        ask.dedup();
        SharedPairs {
            pairs,
            stand_ins,
            ask,
        }
    }
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

    /// Fast distances of rows given as values: `|a - b|`, 0 between equal ones.
    fn line_dist(values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .flat_map(|a| values.iter().map(move |b| (a - b).abs()))
            .collect()
    }

    #[test]
    fn copies_share_one_recomputed_distance_to_each_other_row() {
        // 9 distinct honest rows, then 8 copies of one vector (rows 9..17).
        let values: Vec<f64> = (0..17).map(|i| if i < 9 { i as f64 } else { -1.0 }).collect();
        let dist = line_dist(&values);
        // Every honest row's distance to every copy, as NNM's ties ask for them.
        let asked: Vec<(usize, usize)> = (0..9).flat_map(|h| (9..17).map(move |b| (h, b))).collect();
        let shared = SharedPairs::new(&dist, 17, &asked);
        let stand_ins: Vec<(usize, usize)> = (10..17).map(|b| (9, b)).collect();
        assert_eq!(shared.stand_ins, stand_ins);
        assert_eq!(shared.ask.len(), 9 + 7, "{:?}", shared.ask);
        assert!(asked.iter().zip(&shared.pairs).all(|(&(h, _), &p)| p == (h, 9)));
        // No equal rows: the pairs as asked, nothing to confirm.
        let distinct: Vec<f64> = (0..5).map(f64::from).collect();
        let asked = [(0, 3), (1, 2), (2, 4)];
        let shared = SharedPairs::new(&line_dist(&distinct), 5, &asked);
        assert_eq!(shared.pairs, asked);
        assert!(shared.stand_ins.is_empty());
        assert_eq!(shared.ask, asked);
    }

    #[test]
    fn shared_distances_are_the_backends_own_even_where_a_fast_zero_lies() {
        use crate::Batch;
        use crate::cpu::{Cpu, HostRows};
        let d = 3000;
        let row = |s: f32| (0..d).map(|c| s * ((c % 7) as f32 - 3.0)).collect::<Vec<f32>>();
        // Rows 2 and 3 equal row 1; row 4 differs from row 1 in one coordinate.
        let mut rows = vec![row(0.5), row(1.0), row(1.0), row(1.0), row(1.0), row(2.0)];
        rows[4][17] += 1e-3;
        let batch = Batch::from_rows(&rows).expect("batch");
        let host = HostRows::Borrowed(batch);
        let cpu = Cpu::new();
        let n = rows.len();
        let mut dist = cpu.pairwise_dist(&host).expect("distances");
        let asked: Vec<(usize, usize)> = (1..5).flat_map(|m| [(0, m), (m, 5)]).collect();
        let each = cpu.exact_pair_dist(&host, &asked, true).expect("exact");
        assert_eq!(
            exact_pair_dist_once(&cpu, &host, &dist, &asked, true).expect("once"),
            each
        );
        // A fast 0 between unequal rows (1 and 4): the stand-in is caught, the values stay
        // the backend's own.
        dist[4 * n + 1] = 0.0;
        assert_eq!(
            SharedPairs::new(&dist, n, &asked).stand_ins,
            vec![(1, 2), (1, 3), (1, 4)]
        );
        assert_eq!(
            exact_pair_dist_once(&cpu, &host, &dist, &asked, true).expect("once"),
            each
        );
        assert_ne!(each[0], each[6], "rows 1 and 4 differ");
    }
}
