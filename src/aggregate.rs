//! The rule layer and the public [`Aggregator`]: one [`Rule`] run on one [`Backend`].
//!
//! Each rule of SPEC section 4 is small host-side logic over the four primitives of
//! [`Kernels`]: sort n distances, build mixing coefficients, pick Krum rows, run the Weiszfeld
//! loop. It never sees the backend's data, only `n` or `n x n` numbers, so the same code
//! drives every backend. The reference backend is the exception: it runs `reference.rs`,
//! which shares nothing with this layer.

use crate::backend::Backend;
use crate::batch::Batch;
use crate::cpu::Cpu;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat};
use crate::reference;
use crate::rule::{GmInit, MASS_EPS, Plan, Rule, Tolerance, bucket_permutation};

/// What a rule reports beyond its output: one entry per step of a composed rule, innermost
/// first (for `ctma(krum)`: the Krum step, then the CTMA step).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The steps, in the order they ran.
    pub steps: Vec<Step>,
}

/// One reported step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Krum or Multi-Krum: every row's score (`+inf` for rows of weight 0 or with non-finite
    /// values) and the rows averaged, best first.
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
}

/// A rule bound to a backend: the entry point for embedding byzagg.
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
    backend: Backend,
    tolerance: Option<Tolerance>,
    strict: bool,
}

impl Aggregator {
    /// Binds `rule` to `backend`; `Backend::Auto` becomes the fastest available one, and an
    /// unavailable backend is an [`Error::Unavailable`].
    pub fn new(rule: Rule, backend: Backend) -> Result<Self> {
        Ok(Aggregator {
            rule,
            backend: backend.resolve()?,
            tolerance: None,
            strict: false,
        })
    }

    /// The lambda or f used where the rule leaves it out (the CLI's `--lambda`/`--f`).
    pub fn with_tolerance(mut self, tolerance: Tolerance) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Strict mode: a row with NaN or infinity is an [`Error::NonFinite`] instead of
    /// Byzantine input to survive.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The concrete backend that runs it.
    pub fn backend(&self) -> Backend {
        self.backend
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
        let plan = self.rule.plan(batch.n(), self.tolerance)?;
        plan.check_memory(batch.n(), batch.d())?;
        let mut report = Report::default();
        match self.backend {
            Backend::Reference => {
                let exact = reference::aggregate(&plan, batch)?;
                for (o, v) in out.iter_mut().zip(exact) {
                    *o = v as f32;
                }
            }
            Backend::Cpu => execute(&Cpu::new(), &plan, batch, out, &mut report)?,
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => execute(&crate::wgpu::Wgpu::new()?, &plan, batch, out, &mut report)?,
            #[cfg(feature = "cuda")]
            Backend::Cuda => execute(&crate::cuda::Cuda::shared()?, &plan, batch, out, &mut report)?,
            other => {
                return Err(other
                    .available()
                    .err()
                    .unwrap_or_else(|| unreachable_backend(other)));
            }
        }
        Ok(report)
    }
}

fn unreachable_backend(b: Backend) -> Error {
    Error::Unavailable {
        backend: b.name(),
        reason: "no engine is wired for it".into(),
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
    let rows = k.upload(batch)?;
    let result = run(k, plan, &rows, batch.n(), batch.d(), batch.weights(), report)?;
    k.download(&result, out)
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
    run(k, plan, rows, n, d, w, report)
}

/// Runs one plan over `n x d` resident rows with weights `w`; returns a `1 x d` matrix.
fn run<K: Kernels>(
    k: &K,
    plan: &Plan,
    rows: &K::Rows<'_>,
    n: usize,
    d: usize,
    w: &[f64],
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let total: f64 = w.iter().sum();
    match plan {
        Plan::Mean => k.mix(rows, &mean_coeffs(w), 1, None),
        Plan::Median => k.order_stats(rows, w, OrderStat::Median),
        Plan::TrimmedMean { lambda } => k.order_stats(rows, w, OrderStat::TrimmedMean { lambda: *lambda }),
        Plan::Krum { lambda, m } => {
            let dist = k.pairwise_dist(rows)?;
            let scores = krum_scores(&dist, w, *lambda);
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| {
                scores[a]
                    .total_cmp(&scores[b])
                    .then((w[a] == 0.0).cmp(&(w[b] == 0.0)))
                    .then(a.cmp(&b))
            });
            let selected = order[..*m].to_vec();
            let mut coeffs = vec![0.0; n];
            if *m == 1 {
                coeffs[selected[0]] = 1.0;
            } else {
                let mass: f64 = selected.iter().map(|&i| w[i]).sum();
                for &i in &selected {
                    coeffs[i] = w[i] / mass;
                }
            }
            report.steps.push(Step::Krum { scores, selected });
            k.mix(rows, &coeffs, 1, None)
        }
        Plan::Gm(p) => {
            let mut z = match p.init {
                GmInit::Zero => k.zeros(1, d)?,
                GmInit::Median => k.order_stats(rows, w, OrderStat::Median)?,
                GmInit::Mean => k.mix(rows, &mean_coeffs(w), 1, None)?,
            };
            let origin = k.zeros(1, d)?;
            let (mut iterations, mut converged) = (0, false);
            while iterations < p.max_iter {
                let r = k.center_dist(rows, &z)?;
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
                let next = k.mix(rows, &b.iter().map(|bi| bi / sum).collect::<Vec<_>>(), 1, None)?;
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
        Plan::Ctma { base, lambda } => {
            let center = run(k, base, rows, n, d, w, report)?;
            let r = k.center_dist(rows, &center)?;
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
        Plan::Nnm { base, lambda } => {
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
            let mixed = k.mix(rows, &coeffs, n, None)?;
            run(k, base, &mixed, n, d, w, report)
        }
        Plan::Bucketing { base, s, seed } => {
            let order = bucket_permutation(n, *seed);
            let buckets: Vec<&[usize]> = order.chunks(*s).collect();
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
            let means = k.mix(rows, &coeffs, nb, None)?;
            run(k, base, &means, nb, d, &masses, report)
        }
        Plan::CenteredClipping {
            center,
            tau,
            iterations,
        } => {
            let mut v = match center {
                None => k.zeros(1, d)?,
                Some(c) => run(k, c, rows, n, d, w, report)?,
            };
            for _ in 0..*iterations {
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
    }
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
