//! The `byzagg` binary against hostile and careless input, run under an address-space limit
//! (`ulimit -v`): malformed and huge files, absurd flags, a bad environment. Every case must
//! end with exit code 2 and an `error: ...` line naming the problem (or succeed where the
//! input is in fact valid), never with a signal (an abort or a stack overflow) or with Rust's
//! panic code 101.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::cli::{s, stderr, temp_dir};

/// The address-space limit every case runs under, in KiB (`ulimit -v`): 2 GiB, enough for
/// byzagg itself and far below what the absurd sizes ask for.
const LIMIT_KB: u64 = 2 << 20;

/// Runs `byzagg args` under `ulimit -v LIMIT_KB` with extra environment variables.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {LIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_byzagg"))
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("sh runs the byzagg binary")
}

/// Asserts a clean refusal: exit 2 and an `error:` line holding every one of `needles`.
fn refused(what: &str, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: expected exit 2, got {:?} (a signal or a panic is a bug)\n{err}",
        out.status
    );
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| {
        panic!("{what}: no `error:` line\n{err}");
    });
    for needle in needles {
        assert!(line.contains(needle), "{what}: {needle:?} missing from {line:?}");
    }
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// Asserts a success (exit 0 without a panic message).
fn succeeded(what: &str, out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {:?}\n{}",
        out.status,
        stderr(out)
    );
}

/// A fresh directory for one test.
fn dir(test: &str) -> PathBuf {
    temp_dir("robust", test)
}

/// A `.npy` file of version 2.0 with this header text (padded as numpy pads) and data bytes.
fn npy_file(path: &Path, header: &str, data: &[u8]) {
    let mut header = header.to_string();
    let unpadded = 12 + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("write a test file");
}

/// An `(n, d)` float32 file of small distinct values.
fn rows(dir: &Path, n: usize, d: usize) -> PathBuf {
    let path = dir.join(format!("rows_{n}x{d}.npy"));
    let data: Vec<f32> = (0..n * d).map(|k| (k % 97) as f32).collect();
    byzagg::npy::write_matrix_f32(&path, &data, n).expect("write rows");
    path
}

fn aggregate(rule: &str, input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["aggregate", "--backend", "cpu", "--rule", rule];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[s(input), "-o", s(output)]);
    run(&args, &[])
}

