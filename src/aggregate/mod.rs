//! The rule layer and the public [`Aggregator`]: one [`Rule`] run on one [`Backend`].
//!
//! Each rule of SPEC section 4 is small host-side logic over the four primitives of
//! [`Kernels`]: sort n distances, build mixing coefficients, pick Krum rows, run the Weiszfeld
//! loop. It never sees the backend's data, only `n` or `n x n` numbers, so the same code
//! drives every backend. The reference backend is the exception: it runs `reference.rs`,
//! which shares nothing with this layer. The backend is an [`Engine`] opened once per
//! [`Aggregator`].

use crate::backend::Backend;
use crate::batch::Batch;
use crate::contract::MASS_EPS;
use crate::contract::{CAF_MAX_N, MDA_MAX_N, SMEA_MAX_N, check_n};
use crate::engine::{Engine, KernelsJob};
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat};
use crate::reference;
use crate::rule::{ByzantineShare, GmInit, GmParams, Plan, Rule, bucket_permutation};
use subset::caf;

pub(crate) mod subset;

/// What a rule reports beyond its output: one entry per step of a composed rule, innermost
/// first (for `ctma(krum)`: the Krum step, then the CTMA step), and which rows held NaN or an
/// infinity, with whether the rule tolerates them (SPEC section 3).
///
/// # Examples
///
/// ```
/// use byzagg::{Aggregator, Backend, Batch, Rule};
///
/// let rows = [[1.0f32], [f32::NAN], [3.0], [f32::INFINITY], [2.0]];
/// let batch = Batch::from_rows(&rows)?;
/// let mut out = [0.0f32];
/// // Two non-finite rows of five: a minority, so the median stays finite.
/// let median = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
/// let report = median.aggregate_into(&batch, &mut out)?;
/// assert_eq!(out, [3.0]); // of 1, 2, 3, inf, NaN
/// // By default the rows are scanned only when the output is not finite ...
/// assert_eq!(report.non_finite, None);
/// // ... or always, when asked for.
/// let report = median.scan_non_finite(true).aggregate_into(&batch, &mut out)?;
/// assert_eq!(report.non_finite, Some(vec![1, 3]));
/// assert_eq!(report.tolerance_held, Some(true));
/// // The mean tolerates none: its output is NaN, and the caller is told why.
/// let report = Aggregator::new(Rule::Mean, Backend::Cpu)?.aggregate_into(&batch, &mut out)?;
/// assert_eq!(report.non_finite, Some(vec![1, 3]));
/// assert_eq!(report.tolerance_held, Some(false));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The steps, in the order they ran.
    pub steps: Vec<Step>,
    /// The rows holding NaN or an infinity, in index order (rows of weight 0 included);
    /// `None` when the rows were not scanned (see [`Aggregator::scan_non_finite`]: by default
    /// they are scanned only when the output is not finite).
    pub non_finite: Option<Vec<usize>>,
    /// Whether those rows carry no more weight than the rule tolerates
    /// ([`tolerates`](crate::tolerates)); only then is the output promised finite. `None`
    /// when the rows were not scanned.
    pub tolerance_held: Option<bool>,
}

impl Report {
    /// Whether the rule was given more non-finite weight than it tolerates (then no finite
    /// output is promised, and the CLI warns).
    pub fn tolerance_exceeded(&self) -> bool {
        self.tolerance_held == Some(false)
    }

    /// Records the scan: the non-finite rows and whether `plan` tolerates them under `w`.
    fn set_non_finite(&mut self, plan: &Plan, w: &[f64], bad: &[bool]) {
        self.tolerance_held = Some(crate::rule::tolerates(plan, w, bad));
        self.non_finite = Some((0..bad.len()).filter(|&i| bad[i]).collect());
    }
}

/// One reported step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Krum or Multi-Krum: every row's score (`+inf` for rows of weight 0 or with non-finite
    /// values) and the rows averaged, best first (never a row of infinite score while one of
    /// finite score is left).
    Krum {
        /// Score of each row.
        scores: Vec<f64>,
        /// The selected rows, best first.
        selected: Vec<usize>,
    },
    /// Weiszfeld iterations of the geometric median.
    Gm {
        /// Iterations run.
        iterations: usize,
        /// Whether the tolerance was met (always `false` with `tol = 0`).
        converged: bool,
    },
    /// CTMA: the rows that entered the average (closest first) and those trimmed.
    Ctma {
        /// Rows given mass, closest first; the last may have had only part of its weight.
        kept: Vec<usize>,
        /// Rows left out, in index order (weight-0 rows included).
        rejected: Vec<usize>,
    },
    /// Static clipping or ARC: the radius and the rows it scaled down.
    Clip {
        /// The clipping radius: `tau`, or ARC's threshold (`+inf` when it clips nothing
        /// because the non-finite rows outweigh its clipped mass).
        threshold: f64,
        /// The rows longer than the radius, in index order (a non-finite row, made the zero
        /// vector, included).
        clipped: Vec<usize>,
    },
    /// FLTrust: every row's trust score `max(0, cos(x_i, g0))` (0 for a row of weight 0 or
    /// with no direction), before the row weights multiply it.
    FlTrust {
        /// One score per row, in [0, 1].
        trust: Vec<f64>,
    },
}

/// A rule bound to an opened backend: the entry point for embedding byzagg.
///
/// The backend is opened once, in [`Aggregator::new`], and every aggregation reuses it (a
/// GPU device and its compiled kernels included).
///
/// # Examples
///
/// ```
/// use byzagg::{Aggregator, Backend, Batch, Rule};
///
/// let rows = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
/// let agg = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
/// let median = agg.aggregate(&Batch::from_rows(&rows)?)?;
/// assert_eq!(median, vec![4.0, 5.0, 6.0]);
///
/// // A Byzantine row of NaN does not poison the median.
/// let rows = [[1.0f32, 2.0], [f32::NAN, f32::NAN], [3.0, 4.0]];
/// let out = agg.aggregate(&Batch::from_rows(&rows)?)?;
/// assert!(out.iter().all(|v| v.is_finite()));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Aggregator {
    rule: Rule,
    engine: Engine,
    share: Option<ByzantineShare>,
    strict: bool,
    /// `Some(true)`: always scan for non-finite rows; `Some(false)`: never; `None`: when the
    /// output is not finite.
    scan: Option<bool>,
}

