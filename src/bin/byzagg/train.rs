//! `byzagg train`: flags, named presets that mirror the papers' setups, several seeds, the
//! `--compare` summary table, the CSV log and the SVG plot.
//!
//! Every setting is a `key=value` pair applied in order: first the preset's, then each flag
//! given, then (for each `--compare` variant) the variant's own pairs. So a preset is just a
//! list of pairs (`byzagg::train::PRESETS`), and a variant like `"rule=cwmed weighting=uniform"`
//! overrides what it names.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use byzagg::train::task::mnist::default_data_dir;
use byzagg::train::{
    Curve, MnistModel, MnistTask, MomentumStart, PRESETS, RunResult, SyntheticTask, Task, TrainConfig,
    Weighting, plot_accuracy, run_threads, simulate, simulate_sync,
};
use byzagg::{Backend, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `byzagg train`.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct TrainArgs {
    /// Named setup (see --list-presets; neurips-async-mnist and icml-sync-mnist are the
    /// papers'); flags override it.
    #[arg(long, default_value = "mnist-async")]
    pub(crate) preset: String,
    /// List the presets and exit.
    #[arg(long)]
    pub(crate) list_presets: bool,
    /// List the attacks (names, parameters, sources) and exit.
    #[arg(long)]
    pub(crate) list_attacks: bool,
    /// mnist or synthetic.
    #[arg(long)]
    pub(crate) task: Option<String>,
    /// MNIST folder: full MNIST (train-* and t10k-* IDX files) or the shipped test split.
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// MNIST network: mlp (784-hidden-10), cnn (the papers' conv net) or simple-cnn (the ICML
    /// sync code's `simple_mnist`: two padded convolutions with BatchNorm2d, one linear layer).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// MLP hidden units (MNIST).
    #[arg(long)]
    pub(crate) hidden: Option<usize>,
    /// Training examples (the rest of the shipped 10,000 MNIST images are held out).
    #[arg(long)]
    pub(crate) train_size: Option<usize>,
    /// Dimension of the synthetic task.
    #[arg(long)]
    pub(crate) dim: Option<usize>,
    /// Workers m.
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// Byzantine workers f (the last f ids, the fastest).
    #[arg(long)]
    pub(crate) byzantine: Option<usize>,
    /// Aggregation rule, e.g. `ctma(cwmed)`, `cwmed`, `gm`, `mean`.
    #[arg(long)]
    pub(crate) rule: Option<String>,
    /// Byzantine share lambda (schedule bound and the rule's trim).
    #[arg(long)]
    pub(crate) lambda: Option<f64>,
    /// counts (weighted, the default) or uniform.
    #[arg(long)]
    pub(crate) weighting: Option<String>,
    /// mu2, momentum or sgd.
    #[arg(long)]
    pub(crate) optimizer: Option<String>,
    /// Learning rate.
    #[arg(long)]
    pub(crate) lr: Option<f32>,
    /// Minibatch per update.
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    /// STORM beta: a number or `1/t`.
    #[arg(long)]
    pub(crate) beta: Option<String>,
    /// AnyTime gamma: a number or `2/(t+1)`.
    #[arg(long)]
    pub(crate) gamma: Option<String>,
    /// Momentum baseline's beta.
    #[arg(long)]
    pub(crate) momentum: Option<f32>,
    /// Arrival probabilities: uniform, linear, quadratic.
    #[arg(long)]
    pub(crate) arrival: Option<String>,
    /// Byzantine arrivals: periodic, random, free.
    #[arg(long)]
    pub(crate) byz_schedule: Option<String>,
    /// none, sign-flip, label-flip, empire[:EPS], alie, alie-sync, gaussian[:SIGMA], nan, inf,
    /// mimic[:WARMUP], optimal-ipm, optimal-alie, min-max[:uv|std|sign], min-sum[:uv|std|sign],
    /// fang[:B] (see --list-attacks).
    #[arg(long)]
    pub(crate) attack: Option<String>,
    /// Server updates per run.
    #[arg(long)]
    pub(crate) iterations: Option<u64>,
    /// Evaluate every this many updates.
    #[arg(long)]
    pub(crate) eval_every: Option<u64>,
    /// iid, label-skew or dirichlet(ALPHA) (per class, Dirichlet(ALPHA) shares over workers).
    #[arg(long)]
    pub(crate) shards: Option<String>,
    /// Where minibatches come from: shards (each worker draws from its shard) or epochs (sync:
    /// each round the next workers x batch examples of a pass over the training set).
    #[arg(long)]
    pub(crate) sampling: Option<String>,
    /// Rescale each worker's minibatch gradient to this norm at most, or `off`.
    #[arg(long)]
    pub(crate) clip: Option<String>,
    /// STORM's order in sync mode: fresh-sample or after-step (the ICML code's second pass).
    #[arg(long)]
    pub(crate) storm_order: Option<String>,
    /// Where the momentum baseline starts: zero or gradient (d_1 = g_1).
    #[arg(long)]
    pub(crate) momentum_start: Option<String>,
    /// Round beta_t and gamma_t to 3 decimals, floored at 0.01 (true or false).
    #[arg(long)]
    pub(crate) round_schedules: Option<bool>,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Number of seeds (seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub(crate) seeds: u64,
    /// sim (seeded asynchronous simulation), threads (one OS thread per worker) or sync (all
    /// workers report every round); default: the preset's, else sim.
    #[arg(long)]
    pub(crate) mode: Option<String>,
    /// Threads mode: base delay per update in microseconds, scaled by 1/speed.
    #[arg(long)]
    pub(crate) thread_delay_us: Option<u64>,
    /// Aggregation backend: auto, cpu, reference, ...; default: the preset's, else auto.
    #[arg(long)]
    pub(crate) backend: Option<String>,
    /// Variants to compare, each a space-separated list of key=value (`rule=gm
    /// weighting=uniform label=gm`); repeat the flag. Keys are the flags' names, and
    /// `resident=true|false|auto`: keep the latest vectors on the backend, or aggregate from
    /// the host (auto: resident on GPU backends), to measure what residency saves.
    #[arg(long)]
    pub(crate) compare: Vec<String>,
    /// Run the benchmark grid: every rule x attack x heterogeneity x seed of the spec, e.g.
    /// `rules=cwmed,cwtm,krum,gm,ctma(cwmed),nnm(cwmed) attacks=all seeds=5
    /// hetero=iid,dirichlet(0.5)`, on the setting the preset and flags give (the spec's seeds
    /// replace --seed and --seeds); --out is the CSV (cells already in it are skipped), --plot
    /// the heat map.
    #[arg(long)]
    pub(crate) grid: Option<String>,
    /// Grid cells run at once (default: the available cores), each in a thread pool of its own
    /// holding an equal share of the cores (at least one thread).
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Write every evaluation of every run as CSV.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Write the accuracy curves (mean over seeds) as SVG.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// What builds the task.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TaskSpec {
    pub(crate) name: String,
    pub(crate) data: Option<PathBuf>,
    pub(crate) model: String,
    pub(crate) hidden: usize,
    pub(crate) train_size: usize,
    pub(crate) dim: usize,
}

/// A fully resolved setting: task and run configuration, plus a label.
#[derive(Clone, Debug)]
pub(crate) struct Setting {
    pub(crate) label: String,
    pub(crate) task: TaskSpec,
    pub(crate) cfg: TrainConfig,
    pub(crate) mode: Mode,
}

/// How a run's workers and server meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The seeded asynchronous simulation.
    Sim,
    /// One OS thread per worker, asynchronous.
    Threads,
    /// Synchronous rounds.
    Sync,
}

fn parse<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::invalid(key, value, "not a valid value for this setting"))
}

