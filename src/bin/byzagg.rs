//! `byzagg`: robust aggregation from the command line.
//!
//! - `byzagg aggregate --rule RULE [--lambda X | --f F] [--weights W.npy] [--backend B]
//!   [--strict] IN.npy -o OUT.npy`: the rows of an `(n, d)` float32/float64 `.npy` file
//!   aggregated into a `(d,)` float32 `.npy` file;
//! - `byzagg verify [--backend NAME|all]`: the conformance suite of `byzagg::verify` against
//!   the f64 reference, one table row per rule; `verify --backend cuda --compile-only
//!   [--arch sm_80,sm_90]` compiles every CUDA kernel with NVRTC, no GPU needed;
//! - `byzagg train`: asynchronous Byzantine SGD (see `byzagg::train`);
//! - `byzagg devices`: which backends can run here, and why not (CUDA devices and NVRTC too);
//! - `byzagg bench [--rule RULE ...] [--backend NAME ...] [--n N ...] [--d D ...] [--weighted]
//!   [--json FILE] [--plot FILE.svg]`: each rule timed beside a read pass over the same batch
//!   (`byzagg::bench`); lists by repeating a flag or with commas.
//!
//! Exit codes: 0 success, 1 a failed check (`verify`), 2 bad usage or input (clap's own
//! usage errors exit 2 too). Errors are printed as `error: ...` on stderr.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use byzagg::verify::{self, RuleResult};
use byzagg::{Aggregator, Backend, Batch, Error, Rule, Tolerance, npy};
use clap::{Args, Parser, Subcommand};

/// Byzantine-robust aggregation of vectors (gradients), weighted, on the CPU and GPUs.
#[derive(Debug, Parser)]
#[command(name = "byzagg", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Aggregate the rows of an (n, d) .npy file into one (d,) float32 .npy file.
    Aggregate(AggregateArgs),
    /// Check backends against the f64 reference on the built-in conformance suite.
    Verify {
        /// `all` (every backend but the reference; absent ones are reported and skipped) or
        /// one of auto, reference, cpu, wgpu, cuda.
        #[arg(long, default_value = "all")]
        backend: BackendChoice,
        /// CUDA only: compile every kernel with NVRTC (no GPU needed) instead of running them.
        #[arg(long)]
        compile_only: bool,
        /// With --compile-only: the architectures to compile for, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "sm_80,sm_90")]
        arch: Vec<String>,
    },
    /// List the backends, whether each can run here, and the CPU's threads and SIMD level.
    Devices,
    /// Asynchronous Byzantine SGD: workers, delays, attacks and mu2-SGD on MNIST or a
    /// synthetic task, aggregated by any rule on any backend.
    Train(Box<byzagg::train::TrainArgs>),
    /// Time rules and primitives beside a read pass over the same batch (the memory roofline).
    Bench(BenchArgs),
}

/// `byzagg bench`: every list flag may be repeated or take a comma-separated list.
#[derive(Debug, Args)]
struct BenchArgs {
    /// Rules (text form) or primitives (order_stats, pairwise_dist, center_dist, mix).
    /// Default: mean, cwmed, cwtm, krum, gm, ctma(cwmed), center_dist. Rules that need f
    /// get f = n/5.
    #[arg(long = "rule", value_name = "RULE")]
    rules: Vec<String>,
    /// Backends (cpu, cuda, ...); default cpu.
    #[arg(long = "backend", value_name = "NAME", value_delimiter = ',')]
    backends: Vec<Backend>,
    /// Row counts; default 8,16,32,64.
    #[arg(long = "n", value_name = "N", value_delimiter = ',', value_parser = parse_size)]
    ns: Vec<usize>,
    /// Dimensions (1e6 and 10^6 are accepted); default 1e5,1e6,1e7.
    #[arg(long = "d", value_name = "D", value_delimiter = ',', value_parser = parse_size)]
    ds: Vec<usize>,
    /// Weights 1, 2, 3, 4, 1, 2, ... instead of uniform.
    #[arg(long)]
    weighted: bool,
    /// Timed runs per job (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed runs before them.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Seed of the data.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Write the records as a JSON list to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw the results into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// A size: `1000000`, `1e6` or `10^6`.
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a size (write 1000000, 1e6 or 10^6)");
    if let Some((base, exp)) = s.split_once('^').or_else(|| s.split_once(['e', 'E'])) {
        let exp: u32 = exp.parse().map_err(|_| bad())?;
        let base: usize = if s.contains('^') {
            base.parse().map_err(|_| bad())?
        } else {
            return base
                .parse::<usize>()
                .ok()
                .and_then(|m| 10usize.checked_pow(exp).and_then(|p| m.checked_mul(p)))
                .ok_or_else(bad);
        };
        return base.checked_pow(exp).ok_or_else(bad);
    }
    s.parse().map_err(|_| bad())
}