impl Aggregator {
    /// Binds `rule` to `backend`, opening it now; `Backend::Auto` opens the fastest available
    /// one, and an unavailable backend is an [`Error::Unavailable`].
    pub fn new(rule: Rule, backend: Backend) -> Result<Self> {
        Ok(Self::with_engine(rule, Engine::open(backend)?))
    }

    /// Binds `rule` to an engine already opened (several aggregators can share one).
    pub fn with_engine(rule: Rule, engine: Engine) -> Self {
        Aggregator {
            rule,
            engine,
            share: None,
            strict: false,
            scan: None,
        }
    }

    /// The Byzantine share (lambda or f) used where the rule leaves it out (the CLI's
    /// `--lambda`/`--f`).
    ///
    /// ```
    /// use byzagg::{Aggregator, Backend, Batch, ByzantineShare};
    ///
    /// let rows = [[1.0f32], [2.0], [3.0], [4.0], [100.0]];
    /// let agg = Aggregator::new("cwtm".parse()?, Backend::Cpu)?
    ///     .with_byzantine_share(ByzantineShare::F(1));
    /// assert_eq!(agg.aggregate(&Batch::from_rows(&rows)?)?, vec![3.0]);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn with_byzantine_share(mut self, share: ByzantineShare) -> Self {
        self.share = Some(share);
        self
    }

    /// The Byzantine share under its first name.
    #[deprecated(since = "0.1.0", note = "renamed `with_byzantine_share`")]
    pub fn with_tolerance(self, share: ByzantineShare) -> Self {
        self.with_byzantine_share(share)
    }

    /// Strict mode: a row with NaN or infinity is an [`Error::NonFinite`] instead of
    /// Byzantine input to survive.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether strict mode is on (see [`Aggregator::strict`]).
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Whether to find the rows holding NaN or an infinity and fill [`Report::non_finite`] and
    /// [`Report::tolerance_held`] always (`true`) or never (`false`).
    ///
    /// The scan is one more read of the batch on the backend (the squared distance of every
    /// row to zero, `+inf` exactly for the non-finite rows): as long as a whole median on the
    /// CPU backend. So by default it runs only when the output holds NaN or an infinity,
    /// which costs one check of the d outputs otherwise; a finite output from rows beyond
    /// the tolerance (a median of as many `+inf` as `-inf` rows, say) is then not reported.
    /// The CLI scans always.
    pub fn scan_non_finite(mut self, scan: bool) -> Self {
        self.scan = Some(scan);
        self
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The concrete backend that runs it.
    pub fn backend(&self) -> Backend {
        self.engine.backend()
    }

    /// The opened engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Aggregates the batch into a new vector of length d.
    pub fn aggregate(&self, batch: &Batch<'_>) -> Result<Vec<f32>> {
        let mut out = vec![0.0; batch.d()];
        self.aggregate_into(batch, &mut out)?;
        Ok(out)
    }

    /// Aggregates into the caller's buffer (length d) and returns the rule's report.
    pub fn aggregate_into(&self, batch: &Batch<'_>, out: &mut [f32]) -> Result<Report> {
        if out.len() != batch.d() {
            return Err(Error::invalid(
                "out",
                format!("length {}", out.len()),
                format!("must have length d = {}", batch.d()),
            ));
        }
        if self.strict
            && let Some((row, coordinate)) = batch.first_non_finite()
        {
            return Err(Error::NonFinite { row, coordinate });
        }
        let plan = self.rule.plan_weighted(batch.weights(), self.share)?;
        plan.check_memory(batch.n(), batch.d())?;
        let mut report = Report::default();
        if let Engine::Reference = self.engine {
            let exact = reference::aggregate(&plan, batch)?;
            for (o, v) in out.iter_mut().zip(exact) {
                *o = v as f32;
            }
            if self.scan.unwrap_or_else(|| out.iter().any(|v| !v.is_finite())) {
                let bad: Vec<bool> = batch.rows().map(|r| r.iter().any(|v| !v.is_finite())).collect();
                report.set_non_finite(&plan, batch.weights(), &bad);
            }
        } else {
            self.engine.dispatch(Execute {
                plan: &plan,
                batch,
                out,
                report: &mut report,
                scan: self.scan,
            })?;
        }
        Ok(report)
    }

    /// Aggregates `n x d` rows already resident on a backend (a GPU batch that never visits
    /// the host); the result stays there as a `1 x d` matrix. `kernels` is the backend that
    /// holds the rows (for CUDA, the `cuda::Cuda` that made them). `weights`
    /// as for [`Batch::with_weights`], validated the same way; `None` means unweighted.
    ///
    /// Strict mode needs the values on the host, so it is an error here.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::cpu::Cpu;
    /// use byzagg::{Aggregator, Backend, Batch, Kernels, Rule};
    ///
    /// let cpu = Cpu::new();
    /// let data = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0];
    /// let rows = cpu.upload(&Batch::from_contiguous(&data, 3)?)?;
    /// let agg = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
    /// let (median, _report) = agg.aggregate_resident(&cpu, &rows, Some(&[1.0, 1.0, 5.0]))?;
    /// let mut out = [0.0f32; 2];
    /// cpu.download(&median, &mut out)?;
    /// assert_eq!(out, [3.0, 30.0]);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn aggregate_resident<K: Kernels>(
        &self,
        kernels: &K,
        rows: &K::Rows<'_>,
        weights: Option<&[f64]>,
    ) -> Result<(K::Rows<'static>, Report)> {
        self.aggregate_resident_with_root(kernels, rows, None, weights)
    }

    /// [`Aggregator::aggregate_resident`] with the server's root update for
    /// [`Rule::FlTrust`], a resident `1 x d` matrix on the same backend (`None`: no root, as
    /// [`Aggregator::aggregate_resident`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::cpu::Cpu;
    /// use byzagg::{Aggregator, Backend, Batch, Kernels, Rule};
    ///
    /// let cpu = Cpu::new();
    /// let data = [3.0f32, 4.0, 0.0, -1.0];
    /// let rows = cpu.upload(&Batch::from_contiguous(&data, 2)?)?;
    /// let root = cpu.upload(&Batch::from_contiguous(&[0.0f32, 2.0], 1)?)?;
    /// let agg = Aggregator::new(Rule::FlTrust, Backend::Cpu)?;
    /// let (out, _) = agg.aggregate_resident_with_root(&cpu, &rows, Some(&root), None)?;
    /// let mut host = [0.0f32; 2];
    /// cpu.download(&out, &mut host)?;
    /// // Row 0 (cosine 0.8) rescaled to norm 2; row 1 points away (trust 0).
    /// assert!((host[0] - 1.2).abs() < 1e-6 && (host[1] - 1.6).abs() < 1e-6);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn aggregate_resident_with_root<K: Kernels>(
        &self,
        kernels: &K,
        rows: &K::Rows<'_>,
        root: Option<&K::Rows<'_>>,
        weights: Option<&[f64]>,
    ) -> Result<(K::Rows<'static>, Report)> {
        if self.strict {
            return Err(Error::invalid(
                "strict",
                true,
                "must be off for resident rows: strict mode scans the values on the host",
            ));
        }
        let (n, d) = kernels.shape(rows);
        // Weights go through the batch's own validation, on a stand-in of n values.
        let stand_in = vec![0.0f32; n];
        let mut batch = Batch::from_contiguous(&stand_in, n)?;
        if let Some(w) = weights {
            batch = batch.with_weights(w)?;
        }
        if let Some(g) = root
            && kernels.shape(g) != (1, d)
        {
            let (k, len) = kernels.shape(g);
            return Err(Error::invalid(
                "root",
                format!("{k} x {len}"),
                format!("the root update must be 1 x d = 1 x {d}"),
            ));
        }
        let plan = self.rule.plan_weighted(batch.weights(), self.share)?;
        plan.check_depth()?;
        let mut report = Report::default();
        let out = run(kernels, &plan, rows, root, n, d, batch.weights(), &mut report)?;
        scan_if_asked(
            kernels,
            self.scan,
            &out,
            rows,
            d,
            &plan,
            batch.weights(),
            &mut report,
        )?;
        Ok((out, report))
    }
}

