//! Rows made of a few values (+-s at scales from 1 to 1e38) have many exactly tied distances;
//! every backend must break those ties as the reference does (by row index), so the distance
//! rules pick the same rows: Krum, Multi-Krum, CTMA, NNM, CGE and MoNNA agree with the
//! reference at every scale. (wgpu adds squares exactly as integers, the reference rounds exact sums once:
//! neither depends on where the tied coordinates sit; wgpu's `distances=fast` kernels add 16
//! squares in f32 first and recompute the boundary's distances exactly, as the CPU does. The cpu and CUDA backends sum fast,
//! within a proven bound, and recompute exactly the distances at a selection's boundary that
//! the bound cannot order: `aggregate/exact_ties.rs`.)

#[macro_use]
mod common;

use byzagg::{Backend, Batch, ByzantineShare, Rule, reference};
use common::{Rng, backend_or_skip, run};

/// The rules that select rows by distance. Not nnm(krum): Krum then ranks NNM's mixed rows,
/// which a GPU backend holds in f32, rounded; their exact ties become ties within float error,
/// which SPEC 5 lets either row win.
const RULES: [&str; 7] = [
    "krum",
    "multikrum",
    "multikrum(m=4)",
    "ctma(cwmed)",
    "nnm(cwmed)",
    "cge",
    "monna",
];

/// n rows of d values, each +scale or -scale (a few rows repeated, so some distances are 0).
fn sign_rows(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Vec<f32> {
    let mut data: Vec<f32> = (0..n * d)
        .map(|_| if rng.below(2) == 0 { scale } else { -scale })
        .collect();
    data.copy_within(0..d, 3 * d);
    data
}

/// n rows of d values uniform in (-scale, scale): no exact ties.
fn random_rows(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Vec<f32> {
    (0..n * d).map(|_| rng.range(-1.0, 1.0) as f32 * scale).collect()
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

/// Every rule of [`RULES`] on `backend` against the reference, on rows drawn by `rows` (from
/// seed `seed`) at each scale and shape; fails listing each (rule, scale, shape) whose result
/// differs.
fn picks_like_the_reference(
    backend: Backend,
    seed: u64,
    scales: &[f32],
    shapes: &[(usize, usize)],
    rows: fn(&mut Rng, usize, usize, f32) -> Vec<f32>,
) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let share = ByzantineShare::F(2);
    for &scale in scales {
        for &(n, d) in shapes {
            let data = rows(&mut rng, n, d, scale);
            let batch = Batch::from_contiguous(&data, n).expect("batch");
            for text in RULES {
                let rule: Rule = text.parse().expect("rule text");
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
        "{backend} picked other rows than the reference:\n{}",
        failures.join("\n")
    );
}

/// n rows of d values uniform in (-scale, scale), the last three one copy of a vector (the
/// shape of the attacks that send one vector from every Byzantine worker): every row's
/// distances to the copies tie exactly, and the backends recompute them once per row.
fn copied_rows(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Vec<f32> {
    let mut data = random_rows(rng, n, d, scale);
    for r in n - 2..n {
        data.copy_within((n - 3) * d..(n - 2) * d, r * d);
    }
    data
}

/// Sign rows from 1e-30 to 3e38: exact ties everywhere.
fn ties_break_like_the_reference(backend: Backend) {
    picks_like_the_reference(
        backend,
        21,
        &[1e-30, 1e-20, 1.0, 3.0e9, 1e19, 1e30, 1e37, 1e38, 3e38],
        &[(10, 16), (12, 70), (9, 200), (8, 1000), (11, 9000)],
        sign_rows,
    );
}

/// Random rows at several scales (no exact ties): the rules pick the reference's rows (the
/// fast distances order them; a near tie that they cannot order is recomputed exactly).
fn random_rows_pick_like_the_reference(backend: Backend) {
    picks_like_the_reference(
        backend,
        5,
        &[1e-30, 1.0, 1e30],
        &[(10, 16), (12, 300), (9, 9000)],
        random_rows,
    );
}

/// Random rows with three copies of one vector, at several scales.
fn copies_pick_like_the_reference(backend: Backend) {
    picks_like_the_reference(
        backend,
        7,
        &[1e-30, 1.0, 1e30],
        &[(10, 16), (12, 300), (9, 9000)],
        copied_rows,
    );
}

backend_tests!(
    [ties_break_like_the_reference, copies_pick_like_the_reference];
    wgpu => byzagg::Backend::Wgpu
);

/// wgpu's `distances=fast` kernels (f32 lane sums of 16 squares, within a proven bound of the
/// exact integer sums: `src/wgpu/fast_dist.rs`): the rules recompute with the exact-sum kernels
/// the distances at a selection's boundary that the bound cannot order, so the ties break as
/// with the default kernels. Run in a child process, since the kernels are read from the
/// environment (a machine without wgpu skips there, as above).
mod wgpu_fast {
    #[test]
    fn ties_break_like_the_reference() {
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(&exe)
            .args(["--exact", "wgpu::ties_break_like_the_reference"])
            .env("BYZAGG_WGPU_KERNELS", "distances=fast")
            .output()
            .expect("run the test binary");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "distances=fast:\n{text}\n{err}");
        assert!(text.contains("1 passed"), "distances=fast:\n{text}");
        print!("{err}");
    }
}

/// CUDA's fast distance sums (f32 lanes flushed to f64) break some exact ties by themselves
/// (an H200, 2026-12-04); the rules now recompute exactly, on the device, the distances at a
/// selection's boundary that lie within the kernels' proven bound (`cuda/exact_dist.rs`), as
/// on the CPU. The emulated kernels are checked against that bound and the reference without
/// a GPU (tests/cuda_emulated.rs); these tests run the whole path and stay ignored until a GPU
/// run passes them (`cargo test --release --test tied_distances -- --ignored cuda::`, in
/// scripts/gpu-check.sh, under each `BYZAGG_CUDA_KERNELS=pairwise=registers|deferred|tiled`).
mod cuda {
    #[test]
    #[ignore = "needs a GPU run of the rules' exact recompute on CUDA (see the module comment)"]
    fn ties_break_like_the_reference() {
        super::ties_break_like_the_reference(byzagg::Backend::Cuda)
    }

    #[test]
    #[ignore = "needs a GPU run of the rules' exact recompute on CUDA (see the module comment)"]
    fn random_rows_pick_like_the_reference() {
        super::random_rows_pick_like_the_reference(byzagg::Backend::Cuda)
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

    /// Rows of random values: no exact ties, the same rows as the reference picks.
    #[test]
    fn random_rows_pick_like_the_reference() {
        super::random_rows_pick_like_the_reference(byzagg::Backend::Cpu)
    }

    /// Random rows with copies of one vector: the copies' distances recomputed once.
    #[test]
    fn copies_pick_like_the_reference() {
        super::copies_pick_like_the_reference(byzagg::Backend::Cpu)
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
                .arg("cpu::copies_pick_like_the_reference")
                .env("BYZAGG_SIMD", level)
                .output()
                .expect("run the test binary");
            let text = String::from_utf8_lossy(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "BYZAGG_SIMD={level}:\n{text}\n{err}");
            assert!(text.contains("3 passed"), "BYZAGG_SIMD={level}:\n{text}");
        }
    }
}