/// Splits `a,b(c,d)` at the commas outside parentheses: `["a", "b(c,d)"]`.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

#[derive(Debug, Args)]
struct AggregateArgs {
    /// The rule, in text form: cwmed, cwtm(lambda=0.25), krum(f=2), multikrum(f=2,m=4), gm,
    /// gm(preset=rfa), ctma(cwmed,lambda=0.2), ctma(nnm(gm)), bucketing(cwmed,s=2,seed=0),
    /// cclip(tau=1,iters=3), ...
    #[arg(long)]
    rule: Rule,
    /// Share of the total weight that may be Byzantine, in [0, 0.5), for rules that leave it out.
    #[arg(long, conflicts_with = "f")]
    lambda: Option<f64>,
    /// Number of Byzantine rows (lambda = f / n), for rules that leave it out.
    #[arg(long)]
    f: Option<usize>,
    /// An (n,) float32/float64 .npy file of row weights (finite, >= 0, not all zero).
    #[arg(long, value_name = "W.npy")]
    weights: Option<PathBuf>,
    /// auto (the fastest available), reference, cpu, wgpu or cuda.
    #[arg(long, default_value = "auto")]
    backend: Backend,
    /// Fail on a row holding NaN or infinity instead of treating it as Byzantine.
    #[arg(long)]
    strict: bool,
    /// The rows: an (n, d) float32 or float64 .npy file in C order.
    #[arg(value_name = "IN.npy")]
    input: PathBuf,
    /// Where to write the (d,) float32 aggregate.
    #[arg(short, long, value_name = "OUT.npy")]
    output: PathBuf,
}

/// `verify --backend`: every backend, or one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BackendChoice {
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