/// One aggregation as a job for [`Engine::dispatch`].
struct Execute<'p, 'b, 'o> {
    plan: &'p Plan,
    batch: &'b Batch<'b>,
    out: &'o mut [f32],
    report: &'o mut Report,
    /// Whether to scan for non-finite rows on the backend (see [`Aggregator::scan_non_finite`]).
    scan: Option<bool>,
}

impl KernelsJob for Execute<'_, '_, '_> {
    type Output = ();

    fn run<K: Kernels>(self, k: &K) -> Result<()> {
        let Execute {
            plan,
            batch,
            out,
            report,
            scan,
        } = self;
        plan.check_depth()?;
        let rows = k.upload(batch)?;
        let root = upload_root(k, batch)?;
        let (d, w) = (batch.d(), batch.weights());
        let result = run(k, plan, &rows, root.as_ref(), batch.n(), d, w, report)?;
        k.download(&result, out)?;
        // The result is on the host now: its finiteness costs a read of d values there, not a
        // distance pass on the backend.
        if scan.unwrap_or_else(|| !out.iter().all(|v| v.is_finite())) {
            let bad = non_finite_rows(k, &rows, d)?;
            report.set_non_finite(plan, w, &bad);
        }
        Ok(())
    }
}

/// Fills the report's scan of `rows` if `scan` says so: always, never, or (`None`) when the
/// `1 x d` result holds NaN or an infinity (its squared norm is `+inf`).
#[allow(clippy::too_many_arguments)]
fn scan_if_asked<K: Kernels>(
    k: &K,
    scan: Option<bool>,
    result: &K::Rows<'_>,
    rows: &K::Rows<'_>,
    d: usize,
    plan: &Plan,
    w: &[f64],
    report: &mut Report,
) -> Result<()> {
    let wanted = match scan {
        Some(always) => always,
        None => !k.center_dist(result, &k.zeros(1, d)?)?[0].is_finite(),
    };
    if wanted {
        let bad = non_finite_rows(k, rows, d)?;
        report.set_non_finite(plan, w, &bad);
    }
    Ok(())
}

/// Which resident rows hold NaN or an infinity: their squared distance to zero is `+inf`
/// (the distance primitives give `+inf` exactly for non-finite rows, SPEC section 3, and a
/// finite f32 row's squared norm cannot overflow f64).
fn non_finite_rows<K: Kernels>(k: &K, rows: &K::Rows<'_>, d: usize) -> Result<Vec<bool>> {
    let zero = k.zeros(1, d)?;
    Ok(k.center_dist(rows, &zero)?
        .iter()
        .map(|r| !r.is_finite())
        .collect())
}

#[cfg(feature = "cuda")]
impl crate::cuda::Cuda {
    /// Aggregates rows that are already on the device; the result stays there.
    #[deprecated(
        since = "0.1.0",
        note = "use `Aggregator::aggregate_resident`, which runs on any backend's rows"
    )]
    pub fn aggregate_resident(
        &self,
        rule: &Rule,
        share: Option<ByzantineShare>,
        rows: &crate::cuda::CudaRows<'_>,
        weights: Option<&[f64]>,
    ) -> Result<(crate::cuda::CudaRows<'static>, Report)> {
        let mut agg = Aggregator::with_engine(rule.clone(), Engine::Cuda(self.clone()));
        agg.share = share;
        agg.aggregate_resident(self, rows, weights)
    }
}

/// Uploads the batch, runs the plan on the kernels, downloads the result.
pub fn execute<K: Kernels>(
    k: &K,
    plan: &Plan,
    batch: &Batch<'_>,
    out: &mut [f32],
    report: &mut Report,
) -> Result<()> {
    plan.check_depth()?;
    let rows = k.upload(batch)?;
    let root = upload_root(k, batch)?;
    let result = run(
        k,
        plan,
        &rows,
        root.as_ref(),
        batch.n(),
        batch.d(),
        batch.weights(),
        report,
    )?;
    k.download(&result, out)
}

/// The batch's root update (FLTrust) made resident as a `1 x d` matrix, if it has one.
fn upload_root<'a, K: Kernels>(k: &K, batch: &Batch<'a>) -> Result<Option<K::Rows<'a>>> {
    batch
        .root()
        .map(|g| k.upload(&Batch::from_contiguous(g, 1)?))
        .transpose()
}

