//! Rows made of a few values (+-s at scales from 1 to 1e38) have many exactly tied distances;
//! every backend must break those ties as the reference does (by row index), so the distance
//! rules pick the same rows: Krum, Multi-Krum, CTMA and NNM agree with the reference at
//! every scale. (wgpu adds squares exactly as integers, the reference rounds exact sums once:
//! neither depends on where the tied coordinates sit.)

#[macro_use]
mod common;

use byzagg::{Backend, Batch, ByzantineShare, Rule, reference};
use common::{Rng, backend_or_skip, run};

/// n rows of d values, each +scale or -scale (a few rows repeated, so some distances are 0).
fn sign_rows(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Vec<f32> {
    let mut data: Vec<f32> = (0..n * d)
        .map(|_| if rng.below(2) == 0 { scale } else { -scale })
        .collect();
    data.copy_within(0..d, 3 * d);
    data
}

/// Within 1e-5 of the data's scale `scale` (the values are +-scale or within it; no floor at
/// 1, so that a wrong row at 1e-30 shows), non-finite values equal.
fn agrees(got: &[f32], want: &[f32], scale: f32) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            if g.is_finite() && w.is_finite() {
                (f64::from(*g) - f64::from(*w)).abs() <= 1e-5 * f64::from(scale)
            } else {
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())
            }
        })
}

fn ties_break_like_the_reference(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(21);
    let mut failures = Vec::new();
    for scale in [1e-30f32, 1e-20, 1.0, 3.0e9, 1e19, 1e30, 1e37, 1e38, 3e38] {
        for (n, d) in [(10, 16), (12, 70), (9, 200), (8, 1000), (11, 9000)] {
            let data = sign_rows(&mut rng, n, d, scale);
            for text in [
                "krum",
                "multikrum",
                "multikrum(m=4)",
                "ctma(cwmed)",
                "nnm(cwmed)",
                // Not nnm(krum): Krum then ranks NNM's mixed rows, which a GPU backend holds
                // in f32, rounded; their exact ties become ties within float error, which
                // SPEC 5 lets either row win.
            ] {
                let rule: Rule = text.parse().expect("rule text");
                let share = ByzantineShare::F(2);
                let batch = Batch::from_contiguous(&data, n).expect("batch");
                let plan = rule.plan(n, Some(share)).expect("plan");
                let want: Vec<f32> = reference::aggregate(&plan, &batch)
                    .expect("reference")
                    .iter()
                    .map(|v| *v as f32)
                    .collect();
                let got = run(&rule, backend, &data, n, None, Some(share)).expect("aggregate");
                if !agrees(&got, &want, scale) {
                    failures.push(format!("{text} at scale {scale:e}, n = {n}, d = {d}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{backend} broke ties unlike the reference:\n{}",
        failures.join("\n")
    );
}

/// Random rows at several scales (no exact ties): the rules pick the reference's rows.
fn random_rows_pick_like_the_reference(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(5);
    let mut failures = Vec::new();
    for scale in [1e-30f32, 1.0, 1e30] {
        for (n, d) in [(10, 16), (12, 300), (9, 9000)] {
            let data: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0) as f32 * scale).collect();
            for text in ["krum", "multikrum", "multikrum(m=4)", "ctma(cwmed)", "nnm(cwmed)"] {
                let rule: Rule = text.parse().expect("rule text");
                let share = ByzantineShare::F(2);
                let batch = Batch::from_contiguous(&data, n).expect("batch");
                let plan = rule.plan(n, Some(share)).expect("plan");
                let want: Vec<f32> = reference::aggregate(&plan, &batch)
                    .expect("reference")
                    .iter()
                    .map(|v| *v as f32)
                    .collect();
                let got = run(&rule, backend, &data, n, None, Some(share)).expect("aggregate");
                if !agrees(&got, &want, scale) {
                    failures.push(format!("{text} at scale {scale:e}, n = {n}, d = {d}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{backend} picked other rows:\n{}",
        failures.join("\n")
    );
}

backend_tests!(
    [ties_break_like_the_reference];
    wgpu => byzagg::Backend::Wgpu
);

/// CUDA's fast distance sums (f32 lanes flushed to f64) break some exact ties (this test
/// failed on an H200, 2026-12-04). `BYZAGG_CUDA_KERNELS=pairwise_ties=exact`
/// recomputes the near-tied distances exactly; with it the same H200 run still found Multi-Krum
/// differing at 3e9 and 3e38 (ties between score sums, which it does not target), and
/// `pairwise_dist` with it took 7.5-9x its earlier time on random rows at d = 10^8, so it is
/// not the default. The rules' boundary recompute that makes the cpu backend tie-exact
/// (`Kernels::dist_error`, `exact_pair_dist`, `exact_center_dist`) has no CUDA implementation
/// yet; that is the way to make this test pass.
/// Kept runnable (`--ignored`, on a GPU: `scripts/gpu-check.sh` runs it with
/// `BYZAGG_CUDA_KERNELS=pairwise=tiled,pairwise_ties=exact`) until a GPU run passes.
mod cuda {
    #[test]
    #[ignore = "CUDA's fast distance sums break some exact ties (see the module comment)"]
    fn ties_break_like_the_reference() {
        super::ties_break_like_the_reference(byzagg::Backend::Cuda)
    }
}

/// The CPU backend's fast sums (f32 lanes) are within a bound of the exact ones; the rules
/// recompute exactly the distances at a selection's boundary that lie within it, so it
/// breaks ties as the reference at every SIMD level (`each_simd_level` runs this test at the
/// lower ones too).
mod cpu {
    #[test]
    fn ties_break_like_the_reference() {
        super::ties_break_like_the_reference(byzagg::Backend::Cpu)
    }

    /// Rows of random values: no exact ties, the same rows as the reference picks (the fast
    /// distances order them; a near tie that they cannot order is recomputed exactly).
    #[test]
    fn random_rows_pick_like_the_reference() {
        super::random_rows_pick_like_the_reference(byzagg::Backend::Cpu)
    }

    /// The tests above at each SIMD level below the CPU's own (`BYZAGG_SIMD`), in a child
    /// process each, since the level is read from the environment.
    #[test]
    fn each_simd_level() {
        let exe = std::env::current_exe().expect("test binary");
        for level in ["avx2", "generic"] {
            let out = std::process::Command::new(&exe)
                .args(["--exact", "cpu::ties_break_like_the_reference"])
                .arg("cpu::random_rows_pick_like_the_reference")
                .env("BYZAGG_SIMD", level)
                .output()
                .expect("run the test binary");
            let text = String::from_utf8_lossy(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "BYZAGG_SIMD={level}:\n{text}\n{err}");
            assert!(text.contains("2 passed"), "BYZAGG_SIMD={level}:\n{text}");
        }
    }
}
