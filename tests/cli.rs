//! The `byzagg` binary end to end: exit codes (0 success, 1 a failed check, 2 bad usage or
//! input), error messages that name the problem, and an aggregate checked by hand.

use std::path::PathBuf;
use std::process::Command;

use byzagg::npy;

mod common;
use common::cli::{byzagg, s, stderr, temp_dir, usage_error};

/// A fresh directory for one test.
fn dir(test: &str) -> PathBuf {
    temp_dir("cli", test)
}

/// n rows of d distinct values, written as an (n, d) float32 file.
fn rows_file(dir: &std::path::Path, n: usize, d: usize) -> (PathBuf, Vec<f32>) {
    // A fixed scramble, so the median is not simply the middle row.
    let data: Vec<f32> = (0..n * d)
        .map(|k| ((k * 7919) % 101) as f32 * 0.5 - 20.0)
        .collect();
    let path = dir.join(format!("x_{n}x{d}.npy"));
    npy::write_matrix_f32(&path, &data, n).expect("write input");
    (path, data)
}

#[test]
fn krum_with_too_large_f_is_a_usage_error_naming_f() {
    let dir = dir("krum");
    let (input, _) = rows_file(&dir, 7, 4);
    let output = dir.join("out.npy");
    let out = byzagg(&["aggregate", "--rule", "krum(f=5)", s(&input), "-o", s(&output)]);
    let err = usage_error(&out, "f = 5");
    // Backend::Auto may log its choice first; the error is its own line.
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: ") && l.contains("f = 5")),
        "{err}"
    );
    assert!(!output.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_rule_text_is_a_usage_error() {
    let dir = dir("bad-rule");
    let (input, _) = rows_file(&dir, 3, 2);
    let out = byzagg(&[
        "aggregate",
        "--rule",
        "krum(q=2)",
        s(&input),
        "-o",
        s(&dir.join("o.npy")),
    ]);
    usage_error(&out, "krum(q=2)");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_input_is_a_usage_error_naming_the_file() {
    let dir = dir("missing");
    let input = dir.join("no-such-file.npy");
    let out = byzagg(&[
        "aggregate",
        "--rule",
        "cwmed",
        s(&input),
        "-o",
        s(&dir.join("o.npy")),
    ]);
    usage_error(&out, "no-such-file.npy");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lambda_and_f_together_is_a_usage_error() {
    let out = byzagg(&[
        "aggregate",
        "--rule",
        "cwtm",
        "--lambda",
        "0.1",
        "--f",
        "1",
        "x.npy",
        "-o",
        "y.npy",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn weights_of_the_wrong_length_are_a_usage_error() {
    let dir = dir("weights");
    let (input, _) = rows_file(&dir, 5, 3);
    let weights = dir.join("w.npy");
    npy::write_vector_f32(&weights, &[1.0, 2.0, 3.0]).expect("write weights");
    let out = byzagg(&[
        "aggregate",
        "--rule",
        "cwmed",
        "--weights",
        s(&weights),
        s(&input),
        "-o",
        s(&dir.join("o.npy")),
    ]);
    usage_error(&out, "weights");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cwmed_writes_the_coordinate_median() {
    let dir = dir("cwmed");
    for n in [7, 8] {
        let d = 5;
        let (input, data) = rows_file(&dir, n, d);
        let output = dir.join(format!("median_{n}.npy"));
        let out = byzagg(&[
            "aggregate",
            "--rule",
            "cwmed",
            "--backend",
            "cpu",
            s(&input),
            "-o",
            s(&output),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // numpy's median: the middle value, or the mean of the two middle values.
        let expected: Vec<f64> = (0..d)
            .map(|j| {
                let mut col: Vec<f64> = (0..n).map(|i| f64::from(data[i * d + j])).collect();
                col.sort_by(f64::total_cmp);
                let m = if n % 2 == 1 {
                    col[n / 2]
                } else {
                    (col[n / 2 - 1] + col[n / 2]) / 2.0
                };
                f64::from(m as f32)
            })
            .collect();
        assert_eq!(
            npy::read_vector_f64(&output).expect("read output"),
            expected,
            "n = {n}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn verify_cpu_passes() {
    let out = byzagg(&["verify", "--backend", "cpu"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("cwmed") && stdout.contains("max error"),
        "{stdout}"
    );
}

#[test]
fn verify_lists_the_suites_rules_as_rule_text() {
    let out = byzagg(&["verify", "--list-rules"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Vec<byzagg::Rule> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    assert_eq!(listed, byzagg::verify::rules());
}

#[test]
fn verify_of_an_unknown_or_absent_backend_is_a_usage_error() {
    usage_error(&byzagg(&["verify", "--backend", "tpu"]), "tpu");
    for backend in [byzagg::Backend::Wgpu, byzagg::Backend::Cuda] {
        if let Err(e) = backend.available() {
            let out = byzagg(&["verify", "--backend", backend.name()]);
            usage_error(&out, &e.to_string());
        }
    }
}

#[test]
fn devices_lists_every_backend() {
    let out = byzagg(&["devices"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for backend in byzagg::Backend::ALL {
        assert!(stdout.lines().any(|l| l.starts_with(backend.name())), "{stdout}");
    }
    assert!(stdout.contains("rayon threads"), "{stdout}");
}

#[test]
fn compile_only_compiles_every_cuda_kernel() {
    let out = byzagg(&[
        "verify",
        "--backend",
        "cuda",
        "--compile-only",
        "--arch",
        "sm_80,sm_90",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("no NVRTC library found") {
        byzagg::verify::require_or_skip("cuda-compile", format!("no NVRTC here: {text}"));
        return;
    }
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // Every kernel file, for each of the two architectures.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels"))
        .expect("kernels/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cu"))
        })
        .count();
    assert_eq!(text.matches("compiled").count(), 2 * files, "{text}");
    let wrong = byzagg(&["verify", "--backend", "cpu", "--compile-only"]);
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn non_finite_rows_beyond_tolerance_print_a_warning() {
    let dir = dir("tolerance-warning");
    // Five rows, two of them NaN: within what the median tolerates, beyond the mean.
    let mut data: Vec<f32> = (0..10).map(|k| k as f32).collect();
    data[2..4].fill(f32::NAN);
    data[6..8].fill(f32::INFINITY);
    let input = dir.join("x.npy");
    npy::write_matrix_f32(&input, &data, 5).expect("write input");
    let output = dir.join("out.npy");
    let run = |rule: &str| {
        byzagg(&[
            "aggregate",
            "--rule",
            rule,
            "--backend",
            "cpu",
            s(&input),
            "-o",
            s(&output),
        ])
    };
    let out = run("cwmed");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let out = run("mean");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: rows 1, 3 hold NaN or infinity")
                && l.contains("40.0% of the weight")
                && l.contains("mean")
                && l.contains("not finite")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn auto_backend_probes_wgpu_without_mesa_noise() {
    let dir = dir("quiet-probe");
    let (input, _) = rows_file(&dir, 7, 5);
    let output = dir.join("out.npy");
    // The README's command, on a machine without a runtime dir (as in a container).
    let out = Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args([
            "aggregate",
            "--rule",
            "ctma(cwmed,lambda=0.2)",
            s(&input),
            "-o",
            s(&output),
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the byzagg binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("XDG_RUNTIME_DIR"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn training_checks_the_simd_cap_whatever_the_backend() {
    // The models' products run at the CPU's SIMD level even when a GPU or the reference
    // aggregates, so a bad cap is refused there too rather than ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args(["train", "--preset", "synthetic", "--backend", "reference"])
        .args(["--iterations", "2", "--eval-every", "2", "--quiet"])
        .env("BYZAGG_SIMD", "sse9")
        .output()
        .expect("the byzagg binary runs");
    usage_error(&out, "BYZAGG_SIMD");
}

#[test]
fn simd_cap_is_checked_and_every_level_gives_the_median() {
    let dir = dir("simd-cap");
    let (input, _) = rows_file(&dir, 9, 40);
    let run = |cap: &str, name: &str| {
        let output = dir.join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_byzagg"))
            .args([
                "aggregate",
                "--rule",
                "cwmed",
                "--backend",
                "cpu",
                s(&input),
                "-o",
                s(&output),
            ])
            .env("BYZAGG_SIMD", cap)
            .output()
            .expect("the byzagg binary runs");
        (out, output)
    };
    let (bad, _) = run("sse9", "bad.npy");
    usage_error(&bad, "BYZAGG_SIMD");
    let mut medians = Vec::new();
    for cap in ["generic", "avx2", "avx512"] {
        let (out, path) = run(cap, &format!("{cap}.npy"));
        assert_eq!(out.status.code(), Some(0), "{cap}: {}", stderr(&out));
        medians.push(npy::read_vector_f64(&path).expect("the output reads back"));
    }
    assert!(
        medians.windows(2).all(|m| m[0] == m[1]),
        "levels disagree: {medians:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
