//! Benchmarks behind `byzagg bench`: each job (a rule end to end, or one primitive) timed on
//! seeded data beside a plain read pass over the same batch, the memory roofline.
//!
//! - `data.rs`: the seeded batch ([`gaussian_rows`]) and weights ([`bench_weights`]);
//! - `read_pass.rs`: the roofline ([`read_pass`]): every value read and summed once, on the
//!   same rayon threads;
//! - `timing.rs`: warm-up, then job and read pass interleaved run by run ([`measure`]);
//! - `report.rs`: the table, the JSON and the machine's description;
//! - `plot.rs`: the SVG chart (plotters; feature `plot`).
//!
//! A rule is timed through the public [`Aggregator`], end to end: upload (for a GPU), every
//! primitive, the host logic, and the download of the result. A primitive (`order_stats`,
//! `pairwise_dist`, `center_dist`, `mix`, and `mix_rows`: `mix` at NNM's `k = n`) is timed
//! on a batch already resident on the
//! backend, with its result brought back (which waits for the device). The read pass always
//! reads the host batch: on a GPU backend the ratio compares against host memory.
//!
//! Rules that need lambda or f get f = floor(n / 5) (`ByzantineShare::F`), as in the PyTorch peer
//! and `scripts/peer_bench.py`; `--weighted` gives the rows weights 1, 2, 3, 4, 1, 2, ...

mod data;
#[cfg(feature = "plot")]
mod plot;
mod read_pass;
mod report;
mod timing;

use std::fmt;
use std::str::FromStr;

pub use data::{bench_weights, gaussian_rows};
#[cfg(feature = "plot")]
pub use plot::plot_svg;
pub use read_pass::read_pass;
pub use report::{Machine, json, table};
pub use timing::{Timings, measure, median};

use crate::aggregate::{Report, Step};
use crate::aggregator::Aggregator;
use crate::backend::{Backend, BackendList};
use crate::batch::Batch;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat};
use crate::rule::{ByzantineShare, Rule};

/// One of the four primitives of SPEC section 5, benchmarked on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// The coordinate-wise median (`order_stats` with [`OrderStat::Median`]).
    OrderStats,
    /// The `n x n` squared distances.
    PairwiseDist,
    /// The `n` squared distances to a center (a zero vector).
    CenterDist,
    /// One weighted mean of the rows (`k = 1`).
    Mix,
    /// `mix` at NNM's shape, `k = n` ([`nnm_shaped_coeffs`]).
    MixRows,
}

impl Primitive {
    /// The four of SPEC order, then `mix` at NNM's shape.
    pub const ALL: [Primitive; 5] = [
        Primitive::OrderStats,
        Primitive::PairwiseDist,
        Primitive::CenterDist,
        Primitive::Mix,
        Primitive::MixRows,
    ];

    /// The stem: the file names and bench ids use it.
    pub fn stem(self) -> &'static str {
        match self {
            Primitive::OrderStats => "order_stats",
            Primitive::PairwiseDist => "pairwise_dist",
            Primitive::CenterDist => "center_dist",
            Primitive::Mix => "mix",
            Primitive::MixRows => "mix_rows",
        }
    }
}

/// What `byzagg bench` times: a rule end to end, or one primitive.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// A rule through [`Aggregator::aggregate_into`].
    Rule(Rule),
    /// A primitive on a resident batch.
    Primitive(Primitive),
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Rule(r) => write!(f, "{r}"),
            Job::Primitive(p) => f.write_str(p.stem()),
        }
    }
}

impl FromStr for Job {
    type Err = Error;

    /// A primitive's stem, or rule text.
    ///
    /// ```
    /// use byzagg::bench::{Job, Primitive};
    /// assert_eq!("mix".parse::<Job>()?, Job::Primitive(Primitive::Mix));
    /// assert_eq!("ctma(cwmed)".parse::<Job>()?.to_string(), "ctma(cwmed)");
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match Primitive::ALL.into_iter().find(|p| p.stem() == s.trim()) {
            Some(p) => Ok(Job::Primitive(p)),
            None => s.parse().map(Job::Rule),
        }
    }
}

/// What to benchmark and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// Jobs, in the order they run at each size.
    pub jobs: Vec<Job>,
    /// Backends (each must be available); a list of several devices is one sharded engine.
    pub backends: Vec<BackendList>,
    /// Row counts.
    pub ns: Vec<usize>,
    /// Dimensions.
    pub ds: Vec<usize>,
    /// Weights 1, 2, 3, 4, 1, ... instead of uniform.
    pub weighted: bool,
    /// Rules run on the batch uploaded once ([`Aggregator::aggregate_resident`]), the clock
    /// stopping at [`Kernels::synchronize`]: what a training server that keeps its rows on the
    /// device sees, without the host link. Primitives are always timed resident.
    pub resident: bool,
    /// Untimed runs first.
    pub warmup: usize,
    /// Timed runs (the median is reported).
    pub runs: usize,
    /// Seed of the data.
    pub seed: u64,
}