fn set(s: &mut Setting, key: &str, value: &str) -> Result<()> {
    let c = &mut s.cfg;
    match key {
        "task" => s.task.name = value.to_string(),
        "data" => s.task.data = Some(PathBuf::from(value)),
        "model" => {
            s.task.model = match value {
                "mlp" | "cnn" | "simple-cnn" => value.to_string(),
                _ => return Err(Error::invalid("model", value, "mlp, cnn or simple-cnn")),
            }
        }
        "hidden" => s.task.hidden = parse("hidden", value)?,
        "train-size" => s.task.train_size = parse("train_size", value)?,
        "dim" => s.task.dim = parse("dim", value)?,
        "workers" => c.workers = parse("workers", value)?,
        "byzantine" => c.byzantine = parse("byzantine", value)?,
        "rule" => c.rule = value.parse()?,
        "lambda" => c.lambda = parse("lambda", value)?,
        "weighting" => {
            c.weighting = match value {
                "counts" | "weighted" => Weighting::Counts,
                "uniform" | "unweighted" => Weighting::Uniform,
                _ => return Err(Error::invalid("weighting", value, "counts or uniform")),
            }
        }
        "optimizer" => c.method = value.parse()?,
        "lr" => c.lr = parse("lr", value)?,
        "batch" => c.batch = parse("batch", value)?,
        "beta" => {
            c.beta = if value == "1/t" {
                None
            } else {
                Some(parse("beta", value)?)
            }
        }
        "gamma" => {
            c.gamma = if value == "2/(t+1)" || value == "anytime" {
                None
            } else {
                Some(parse("gamma", value)?)
            }
        }
        "momentum" => c.momentum = parse("momentum", value)?,
        "arrival" => c.speeds = value.parse()?,
        "byz-schedule" => c.byz_schedule = value.parse()?,
        "attack" => c.attack = value.parse()?,
        "iterations" => c.iterations = parse("iterations", value)?,
        "eval-every" => c.eval_every = parse("eval_every", value)?,
        "shards" => c.sharding = value.parse()?,
        "sampling" => c.sampling = value.parse()?,
        "clip" => {
            c.clip = match value {
                "off" | "none" => None,
                _ => Some(parse("clip", value)?),
            }
        }
        "storm-order" => c.storm_order = value.parse()?,
        "momentum-start" => {
            c.momentum_start = match value {
                "zero" => MomentumStart::Zero,
                "gradient" => MomentumStart::FirstGradient,
                _ => return Err(Error::invalid("momentum_start", value, "zero or gradient")),
            }
        }
        "round-schedules" => c.round_schedules = parse("round_schedules", value)?,
        "thread-delay-us" => c.thread_delay_us = parse("thread_delay_us", value)?,
        "backend" => c.backend = value.parse::<Backend>()?,
        "resident" => {
            c.resident = match value {
                "auto" => None,
                _ => Some(parse("resident", value)?),
            }
        }
        "mode" => {
            s.mode = match value {
                "sim" => Mode::Sim,
                "threads" => Mode::Threads,
                "sync" => Mode::Sync,
                _ => return Err(Error::invalid("mode", value, "sim, threads or sync")),
            }
        }
        "label" => s.label = value.to_string(),
        _ => {
            return Err(Error::invalid(
                "setting",
                key,
                "unknown key (use a flag's name, e.g. rule, lr)",
            ));
        }
    }
    Ok(())
}

