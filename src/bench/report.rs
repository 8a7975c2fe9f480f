//! What `byzagg bench` prints and writes: the table, the JSON list of records, and the
//! machine they were measured on.

use std::fmt::Write as _;

use super::Record;

/// The machine a run was measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// The CPU model (`model name` of `/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// Logical CPUs the OS reports.
    pub cpus: usize,
    /// rayon threads (the CPU backend's and the read pass's).
    pub threads: usize,
    /// The CPU backend's SIMD level (`avx512`, `avx2` or `generic`, after the `BYZAGG_SIMD`
    /// cap), or the error a bad `BYZAGG_SIMD` gives.
    pub simd: String,
}

impl Machine {
    /// The machine this process runs on.
    pub fn here() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
            simd: crate::cpu::simd_level().map_or_else(|e| e.to_string(), |l| l.to_string()),
        }
    }
}

/// The table: rule, backend, n, d, weighted, median seconds, GB/s of batch read, ratio to the
/// read pass, read pass seconds, Weiszfeld iterations; columns padded to their widest cell.
///
/// # Examples
///
/// ```
/// use byzagg::bench::{Config, run, table};
///
/// let config = Config { jobs: vec!["mean".parse()?], ns: vec![4], ds: vec![100], runs: 1, ..Config::default() };
/// let text = table(&run(&config, |_| {})?);
/// assert!(text.starts_with("rule"));
/// assert!(text.lines().nth(1).unwrap().starts_with("mean"));
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn table(records: &[Record]) -> String {
    let header = [
        "rule", "backend", "n", "d", "weights", "seconds", "GB/s", "x read", "read s", "iters",
    ];
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                if r.resident && !is_primitive(&r.rule) {
                    format!("{} [resident]", r.rule)
                } else {
                    r.rule.clone()
                },
                r.backend.clone(),
                r.n.to_string(),
                r.d.to_string(),
                if r.weighted { "weighted" } else { "uniform" }.to_string(),
                format!("{:.4}", r.seconds),
                format!("{:.2}", r.gb_per_s),
                format!("{:.2}", r.ratio),
                format!("{:.4}", r.read_pass_seconds),
                r.iterations.map_or_else(|| "-".to_string(), |i| i.to_string()),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                // Text columns to the left, numbers to the right.
                if i < 2 || i == 4 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    text
}

/// The records as a JSON list of objects with the keys `rule`, `backend`, `variant`, `n`, `d`,
/// `weighted`, `seconds`, `read_pass_seconds`, `ratio`, `gb_per_s`, `iterations` (or null),
/// `runs`, `read_pass_runs` (every timed run, seconds), `cpu`, `cpus`, `threads`, `simd`.
///
/// # Examples
///
/// ```
/// use byzagg::bench::{Config, Machine, json, run};
///
/// let config = Config { jobs: vec!["gm".parse()?], ns: vec![4], ds: vec![100], runs: 1, ..Config::default() };
/// let text = json(&run(&config, |_| {})?, &Machine::here());
/// assert!(text.starts_with("[\n  {\"rule\": \"gm\", \"backend\": \"cpu\", \"variant\": \"default\", \"n\": 4"));
/// assert!(text.contains("\"ratio\": "));
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn json(records: &[Record], machine: &Machine) -> String {
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:e}")
        } else {
            "null".to_string()
        }
    };
    let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
    let items: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "  {{\"rule\": {}, \"backend\": {}, \"variant\": {}, \"n\": {}, \"d\": {}, \"weighted\": {}, \"resident\": {}, \
                 \"seconds\": {}, \"read_pass_seconds\": {}, \"ratio\": {}, \"gb_per_s\": {}, \
                 \"iterations\": {}, \"runs\": [{}], \"read_pass_runs\": [{}], \"cpu\": {}, \
                 \"cpus\": {}, \"threads\": {}, \"simd\": {}}}",
                string(&r.rule),
                string(&r.backend),
                string(&r.variant),
                r.n,
                r.d,
                r.weighted,
                r.resident,
                num(r.seconds),
                num(r.read_pass_seconds),
                num(r.ratio),
                num(r.gb_per_s),
                r.iterations.map_or_else(|| "null".to_string(), |i| i.to_string()),
                list(&r.timings.job),
                list(&r.timings.read_pass),
                string(&machine.cpu),
                machine.cpus,
                machine.threads,
                string(&machine.simd),
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a job name is one of the primitives (always timed resident, so not marked).
fn is_primitive(job: &str) -> bool {
    super::Primitive::ALL.iter().any(|p| p.stem() == job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
