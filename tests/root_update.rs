//! FLTrust and the server's root update it scores rows against: the root's validation, the
//! accuracy of the cosines where rows dwarf the root (SPEC 5), weights as multiplicities
//! (SPEC 2), rows without a direction (SPEC 3), and `byzagg aggregate --root`, on every
//! available backend against the f64 reference.

mod common;

use std::process::Command;

use byzagg::cpu::Cpu;
use byzagg::verify::{self, Accuracy};
use byzagg::{Aggregator, Backend, Batch, Error, Kernels, Plan, Rule, npy, reference};
use common::{Rng, backend_or_skip};

fn backends() -> Vec<Backend> {
    Backend::ALL.into_iter().filter_map(backend_or_skip).collect()
}

/// FLTrust on `backend`, checked against the reference within SPEC 5's 1e-5 of the scale.
fn check(backend: Backend, batch: &Batch<'_>, what: &str) -> Vec<f32> {
    let want = reference::aggregate(&Plan::FlTrust, batch).expect("reference");
    let got = Aggregator::new(Rule::FlTrust, backend)
        .and_then(|a| a.aggregate(batch))
        .unwrap_or_else(|e| panic!("{what} on {backend}: {e}"));
    let scale = verify::data_scale(batch.rows().flatten().chain(batch.root().into_iter().flatten()));
    let outcome = verify::compare(Accuracy::Relative(1e-5), &want, &got, true, scale);
    assert!(outcome.failure.is_none(), "{what} on {backend}: {outcome:?}");
    got
}