fn pairs(text: &str) -> Result<Vec<(String, String)>> {
    text.split_whitespace()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::invalid("setting", kv, "write key=value"))
        })
        .collect()
}

/// The flags given, as key=value pairs, in a fixed order.
fn flag_pairs(a: &TrainArgs) -> Vec<(String, String)> {
    let v: Vec<(&str, Option<String>)> = vec![
        ("task", a.task.clone()),
        ("data", a.data.as_ref().map(|p| p.display().to_string())),
        ("model", a.model.clone()),
        ("hidden", a.hidden.map(|x| x.to_string())),
        ("train-size", a.train_size.map(|x| x.to_string())),
        ("dim", a.dim.map(|x| x.to_string())),
        ("workers", a.workers.map(|x| x.to_string())),
        ("byzantine", a.byzantine.map(|x| x.to_string())),
        ("rule", a.rule.clone()),
        ("lambda", a.lambda.map(|x| x.to_string())),
        ("weighting", a.weighting.clone()),
        ("optimizer", a.optimizer.clone()),
        ("lr", a.lr.map(|x| x.to_string())),
        ("batch", a.batch.map(|x| x.to_string())),
        ("beta", a.beta.clone()),
        ("gamma", a.gamma.clone()),
        ("momentum", a.momentum.map(|x| x.to_string())),
        ("arrival", a.arrival.clone()),
        ("byz-schedule", a.byz_schedule.clone()),
        ("attack", a.attack.clone()),
        ("iterations", a.iterations.map(|x| x.to_string())),
        ("eval-every", a.eval_every.map(|x| x.to_string())),
        ("shards", a.shards.clone()),
        ("sampling", a.sampling.clone()),
        ("clip", a.clip.clone()),
        ("storm-order", a.storm_order.clone()),
        ("momentum-start", a.momentum_start.clone()),
        ("round-schedules", a.round_schedules.map(|x| x.to_string())),
        ("thread-delay-us", a.thread_delay_us.map(|x| x.to_string())),
        ("backend", a.backend.clone()),
        ("mode", a.mode.clone()),
    ];
    v.into_iter()
        .filter_map(|(k, x)| x.map(|x| (k.to_string(), x)))
        .collect()
}