impl Config {
    /// The default jobs: `mean`, `cwmed`, `cwtm`, `krum`, `gm`, `ctma(cwmed)`, `meamed`, `bulyan`,
    /// `cge`, `monna`, `mda`, `smea`, `caf`, `clip(mean,tau=1)`, `arc(mean)`,
    /// `clip(cwtm,tau=1)`, `fltrust`, `center_dist` (the batch's row 0 is FLTrust's root update).
    pub fn default_jobs() -> Vec<Job> {
        [
            "mean",
            "cwmed",
            "cwtm",
            "krum",
            "gm",
            "ctma(cwmed)",
            "meamed",
            "bulyan",
            "cge",
            "monna",
            "mda",
            "smea",
            "caf",
            "clip(mean,tau=1)",
            "arc(mean)",
            "clip(cwtm,tau=1)",
            "fltrust",
            "center_dist",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
    }
}

impl Default for Config {
    /// n in {8, 16, 32, 64}, d in {10^5, 10^6, 10^7}, the default jobs on the CPU, uniform
    /// weights, one warm-up and five timed runs.
    fn default() -> Self {
        Config {
            jobs: Config::default_jobs(),
            backends: vec![BackendList::from(Backend::Cpu)],
            ns: vec![8, 16, 32, 64],
            ds: vec![100_000, 1_000_000, 10_000_000],
            weighted: false,
            resident: false,
            warmup: 1,
            runs: 5,
            seed: 0x5EED,
        }
    }
}

/// One job at one size on one backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The job: rule text or primitive stem.
    pub rule: String,
    /// The backend's name.
    pub backend: String,
    /// The kernel variants the backend ran ([`Engine::kernel_variants`], e.g.
    /// `order_stats=pruned`), `default` for a backend without variants.
    pub variant: String,
    /// Rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Whether the rows had non-uniform weights.
    pub weighted: bool,
    /// Whether the batch was resident on the backend before the clock started (primitives,
    /// and rules with [`Config::resident`]).
    pub resident: bool,
    /// Median seconds of the job.
    pub seconds: f64,
    /// Median seconds of the read pass beside it.
    pub read_pass_seconds: f64,
    /// `seconds / read_pass_seconds`.
    pub ratio: f64,
    /// Batch bytes (`4 n d`) over `seconds`, in GB/s.
    pub gb_per_s: f64,
    /// Weiszfeld iterations of the last run, for rules holding a geometric median.
    pub iterations: Option<usize>,
    /// Every timed run.
    pub timings: Timings,
}

/// Progress of [`run`], for a progress bar.
#[derive(Debug)]
pub enum Event<'a> {
    /// Generating the data of one size.
    Data {
        /// Rows.
        n: usize,
        /// Dimension.
        d: usize,
    },
    /// A job is about to run; `index` of `total` jobs.
    Start {
        /// What runs, e.g. `cwmed cpu n=16 d=1000000`.
        label: String,
        /// Jobs started before this one.
        index: usize,
        /// All jobs.
        total: usize,
    },
    /// A job finished.
    Done(&'a Record),
}