/// Runs a plan over `n x d` rows already resident on a backend (a GPU batch that never
/// visits the host) with weights `w` (validated by the caller, as [`Batch::with_weights`]
/// does); returns the `1 x d` result where the backend keeps it.
pub fn execute_resident<K: Kernels>(
    k: &K,
    plan: &Plan,
    rows: &K::Rows<'_>,
    n: usize,
    d: usize,
    w: &[f64],
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    plan.check_depth()?;
    run(k, plan, rows, None, n, d, w, report)
}

/// Runs one plan over `n x d` resident rows with weights `w` (n = `w.len()`); returns a
/// `1 x d` matrix. One function per rule below; composed rules call back here for their base.
#[allow(clippy::too_many_arguments)]
fn run<K: Kernels>(
    k: &K,
    plan: &Plan,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    n: usize,
    d: usize,
    w: &[f64],
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    debug_assert_eq!(n, w.len());
    match plan {
        Plan::Mean => k.mix(rows, &mean_coeffs(w), 1, None),
        Plan::Median => k.order_stats(rows, w, OrderStat::Median),
        Plan::TrimmedMean { lambda } => k.order_stats(rows, w, OrderStat::TrimmedMean { lambda: *lambda }),
        Plan::MeaMed { lambda } => k.order_stats(rows, w, OrderStat::MeaMed { lambda: *lambda }),
        Plan::Bulyan { lambda } => bulyan(k, rows, w, *lambda, report),
        Plan::Cge { lambda } => {
            let origin = k.zeros(1, d)?;
            nearest_mass_mean(k, rows, w, &k.center_dist(rows, &origin)?, *lambda)
        }
        Plan::Monna { lambda, pivot } => {
            let mut pick = vec![0.0; n];
            pick[*pivot] = 1.0;
            // The pivot row and the distances to it in one pass.
            let (_, r) = k.mix_with_dist(rows, &pick)?;
            nearest_mass_mean(k, rows, w, &r, *lambda)
        }
        Plan::Mda { lambda } => subset_mean(k, rows, w, "mda", MDA_MAX_N, |dist| {
            subset::mda_masses(dist, w, *lambda)
        }),
        Plan::Smea { lambda } => subset_mean(k, rows, w, "smea", SMEA_MAX_N, |dist| {
            subset::smea_masses(dist, w, *lambda)
        }),
        Plan::Caf { lambda } => subset_mean(k, rows, w, "caf", CAF_MAX_N, |dist| {
            caf::caf_coeffs(dist, w, *lambda)
        }),
        Plan::Krum { lambda, m } => krum(k, rows, w, *lambda, *m, report),
        Plan::Gm(p) => geometric_median(k, rows, d, w, p, report),
        Plan::Ctma { base, lambda } => ctma(k, base, rows, root, d, w, *lambda, report),
        Plan::Nnm { base, lambda } => nnm(k, base, rows, root, d, w, *lambda, report),
        Plan::Bucketing { base, s, seed } => bucketing(k, base, rows, root, d, w, (*s, *seed), report),
        Plan::CenteredClipping {
            center,
            tau,
            iterations,
        } => centered_clipping(
            k,
            center.as_deref(),
            rows,
            root,
            d,
            w,
            (*tau, *iterations),
            report,
        ),
        Plan::Clip { base, tau } => clip(k, base, rows, root, d, w, Threshold::Fixed(*tau), report),
        Plan::Arc { base, lambda } => clip(k, base, rows, root, d, w, Threshold::Arc(*lambda), report),
        Plan::FlTrust => fltrust(k, rows, root, d, w, report),
    }
}

/// Krum and Multi-Krum (SPEC 4.4): the best row alone for `m = Some(1)`, else the weighted
/// mean of the `m` rows of lowest score, or (`m = None`) of the rows of lowest score up to a
/// mass of `(1 - lambda) W`, the last one in part. Rows of score `+inf` (a non-finite value,
/// or neighbours that reach one) are left out; only when every candidate has one are they
/// averaged as they are (the tolerance is exceeded, and the report says so).
fn krum<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    w: &[f64],
    lambda: f64,
    m: Option<usize>,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let dist = k.pairwise_dist(rows)?;
    let scores = krum_scores(&dist, w, lambda);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        scores[a]
            .total_cmp(&scores[b])
            .then((w[a] == 0.0).cmp(&(w[b] == 0.0)))
            .then(a.cmp(&b))
    });
    let mut coeffs = vec![0.0; n];
    let selected: Vec<usize> = if m == Some(1) {
        coeffs[order[0]] = 1.0;
        vec![order[0]]
    } else {
        let total: f64 = w.iter().sum();
        let pick = |finite_only: bool| -> Vec<(usize, f64)> {
            // The candidates in score order, as weights for a prefix (0: left out).
            let usable = |i: usize| w[i] > 0.0 && (!finite_only || scores[i].is_finite());
            let mut mass = vec![0.0; n];
            match m {
                Some(m) => order[..m]
                    .iter()
                    .filter(|&&i| usable(i))
                    .map(|&i| (i, w[i]))
                    .collect(),
                None => {
                    for i in (0..n).filter(|&i| usable(i)) {
                        mass[i] = w[i];
                    }
                    // Ordered by (score, index), as `order` ranks rows of positive weight.
                    prefix_by_distance(&scores, &mass, (1.0 - lambda) * total, total)
                }
            }
        };
        let mut taken = pick(true);
        if taken.is_empty() {
            taken = pick(false);
        }
        let mass: f64 = taken.iter().map(|&(_, mi)| mi).sum();
        for &(i, mi) in &taken {
            coeffs[i] = mi / mass;
        }
        taken.into_iter().map(|(i, _)| i).collect()
    };
    report.steps.push(Step::Krum { scores, selected });
    k.mix(rows, &coeffs, 1, None)
}

/// MDA, SMEA and CAF ([`Rule::Mda`], [`Rule::Smea`], [`Rule::Caf`]): one pass of pairwise
/// distances, a host search over them that returns a mass per row, and the mix of the rows
/// with those masses normalized. `n` above `limit` is an error (a plan built by hand may
/// skip the check that [`Rule::plan`] makes).
fn subset_mean<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    w: &[f64],
    rule: &str,
    limit: usize,
    search: impl FnOnce(&[f64]) -> Vec<f64>,
) -> Result<K::Rows<'static>> {
    check_n(rule, w.len(), limit)?;
    let dist = k.pairwise_dist(rows)?;
    let masses = search(&dist);
    let total: f64 = masses.iter().sum();
    let coeffs: Vec<f64> = masses.iter().map(|m| m / total).collect();
    k.mix(rows, &coeffs, 1, None)
}