fn default_label(s: &Setting) -> String {
    let w = match s.cfg.weighting {
        Weighting::Counts => "w",
        Weighting::Uniform => "u",
    };
    format!("{w}:{} {} {}", s.cfg.rule, s.cfg.method, s.cfg.attack)
}

pub(crate) fn settings(a: &TrainArgs) -> Result<Vec<Setting>> {
    let (_, _, preset) = PRESETS.iter().find(|p| p.0 == a.preset).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        Error::invalid("preset", &a.preset, format!("one of {}", names.join(", ")))
    })?;
    let mut base = Setting {
        label: String::new(),
        task: TaskSpec {
            name: "mnist".into(),
            data: None,
            model: "mlp".into(),
            hidden: 64,
            train_size: 8000,
            dim: 1000,
        },
        cfg: TrainConfig::default(),
        mode: Mode::Sim,
    };
    for (k, v) in pairs(preset)?.into_iter().chain(flag_pairs(a)) {
        set(&mut base, &k, &v)?;
    }
    let variants = if a.compare.is_empty() {
        vec![String::new()]
    } else {
        a.compare.clone()
    };
    variants
        .iter()
        .map(|text| {
            let mut s = base.clone();
            for (k, v) in pairs(text)? {
                set(&mut s, &k, &v)?;
            }
            if s.label.is_empty() {
                s.label = default_label(&s);
            }
            Ok(s)
        })
        .collect()
}

pub(crate) fn build_task(spec: &TaskSpec, seed: u64) -> Result<Box<dyn Task>> {
    match spec.name.as_str() {
        "mnist" => {
            let dir = spec.data.clone().unwrap_or_else(default_data_dir);
            let model = match spec.model.as_str() {
                "cnn" => MnistModel::Cnn,
                "simple-cnn" => MnistModel::SimpleCnn,
                _ => MnistModel::Mlp { hidden: spec.hidden },
            };
            Ok(Box::new(MnistTask::load_model(
                &dir,
                model,
                spec.train_size,
                seed,
            )?))
        }
        "synthetic" => Ok(Box::new(SyntheticTask::new(
            spec.dim,
            spec.train_size,
            1000.min(spec.train_size / 2).max(1),
            seed,
        ))),
        other => Err(Error::invalid("task", other, "mnist or synthetic")),
    }
}

