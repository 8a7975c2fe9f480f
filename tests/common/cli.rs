//! Helpers for the tests that run the `byzagg` binary: run it, read its stderr, and give each
//! test a fresh temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `byzagg` binary built for this test run with `args`.
pub fn byzagg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args(args)
        .output()
        .expect("the byzagg binary runs")
}

/// The binary's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory for one test: `byzagg-<suite>-<pid>-<test>` under the temp dir, so
/// suites and concurrent runs never share files.
pub fn temp_dir(suite: &str, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzagg-{suite}-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A temp path as a command-line argument (the temp dir is UTF-8 on the machines we test on).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Asserts that a run was refused as bad usage or input (exit 2) with a message naming
/// `what` (a parameter, a file, a value); returns the message for further checks.
pub fn usage_error(out: &Output, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2 naming {what:?}:\n{err}"
    );
    assert!(err.contains(what), "the message does not name {what:?}:\n{err}");
    err
}