/// Bulyan ([`Rule::Bulyan`]): iterated weighted Krum selects mass `(1 - 2 lambda) W`, then
/// MeaMed over the selection keeps mass `(1 - 4 lambda) W`. One pass of pairwise distances;
/// the rounds of Krum are host-side over the n x n matrix.
fn bulyan<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    w: &[f64],
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    let dist = k.pairwise_dist(rows)?;
    let byzantine = lambda * total;
    let eps = MASS_EPS * total;
    // The pool: the weights of the rows not yet selected (0 once selected).
    let mut pool = w.to_vec();
    let mut masses = vec![0.0; n];
    let mut left = (1.0 - 2.0 * lambda) * total;
    let mut selected = Vec::new();
    let mut first_scores = None;
    while left > eps {
        let scores = pool_krum_scores(&dist, &pool, byzantine, total);
        let Some(best) = (0..n)
            .filter(|&i| pool[i] > 0.0)
            .min_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)))
        else {
            break;
        };
        masses[best] = pool[best].min(left);
        left -= masses[best];
        pool[best] = 0.0;
        selected.push(best);
        first_scores.get_or_insert(scores);
    }
    report.steps.push(Step::Krum {
        scores: first_scores.unwrap_or_else(|| vec![f64::INFINITY; n]),
        selected,
    });
    let chosen: f64 = masses.iter().sum();
    let keep = ((1.0 - 4.0 * lambda) * total / chosen).min(1.0);
    k.order_stats(rows, &masses, OrderStat::MeaMed { lambda: 1.0 - keep })
}

/// Weighted Krum scores over a pool of rows (`pool`: the weight of each row still in it, 0
/// for the others) with the Byzantine mass fixed at `byzantine`: the neighbours of i are the
/// other rows of the pool by (distance, index) up to mass `W_R - byzantine - w_i - W_R / |R|`.
/// Rows outside the pool, and rows with a non-finite value, score `+inf`. `total` (W) sets the
/// prefix's `MASS_EPS` as everywhere else.
fn pool_krum_scores(dist: &[f64], pool: &[f64], byzantine: f64, total: f64) -> Vec<f64> {
    let n = pool.len();
    let mass: f64 = pool.iter().sum();
    let size = pool.iter().filter(|&&p| p > 0.0).count();
    (0..n)
        .map(|i| {
            if pool[i] == 0.0 || dist[i * n + i] != 0.0 {
                return f64::INFINITY;
            }
            let target = mass - byzantine - pool[i] - mass / size as f64;
            let mut r: Vec<f64> = dist[i * n..(i + 1) * n].to_vec();
            r[i] = f64::INFINITY;
            let mut others = pool.to_vec();
            others[i] = 0.0;
            prefix_by_distance(&r, &others, target, total)
                .into_iter()
                .map(|(j, m)| m * r[j])
                .sum()
        })
        .collect()
}

/// The weighted mean of the mass `(1 - lambda) W` nearest to a center, given the rows'
/// squared distances `r` to it (by squared distance, then index; non-finite rows last): CGE
/// with the origin as center, MoNNA with the pivot.
fn nearest_mass_mean<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    w: &[f64],
    r: &[f64],
    lambda: f64,
) -> Result<K::Rows<'static>> {
    let total: f64 = w.iter().sum();
    let target = (1.0 - lambda) * total;
    let mut coeffs = vec![0.0; w.len()];
    for (i, mass) in prefix_by_distance(r, w, target, total) {
        coeffs[i] = mass / target;
    }
    k.mix(rows, &coeffs, 1, None)
}

/// The smoothed Weiszfeld geometric median (SPEC 4.5).
fn geometric_median<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    d: usize,
    w: &[f64],
    p: &GmParams,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    // The rows' squared distances to `z`, when the step that made `z` gave them too: the start
    // (a median or mean) always, the iterates on a backend that fuses them (then each iteration
    // reads the rows once, `Kernels::mix_with_dist`, not twice).
    let (mut z, mut dist) = match p.init {
        GmInit::Zero => (k.zeros(1, d)?, None),
        GmInit::Median if p.max_iter > 0 => {
            let (z, r) = k.order_stats_with_dist(rows, w, OrderStat::Median)?;
            (z, Some(r))
        }
        GmInit::Median => (k.order_stats(rows, w, OrderStat::Median)?, None),
        GmInit::Mean if p.max_iter > 0 => {
            let (z, r) = k.mix_with_dist(rows, &mean_coeffs(w))?;
            (z, Some(r))
        }
        GmInit::Mean => (k.mix(rows, &mean_coeffs(w), 1, None)?, None),
    };
    let origin = k.zeros(1, d)?;
    let (mut iterations, mut converged) = (0, false);
    while iterations < p.max_iter {
        let r = match dist.take() {
            Some(r) => r,
            None => k.center_dist(rows, &z)?,
        };
        let b: Vec<f64> = r
            .iter()
            .zip(w)
            .map(|(r2, wi)| {
                if *wi > 0.0 && r2.is_finite() {
                    wi / r2.sqrt().max(p.nu)
                } else {
                    0.0
                }
            })
            .collect();
        let sum: f64 = b.iter().sum();
        if sum == 0.0 {
            break; // every row of positive weight is non-finite: nothing to move towards
        }
        let coeffs = match data_point_step(&r, w, p) {
            DataPoint::No => b.iter().map(|bi| bi / sum).collect::<Vec<_>>(),
            DataPoint::Optimal => {
                converged = true;
                break;
            }
            DataPoint::Step { away, at, eta } => {
                // Where the plain step's weight sum is S = sum(away) and its point
                // T = sum(away_i x_i) / S, the resultant pull of the other rows is S ||T - z||.
                let s: f64 = away.iter().sum();
                let t = k.mix(rows, &away.iter().map(|a| a / s).collect::<Vec<_>>(), 1, None)?;
                let pull = s * k.center_dist(&t, &z)?[0].sqrt();
                if pull <= eta {
                    converged = true; // the rows at z outweigh every pull: z is the median
                    break;
                }
                let a = eta / pull;
                away.iter()
                    .zip(&at)
                    .map(|(bi, wi)| (1.0 - a) * bi / s + a * wi / eta)
                    .collect()
            }
        };
        // The next iteration needs the distances to `next`; the convergence test may end the
        // loop first, so they are asked for with `next` only where that costs about nothing
        // (a fused backend), and never in the last iteration allowed.
        let next = if k.fuses_dist() && iterations + 1 < p.max_iter {
            let (next, r) = k.mix_with_dist(rows, &coeffs)?;
            dist = Some(r);
            next
        } else {
            k.mix(rows, &coeffs, 1, None)?
        };
        iterations += 1;
        if p.tol > 0.0 {
            let step = k.center_dist(&next, &z)?[0].sqrt();
            let norm = k.center_dist(&z, &origin)?[0].sqrt();
            z = next;
            if step <= p.tol * norm.max(1.0) {
                converged = true;
                break;
            }
        } else {
            z = next;
        }
    }
    report.steps.push(Step::Gm {
        iterations,
        converged,
    });
    Ok(z)
}

