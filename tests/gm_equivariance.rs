//! The default geometric median is scale-equivariant (SPEC 4.5 and section 2): `gm(c X)` is
//! `c gm(X)` for every `c` from 1e-30 to 1e30, and at every scale it is the true geometric
//! median (the weighted sum of unit vectors from it to the rows is ~0). Its stopping tolerance
//! and smoothing are fractions of the data's own scale; absolute ones returned the
//! coordinate-wise median on updates of magnitude 1e-7. `gm(preset=rfa)` keeps the papers'
//! absolute definition (its golden value is checked in `reference.rs` and `golden.rs`).

#[macro_use]
mod common;

use byzagg::{Backend, Rule};
use common::{Rng, backend_or_skip, run};

const SCALES: [f64; 13] = [
    1e-30, 1e-20, 1e-12, 1e-10, 1e-7, 1e-5, 1e-3, 1.0, 1e3, 1e7, 1e10, 1e20, 1e30,
];

/// `|sum_i w_i (x_i - z) / ||x_i - z||| / sum_i w_i`: 0 at the geometric median (no row on z).
fn optimality_gap(rows: &[Vec<f64>], w: &[f64], z: &[f64]) -> f64 {
    let d = z.len();
    let mut pull = vec![0.0; d];
    for (x, wi) in rows.iter().zip(w) {
        let r = x.iter().zip(z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        for j in 0..d {
            pull[j] += wi * (x[j] - z[j]) / r;
        }
    }
    pull.iter().map(|p| p * p).sum::<f64>().sqrt() / w.iter().sum::<f64>()
}

fn default_gm_is_scale_equivariant(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let rule: Rule = "gm".parse().expect("rule text");
    let (n, d) = (11, 16);
    let mut failures = Vec::new();
    for (seed, weights) in [
        (1, None),
        (
            2,
            Some(vec![1.0, 3.0, 2.0, 1.0, 1.0, 5.0, 2.0, 1.0, 4.0, 1.0, 2.0]),
        ),
    ] {
        let data = Rng(seed).rows(n, d);
        let want = run(&rule, backend, &data, n, weights.as_deref(), None).expect("gm at scale 1");
        let w = weights.clone().unwrap_or_else(|| vec![1.0; n]);
        for c in SCALES {
            let scaled: Vec<f32> = data.iter().map(|v| (f64::from(*v) * c) as f32).collect();
            let got = match run(&rule, backend, &scaled, n, weights.as_deref(), None) {
                Ok(got) => got,
                Err(e) => {
                    failures.push(format!("seed {seed}, scale {c:e}: error {e}"));
                    continue;
                }
            };
            // Back to scale 1: the rows spread about 1 apart, so this is a relative error.
            let back: Vec<f64> = got.iter().map(|v| f64::from(*v) / c).collect();
            let worst = back
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - f64::from(*b)).abs())
                .fold(0.0, f64::max);
            let rows: Vec<Vec<f64>> = scaled
                .chunks(d)
                .map(|r| r.iter().map(|v| f64::from(*v) / c).collect())
                .collect();
            let gap = optimality_gap(&rows, &w, &back);
            if !(worst <= 1e-4 && gap <= 1e-3) {
                failures.push(format!(
                    "seed {seed}, scale {c:e}: gm(cX)/c off gm(X) by {worst:e}, optimality gap {gap:e}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "on {backend}:\n{}", failures.join("\n"));
}

backend_tests!(
    [default_gm_is_scale_equivariant];
    reference => byzagg::Backend::Reference, cpu => byzagg::Backend::Cpu, wgpu => byzagg::Backend::Wgpu, cuda => byzagg::Backend::Cuda
);