/// Runs every job of `config` at every size on every backend; `progress` hears each step.
///
/// # Examples
///
/// ```
/// use byzagg::bench::{Config, run};
///
/// let config = Config {
///     jobs: vec!["cwmed".parse()?, "mix".parse()?],
///     ns: vec![5],
///     ds: vec![1000],
///     runs: 3,
///     ..Config::default()
/// };
/// let records = run(&config, |_| {})?;
/// assert_eq!(records.len(), 2);
/// assert!(records.iter().all(|r| r.seconds > 0.0 && r.ratio > 0.0));
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn run(config: &Config, mut progress: impl FnMut(Event<'_>)) -> Result<Vec<Record>> {
    // A bad BYZAGG_SIMD ends the run before any data is made (the read pass needs the level too).
    crate::cpu::simd_level()?;
    // Every engine opened once, before the first job (an absent one ends the run here).
    let engines: Vec<Engine> = config
        .backends
        .iter()
        .map(Engine::open_list)
        .collect::<Result<_>>()?;
    // Every size before the first job, so an impossible one does not end an hour's run.
    for &d in &config.ds {
        for &n in &config.ns {
            check_size(n, d)?;
        }
    }
    let per_d: usize = config
        .ns
        .iter()
        .map(|&n| config.jobs.iter().filter(|job| accepts(job, n)).count())
        .sum();
    let total = per_d * config.backends.len() * config.ds.len();
    let mut records = Vec::with_capacity(total);
    for &d in &config.ds {
        for &n in &config.ns {
            progress(Event::Data { n, d });
            let data = gaussian_rows(n, d, config.seed);
            let weights = bench_weights(n);
            // Row 0 doubles as FLTrust's root update (a trusted row); other rules ignore it.
            let mut batch = Batch::from_contiguous(&data, n)?.with_root(&data[..d])?;
            if config.weighted {
                batch = batch.with_weights(&weights)?;
            }
            for engine in &engines {
                for job in config.jobs.iter().filter(|job| accepts(job, n)) {
                    progress(Event::Start {
                        label: format!("{job} {} n={n} d={d}", engine.name()),
                        index: records.len(),
                        total,
                    });
                    let record = time_job(config, job, engine, &batch)?;
                    progress(Event::Done(&record));
                    records.push(record);
                }
            }
        }
    }
    Ok(records)
}

/// Whether `job` runs on n rows: every primitive does, and every rule but one whose exact
/// subset search refuses that many rows (SMEA past [`SMEA_MAX_N`](crate::SMEA_MAX_N), say),
/// which the bench leaves out at that n instead of ending the run.
fn accepts(job: &Job, n: usize) -> bool {
    match job {
        Job::Primitive(_) => true,
        Job::Rule(rule) => !matches!(
            rule.plan(n, Some(ByzantineShare::F(n / 5))),
            Err(Error::InvalidParameter { name: "n", .. })
        ),
    }
}

/// Checks that an `n x d` batch can be made: both at least 1, and its `4 n d` bytes (computed
/// without overflow) within the memory budget.
fn check_size(n: usize, d: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::invalid("n, d", format!("{n}, {d}"), "must be >= 1"));
    }
    crate::budget::check(
        "d",
        d,
        &format!("the {n} x {d} benchmark batch"),
        crate::budget::bytes(&[n, d], 4),
    )
}

/// Times one job on one batch.
fn time_job(config: &Config, job: &Job, engine: &Engine, batch: &Batch<'_>) -> Result<Record> {
    let (n, d) = (batch.n(), batch.d());
    let read = || {
        read_pass(batch);
    };
    let mut iterations = None;
    let timings = match job {
        Job::Rule(rule) if config.resident => {
            let agg = Aggregator::with_engine(rule.clone(), engine.clone())
                .with_byzantine_share(ByzantineShare::F(n / 5));
            time_resident_rule(engine, &agg, batch, config, read, &mut iterations)?
        }
        Job::Rule(rule) => {
            let agg = Aggregator::with_engine(rule.clone(), engine.clone())
                .with_byzantine_share(ByzantineShare::F(n / 5));
            let mut out = vec![0.0f32; d];
            measure(config.warmup, config.runs, read, || {
                let report = agg.aggregate_into(batch, &mut out)?;
                iterations = gm_iterations(&report);
                std::hint::black_box(&out);
                Ok(())
            })?
        }
        Job::Primitive(p) => time_primitive(engine, *p, batch, config, read)?,
    };
    let seconds = timings.job_median();
    let read_pass_seconds = timings.read_pass_median();
    Ok(Record {
        rule: job.to_string(),
        backend: engine.name(),
        variant: engine.kernel_variants().unwrap_or_else(|| "default".to_string()),
        n,
        d,
        weighted: batch.is_weighted(),
        resident: config.resident || matches!(job, Job::Primitive(_)),
        seconds,
        read_pass_seconds,
        ratio: seconds / read_pass_seconds,
        gb_per_s: (4 * n * d) as f64 / seconds / 1e9,
        iterations,
        timings,
    })
}

/// The Weiszfeld iterations of a report, summed over its geometric medians (`None`: none).
fn gm_iterations(report: &Report) -> Option<usize> {
    let gm: Vec<usize> = report
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Gm { iterations, .. } => Some(*iterations),
            _ => None,
        })
        .collect();
    (!gm.is_empty()).then(|| gm.iter().sum())
}

/// A rule timed on rows uploaded once (the engine's own [`Kernels`]).
fn time_resident_rule<K: Kernels>(
    kernels: &K,
    agg: &Aggregator,
    batch: &Batch<'_>,
    config: &Config,
    read: impl FnMut(),
    iterations: &mut Option<usize>,
) -> Result<Timings> {
    let rows = kernels.upload(batch)?;
    let root = match batch.root() {
        Some(g) => Some(kernels.upload(&Batch::from_contiguous(g, 1)?)?),
        None => None,
    };
    let weights = batch.is_weighted().then(|| batch.weights());
    measure(config.warmup, config.runs, read, || {
        let (out, report) = agg.aggregate_resident_with_root(kernels, &rows, root.as_ref(), weights)?;
        kernels.synchronize()?;
        std::hint::black_box(&out);
        *iterations = gm_iterations(&report);
        Ok(())
    })
}