/// Where a Weiszfeld iterate stands on data rows (the starting median often is one in low
/// dimensions), the smoothed step gives those rows the weight `w / nu` and stays put whether or
/// not they are the geometric median. Vardi and Zhang's step decides instead: the rows within
/// `nu` of `z` hold the mass `eta`; the others pull with the resultant `R` of their unit
/// vectors, weighted; `||R|| <= eta` means `z` is optimal, otherwise the step moves to
/// `(1 - eta/||R||) T + (eta/||R||) x_k`, `T` the plain Weiszfeld point of the other rows.
/// Only with a convergence tolerance (the default): the papers' fixed-iteration preset keeps
/// their plain step.
enum DataPoint {
    /// `z` is on no row: the plain step.
    No,
    /// Every row of positive weight is at `z`.
    Optimal,
    /// `away`: the other rows' step weights `w_i / ||z - x_i||` (0 for rows at `z`); `at`: the
    /// weights of the rows at `z` (0 elsewhere); `eta`: their sum.
    Step { away: Vec<f64>, at: Vec<f64>, eta: f64 },
}

/// Decides the Weiszfeld step from the squared distances `r2` of the rows to `z`.
fn data_point_step(r2: &[f64], w: &[f64], p: &GmParams) -> DataPoint {
    if p.tol <= 0.0 {
        return DataPoint::No;
    }
    let live = |i: usize| w[i] > 0.0 && r2[i].is_finite();
    let at: Vec<f64> = (0..w.len())
        .map(|i| {
            if live(i) && r2[i].sqrt() <= p.nu {
                w[i]
            } else {
                0.0
            }
        })
        .collect();
    let eta: f64 = at.iter().sum();
    if eta == 0.0 {
        return DataPoint::No;
    }
    let away: Vec<f64> = (0..w.len())
        .map(|i| {
            if live(i) && at[i] == 0.0 {
                w[i] / r2[i].sqrt()
            } else {
                0.0
            }
        })
        .collect();
    if away.iter().all(|&a| a == 0.0) {
        return DataPoint::Optimal;
    }
    DataPoint::Step { away, at, eta }
}

/// CTMA (SPEC 4.6): the mean of the `(1 - lambda) W` mass nearest the base rule's output.
#[allow(clippy::too_many_arguments)]
fn ctma<K: Kernels>(
    k: &K,
    base: &Plan,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    // A plain order statistic and the distances to it come from one pass over the rows.
    let r = match plain_order_stat(base) {
        Some(stat) => k.order_stats_with_dist(rows, w, stat)?.1,
        None => {
            let center = run(k, base, rows, root, n, d, w, report)?;
            k.center_dist(rows, &center)?
        }
    };
    let target = (1.0 - lambda) * total;
    let taken = prefix_by_distance(&r, w, target, total);
    let mut coeffs = vec![0.0; n];
    for &(i, mass) in &taken {
        coeffs[i] = mass / target;
    }
    let kept: Vec<usize> = taken.iter().map(|&(i, _)| i).collect();
    let rejected = (0..n).filter(|i| coeffs[*i] == 0.0).collect();
    report.steps.push(Step::Ctma { kept, rejected });
    k.mix(rows, &coeffs, 1, None)
}

/// The order statistic a plan computes when it is one alone (what `run` gives it to
/// `Kernels::order_stats`), so a rule over it can take the fused kernels; `None` otherwise.
fn plain_order_stat(plan: &Plan) -> Option<OrderStat> {
    match plan {
        Plan::Median => Some(OrderStat::Median),
        Plan::TrimmedMean { lambda } => Some(OrderStat::TrimmedMean { lambda: *lambda }),
        Plan::MeaMed { lambda } => Some(OrderStat::MeaMed { lambda: *lambda }),
        _ => None,
    }
}

/// NNM (SPEC 4.7): each row replaced by the mean of its `(1 - lambda) W` nearest mass
/// (itself first), then the base rule on the mixed rows.
#[allow(clippy::too_many_arguments)]
fn nnm<K: Kernels>(
    k: &K,
    base: &Plan,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    lambda: f64,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    let dist = k.pairwise_dist(rows)?;
    let target = (1.0 - lambda) * total;
    let mut coeffs = vec![0.0; n * n];
    for i in 0..n {
        // Itself first (distance 0, even for a non-finite row), then the others.
        let mut r: Vec<f64> = dist[i * n..(i + 1) * n].to_vec();
        r[i] = f64::NEG_INFINITY;
        for (j, mass) in prefix_by_distance(&r, w, target, total) {
            coeffs[i * n + j] = mass / target;
        }
    }
    if let Some(stat) = order_stat_of(base) {
        return k.mix_order_stats(rows, &coeffs, n, w, stat);
    }
    let mixed = k.mix(rows, &coeffs, n, None)?;
    run(k, base, &mixed, root, n, d, w, report)
}

/// Bucketing (SPEC 4.7): a seeded shuffle into buckets of `s` rows, their weighted means
/// (weighted by the buckets' masses), then the base rule.
#[allow(clippy::too_many_arguments)]
fn bucketing<K: Kernels>(
    k: &K,
    base: &Plan,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    (s, seed): (usize, u64),
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let order = bucket_permutation(n, seed);
    let buckets: Vec<&[usize]> = order.chunks(s).collect();
    let nb = buckets.len();
    let mut coeffs = vec![0.0; nb * n];
    let mut masses = vec![0.0; nb];
    for (b, members) in buckets.iter().enumerate() {
        masses[b] = members.iter().map(|&i| w[i]).sum();
        if masses[b] > 0.0 {
            for &i in members.iter() {
                coeffs[b * n + i] = w[i] / masses[b];
            }
        }
    }
    if let Some(stat) = order_stat_of(base) {
        return k.mix_order_stats(rows, &coeffs, nb, &masses, stat);
    }
    let means = k.mix(rows, &coeffs, nb, None)?;
    run(k, base, &means, root, nb, d, &masses, report)
}