#[test]
fn malformed_and_huge_files_are_refused() {
    let dir = dir("files");
    let out = dir.join("out.npy");
    let f4 = "'descr': '<f4', 'fortran_order': False";

    refused(
        "/dev/zero",
        &aggregate("cwmed", Path::new("/dev/zero"), &out, &[]),
        &["bad magic"],
    );
    refused(
        "a directory",
        &aggregate("cwmed", &dir, &out, &[]),
        &["directory"],
    );

    let deep = dir.join("deep.npy");
    npy_file(&deep, &("{'a': ".repeat(60_000) + &"}".repeat(60_000)), &[]);
    refused(
        "60,000 nested dicts",
        &aggregate("cwmed", &deep, &out, &[]),
        &["header"],
    );
    npy_file(&deep, &("{'a': ".repeat(5_000) + &"}".repeat(5_000)), &[]);
    refused(
        "5,000 nested dicts",
        &aggregate("cwmed", &deep, &out, &[]),
        &["nest"],
    );

    let tera = dir.join("tera.npy");
    npy_file(
        &tera,
        &format!("{{{f4}, 'shape': (1000000000000, 1000000000000), }}"),
        &[0; 64],
    );
    refused(
        "10^12 x 10^12",
        &aggregate("cwmed", &tera, &out, &[]),
        &["too large"],
    );
    npy_file(
        &tera,
        &format!("{{{f4}, 'shape': (1000000, 1000000), }}"),
        &[0; 64],
    );
    refused(
        "4 TB claimed",
        &aggregate("cwmed", &tera, &out, &[]),
        &["truncated data"],
    );

    // A 48 KB file whose 12,000 rows ask for 12,000 x 12,000 distances.
    let tall = rows(&dir, 12_000, 1);
    for rule in ["krum(f=1)", "multikrum(f=1)", "nnm(cwmed,f=1)"] {
        refused(
            rule,
            &aggregate(rule, &tall, &out, &[]),
            &["invalid n = 12000", "would need"],
        );
    }
    assert!(!out.exists(), "a refused run wrote {}", out.display());

    // Weights: malformed file, wrong length.
    let small = rows(&dir, 5, 3);
    let weights = dir.join("w.npy");
    std::fs::write(&weights, b"\x93NUMPY\x01\x00\xff\xff{").expect("write weights");
    refused(
        "bad weights",
        &aggregate("cwmed", &small, &out, &["--weights", s(&weights)]),
        &["w.npy"],
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hostile_rules_and_flags_are_refused() {
    let dir = dir("rules");
    let input = rows(&dir, 7, 3);
    let out = dir.join("out.npy");
    // 15,000 levels (an argument may hold at most 128 KiB): deep enough that an unbounded
    // parser or rule layer overflows its stack.
    let deep = "ctma(".repeat(15_000) + "cwmed" + &")".repeat(15_000);
    let cases: [(&str, &[&str], &[&str]); 7] = [
        (&deep, &["--f", "1"], &["nest deeper than 32"]),
        ("cwtm(lambda=0.1,lambda=0.2)", &[], &["lambda given twice"]),
        (
            "krum(f=9223372036854775808)",
            &[],
            &["invalid f = 9223372036854775808"],
        ),
        (
            "krum",
            &["--f", "9223372036854775808"],
            &["invalid f = 9223372036854775808"],
        ),
        ("cwtm", &["--f", "18446744073709551615"], &["invalid f"]),
        ("ctma(\u{1F600})", &[], &["cannot parse rule"]),
        ("bucketing(cwmed,s=0)", &[], &["invalid s = 0"]),
    ];
    for (rule, extra, needles) in cases {
        let what = if rule.len() > 60 { "deep rule" } else { rule };
        refused(what, &aggregate(rule, &input, &out, extra), needles);
    }
    // Copy-pasted no-break and ideographic spaces are whitespace: the rule runs.
    for rule in ["cwmed\u{a0}", "\u{3000}ctma(cwmed,\u{a0}f=1)"] {
        succeeded(rule, &aggregate(rule, &input, &out, &[]));
    }
    // An output directory that does not exist is refused before the input is read.
    let missing = dir.join("no-such-dir/out.npy");
    refused(
        "missing dir",
        &aggregate("cwmed", &input, &missing, &[]),
        &["does not exist"],
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let dir = dir("sizes");
    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", "--backend", "cpu", "--rule", "mean", "--runs", "1"];
        args.extend_from_slice(extra);
        run(&args, &[])
    };
    refused(
        "bench d = 2^62",
        &bench(&["--n", "4", "--d", "2^62"]),
        &["invalid d = 4611686018427387904"],
    );
    refused(
        "bench d = 1e12",
        &bench(&["--n", "8", "--d", "1e12"]),
        &["invalid d", "would need"],
    );
    let json = dir.join("no-such-dir/bench.json");
    refused(
        "bench --json",
        &bench(&["--n", "4", "--d", "8", "--json", s(&json)]),
        &["does not exist"],
    );

    // A tiny synthetic run; `extra` flags replace the defaults of the same name.
    let train = |extra: &[&str]| {
        let defaults = [
            ("--dim", "10"),
            ("--train-size", "200"),
            ("--iterations", "4"),
            ("--eval-every", "2"),
            ("--backend", "cpu"),
        ];
        let mut args = vec!["train", "--preset", "synthetic", "--quiet"];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend_from_slice(&[flag, value]);
            }
        }
        args.extend_from_slice(extra);
        run(&args, &[])
    };
    refused(
        "iterations",
        &train(&["--iterations", "1000000000000000"]),
        &["invalid iterations"],
    );
    refused("seeds", &train(&["--seeds", "1000000000000"]), &["invalid seeds"]);
    refused("dim", &train(&["--dim", "1000000000000"]), &["invalid dim"]);
    refused(
        "train-size",
        &train(&["--train-size", "1000000000000000"]),
        &["invalid train_size"],
    );
    refused(
        "hidden",
        &train(&["--task", "mnist", "--hidden", "1000000000"]),
        &["invalid hidden"],
    );
    refused(
        "seed overflow",
        &train(&["--seed", "18446744073709551615", "--seeds", "2"]),
        &["invalid seeds"],
    );
    succeeded("the last seed", &train(&["--seed", "18446744073709551615"]));
    // 2,000 thread stacks do not fit 2 GiB of address space: refused before any is started.
    let threads = ["--mode", "threads", "--workers", "2000", "--train-size", "4000"];
    refused("2,000 threads", &train(&threads), &["invalid workers = 2000"]);
    let threads = ["--mode", "threads", "--workers", "150", "--train-size", "4000"];
    succeeded("150 threads", &train(&threads));
    let csv = dir.join("no-such-dir/run.csv");
    refused("train --out", &train(&["--out", s(&csv)]), &["does not exist"]);
    let svg = dir.join("no-such-dir/run.svg");
    refused("train --plot", &train(&["--plot", s(&svg)]), &["does not exist"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_empty_test_split_is_an_error_not_nan() {
    let dir = dir("mnist");
    let idx = |dims: &[u32]| {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.resize(b.len() + dims.iter().product::<u32>() as usize, 0);
        b
    };
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(&[0, 28, 28])).expect("write");
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[0])).expect("write");
    let out = run(
        &[
            "train",
            "--task",
            "mnist",
            "--data",
            s(&dir),
            "--iterations",
            "2",
            "--backend",
            "cpu",
            "--quiet",
        ],
        &[],
    );
    refused("empty t10k", &out, &["no images"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_environment_is_an_error_or_ignored_never_a_panic() {
    let dir = dir("env");
    let input = rows(&dir, 5, 3);
    let out = dir.join("out.npy");
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(&xdg).expect("xdg dir");
    let no_adapter = [
        ("WGPU_ADAPTER_NAME", "no-such-adapter"),
        ("XDG_RUNTIME_DIR", s(&xdg)),
    ];
    succeeded("devices", &run(&["devices"], &no_adapter));
    let auto = ["aggregate", "--rule", "cwmed", s(&input), "-o", s(&out)];
    succeeded("auto backend", &run(&auto, &no_adapter));
    let wgpu = [
        "aggregate",
        "--backend",
        "wgpu",
        "--rule",
        "cwmed",
        s(&input),
        "-o",
        s(&out),
    ];
    refused("wgpu, no adapter", &run(&wgpu, &no_adapter), &["wgpu"]);

    let chunk = [("BYZAGG_WGPU_CHUNK", "abc"), ("XDG_RUNTIME_DIR", s(&xdg))];
    let out = run(&wgpu, &chunk);
    let required = std::env::var("BYZAGG_REQUIRE").unwrap_or_default();
    if stderr(&out).contains("unavailable") && !required.split(',').any(|b| b.trim() == "wgpu") {
        println!(
            "skipped BYZAGG_WGPU_CHUNK: the wgpu backend is absent here (BYZAGG_REQUIRE=wgpu makes it required)"
        );
    } else {
        refused("BYZAGG_WGPU_CHUNK=abc", &out, &["BYZAGG_WGPU_CHUNK", ">= 1"]);
    }
    std::fs::remove_dir_all(&dir).ok();
}
