//! `byzagg aggregate`: the rows of an `(n, d)` `.npy` file aggregated into a `(d,)` float32
//! `.npy` file by one rule on one backend (or several devices sharing the coordinates).

use std::path::{Path, PathBuf};

use byzagg::{Aggregator, BackendList, Batch, ByzantineShare, Engine, Error, Report, Rule, npy};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct AggregateArgs {
    /// The rule, in text form: cwmed, cwtm(lambda=0.25), krum(f=2), multikrum(f=2,m=4), gm,
    /// gm(preset=rfa), ctma(cwmed,lambda=0.2), ctma(nnm(gm)), bucketing(cwmed,s=2,seed=0),
    /// cclip(tau=1,iters=3), clip(cwtm,tau=2), arc(krum,f=1), fltrust (with --root), ...
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
    /// A (d,) float32/float64 .npy file: the server's root update g0 that fltrust scores the
    /// rows against (finite values).
    #[arg(long, value_name = "ROOT.npy")]
    root: Option<PathBuf>,
    /// auto (the rows are read into host memory: cpu), reference, cpu, wgpu, cuda or cuda:N; a comma list
    /// (cpu,wgpu or cuda:0,cuda:1) or cuda:all splits the coordinates across those devices.
    #[arg(long, default_value = "auto")]
    backend: BackendList,
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

/// Reads the input (and weights), aggregates, writes the output.
pub(crate) fn run(args: &AggregateArgs) -> Result<(), Error> {
    byzagg::output::check_writable(&args.output)?;
    let (data, n, _d) = npy::read_matrix(&args.input)?;
    let weights = args.weights.as_deref().map(npy::read_vector_f64).transpose()?;
    let mut batch = Batch::from_contiguous(&data, n)?;
    if let Some(w) = &weights {
        batch = batch
            .with_weights(w)
            .map_err(|e| in_file(args.weights.as_deref(), e))?;
    }
    // Read as f64 (either dtype), kept as the f32 the rows are.
    let root: Option<Vec<f32>> = args
        .root
        .as_deref()
        .map(npy::read_vector_f64)
        .transpose()?
        .map(|g| g.iter().map(|&v| v as f32).collect());
    if let Some(g) = &root {
        batch = batch.with_root(g).map_err(|e| in_file(args.root.as_deref(), e))?;
    }
    let engine = Engine::open_list(&args.backend)?;
    // Always scan for non-finite rows: the warning must not depend on the output.
    let mut aggregator = Aggregator::with_engine(args.rule.clone(), engine)
        .strict(args.strict)
        .scan_non_finite(true);
    match (args.lambda, args.f) {
        (Some(lambda), _) => aggregator = aggregator.with_byzantine_share(ByzantineShare::Lambda(lambda)),
        (None, Some(f)) => aggregator = aggregator.with_byzantine_share(ByzantineShare::F(f)),
        (None, None) => {}
    }
    let mut out = vec![0.0f32; batch.d()];
    let report = aggregator.aggregate_into(&batch, &mut out)?;
    if report.tolerance_exceeded() {
        eprintln!("{}", tolerance_warning(&report, &batch, &args.rule, &out));
    }
    npy::write_vector_f32(&args.output, &out)
}

/// The warning for a rule given more non-finite weight than it tolerates (SPEC section 3):
/// which rows, their share of the weight, and whether the output came out finite anyway.
fn tolerance_warning(report: &Report, batch: &Batch<'_>, rule: &Rule, out: &[f32]) -> String {
    let rows = report.non_finite.as_deref().unwrap_or_default();
    let w = batch.weights();
    let total: f64 = w.iter().sum();
    let bad: f64 = rows.iter().map(|&i| w[i]).sum();
    const LISTED: usize = 10;
    let mut list: Vec<String> = rows.iter().take(LISTED).map(ToString::to_string).collect();
    if rows.len() > LISTED {
        list.push(format!("... ({} in all)", rows.len()));
    }
    let finite = out.iter().all(|v| v.is_finite());
    format!(
        "warning: rows {} hold NaN or infinity and carry {:.1}% of the weight, more than {rule} \
         tolerates; {}",
        list.join(", "),
        100.0 * bad / total,
        if finite {
            "the output is finite, but no longer robust"
        } else {
            "the output is not finite"
        }
    )
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