/// The order statistic a base plan is, if it is one alone (cwmed, cwtm, meamed): a
/// pre-aggregator's mix and such a base run as one [`Kernels::mix_order_stats`], which a
/// backend may fuse. The base adds no report step, so the report is the same either way.
fn order_stat_of(plan: &Plan) -> Option<OrderStat> {
    match plan {
        Plan::Median => Some(OrderStat::Median),
        Plan::TrimmedMean { lambda } => Some(OrderStat::TrimmedMean { lambda: *lambda }),
        Plan::MeaMed { lambda } => Some(OrderStat::MeaMed { lambda: *lambda }),
        _ => None,
    }
}

/// Centered clipping (SPEC 4.7): from zero or another rule's output, `iterations` steps
/// `v <- v + sum_i w_i/W clip_tau(x_i - v)`.
#[allow(clippy::too_many_arguments)]
fn centered_clipping<K: Kernels>(
    k: &K,
    center: Option<&Plan>,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    (tau, iterations): (f64, usize),
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let total: f64 = w.iter().sum();
    let mut v = match center {
        None => k.zeros(1, d)?,
        Some(c) => run(k, c, rows, root, w.len(), d, w, report)?,
    };
    for _ in 0..iterations {
        // v <- v + sum_i w_i/W clip(x_i - v) = (1 - sum c_i) v + sum c_i x_i
        let r = k.center_dist(rows, &v)?;
        let coeffs: Vec<f64> = r
            .iter()
            .zip(w)
            .map(|(r2, wi)| {
                if *wi > 0.0 && r2.is_finite() {
                    wi / total * (tau / r2.sqrt()).min(1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let keep = 1.0 - coeffs.iter().sum::<f64>();
        v = k.mix(rows, &coeffs, 1, Some((&v, keep)))?;
    }
    Ok(v)
}

/// Where a clipping pre-aggregator puts its radius.
#[derive(Clone, Copy)]
enum Threshold {
    /// Static clipping: the given radius.
    Fixed(f64),
    /// ARC with this Byzantine share: the norm at which the mass `2 lambda (1 - lambda) W`
    /// of largest norm ends.
    Arc(f64),
}

/// Static clipping and ARC ([`Rule::Clip`], [`Rule::Arc`]): one pass of norms, each row scaled
/// by `min(1, tau / ||x_i||)` (by 0 for a non-finite row, of infinite norm), then the base
/// with the same weights. Over the mean the two steps are one mix (the factors times the
/// mean's coefficients); over any other base the clipped rows are made (an `n x n` diagonal
/// mix) and the base runs on them.
#[allow(clippy::too_many_arguments)]
fn clip<K: Kernels>(
    k: &K,
    base: &Plan,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    threshold: Threshold,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let n = w.len();
    let norms: Vec<f64> = k
        .center_dist(rows, &k.zeros(1, d)?)?
        .into_iter()
        .map(f64::sqrt)
        .collect();
    let tau = match threshold {
        Threshold::Fixed(tau) => tau,
        Threshold::Arc(lambda) => arc_threshold(&norms, w, lambda),
    };
    let factors: Vec<f64> = norms
        .iter()
        .map(|&size| {
            if size <= tau {
                1.0
            } else if size.is_finite() {
                tau / size
            } else {
                0.0
            }
        })
        .collect();
    report.steps.push(Step::Clip {
        threshold: tau,
        clipped: (0..n).filter(|&i| factors[i] < 1.0).collect(),
    });
    if *base == Plan::Mean {
        let mean = mean_coeffs(w);
        let coeffs: Vec<f64> = factors.iter().zip(mean).map(|(c, m)| c * m).collect();
        return k.mix(rows, &coeffs, 1, None);
    }
    let mut diagonal = vec![0.0; n * n];
    for (i, c) in factors.iter().enumerate() {
        diagonal[i * n + i] = *c;
    }
    let clipped = k.mix(rows, &diagonal, n, None)?;
    run(k, base, &clipped, root, n, d, w, report)
}

/// ARC's radius ([`Rule::Arc`]): the rows of positive weight by norm, largest first; the norm
/// of the first row at which the mass taken exceeds `2 lambda (1 - lambda) W` (by more than
/// `MASS_EPS * W`, so that rounding in that product never moves the boundary by a row).
fn arc_threshold(norms: &[f64], w: &[f64], lambda: f64) -> f64 {
    let total: f64 = w.iter().sum();
    let mut order: Vec<usize> = (0..norms.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]));
    let limit = 2.0 * lambda * (1.0 - lambda) * total + MASS_EPS * total;
    let mut mass = 0.0;
    order
        .into_iter()
        .find(|&i| {
            mass += w[i];
            mass > limit
        })
        .map_or(f64::INFINITY, |i| norms[i])
}

/// FLTrust ([`Rule::FlTrust`]): trust `max(0, cos(x_i, g0))`, rows rescaled to `||g0||`, the
/// mean weighted by `w_i trust_i`; the zero vector when every trust is 0. The cosines come
/// from [`cosines_to_root`].
fn fltrust<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    root: Option<&K::Rows<'_>>,
    d: usize,
    w: &[f64],
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Some(root) = root else {
        return Err(Error::invalid(
            "root",
            "not given",
            "fltrust needs the server's root update (Batch::with_root, --root, root=)",
        ));
    };
    let n = w.len();
    let zero = k.zeros(1, d)?;
    let squares = k.center_dist(rows, &zero)?;
    let root_norm = k.center_dist(root, &zero)?[0].sqrt();
    // Rows with a direction: positive weight, finite, not zero.
    let usable: Vec<bool> = (0..n)
        .map(|i| w[i] > 0.0 && squares[i].is_finite() && squares[i] > 0.0)
        .collect();
    if root_norm == 0.0 || !usable.contains(&true) {
        report.steps.push(Step::FlTrust { trust: vec![0.0; n] });
        return Ok(zero);
    }
    let cos = cosines_to_root(k, rows, root, root_norm, &squares, &usable)?;
    report.steps.push(Step::FlTrust {
        trust: (0..n)
            .map(|i| if usable[i] { cos[i].max(0.0) } else { 0.0 })
            .collect(),
    });
    let trust: Vec<f64> = (0..n)
        .map(|i| if usable[i] { w[i] * cos[i].max(0.0) } else { 0.0 })
        .collect();
    let total: f64 = trust.iter().sum();
    if total == 0.0 {
        return Ok(zero);
    }
    let coeffs: Vec<f64> = (0..n)
        .map(|i| {
            if trust[i] > 0.0 {
                trust[i] / total * root_norm / squares[i].sqrt()
            } else {
                0.0
            }
        })
        .collect();
    k.mix(rows, &coeffs, 1, None)
}

/// Norm groups FLTrust serves with one center each before it scales the rows instead.
const COSINE_CENTERS: usize = 3;

/// `cos(x_i, g0)` for the `usable` rows (0 for the others), from the squared norms `squares`
/// and the root's norm, accurate to a few times the distance primitive's relative error
/// whatever `||x_i|| / ||g0||`.
///
/// The polarisation identity against the root itself, `(||x||^2 + ||g||^2 - ||x - g||^2) /
/// 2`, loses every digit when a long row meets a short root (the error is the distance's
/// relative error times `||x|| / ||g||`). It is accurate when the center has the row's
/// length, so the rows are grouped by norm (factors of 4: `floor(log4 ||x_i||)`), and each
/// group takes one pass of distances to the root rescaled to `2 * 4^b`, within a factor 2 of
/// every norm of the group: `cos = (||x||^2 + ||c||^2 - ||x - c||^2) / (2 ||x|| ||c||)`, an
/// error of at most about 5 relative errors of the distances. Honest rows share one or two
/// groups; past [`COSINE_CENTERS`] groups (rows of wildly different lengths) the rows are
/// scaled to unit norm instead (an `n x d` diagonal mix) and `cos = 1 - ||u_i - v||^2 / 2`,
/// one pass whatever the norms.
fn cosines_to_root<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    root: &K::Rows<'_>,
    root_norm: f64,
    squares: &[f64],
    usable: &[bool],
) -> Result<Vec<f64>> {
    let n = squares.len();
    let group = |i: usize| (squares[i].log2() / 4.0).floor() as i32;
    let mut groups: Vec<i32> = (0..n).filter(|&i| usable[i]).map(group).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut cos = vec![0.0; n];
    // A center must hold its length in f32: not past f32's range (rows near 3e38 with a
    // root whose length sits in few coordinates), nor so short that its coordinates go
    // subnormal; either sends every group to the unit rows.
    let fits = |b: i32| (-100..=125).contains(&(2 * b + 1));
    if groups.len() <= COSINE_CENTERS && groups.iter().all(|&b| fits(b)) {
        let d = k.shape(rows).1;
        let zero = k.zeros(1, d)?;
        let mut centered = true;
        for &b in &groups {
            // 2 * 4^b, a power of two, within a factor 2 of the group's norms.
            let length = 2f64.powi(2 * b + 1);
            let center = k.mix(root, &[length / root_norm], 1, None)?;
            let c2 = k.center_dist(&center, &zero)?[0];
            if !c2.is_finite() {
                centered = false;
                break;
            }
            let r = k.center_dist(rows, &center)?;
            for i in (0..n).filter(|&i| usable[i] && group(i) == b) {
                let dot = (squares[i] + c2 - r[i]) / 2.0;
                cos[i] = (dot / (squares[i].sqrt() * c2.sqrt())).clamp(-1.0, 1.0);
            }
        }
        if centered {
            return Ok(cos);
        }
    }
    let mut diagonal = vec![0.0; n * n];
    for i in (0..n).filter(|&i| usable[i]) {
        diagonal[i * n + i] = 1.0 / squares[i].sqrt();
    }
    let units = k.mix(rows, &diagonal, n, None)?;
    let unit_root = k.mix(root, &[1.0 / root_norm], 1, None)?;
    let r = k.center_dist(&units, &unit_root)?;
    for i in (0..n).filter(|&i| usable[i]) {
        cos[i] = (1.0 - r[i] / 2.0).clamp(-1.0, 1.0);
    }
    Ok(cos)
}