/// One run in the setting's mode.
pub(crate) fn run_mode(
    mode: Mode,
    task: &dyn Task,
    cfg: &TrainConfig,
    tick: &mut dyn FnMut(u64),
) -> Result<RunResult> {
    match mode {
        Mode::Sim => simulate(task, cfg, tick),
        Mode::Threads => run_threads(task, cfg, tick),
        Mode::Sync => simulate_sync(task, cfg, tick),
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Runs `byzagg train`: every variant over every seed; prints each run's final accuracy and,
/// with several runs, a summary table; writes the CSV and the plot if asked.
pub(crate) fn run(args: &TrainArgs) -> Result<()> {
    if args.list_presets {
        for (name, what, pairs) in PRESETS {
            println!("{name}: {what}\n    {pairs}");
        }
        return Ok(());
    }
    if args.list_attacks {
        for (name, what) in byzagg::train::ATTACKS {
            println!("{name:<24} {what}");
        }
        return Ok(());
    }
    if args.jobs.is_some() {
        return Err(Error::invalid(
            "jobs",
            "given",
            "only --grid runs cells in parallel",
        ));
    }
    if args.seeds == 0 {
        return Err(Error::invalid("seeds", 0, "need at least one seed"));
    }
    let settings = settings(args)?;
    let seeds = byzagg::train::seed_list(args.seed, args.seeds)?;
    for s in &settings {
        let t = &s.task;
        byzagg::train::check_run(&s.cfg, &t.name, t.dim, t.hidden, t.train_size, args.seeds)?;
    }
    let outputs: Vec<&std::path::Path> = args.out.iter().chain(&args.plot).map(|p| p.as_path()).collect();
    crate::check_outputs(&outputs)?;
    // With `--out -` or `--plot -` standard output carries that file: the text goes to stderr.
    let print = crate::printer(&outputs);
    let say = |line: &str| print(&format!("{line}\n"));
    let total: u64 = settings.iter().map(|s| s.cfg.iterations).sum::<u64>() * seeds.len() as u64;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} updates  {elapsed_precise} (eta {eta})  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut csv = String::from(
        "variant,seed,iteration,test_accuracy,test_loss,max_staleness,mean_staleness,byzantine_share,train_loss,aggregation_seconds\n",
    );
    // Per variant: label, final accuracies, mean aggregation time per update (ms).
    let mut summary: Vec<(String, Vec<f64>, f64)> = Vec::new();
    let mut curves: Vec<Curve> = Vec::new();
    let mut described = None;
    for s in &settings {
        let mut finals = Vec::new();
        let mut runs: Vec<RunResult> = Vec::new();
        for &seed in &seeds {
            let task = build_task(&s.task, seed)?;
            if described.as_ref() != Some(&s.task) {
                bar.suspend(|| say(&format!("task: {}", task.describe())));
                described = Some(s.task.clone());
            }
            let cfg = TrainConfig {
                seed,
                ..s.cfg.clone()
            };
            bar.set_message(format!("{} seed {seed}", s.label));
            let done = bar.position();
            let mut tick = |v: u64| bar.set_position(done + v);
            let started = Instant::now();
            let run = run_mode(s.mode, task.as_ref(), &cfg, &mut tick)?;
            let wall = started.elapsed().as_secs_f64();
            bar.set_position(done + cfg.iterations);
            for r in &run.records {
                let _ = writeln!(
                    csv,
                    "{},{seed},{},{},{},{},{},{},{},{}",
                    s.label.replace(',', ";"),
                    r.iteration,
                    r.test_accuracy,
                    r.test_loss,
                    r.max_staleness,
                    r.mean_staleness,
                    r.byzantine_share,
                    r.train_loss,
                    r.aggregation_seconds
                );
            }
            let last = run.records.last().cloned();
            if let Some(r) = last {
                let max_staleness = run.arrivals.iter().map(|a| a.staleness).max().unwrap_or(0);
                bar.suspend(|| {
                    say(&format!(
                        "{:<40} seed {seed}: test accuracy {:.4} (loss {:.4}) after {} updates, \
                         max staleness {max_staleness}, Byzantine share {:.3}, {wall:.1} s \
                         ({:.3} ms per update aggregating)",
                        s.label,
                        r.test_accuracy,
                        r.test_loss,
                        r.iteration,
                        r.byzantine_share,
                        1e3 * run.aggregation_seconds / r.iteration.max(1) as f64
                    ))
                });
            }
            finals.push(run.final_accuracy());
            runs.push(run);
        }
        // Mean curve over seeds (records align: same iterations and eval_every).
        let points = (0..runs[0].records.len())
            .map(|k| {
                let ys: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.records.get(k).map(|x| x.test_accuracy))
                    .collect();
                (runs[0].records[k].iteration as f64, mean_std(&ys).0)
            })
            .collect();
        curves.push(Curve {
            label: s.label.clone(),
            points,
        });
        let agg_ms: Vec<f64> = runs
            .iter()
            .map(|r| 1e3 * r.aggregation_seconds / s.cfg.iterations.max(1) as f64)
            .collect();
        summary.push((s.label.clone(), finals, mean_std(&agg_ms).0));
    }
    bar.finish_and_clear();
    if summary.len() > 1 || seeds.len() > 1 {
        say(&format!("\nfinal test accuracy over seeds {seeds:?}:"));
        say(&format!(
            "| {:<44} | mean   | std    | min    | max    | agg ms/update |",
            "variant"
        ));
        say(&format!(
            "|{:-<46}|--------|--------|--------|--------|---------------|",
            ""
        ));
        for (label, finals, agg_ms) in &summary {
            let (m, sd) = mean_std(finals);
            let min = finals.iter().copied().fold(f64::INFINITY, f64::min);
            let max = finals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            say(&format!(
                "| {label:<44} | {m:.4} | {sd:.4} | {min:.4} | {max:.4} | {agg_ms:>13.3} |"
            ));
        }
    }
    if let Some(path) = &args.out {
        byzagg::output::write_atomic(path, csv.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} ({} seed{})",
            args.preset,
            seeds.len(),
            if seeds.len() > 1 { "s" } else { "" }
        );
        plot_accuracy(path, &title, &curves)?;
    }
    Ok(())
}
