//! The public entry point: [`Aggregator`], one [`Rule`] bound to one opened backend, and the
//! choice between the f64 reference (`reference.rs`, which computes whole rules and shares
//! nothing with the rule layer) and an [`Engine`] whose [`Kernels`] run the rule layer
//! (`aggregate/`). Below it, the rule layer never sees which.

use crate::aggregate::{Context, Report, execute_and_scan, run_resident_and_scan};
use crate::backend::Backend;
use crate::batch::Batch;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::reference;
use crate::rule::{ByzantineShare, Rule};

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
    /// Binds `rule` to `backend`, opening it now; `Backend::Auto` opens the CPU backend (a
    /// batch is in host memory, see [`Backend::Auto`]), and an unavailable backend is an
    /// [`Error::Unavailable`].
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
            execute_and_scan(&self.engine, &plan, batch, out, &mut report, self.scan)?;
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
        let mut report = Report::default();
        let cx = Context {
            k: kernels,
            rows,
            root,
            d,
            w: batch.weights(),
        };
        let out = run_resident_and_scan(&cx, &plan, &mut report, self.scan)?;
        Ok((out, report))
    }
}