#[test]
fn the_root_is_required_and_checked() {
    let rows = [[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
    for backend in backends() {
        let agg = Aggregator::new(Rule::FlTrust, backend).unwrap();
        // No root: an error naming it, on every backend, also when nested.
        let batch = Batch::from_rows(&rows).unwrap();
        for rule in [Rule::FlTrust, "ctma(fltrust,f=1)".parse().unwrap()] {
            let err = Aggregator::new(rule.clone(), backend)
                .and_then(|a| a.aggregate(&batch))
                .unwrap_err();
            assert!(
                matches!(&err, Error::InvalidParameter { name: "root", .. }),
                "{rule} on {backend}: {err}"
            );
        }
        // A root of the wrong length or holding NaN is refused when attached.
        let err = Batch::from_rows(&rows).unwrap().with_root(&[1.0]).unwrap_err();
        assert!(err.to_string().contains("d = 2"), "{err}");
        let err = Batch::from_rows(&rows)
            .unwrap()
            .with_root(&[1.0, f32::NAN])
            .unwrap_err();
        assert!(err.to_string().contains("root[1]"), "{err}");
        // Other rules ignore a root.
        let with_root = Batch::from_rows(&rows).unwrap().with_root(&[1.0, 0.0]).unwrap();
        let median = Aggregator::new(Rule::CwMed, backend).unwrap();
        assert_eq!(median.aggregate(&with_root).unwrap(), vec![3.0, 4.0]);
        assert!(agg.aggregate(&with_root).is_ok());
    }
}

/// Rows a million times longer than the root, at every angle to it, and rows nearly equal
/// to a long root: the cosines from unit rows stay within SPEC 5, where the polarisation
/// identity over the same distance primitive, `(|x|^2 + |g|^2 - |x - g|^2) / 2`, does not.
#[test]
fn cosines_stay_accurate_when_rows_dwarf_the_root() {
    let (n, d) = (12, 4099);
    let mut rng = Rng(11);
    let root: Vec<f32> = (0..d).map(|_| rng.range(-1.0, 1.0) as f32).collect();
    // Row i: cos(angle) * 1e6 root + sin(angle) * 1e6 noise, angles from 0 to pi.
    let mut rows = Vec::with_capacity(n * d);
    for i in 0..n {
        let angle = std::f64::consts::PI * i as f64 / (n - 1) as f64;
        for &g in &root {
            let noise = rng.range(-1.0, 1.0);
            rows.push((1e6 * (angle.cos() * f64::from(g) + angle.sin() * noise)) as f32);
        }
    }
    let batch = Batch::from_contiguous(&rows, n)
        .unwrap()
        .with_root(&root)
        .unwrap();
    for backend in backends() {
        check(backend, &batch, "long rows");
    }
    // The same rows at lengths from 1e-3 to 1e8 (a norm group each: the unit-row route), and
    // at three lengths (one center per group).
    let every: &dyn Fn(usize) -> f64 = &|i| 10f64.powi(i as i32 - 3);
    let three: &dyn Fn(usize) -> f64 = &|i| [1e-6, 3e-6, 40e-6][i % 3];
    for (what, scale) in [("rows of every length", every), ("rows of three lengths", three)] {
        let scaled: Vec<f32> = (0..n * d)
            .map(|k| (f64::from(rows[k]) * scale(k / d)) as f32)
            .collect();
        let batch = Batch::from_contiguous(&scaled, n)
            .unwrap()
            .with_root(&root)
            .unwrap();
        for backend in backends() {
            check(backend, &batch, what);
        }
    }
    // The polarisation identity over the CPU's distances: its cosines are off by far more.
    let cpu = Cpu::new();
    let resident = cpu.upload(&Batch::from_contiguous(&rows, n).unwrap()).unwrap();
    let g = cpu.upload(&Batch::from_contiguous(&root, 1).unwrap()).unwrap();
    let zero = cpu.zeros(1, d).unwrap();
    let x2 = cpu.center_dist(&resident, &zero).unwrap();
    let g2 = cpu.center_dist(&g, &zero).unwrap()[0];
    let r2 = cpu.center_dist(&resident, &g).unwrap();
    let exact = |i: usize| {
        let row = &rows[i * d..(i + 1) * d];
        let dot: f64 = row
            .iter()
            .zip(&root)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        dot / (x2[i].sqrt() * g2.sqrt())
    };
    let worst = (0..n)
        .map(|i| ((x2[i] + g2 - r2[i]) / 2.0 / (x2[i].sqrt() * g2.sqrt()) - exact(i)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst > 1e-3,
        "polarisation error {worst:e}: the case no longer shows the problem"
    );

    // Rows nearly equal to a long root (|x| >> |x - g0|): cosines all near 1.
    let far: Vec<f32> = root.iter().map(|g| 1e4 + g).collect();
    let near: Vec<f32> = (0..n * d)
        .map(|k| far[k % d] + rng.range(-1e-2, 1e-2) as f32)
        .collect();
    let batch = Batch::from_contiguous(&near, n).unwrap().with_root(&far).unwrap();
    for backend in backends() {
        check(backend, &batch, "rows near a long root");
    }
}

#[test]
fn integer_weights_are_multiplicities() {
    let mut rng = Rng(12);
    let (n, d) = (7, 33);
    let rows = rng.rows(n, d);
    let root: Vec<f32> = rng.rows(1, d);
    let counts = [1usize, 3, 2, 1, 4, 1, 2];
    let expanded: Vec<f32> = (0..n)
        .flat_map(|i| {
            std::iter::repeat_n(&rows[i * d..(i + 1) * d], counts[i])
                .flatten()
                .copied()
        })
        .collect();
    let weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    for backend in backends() {
        let weighted = Batch::from_contiguous(&rows, n)
            .and_then(|b| b.with_weights(&weights))
            .and_then(|b| b.with_root(&root))
            .unwrap();
        let total = counts.iter().sum();
        let repeated = Batch::from_contiguous(&expanded, total)
            .and_then(|b| b.with_root(&root))
            .unwrap();
        let a = check(backend, &weighted, "weighted");
        let b = check(backend, &repeated, "repeated");
        assert!(common::close(&a, &b, 1e-5), "{backend}: {a:?} vs {b:?}");
    }
}

/// Rows of NaN, infinities, a single NaN, 1e38, or zeros have no usable direction: they get
/// trust 0 and the output stays finite, whatever their number.
#[test]
fn rows_without_a_direction_get_no_trust() {
    let mut rng = Rng(13);
    let (n, d) = (9, 37);
    let mut rows = rng.rows(n, d);
    let root: Vec<f32> = rng.rows(1, d);
    rows[..d].fill(f32::NAN);
    rows[2 * d..3 * d].fill(f32::INFINITY);
    rows[4 * d + 5] = f32::NAN;
    rows[5 * d..6 * d].fill(0.0);
    rows[6 * d..7 * d].fill(-1e38);
    let batch = Batch::from_contiguous(&rows, n)
        .unwrap()
        .with_root(&root)
        .unwrap();
    for backend in backends() {
        let out = check(backend, &batch, "poisoned rows");
        assert!(out.iter().all(|v| v.is_finite()), "{backend}: {out:?}");
    }
    // Every row poisoned: no trust anywhere, the zero vector.
    let all_bad = vec![f32::NAN; n * d];
    let batch = Batch::from_contiguous(&all_bad, n)
        .unwrap()
        .with_root(&root)
        .unwrap();
    for backend in backends() {
        let out = check(backend, &batch, "all rows NaN");
        assert_eq!(out, vec![0.0; d], "{backend}");
    }
}

#[test]
fn the_cli_takes_the_root_from_a_file() {
    let dir = std::env::temp_dir().join(format!("byzagg-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows = [3.0f32, 4.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 10.0];
    let (input, root, output) = (dir.join("rows.npy"), dir.join("root.npy"), dir.join("out.npy"));
    npy::write_matrix_f32(&input, &rows, 4).unwrap();
    npy::write_vector_f32(&root, &[1.0, 1.0, 0.0]).unwrap();
    let cli = |extra: &[&std::path::Path]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_byzagg"));
        command.args(["aggregate", "--rule", "fltrust", "--backend", "cpu"]);
        for path in extra {
            command.arg("--root").arg(path);
        }
        command.arg(&input).arg("-o").arg(&output).output().unwrap()
    };
    let out = cli(&[&root]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = npy::read_vector_f64(&output).unwrap();
    // The golden of tests/golden.rs: (1.84, 2.12, 0) * sqrt 2 / 3.4.
    let s = 2f64.sqrt() / 3.4;
    for (g, w) in got.iter().zip([1.84 * s, 2.12 * s, 0.0]) {
        assert!((g - w).abs() <= 1e-6, "{got:?}");
    }
    // Without --root: a clear error, naming the option.
    let out = cli(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("root"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
