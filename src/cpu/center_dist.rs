//! Primitive 3, `center_dist` (SPEC 4.5-4.7 and section 5): the `n` squared Euclidean
//! distances from each row to one `1 x d` center.
//!
//! ## Layout, chunking and accuracy
//!
//! The center is treated as an extra row and the `n` pairs (row, center) go through the
//! pair-sum engine of `pairwise_dist.rs`: rayon over coordinate chunks, f32 block sums of at
//! most 256 terms added into f64 partials, a block recomputed in f64 when its f32 sum
//! overflows or underflows. Relative error about 1e-6 against an f64 loop.
//!
//! ## Non-finite values
//!
//! A row holding NaN or an infinity is at `+inf`; a center holding one puts every row at
//! `+inf`. Never NaN.

use super::pairwise_dist::pair_sums;

/// Squared distances from each of `rows` to `center` (all of one length).
pub(super) fn center_dist(rows: &[&[f32]], center: &[f32]) -> Vec<f64> {
    let n = rows.len();
    let mut all = rows.to_vec();
    all.push(center);
    let pairs: Vec<(usize, usize)> = (0..n).map(|i| (i, n)).collect();
    let sums = pair_sums(&all, &pairs);
    (0..n)
        .map(|i| {
            if sums.bad[i] || sums.bad[n] {
                f64::INFINITY
            } else {
                sums.sums[i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        if a.iter().chain(b).any(|v| !v.is_finite()) {
            return f64::INFINITY;
        }
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum()
    }

    #[test]
    fn matches_naive() {
        let mut state = 5u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for &n in &[1, 2, 7, 70] {
            for &d in &[1, 7, 33, 1001, 9000] {
                for exp in [-30, 0, 30, 38] {
                    let s = 10f64.powi(exp);
                    let rows: Vec<Vec<f32>> = (0..n)
                        .map(|_| (0..d).map(|_| (next() * s) as f32).collect())
                        .collect();
                    let center: Vec<f32> = (0..d).map(|_| (next() * s) as f32).collect();
                    let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                    let got = center_dist(&slices, &center);
                    for (i, g) in got.iter().enumerate() {
                        let e = naive(&rows[i], &center);
                        assert!(
                            (g - e).abs() <= 2e-6 * e,
                            "n {n} d {d} row {i}: got {g}, want {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn non_finite_rows_and_centers() {
        let rows = [
            vec![1.0f32, 2.0, 3.0],
            vec![f32::NAN, 0.0, 0.0],
            vec![0.0, f32::INFINITY, 0.0],
        ];
        let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(
            center_dist(&slices, &[1.0, 2.0, 4.0]),
            vec![1.0, f64::INFINITY, f64::INFINITY]
        );
        assert_eq!(
            center_dist(&slices, &[1.0, f32::NEG_INFINITY, 4.0]),
            vec![f64::INFINITY; 3]
        );
        // A center equal to a row is at distance 0 exactly.
        assert_eq!(center_dist(&slices[..1], &rows[0]), vec![0.0]);
    }
}
