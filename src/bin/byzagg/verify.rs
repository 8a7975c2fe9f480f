//! `byzagg verify`: the conformance suite of `byzagg::verify` against the f64 reference, one
//! table row per rule; `--compile-only` compiles every CUDA kernel with NVRTC instead.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use byzagg::verify::RuleResult;
use byzagg::{Backend, Error};

use crate::{EXIT_FAILED, EXIT_USAGE, print, reason};

/// `verify --backend`: every backend, or one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum BackendChoice {
    All,
    One(Backend),
}

impl FromStr for BackendChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s == "all" {
            return Ok(BackendChoice::All);
        }
        s.parse()
            .map(BackendChoice::One)
            .map_err(|_| Error::invalid("backend", s, "all, or one of auto, reference, cpu, wgpu, cuda"))
    }
}

/// `verify --list-rules`: the suite's rules as rule text, one a line, so scripts that go over
/// every rule (scripts/peak_rss.py) follow the suite instead of a list of their own.
pub(crate) fn list_rules() -> ExitCode {
    let mut text = String::new();
    for rule in byzagg::verify::rules() {
        let _ = writeln!(text, "{rule}");
    }
    print(&text);
    ExitCode::SUCCESS
}

/// `verify --backend cuda --compile-only`: every kernel through NVRTC for every `arch`, one
/// line each with the NVRTC log on failure; exit 1 if any fails.
pub(crate) fn compile_kernels(choice: BackendChoice, archs: &[String]) -> ExitCode {
    if !matches!(choice, BackendChoice::One(Backend::Cuda)) {
        eprintln!("error: --compile-only applies to --backend cuda only");
        return ExitCode::from(EXIT_USAGE);
    }
    let archs: Vec<&str> = archs.iter().map(String::as_str).collect();
    let mut ok = true;
    let mut text = String::new();
    for (file, arch, result) in byzagg::cuda::compile_all(&archs) {
        match result {
            Ok(()) => {
                let _ = writeln!(text, "{file:<22} {arch:<7} compiled");
            }
            Err(log) => {
                ok = false;
                let _ = writeln!(text, "{file:<22} {arch:<7} FAILED\n{log}");
            }
        }
    }
    print(&text);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// `verify --backend NAME|all`: the suite on each backend, a table each; exit 1 if any fails.
pub(crate) fn run(choice: BackendChoice) -> ExitCode {
    let backends: Vec<Backend> = match choice {
        BackendChoice::All => Backend::ALL
            .into_iter()
            .filter(|b| *b != Backend::Reference)
            .collect(),
        BackendChoice::One(b) => match b.resolve() {
            Ok(b) => vec![b],
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    let mut all_pass = true;
    for backend in backends {
        if let Err(e) = backend.available() {
            print(&format!("{backend}: absent, not checked ({})\n", reason(&e)));
            continue;
        }
        let start = Instant::now();
        match byzagg::verify::run(backend) {
            Ok(results) => {
                all_pass &= results.iter().all(RuleResult::pass);
                let cases: usize = results.iter().map(|r| r.cases).sum();
                print(&table(&results));
                print(&failures(&results, 3));
                print(&format!(
                    "{backend}: {cases} cases in {:.1} s, {}\n\n",
                    start.elapsed().as_secs_f64(),
                    if results.iter().all(RuleResult::pass) {
                        "all pass"
                    } else {
                        "FAILED"
                    }
                ));
            }
            Err(e) => {
                all_pass = false;
                eprintln!("error: {backend}: {e}");
            }
        }
    }
    if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// The verify table: rule, backend, cases, max error, pass; columns padded to their widest cell.
fn table(results: &[RuleResult]) -> String {
    let header = ["rule", "backend", "cases", "max error", "pass"];
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            [
                r.rule.clone(),
                r.backend.to_string(),
                r.cases.to_string(),
                format!("{:.2e}", r.max_error),
                if r.pass() {
                    "yes".into()
                } else {
                    format!("NO ({} failed)", r.failures.len())
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: [&str; 5]| {
        let [rule, backend, cases, error, pass] = cells;
        let _ = writeln!(
            text,
            "{rule:<w0$}  {backend:<w1$}  {cases:>w2$}  {error:>w3$}  {pass}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]].map(String::as_str));
    }
    text
}

/// The first `limit` failed cases of each rule, with what went wrong.
fn failures(results: &[RuleResult], limit: usize) -> String {
    let mut text = String::new();
    for r in results.iter().filter(|r| !r.pass()) {
        for f in r.failures.iter().take(limit) {
            let _ = writeln!(text, "  FAIL {}: {}", f.case, f.message);
        }
        if r.failures.len() > limit {
            let _ = writeln!(
                text,
                "  ... and {} more failures of {}",
                r.failures.len() - limit,
                r.rule
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use byzagg::verify::Failure;

    fn result(rule: &str, cases: usize, max_error: f64, failures: usize) -> RuleResult {
        RuleResult {
            rule: rule.into(),
            backend: Backend::Cpu,
            cases,
            max_error,
            failures: (0..failures)
                .map(|i| Failure {
                    case: format!("{rule} case {i}"),
                    message: "coordinate 0 differs".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn table_aligns_columns() {
        let text = table(&[
            result("mean", 42, 1.5e-7, 0),
            result("ctma(gm,lambda=0.2)", 7, 0.0, 2),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("rule                 backend  cases  max error  pass"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("mean                 cpu         42    1.50e-7  yes"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("ctma(gm,lambda=0.2)  cpu          7     0.00e0  NO (2 failed)"),
            "{text}"
        );
    }

    #[test]
    fn failures_are_listed_up_to_a_limit() {
        let text = failures(&[result("mean", 3, 0.0, 0), result("cwmed", 9, 0.0, 5)], 3);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.contains("FAIL cwmed case 0: coordinate 0 differs"));
        assert!(text.ends_with("... and 2 more failures of cwmed\n"));
        assert!(!text.contains("mean"));
    }

    #[test]
    fn backend_choice_parses() {
        assert_eq!("all".parse::<BackendChoice>().unwrap(), BackendChoice::All);
        assert_eq!(
            "cpu".parse::<BackendChoice>().unwrap(),
            BackendChoice::One(Backend::Cpu)
        );
        assert!(
            "tpu"
                .parse::<BackendChoice>()
                .unwrap_err()
                .to_string()
                .contains("all, or one of")
        );
    }
}
