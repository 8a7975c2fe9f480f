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
//! One file per command (`aggregate.rs`, `verify.rs`, `bench.rs`, `devices.rs`, `train.rs`,
//! whose benchmark grid is `grid.rs`);
//! this file parses the command line and maps results to exit codes.
//!
//! Exit codes: 0 success, 1 a failed check (`verify`), 2 bad usage or input (clap's own
//! usage errors exit 2 too). Errors are printed as `error: ...` on stderr.

mod aggregate;
mod bench;
mod devices;
mod grid;
mod logger;
mod train;
mod verify;

use std::io::Write as _;
use std::process::ExitCode;

use byzagg::Error;
use clap::{Parser, Subcommand};

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
    Aggregate(aggregate::AggregateArgs),
    /// Check backends against the f64 reference on the built-in conformance suite.
    Verify {
        /// `all` (every backend but the reference; absent ones are reported and skipped) or
        /// one of auto, reference, cpu, wgpu, cuda.
        #[arg(long, default_value = "all")]
        backend: verify::BackendChoice,
        /// CUDA only: compile every kernel with NVRTC (no GPU needed) instead of running them.
        #[arg(long)]
        compile_only: bool,
        /// With --compile-only: the architectures to compile for, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "sm_80,sm_90")]
        arch: Vec<String>,
        /// Print the suite's rules, one rule text per line (what `--rule` accepts), and exit.
        #[arg(long, conflicts_with = "compile_only")]
        list_rules: bool,
    },
    /// List the backends, whether each can run here, and the CPU's threads and SIMD level.
    Devices,
    /// Asynchronous Byzantine SGD: workers, delays, attacks and mu2-SGD on MNIST or a
    /// synthetic task, aggregated by any rule on any backend.
    Train(Box<train::TrainArgs>),
    /// Time rules and primitives beside a read pass over the same batch (the memory roofline).
    Bench(bench::BenchArgs),
}

/// Tells libwayland there is no display to find, where it could not find one anyway.
///
/// While wgpu lists Vulkan adapters (`byzagg devices`, `--backend wgpu`), Mesa's drivers
/// ask libwayland for a display, and libwayland prints "error: XDG_RUNTIME_DIR is invalid or
/// not set in the environment." twice when that variable is missing or relative: noise on
/// every command of a headless machine. byzagg draws nothing (its wgpu instance has no display
/// handle); an absolute `WAYLAND_DISPLAY` that names no socket makes the same failed lookup
/// silent. A display that could be found (an absolute runtime dir, or an absolute
/// `WAYLAND_DISPLAY`) is left alone.
fn no_wayland_display() {
    let absolute =
        |name: &str| std::env::var_os(name).is_some_and(|v| std::path::Path::new(&v).is_absolute());
    if !absolute("XDG_RUNTIME_DIR") && !absolute("WAYLAND_DISPLAY") {
        // SAFETY: the first statement of `main`, before any thread is started (clap, rayon and
        // wgpu start theirs later), so no other thread can be reading the environment.
        unsafe { std::env::set_var("WAYLAND_DISPLAY", "/nonexistent/byzagg-draws-nothing") };
    }
}

/// Usage or input errors.
pub(crate) const EXIT_USAGE: u8 = 2;
/// A check that ran and failed.
pub(crate) const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    no_wayland_display();
    logger::install();
    let cli = Cli::parse();
    match cli.command {
        Command::Aggregate(args) => match aggregate::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Verify { list_rules: true, .. } => verify::list_rules(),
        Command::Verify {
            backend,
            compile_only: true,
            arch,
            ..
        } => verify::compile_kernels(backend, &arch),
        Command::Verify { backend, .. } => verify::run(backend),
        Command::Train(args) => {
            // `--grid` runs the benchmark grid (grid.rs, built on train.rs's settings); the
            // lists and single runs are train.rs's.
            let result = match &args.grid {
                Some(spec) if !args.list_presets && !args.list_attacks => grid::run(&args, spec),
                _ => train::run(&args),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        Command::Devices => {
            print(&devices::list());
            ExitCode::SUCCESS
        }
        Command::Bench(args) => match bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

/// Writes to stdout, ignoring a closed pipe (`byzagg devices | head -1` must not panic).
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Checks a command's output paths before its work: each writable (`byzagg::output`), and at
/// most one of them standard output (`-`), which cannot carry two files.
pub(crate) fn check_outputs(paths: &[&std::path::Path]) -> Result<(), Error> {
    for path in paths {
        byzagg::output::check_writable(path)?;
    }
    if paths.iter().filter(|p| byzagg::output::is_stdout(p)).count() > 1 {
        return Err(Error::invalid(
            "output",
            "-",
            "at most one output can be standard output",
        ));
    }
    Ok(())
}

/// Where a command's own text goes: stdout, or stderr when one of its `outputs` is standard
/// output (`-`), so that the file written there is not mixed with tables.
pub(crate) fn printer(outputs: &[&std::path::Path]) -> fn(&str) {
    match outputs.iter().any(byzagg::output::is_stdout) {
        true => |text| eprint!("{text}"),
        false => print,
    }
}

/// The reason of an unavailable backend, without the "backend X is unavailable" preamble.
pub(crate) fn reason(e: &Error) -> String {
    match e {
        Error::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::BackendChoice;

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
}
