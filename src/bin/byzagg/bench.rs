//! `byzagg bench`: the flags into a `byzagg::bench::Config`, a progress bar, then the table,
//! the JSON and the SVG plot.

use std::path::PathBuf;

use byzagg::{BackendList, Error};
use clap::Args;

/// `byzagg bench`: every list flag may be repeated or take a comma-separated list, but for
/// `--backend` a comma list names one sharded engine.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Rules (text form) or primitives (order_stats, pairwise_dist, center_dist, mix, and
    /// mix_rows: mix at NNM's k = n).
    /// Default: mean, cwmed, cwtm, krum, gm, ctma(cwmed), meamed, bulyan, cge, monna, mda,
    /// smea, caf, clip(mean,tau=1), arc(mean), clip(cwtm,tau=1), fltrust, center_dist. Rules
    /// that need f get f = n/5; row 0 is fltrust's root update; a subset rule is left out at
    /// an n beyond its exact search's limit.
    #[arg(long = "rule", value_name = "RULE")]
    pub(crate) rules: Vec<String>,
    /// Backends to compare, one per flag (repeat it: --backend cpu --backend cuda); a comma
    /// list in one flag is one sharded engine (cpu,cpu; cuda:0,cuda:1; cuda:all); default cpu.
    #[arg(long = "backend", value_name = "NAME")]
    pub(crate) backends: Vec<BackendList>,
    /// Row counts; default 8,16,32,64.
    #[arg(long = "n", value_name = "N", value_delimiter = ',', value_parser = parse_size)]
    pub(crate) ns: Vec<usize>,
    /// Dimensions (1e6 and 10^6 are accepted); default 1e5,1e6,1e7.
    #[arg(long = "d", value_name = "D", value_delimiter = ',', value_parser = parse_size)]
    pub(crate) ds: Vec<usize>,
    /// Weights 1, 2, 3, 4, 1, 2, ... instead of uniform.
    #[arg(long)]
    weighted: bool,
    /// Upload the batch once and time the rules on it (`Aggregator::aggregate_resident`, the
    /// clock stopping when the device is done): the device without the host link.
    #[arg(long)]
    resident: bool,
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

/// `byzagg bench`: the flags into a `bench::Config`, a progress bar, then the table, the JSON
/// and the plot.
pub(crate) fn run(args: &BenchArgs) -> Result<(), Error> {
    use byzagg::bench::{self, Config, Event, Machine};
    let mut config = Config {
        warmup: args.warmup,
        runs: args.runs,
        seed: args.seed,
        weighted: args.weighted,
        resident: args.resident,
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
    let outputs: Vec<&std::path::Path> = args.json.iter().chain(&args.plot).map(|p| p.as_path()).collect();
    crate::check_outputs(&outputs)?;
    // With `--json -` or `--plot -` standard output carries that file: the tables go to stderr.
    let print = crate::printer(&outputs);
    let machine = Machine::here();
    print(&format!(
        "machine: {}, {} CPUs, {} rayon threads, SIMD {}\n",
        machine.cpu, machine.cpus, machine.threads, machine.simd
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

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
        assert_eq!(args.backends, vec![BackendList::from(byzagg::Backend::Cpu)]);
        // One flag per engine compared; commas inside one flag shard it.
        let cli = parse(&["bench", "--backend", "cpu", "--backend", "cpu,cpu"]).unwrap();
        let Command::Bench(lists) = cli.command else {
            panic!("not bench")
        };
        let names: Vec<String> = lists.backends.iter().map(ToString::to_string).collect();
        assert_eq!(names, vec!["cpu", "cpu,cpu"]);
        let rules: Vec<String> = args.rules.iter().flat_map(|r| split_top_level(r)).collect();
        assert_eq!(rules, vec!["cwmed", "ctma(cwmed,lambda=0.2)", "mix"]);
        assert!(parse(&["bench", "--d", "1e"]).is_err());
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2e3"), Ok(2000));
    }
}