/// Usage or input errors.
const EXIT_USAGE: u8 = 2;
/// A check that ran and failed.
const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Aggregate(args) => match aggregate(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Verify {
            backend,
            compile_only: true,
            arch,
        } => compile_kernels(backend, &arch),
        Command::Verify { backend, .. } => verify_backends(backend),
        Command::Train(args) => match byzagg::train::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Devices => {
            print(&devices());
            ExitCode::SUCCESS
        }
        Command::Bench(args) => match bench(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

/// `byzagg bench`: the flags into a `bench::Config`, a progress bar, then the table, the JSON
/// and the plot.
fn bench(args: &BenchArgs) -> Result<(), Error> {
    use byzagg::bench::{self, Config, Event, Machine};
    let mut config = Config {
        warmup: args.warmup,
        runs: args.runs,
        seed: args.seed,
        weighted: args.weighted,
        ..Config::default()
    };
    if !args.rules.is_empty() {
        config.jobs = args
            .rules
            .iter()
            .flat_map(|r| split_top_level(r))
            .map(|r| r.parse())
            .collect::<Result<_, _>>()?;
    }
    if !args.backends.is_empty() {
        config.backends = args.backends.clone();
    }
    if !args.ns.is_empty() {
        config.ns = args.ns.clone();
    }
    if !args.ds.is_empty() {
        config.ds = args.ds.clone();
    }
    for path in args.json.iter().chain(&args.plot) {
        byzagg::output::check_writable(path)?;
    }
    let machine = Machine::here();
    print(&format!(
        "machine: {}, {} CPUs, {} rayon threads\n",
        machine.cpu, machine.cpus, machine.threads
    ));
    let total = config.jobs.len() * config.backends.len() * config.ns.len() * config.ds.len();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let records = bench::run(&config, |event| match event {
        Event::Data { n, d } => bar.set_message(format!("generating n={n} d={d}")),
        Event::Start { label, .. } => bar.set_message(label),
        Event::Done(_) => bar.inc(1),
    });
    bar.finish_and_clear();
    let records = records?;
    print(&bench::table(&records));
    if let Some(path) = &args.json {
        byzagg::output::write_atomic(path, bench::json(&records, &machine).as_bytes())?;
    }
    if let Some(path) = &args.plot {
        bench::plot_svg(&records, path)?;
    }
    Ok(())
}

/// Writes to stdout, ignoring a closed pipe (`byzagg devices | head -1` must not panic).
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn aggregate(args: &AggregateArgs) -> Result<(), Error> {
    byzagg::output::check_writable(&args.output)?;
    let (data, n, _d) = npy::read_matrix(&args.input)?;
    let weights = args.weights.as_deref().map(npy::read_vector_f64).transpose()?;
    let mut batch = Batch::from_contiguous(&data, n)?;
    if let Some(w) = &weights {
        batch = batch
            .with_weights(w)
            .map_err(|e| in_file(args.weights.as_deref(), e))?;
    }
    let mut aggregator = Aggregator::new(args.rule.clone(), args.backend)?.strict(args.strict);
    match (args.lambda, args.f) {
        (Some(lambda), _) => aggregator = aggregator.with_tolerance(Tolerance::Lambda(lambda)),
        (None, Some(f)) => aggregator = aggregator.with_tolerance(Tolerance::F(f)),
        (None, None) => {}
    }
    let out = aggregator.aggregate(&batch)?;
    npy::write_vector_f32(&args.output, &out)
}

/// Names the file an invalid weight came from.
fn in_file(path: Option<&Path>, e: Error) -> Error {
    match path {
        Some(p) => Error::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        },
        None => e,
    }
}

/// `verify --backend cuda --compile-only`: every kernel through NVRTC for every `arch`, one
/// line each with the NVRTC log on failure; exit 1 if any fails.
fn compile_kernels(choice: BackendChoice, archs: &[String]) -> ExitCode {
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

fn verify_backends(choice: BackendChoice) -> ExitCode {
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
        match verify::run(backend) {
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

/// The reason of an unavailable backend, without the "backend X is unavailable" preamble.
fn reason(e: &Error) -> String {
    match e {
        Error::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
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

/// One line per backend: available or not (and why); for the CPU, threads and SIMD level.
fn devices() -> String {
    let mut text = String::new();
    for backend in Backend::ALL {
        let status = match backend.available() {
            Err(e) => format!("unavailable: {}", reason(&e)),
            Ok(()) => match backend {
                Backend::Reference => "available: the f64 oracle (slow, for checking)".to_string(),
                Backend::Cpu => format!(
                    "available: {} rayon threads, SIMD {}",
                    rayon::current_num_threads(),
                    simd_level()
                ),
                _ => "available".to_string(),
            },
        };
        let _ = writeln!(text, "{:<10} {status}", backend.name());
        if backend == Backend::Wgpu {
            for line in byzagg::wgpu::adapters() {
                let _ = writeln!(text, "{:<10} {line}", "");
            }
        }
        if backend == Backend::Cuda {
            for line in byzagg::cuda::describe() {
                let _ = writeln!(text, "{:<10} {line}", "");
            }
        }
    }
    text
}

/// The SIMD instruction sets this CPU offers, detected at run time.
fn simd_level() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            found.push("fma");
        }
        if found.is_empty() {
            "sse2 (x86_64 baseline)".to_string()
        } else {
            found.join(" ")
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon".to_string()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "none detected (scalar code)".to_string()
    }
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

    #[test]
    fn arguments() {
        use clap::error::ErrorKind;
        let parse = |args: &[&str]| Cli::try_parse_from(["byzagg"].iter().chain(args));
        // --lambda and --f exclude each other.
        let err = parse(&[
            "aggregate",
            "--rule",
            "mean",
            "--lambda",
            "0.1",
            "--f",
            "1",
            "x.npy",
            "-o",
            "y.npy",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["aggregate", "--rule", "mean", "x.npy"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let err = parse(&["verify", "--backend", "tpu"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert_eq!(err.exit_code(), 2);
        let cli = parse(&["verify"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Verify {
                backend: BackendChoice::All,
                compile_only: false,
                ..
            }
        ));
        let cli = parse(&["devices"]).unwrap();
        assert!(matches!(cli.command, Command::Devices));
    }

    #[test]
    fn bench_arguments() {
        let parse = |args: &[&str]| Cli::try_parse_from(["byzagg"].iter().chain(args));
        // gpu-check.sh's form, and lists by repetition or commas.
        let cli = parse(&[
            "bench",
            "--backend",
            "cpu",
            "--n",
            "16",
            "--d",
            "1e6",
            "--n",
            "32,64",
            "--d",
            "10^7",
            "--rule",
            "cwmed,ctma(cwmed,lambda=0.2)",
            "--rule",
            "mix",
            "--json",
            "x.json",
        ])
        .unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(args.ns, vec![16, 32, 64]);
        assert_eq!(args.ds, vec![1_000_000, 10_000_000]);
        assert_eq!(args.backends, vec![Backend::Cpu]);
        let rules: Vec<String> = args.rules.iter().flat_map(|r| split_top_level(r)).collect();
        assert_eq!(rules, vec!["cwmed", "ctma(cwmed,lambda=0.2)", "mix"]);
        assert!(parse(&["bench", "--d", "1e"]).is_err());
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2e3"), Ok(2000));
    }

    #[test]
    fn devices_lists_every_backend() {
        let text = devices();
        for backend in Backend::ALL {
            assert_eq!(
                text.lines().filter(|l| l.starts_with(backend.name())).count(),
                1,
                "{text}"
            );
        }
        assert!(text.contains("nvrtc"), "{text}");
        let cpu = text.lines().find(|l| l.starts_with("cpu")).unwrap();
        assert!(cpu.contains("rayon threads") && cpu.contains("SIMD"), "{cpu}");
    }
}
