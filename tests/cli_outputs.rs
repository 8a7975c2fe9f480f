//! Every file the `byzagg` command writes (aggregate `-o`, bench `--json`/`--plot`, train
//! `--out`/`--plot`) goes where its path says without replacing what is not a regular file:
//! `-` is standard output, a symbolic link is followed (its target replaced, the link kept), a
//! FIFO or a character device is written through, a socket is refused with exit code 2.
//! Character devices are private nodes made with `mknod` when the tests run as root, never
//! the system's `/dev` ones.
#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use byzagg::npy;

mod common;
use common::cli::{byzagg, s, stderr, temp_dir, usage_error};

fn dir(test: &str) -> PathBuf {
    temp_dir("outputs", test)
}

/// A 5 x 3 input whose coordinate median is [2, 20, 200].
fn input(dir: &Path) -> PathBuf {
    let data: Vec<f32> = [0.0, 4.0, 2.0, 1.0, 3.0]
        .iter()
        .flat_map(|v| [*v, v * 10.0, v * 100.0])
        .collect();
    let path = dir.join("x.npy");
    npy::write_matrix_f32(&path, &data, 5).expect("write input");
    path
}

fn aggregate(input: &Path, output: &str) -> Output {
    byzagg(&[
        "aggregate",
        "--rule",
        "cwmed",
        "--backend",
        "cpu",
        s(input),
        "-o",
        output,
    ])
}

fn bench(extra: &[&str]) -> Output {
    let mut args = vec![
        "bench",
        "--backend",
        "cpu",
        "--rule",
        "mean",
        "--runs",
        "1",
        "--n",
        "4",
        "--d",
        "8",
    ];
    args.extend_from_slice(extra);
    byzagg(&args)
}

fn train(extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--preset",
        "synthetic",
        "--quiet",
        "--dim",
        "10",
        "--train-size",
        "200",
        "--iterations",
        "4",
        "--eval-every",
        "2",
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    byzagg(&args)
}

/// One command that writes a file, given the path to write.
type Writer<'a> = Box<dyn Fn(&str) -> Output + 'a>;

fn ok(what: &str, out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
}

/// Makes a FIFO at `path` (false where `mkfifo` is missing) and starts its reader.
fn fifo_with_reader(path: &Path) -> Option<mpsc::Receiver<Vec<u8>>> {
    let made = Command::new("mkfifo").arg(path).status();
    if !made.is_ok_and(|s| s.success()) {
        byzagg::verify::require_or_skip("mkfifo", "no mkfifo command here");
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let reader = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(&reader).unwrap_or_default());
    });
    Some(rx)
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