/// Times one primitive on the batch made resident once. A run ends when the device has
/// finished ([`Kernels::synchronize`]); results of `d` values stay resident (bringing them back
/// would time the host link, not the primitive), distances come back as the primitive returns
/// them.
pub fn time_primitive<K: Kernels>(
    k: &K,
    p: Primitive,
    batch: &Batch<'_>,
    config: &Config,
    read: impl FnMut(),
) -> Result<Timings> {
    let rows = k.upload(batch)?;
    let (n, d) = (batch.n(), batch.d());
    let w = batch.weights();
    let (warmup, runs) = (config.warmup, config.runs);
    match p {
        Primitive::OrderStats => measure(warmup, runs, read, || {
            let m = k.order_stats(&rows, w, OrderStat::Median)?;
            k.synchronize()?;
            std::hint::black_box(&m);
            Ok(())
        }),
        Primitive::PairwiseDist => measure(warmup, runs, read, || {
            std::hint::black_box(k.pairwise_dist(&rows)?);
            Ok(())
        }),
        Primitive::CenterDist => {
            let center = k.zeros(1, d)?;
            measure(warmup, runs, read, || {
                std::hint::black_box(k.center_dist(&rows, &center)?);
                Ok(())
            })
        }
        Primitive::Mix => {
            let total: f64 = w.iter().sum();
            let coeffs: Vec<f64> = w.iter().map(|wi| wi / total).collect();
            debug_assert_eq!(coeffs.len(), n);
            measure(warmup, runs, read, || {
                let m = k.mix(&rows, &coeffs, 1, None)?;
                k.synchronize()?;
                std::hint::black_box(&m);
                Ok(())
            })
        }
        Primitive::MixRows => {
            let coeffs = nnm_shaped_coeffs(w);
            measure(warmup, runs, read, || {
                let m = k.mix(&rows, &coeffs, n, None)?;
                k.synchronize()?;
                std::hint::black_box(&m);
                Ok(())
            })
        }
    }
}

/// The `n x n` coefficients (row-major) of a mix shaped as NNM's with f = floor(n / 5): output
/// row `r` is the weighted mean of the `n - f` rows `r, r + 1, ...` (cyclically), so every
/// output row has `n - f` non-zero terms, and the rows' sets differ as neighbourhoods do. The
/// neighbours are fixed rather than measured so that the primitive alone is timed.
///
/// ```
/// let c = byzagg::bench::nnm_shaped_coeffs(&[1.0; 5]);
/// assert_eq!(&c[5..10], &[0.0, 0.25, 0.25, 0.25, 0.25]);
/// ```
pub fn nnm_shaped_coeffs(w: &[f64]) -> Vec<f64> {
    let n = w.len();
    let kept = n - n / 5;
    let mut coeffs = vec![0.0; n * n];
    for r in 0..n {
        let rows = (r..r + kept).map(|i| i % n);
        let mass: f64 = rows.clone().map(|i| w[i]).sum();
        for i in rows {
            coeffs[r * n + i] = w[i] / mass;
        }
    }
    coeffs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_rules_are_timed_and_marked() {
        let config = Config {
            jobs: vec![
                "cwmed".parse().unwrap(),
                "gm".parse().unwrap(),
                "mix".parse().unwrap(),
                "mix_rows".parse().unwrap(),
            ],
            ns: vec![6],
            ds: vec![500],
            runs: 2,
            resident: true,
            ..Config::default()
        };
        let records = run(&config, |_| {}).expect("bench");
        assert_eq!(records.len(), 4);
        assert!(records.iter().all(|r| r.resident && r.seconds > 0.0));
        assert!(
            records[1].iterations.is_some(),
            "gm reports its Weiszfeld iterations"
        );
        let plain = run(
            &Config {
                resident: false,
                ..config.clone()
            },
            |_| {},
        )
        .expect("bench");
        assert!(
            !plain[0].resident && plain[2].resident && plain[3].resident,
            "primitives are always resident"
        );
        assert!(report::table(&records).contains("cwmed [resident]"));
        assert!(report::json(&records, &Machine::here()).contains("\"resident\": true"));
        // The reference computes whole rules only: resident timing needs a kernel backend.
        let reference = Config {
            backends: vec![Backend::Reference.into()],
            jobs: vec!["cwmed".parse().unwrap()],
            ..config
        };
        assert!(run(&reference, |_| {}).is_err());
    }
}
