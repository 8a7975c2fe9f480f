//! The scale of the data that the default geometric median measures its stopping tolerance and
//! its smoothing against (SPEC 4.5), shared by the reference and the rule layer so that both
//! stop by the same rule.
//!
//! Absolute constants (a step of 1e-6, a smoothing radius of 1e-6) made the default `gm`
//! depend on the units of the data: on updates of magnitude 1e-7 every row lay within the
//! smoothing radius of the start, and the coordinate-wise median came back unchanged. Measured
//! against a scale of the data itself, `gm(c X) = c gm(X)` for every `c > 0` (SPEC section 2:
//! only ratios matter). The papers' fixed-iteration form (`tol = 0`, `gm(preset=rfa)`) keeps
//! its absolute `nu`, as they define it.

/// The weighted median of the distances `sqrt(r2[i])` of the rows of positive weight and
/// finite distance to the start of the iterations; where that is 0 (half the weight sits on
/// the start), the largest such distance. It is 0 only when every such row is at the start
/// (which then is the geometric median) or there is none.
pub(crate) fn gm_scale(r2: &[f64], w: &[f64]) -> f64 {
    let mut live: Vec<(f64, f64)> = r2
        .iter()
        .zip(w)
        .filter(|(r, wi)| **wi > 0.0 && r.is_finite())
        .map(|(r, wi)| (r.sqrt(), *wi))
        .collect();
    live.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = live.iter().map(|(_, wi)| wi).sum();
    let mut mass = 0.0;
    for &(r, wi) in &live {
        mass += wi;
        if 2.0 * mass >= total {
            if r > 0.0 {
                return r;
            }
            break;
        }
    }
    live.last().map_or(0.0, |&(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::gm_scale;

    #[test]
    fn the_weighted_median_distance_or_the_largest() {
        // Distances 1, 2, 3, 4 (squared below), weights 1, 1, 1, 1: half the mass at 2.
        assert_eq!(gm_scale(&[1.0, 4.0, 9.0, 16.0], &[1.0; 4]), 2.0);
        // Weight moves the median; zero weight and non-finite distances take no part.
        assert_eq!(gm_scale(&[1.0, 4.0, 9.0, 16.0], &[0.5, 0.5, 5.0, 1.0]), 3.0);
        assert_eq!(
            gm_scale(&[f64::INFINITY, 0.0, 4.0, 1e6], &[9.0, 1.0, 1.0, 0.0]),
            2.0
        );
        // Half the mass on the start: the largest distance; nothing off it: 0.
        assert_eq!(gm_scale(&[0.0, 0.0, 9.0], &[1.0, 1.0, 1.0]), 3.0);
        assert_eq!(gm_scale(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(gm_scale(&[f64::NAN], &[1.0]), 0.0);
        // Equivariant: distances times c give the scale times c.
        let c = 1e-30f64;
        let r2: Vec<f64> = [1.0, 4.0, 9.0].iter().map(|r| r * c * c).collect();
        assert!((gm_scale(&r2, &[1.0; 3]) / c - 2.0).abs() < 1e-12);
    }
}