#[test]
fn a_dash_is_standard_output() {
    let dir = dir("dash");
    let x = input(&dir);
    let out = aggregate(&x, "-");
    ok("aggregate -o -", &out);
    assert!(
        out.stdout.starts_with(b"\x93NUMPY"),
        "{:?}",
        &out.stdout[..out.stdout.len().min(16)]
    );
    let file = dir.join("from-stdout.npy");
    std::fs::write(&file, &out.stdout).unwrap();
    assert_eq!(npy::read_vector_f64(&file).unwrap(), [2.0, 20.0, 200.0]);
    assert!(!dir.join("-").exists(), "a file named - was written");

    // bench --json -: the JSON alone on stdout, the table on stderr.
    let out = bench(&["--json", "-"]);
    ok("bench --json -", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_start().starts_with(['{', '[']), "{text}");
    assert!(stderr(&out).contains("machine:"), "{}", stderr(&out));
    // train --out -: the CSV alone on stdout.
    let out = train(&["--out", "-"]);
    ok("train --out -", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("variant,seed,iteration"), "{text}");
    // Two files cannot share standard output.
    let out = bench(&["--json", "-", "--plot", "-"]);
    usage_error(&out, "standard output");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn symlinks_keep_being_links_and_their_targets_get_the_file() {
    let dir = dir("symlink");
    let x = input(&dir);
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    // Existing targets.
    let cases: [(&str, &str, Writer<'_>); 5] = [
        ("out.npy", "aggregate -o", Box::new(|p: &str| aggregate(&x, p))),
        (
            "bench.json",
            "bench --json",
            Box::new(|p: &str| bench(&["--json", p])),
        ),
        (
            "bench.svg",
            "bench --plot",
            Box::new(|p: &str| bench(&["--plot", p])),
        ),
        ("run.csv", "train --out", Box::new(|p: &str| train(&["--out", p]))),
        (
            "run.svg",
            "train --plot",
            Box::new(|p: &str| train(&["--plot", p])),
        ),
    ];
    for (name, what, run) in &cases {
        let target = real.join(name);
        std::fs::write(&target, b"old").unwrap();
        let link = dir.join(format!("link-{name}"));
        symlink(&target, &link).unwrap();
        ok(what, &run(s(&link)));
        assert!(
            std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "{what}: the link was replaced"
        );
        let written = std::fs::read(&target).unwrap();
        assert!(
            written.len() > 3 && written != b"old",
            "{what}: the target was not written"
        );
        // A dangling link: its target is created.
        let missing = real.join(format!("new-{name}"));
        let dangling = dir.join(format!("dangling-{name}"));
        symlink(&missing, &dangling).unwrap();
        ok(what, &run(s(&dangling)));
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{what}"
        );
        assert!(
            missing.is_file(),
            "{what}: the dangling link's target was not created"
        );
    }
    assert_eq!(
        npy::read_vector_f64(real.join("out.npy")).unwrap(),
        [2.0, 20.0, 200.0]
    );
    // No temporary file left beside the link or the targets.
    for d in [&dir, &real] {
        for e in std::fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "left behind: {name}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_fifo_is_written_through_to_its_reader() {
    let dir = dir("fifo");
    let x = input(&dir);
    let cases: [(&str, Writer<'_>); 3] = [
        ("aggregate -o", Box::new(|p: &str| aggregate(&x, p))),
        ("bench --json", Box::new(|p: &str| bench(&["--json", p]))),
        ("train --out", Box::new(|p: &str| train(&["--out", p]))),
    ];
    for (k, (what, run)) in cases.iter().enumerate() {
        let fifo = dir.join(format!("pipe{k}"));
        let Some(reader) = fifo_with_reader(&fifo) else {
            return;
        };
        ok(what, &run(s(&fifo)));
        let got = reader
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{what}: the FIFO's reader got nothing"));
        assert!(!got.is_empty(), "{what}: the FIFO's reader got nothing");
        assert!(is_fifo(&fifo), "{what}: the FIFO was replaced");
        if k == 0 {
            assert!(got.starts_with(b"\x93NUMPY"));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn private_character_devices_are_written_through_never_replaced() {
    let dir = dir("chardev");
    let x = input(&dir);
    let (null, full) = (dir.join("null"), dir.join("full"));
    let mknod = |path: &Path, minor: &str| {
        Command::new("mknod")
            .arg(path)
            .args(["c", "1", minor])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !(mknod(&null, "3") && mknod(&full, "7")) {
        byzagg::verify::require_or_skip("mknod", "mknod failed here (it needs root and CAP_MKNOD)");
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    let is_char = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device());
    ok("aggregate -o null", &aggregate(&x, s(&null)));
    ok("bench --json null", &bench(&["--json", s(&null)]));
    ok("train --out null", &train(&["--out", s(&null)]));
    assert!(is_char(&null), "the private null device was replaced");
    // A device that refuses the write: exit code 2, the path named, the node kept.
    let out = aggregate(&x, s(&full));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(s(&full))),
        "{}",
        stderr(&out)
    );
    assert!(is_char(&full), "the private full device was replaced");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_socket_is_refused_and_kept() {
    let dir = dir("socket");
    let x = input(&dir);
    let socket = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (what, out) in [
        ("aggregate -o", aggregate(&x, s(&socket))),
        ("bench --json", bench(&["--json", s(&socket)])),
        ("train --plot", train(&["--plot", s(&socket)])),
    ] {
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains("socket"), "{what}: {}", stderr(&out));
        assert!(
            std::fs::symlink_metadata(&socket)
                .unwrap()
                .file_type()
                .is_socket(),
            "{what}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
