//! The `distances=fast` kernels' error bound ([`relative_bound`]), the exact recomputation of
//! the totals it does not cover ([`recompute_small`]), and so the backend's
//! [`Kernels::dist_error`]: what lets the rules keep the exact-sum variants' selections.
//!
//! **What "exact" is on wgpu.** The `serial` and `coalesced` kernels round each scaled square
//! once to f32, truncate it to an integer number of units of 2^-10 (`wide_of` in
//! `shaders/wide_sum.wgsl`) and add those integers exactly: the exact sum of the f32-rounded
//! squares, as wgpu's distances always were. That ties bit for bit wherever two distances have
//! equal multisets of squared differences (rows of +-s, identical rows); it is not the
//! reference's f64-rounded sum, so an "exact" wgpu distance means this one.
//! [`Kernels::exact_pair_dist`] and [`Kernels::exact_center_dist`] return it (with `exact`
//! true or false alike: there is one recomputation kernel, so [`Kernels::refined_dist_error`]
//! is `Some(0.0)`), and [`Kernels::dist_error`] bounds the fast values against it.
//!
//! **The bound.** In units of 2^-10 of the scaled values (a pair's or row's power-of-two
//! scale is the same in both kernels), let one lane of a fast kernel add K = 16 f32 squares
//! q_1..q_K (`COALESCED_STEPS`; fewer at a chunk's end) with sum S (real), and let u = 2^-24.
//! - Today's lane value is T = sum floor(q_k), so S - K < T <= S.
//! - The fast lane sum f is those K squares added in f32 in some order (WGSL lets a compiler
//!   reassociate, or contract `lane + delta * delta` into an FMA, which skips the square's own
//!   rounding: at most K roundings per term in all), so |f - S| <= g S with g = K u / (1 - K u)
//!   (Higham's gamma_K), where no result is flushed; NVIDIA flushes subnormal results (FTZ),
//!   each flush losing under 2^-126 = 2^-116 units, at most 2K of them per lane: under 1 unit.
//!   The lane's value is F = floor(f), so (1 - g) S - 2 < F <= (1 + g) S.
//! - Hence |F - T| <= g S + K + 1 <= g T + (K + 1) + g K per lane, and summed over the lanes
//!   (a lane with k_l terms: k_l + 1, and sum (k_l + 1) <= 2d, at most one lane per
//!   coordinate) the totals satisfy |F - T| <= g T + E with E = 2d units.
//! - Zero is exact: every partial sum of nonnegative values in round-to-nearest is at least
//!   each of its terms (a flush happens only below 2^-126, far below one unit), so F = 0 only
//!   if every q_k < 1 unit, that is T = 0.
//! - Small totals are recomputed: any total with 0 < F < R, R = E (1 + 1/(K u)) =
//!   2d (2^20 + 1), is replaced by the exact-sum kernel's T before the primitive returns
//!   ([`recompute_small`]). For F >= R, T >= (F - E) / (1 + g) >= E (1/(K u) - 1) = E / g, so
//!   E <= g T and |F - T| <= 2 g T.
//! - The host converts each total to f64 once (relative error 2^-53 each side) and scales by
//!   a power of two, so the returned fast value is within 2 g + 2^-50 (relative) of the exact
//!   one: [`relative_bound`], about 1.9e-6. With K = 16, R is about 2^21 d units (2^11 d in
//!   scaled value, where a row's largest magnitude is scaled to about 2^40): only distances
//!   below about 2^-29 d of the largest squared coordinate are recomputed, a pair of nearly
//!   equal rows, never random data; identical rows give exactly 0.
//!
//! [`Kernels::dist_error`]: crate::Kernels::dist_error
//! [`Kernels::refined_dist_error`]: crate::Kernels::refined_dist_error
//! [`Kernels::exact_pair_dist`]: crate::Kernels::exact_pair_dist
//! [`Kernels::exact_center_dist`]: crate::Kernels::exact_center_dist

use super::kernel_variant::COALESCED_STEPS;
use crate::error::Result;

/// K u: the f32 roundings per term of a fast lane sum times the unit roundoff.
fn lane_roundoff() -> f64 {
    COALESCED_STEPS as f64 * 2f64.powi(-24)
}

/// The relative bound of a fast distance against the exact-sum one (the module docs):
/// `2 g + 2^-50`, g = K u / (1 - K u).
pub(super) fn relative_bound() -> f64 {
    let ku = lane_roundoff();
    2.0 * ku / (1.0 - ku) + 2f64.powi(-50)
}

/// R: fast totals (integers in units of 2^-10) of `d` coordinates below this, and above 0,
/// are recomputed exactly: `2d (1 + 1/(K u))`.
pub(super) fn recompute_below(d: usize) -> u128 {
    let per_e = 1 + (1.0 / lane_roundoff()) as u128;
    2 * d as u128 * per_e
}

/// Replaces each fast total of `d` coordinates in `totals` that the bound does not cover
/// (`0 < total < recompute_below(d)`) by the exact-sum total, which `exact` computes for the
/// positions it is given (in increasing order, one value each). Calls `exact` at most once,
/// and not at all when no total needs it (random data).
pub(super) fn recompute_small(
    totals: &mut [u128],
    d: usize,
    exact: impl FnOnce(&[usize]) -> Result<Vec<u128>>,
) -> Result<()> {
    let below = recompute_below(d);
    let redo: Vec<usize> = (0..totals.len())
        .filter(|&p| totals[p] > 0 && totals[p] < below)
        .collect();
    if redo.is_empty() {
        return Ok(());
    }
    for (&p, v) in redo.iter().zip(exact(&redo)?) {
        totals[p] = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_and_threshold_follow_from_k_16() {
        // The shaders' lane length is the one the bound assumes.
        let wgsl = include_str!("../../shaders/wide_sum.wgsl");
        assert!(wgsl.contains(&format!("const COALESCED_STEPS: u32 = {COALESCED_STEPS}u;")));
        assert_eq!(COALESCED_STEPS, 16);
        let rel = relative_bound();
        assert!(rel > 2.0 * 16.0 * 2f64.powi(-24) && rel < 1.91e-6, "{rel}");
        assert_eq!(recompute_below(1), 2 * ((1 << 20) + 1));
        assert_eq!(recompute_below(1000), 2000 * ((1 << 20) + 1));
    }

    #[test]
    fn only_small_nonzero_totals_are_recomputed_in_one_call() {
        let below = recompute_below(10);
        let mut totals = vec![0, below - 1, below, 1, u128::MAX];
        let mut calls = 0;
        recompute_small(&mut totals, 10, |redo| {
            calls += 1;
            assert_eq!(redo, &[1, 3]);
            Ok(vec![7, 8])
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(totals, vec![0, 7, below, 8, u128::MAX]);
        let mut big = vec![0, below];
        recompute_small(&mut big, 10, |_| panic!("nothing to recompute")).unwrap();
    }
}