/// The coefficients of the weighted mean: `w_i / W`.
fn mean_coeffs(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    w.iter().map(|wi| wi / total).collect()
}

/// Weighted Krum scores (SPEC 4.4): the neighbours of i are the other rows of positive
/// weight by (distance, index), up to a mass of `(1 - lambda) W - w_i - W/n`; the score is
/// the sum of their masses times their squared distances. Rows of weight 0 and rows with a
/// non-finite value (infinite diagonal) score `+inf`.
fn krum_scores(dist: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = w.len();
    let total: f64 = w.iter().sum();
    (0..n)
        .map(|i| {
            if w[i] == 0.0 || dist[i * n + i] != 0.0 {
                return f64::INFINITY;
            }
            let target = (1.0 - lambda) * total - w[i] - total / n as f64;
            let mut r: Vec<f64> = dist[i * n..(i + 1) * n].to_vec();
            r[i] = f64::INFINITY;
            let mut wo = w.to_vec();
            wo[i] = 0.0;
            prefix_by_distance(&r, &wo, target, total)
                .into_iter()
                .map(|(j, mass)| mass * r[j])
                .sum()
        })
        .collect()
}

/// The shortest prefix of the rows of positive weight, ordered by (`r`, index), whose mass
/// reaches `target`; the last row gets only the mass needed. Masses below `MASS_EPS * total`
/// are dropped (see [`MASS_EPS`]). Returns (row, mass) pairs in order.
fn prefix_by_distance(r: &[f64], w: &[f64], target: f64, total: f64) -> Vec<(usize, f64)> {
    let mut order: Vec<usize> = (0..r.len()).filter(|&i| w[i] > 0.0).collect();
    order.sort_by(|&a, &b| r[a].total_cmp(&r[b]).then(a.cmp(&b)));
    let eps = MASS_EPS * total;
    let mut left = target;
    let mut taken = Vec::new();
    for i in order {
        if left <= eps {
            break;
        }
        let mass = w[i].min(left);
        taken.push((i, mass));
        left -= mass;
    }
    taken
}
