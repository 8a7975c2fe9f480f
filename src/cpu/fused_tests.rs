//! Test batches for the fused kernels (`order_stats_dist.rs`, `mix_dist.rs`), which must give
//! the bits of the primitives they fuse.

use crate::rng::SplitMix64;

/// Batches `(rows, weights)` over many `n` and `d` (ragged tails past every chunk size of the
/// primitives), with rows of ordinary values and rows holding NaN, infinities, values near
/// 1e30 and f32::MAX, subnormals and signed zeros; uniform weights, other weights and zero
/// weights.
pub(super) fn batches(seed: u64) -> Vec<(Vec<Vec<f32>>, Vec<f64>)> {
    let mut rng = SplitMix64(seed);
    let mut unit = move || rng.unit() * 2.0 - 1.0;
    let mut out = Vec::new();
    for (n, d) in [
        (1usize, 1usize),
        (2, 17),
        (3, 300),
        (5, 4097),
        (8, 8192),
        (7, 8193),
        (16, 2 * 8192 + 4100),
        (33, 3 * 8192 + 2049),
        (4, 5 * 8192 + 7),
    ] {
        for special in [false, true] {
            let mut rows: Vec<Vec<f32>> = (0..n)
                .map(|i| (0..d).map(|_| (unit() * (1.0 + i as f64)) as f32).collect())
                .collect();
            if special {
                let d0 = d.saturating_sub(1);
                let pos = |f: f64| ((f * d as f64) as usize).min(d0);
                let put = |rows: &mut Vec<Vec<f32>>, i: usize, j: usize, v: f32| rows[i % n][j] = v;
                put(&mut rows, 1, pos(0.9), f32::NAN);
                put(&mut rows, 2, pos(0.1), f32::INFINITY);
                put(&mut rows, 3, pos(0.5), f32::NEG_INFINITY);
                if n > 4 {
                    rows[4].iter_mut().for_each(|v| *v = (unit() * 1e30) as f32);
                }
                if n > 5 {
                    rows[5].iter_mut().for_each(|v| *v = (unit() * 1e-40) as f32); // subnormal
                }
                if n > 6 {
                    for (j, v) in rows[6].iter_mut().enumerate().step_by(3) {
                        *v = if j % 2 == 0 { -0.0 } else { f32::MAX };
                    }
                }
            }
            let uniform = vec![1.0; n];
            let mut weighted: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64).collect();
            if n > 2 {
                weighted[0] = 0.0; // a row left out of the order statistic
            }
            out.push((rows.clone(), uniform));
            out.push((rows, weighted));
        }
    }
    out
}

/// Asserts that the fused result `(center, dist)` has the bits of the composition's.
pub(super) fn same_bits(center: &[f32], want: &[f32], want_dist: &[f64], dist: &[f64], what: &str) {
    assert_eq!(center.len(), want.len(), "{what}");
    for (j, (g, e)) in center.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), e.to_bits(), "{what}: coordinate {j}: {g} vs {e}");
    }
    assert_eq!(dist.len(), want_dist.len(), "{what}");
    for (i, (g, e)) in dist.iter().zip(want_dist).enumerate() {
        assert_eq!(g.to_bits(), e.to_bits(), "{what}: row {i}: {g} vs {e}");
    }
}
