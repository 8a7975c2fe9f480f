//! The conformance suite behind `byzagg verify`: every rule on a fixed, seeded matrix of
//! shapes, weights and Byzantine patterns, checked against the f64 reference (SPEC 3 and 5).
//!
//! [`cases`] builds the matrix: the rules of [`rules`] x n in {1, 2, 3, 7, 8, 16, 33} (only
//! where the rule accepts n) x weights (uniform, integer 1..=5, real 0.1..3) x patterns
//! (finite, one row of NaN, outlier rows of +inf, -inf, 1e38 or a single NaN coordinate). The
//! dimension d cycles through {1, 7, 33, 1000, 4099} so that every n meets every d without
//! running the full product. Rows are uniform noise around a common center, at a magnitude of
//! 1, 1e3 or 1e-3, drawn from SplitMix64: the same cases on every machine.
//!
//! Poisoned rows are added only while the finite rows keep the weight the rule needs (more
//! than W/2 for the median, the geometric median and clipping; at most lambda W poisoned for
//! trimming, Krum, CTMA and NNM; bucketing counts a bucket as poisoned when one of its rows
//! is): [`tolerates`] says so for any plan. Rules that tolerate any number (static clipping,
//! FLTrust) get poisoned rows of less than half the weight. For those cases the output must
//! also be finite.
//! The plain mean is not robust: it gets only the NaN row, and its output must be NaN like
//! the reference's.
//!
//! Accuracy (SPEC 5): the median and Krum (a single selected row) must equal the reference
//! cast to f32 exactly; every other rule must stay within `1e-5 * scale` of it, and rules that
//! run the geometric median to a tolerance (the default `gm` and rules over it) within
//! `1e-4 * scale`, where `scale` is the data's own magnitude ([`data_scale`]: the largest
//! finite value of the clean rows and the root update, or of the reference's output if that is
//! larger), never below `f32::MIN_POSITIVE`: a case drawn at 1e-3 or 1e-40 is held to its own
//! magnitude, not to 1.
//!
//! A case that returns an error or panics is a failure of that case, not of the suite, so one
//! broken rule cannot hide the others.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rayon::prelude::*;

use crate::aggregator::Aggregator;
use crate::backend::Backend;
use crate::batch::Batch;
use crate::error::Result;
use crate::reference;
use crate::rng::SplitMix64;
use crate::rule::{ByzantineShare, Center, GmParams, Plan, Rule};

/// The numbers of rows the suite tries.
pub const NS: [usize; 7] = [1, 2, 3, 7, 8, 16, 33];

/// The dimensions the suite tries (4099: not a multiple of any SIMD width or workgroup).
pub const DS: [usize; 5] = [1, 7, 33, 1000, 4099];

/// How the weights of a case are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// No weights given (all ones).
    Uniform,
    /// Integers 1 to 5, to test weights as multiplicities (SPEC 2).
    Integer,
    /// Reals in [0.1, 3).
    Real,
}

/// Which Byzantine rows a case holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Every value finite and of the case's magnitude.
    Finite,
    /// One row of NaN.
    NanRow,
    /// As many outlier rows as the rule tolerates, cycling through the [`Poison`] kinds.
    Outliers,
    /// Every value within 1/16 of the case's magnitude (+-3e38), all of one sign: the sum of
    /// two values overflows f32 though their midpoint and mean do not, so a backend that
    /// computes `(a + b) / 2` or an unscaled distance returns inf. No poisoned rows.
    HugeSameSign,
}

/// What a poisoned row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poison {
    /// NaN in every coordinate.
    Nan,
    /// +inf in every coordinate.
    PosInf,
    /// -inf in every coordinate.
    NegInf,
    /// 1e38 in every coordinate: finite, but its squared distances overflow f32.
    Huge,
    /// A normal row but for one NaN coordinate.
    NanCoordinate,
}

impl fmt::Display for Poison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Poison::Nan => "nan",
            Poison::PosInf => "+inf",
            Poison::NegInf => "-inf",
            Poison::Huge => "1e38",
            Poison::NanCoordinate => "one-nan",
        })
    }
}

/// One case of the suite: a rule on one seeded batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The rule, with its parameters given (the suite passes no default Byzantine share).
    pub rule: Rule,
    /// Number of rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// How the weights are drawn.
    pub weights: Weights,
    /// Which Byzantine rows were asked for.
    pub pattern: Pattern,
    /// The poisoned rows and what each holds, in row order.
    pub poisoned: Vec<(usize, Poison)>,
    /// Magnitude of the finite values.
    pub magnitude: f32,
    /// Seed of the weights and the values.
    pub seed: u64,
}

impl Case {
    /// The weights of the case (`None` for uniform: the batch is left unweighted).
    pub fn weight_values(&self) -> Option<Vec<f64>> {
        draw_weights(self.weights, self.n, self.seed)
    }

    /// The row-major `n x d` values of the case, poisoned rows included.
    pub fn rows(&self) -> Vec<f32> {
        let (n, d) = (self.n, self.d);
        let mut rng = SplitMix64(self.seed ^ 0x0DA7_A0DA_7A0D_A7A0);
        let center: Vec<f32> = (0..d).map(|_| symmetric(&mut rng) as f32).collect();
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            data.extend(center.iter().map(|c| {
                let v = c + symmetric(&mut rng) as f32;
                if self.pattern == Pattern::HugeSameSign {
                    // v in (-2, 2): within 1/16 of the magnitude, below f32::MAX.
                    self.magnitude * (1.0 + v / 32.0)
                } else {
                    v * self.magnitude
                }
            }));
        }
        for &(i, poison) in &self.poisoned {
            let row = &mut data[i * d..(i + 1) * d];
            match poison {
                Poison::Nan => row.fill(f32::NAN),
                Poison::PosInf => row.fill(f32::INFINITY),
                Poison::NegInf => row.fill(f32::NEG_INFINITY),
                Poison::Huge => row.fill(1e38),
                Poison::NanCoordinate => row[(self.seed % d as u64) as usize] = f32::NAN,
            }
        }
        data
    }

    /// The server's root update of the case: for FLTrust, the rows' common center plus noise
    /// of the case's magnitude (a finite row like an honest one, from its own seed); `None`
    /// for every other rule.
    pub fn root(&self) -> Option<Vec<f32>> {
        if self.rule != Rule::FlTrust {
            return None;
        }
        let mut rng = SplitMix64(self.seed ^ 0x0DA7_A0DA_7A0D_A7A0);
        let center: Vec<f32> = (0..self.d).map(|_| symmetric(&mut rng) as f32).collect();
        let mut rng = SplitMix64(self.seed ^ 0x0007_0007_0007_0007);
        Some(
            center
                .iter()
                .map(|c| (c + symmetric(&mut rng) as f32) * self.magnitude)
                .collect(),
        )
    }

    /// The plan the case runs (the rule carries all its parameters).
    pub fn plan(&self) -> Result<Plan> {
        self.rule.plan(self.n, None)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weights = match self.weights {
            Weights::Uniform => "uniform",
            Weights::Integer => "integer",
            Weights::Real => "real",
        };
        write!(
            f,
            "{} n={} d={} weights={weights} magnitude={:e} seed={:#x}",
            self.rule, self.n, self.d, self.magnitude, self.seed
        )?;
        if !self.poisoned.is_empty() {
            let rows: Vec<String> = self.poisoned.iter().map(|(i, p)| format!("{i}:{p}")).collect();
            write!(f, " poisoned=[{}]", rows.join(" "))?;
        }
        Ok(())
    }
}

/// The rules of the suite, built as values (not parsed), each with its parameters given.
pub fn rules() -> Vec<Rule> {
    let lambda = |l| Some(ByzantineShare::Lambda(l));
    vec![
        Rule::Mean,
        Rule::CwMed,
        Rule::CwTm { share: lambda(0.25) },
        Rule::MeaMed { share: lambda(0.25) },
        Rule::Bulyan {
            share: Some(ByzantineShare::F(1)),
        },
        Rule::Cge { share: lambda(0.2) },
        Rule::Monna {
            share: lambda(0.2),
            pivot: 1,
        },
        Rule::Mda { share: lambda(0.2) },
        Rule::Smea { share: lambda(0.2) },
        Rule::Caf { share: lambda(0.2) },
        Rule::krum(2),
        Rule::Krum {
            share: Some(ByzantineShare::F(2)),
            multi: true,
            m: None,
        },
        Rule::Gm(GmParams::DEFAULT),
        Rule::Gm(GmParams::RFA),
        Rule::ctma(Rule::CwMed, lambda(0.2)),
        Rule::ctma(Rule::krum(2), lambda(0.2)),
        Rule::ctma(Rule::Gm(GmParams::DEFAULT), lambda(0.2)),
        Rule::nnm(Rule::CwMed, lambda(0.2)),
        Rule::Bucketing {
            base: Box::new(Rule::CwMed),
            s: 2,
            seed: 7,
        },
        Rule::CenteredClipping {
            center: Center::Zero,
            tau: 1.0,
            iterations: 3,
        },
        Rule::clip(Rule::CwMed, 1.0),
        Rule::clip(Rule::Mean, 2.0),
        Rule::arc(Rule::CwTm { share: lambda(0.2) }, lambda(0.2)),
        Rule::arc(Rule::Mean, lambda(0.2)),
        Rule::FlTrust,
    ]
}

/// The whole matrix, in rule order; the same on every call and machine.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (ri, rule) in rules().into_iter().enumerate() {
        for (ni, &n) in NS.iter().enumerate() {
            let Ok(plan) = rule.plan(n, None) else {
                continue; // a shape this rule rejects (say Krum with n < 2f + 3)
            };
            for (wi, weights) in [Weights::Uniform, Weights::Integer, Weights::Real]
                .into_iter()
                .enumerate()
            {
                for (pi, pattern) in [Pattern::Finite, Pattern::NanRow, Pattern::Outliers]
                    .into_iter()
                    .enumerate()
                {
                    let seed = SplitMix64((ri * 10_000 + ni * 100 + wi * 10 + pi) as u64).next_u64();
                    let w = draw_weights(weights, n, seed).unwrap_or_else(|| vec![1.0; n]);
                    let Some(poisoned) = poison(&plan, &w, pattern, seed) else {
                        continue;
                    };
                    let case = Case {
                        rule: rule.clone(),
                        n,
                        d: DS[(ni + wi + pi) % DS.len()],
                        weights,
                        pattern,
                        poisoned,
                        magnitude: [1.0, 1e3, 1e-3][(seed >> 32) as usize % 3],
                        seed,
                    };
                    if !boundary_tie(&case) {
                        cases.push(case);
                    }
                }
            }
        }
    }
    cases.extend(extreme_cases());
    cases
}

/// Cases at the ends of the f32 range, where a backend's arithmetic (not the rule) breaks:
/// rows of huge values of one sign (+-3e38, [`Pattern::HugeSameSign`]: medians, means and
/// distances must not overflow) and rows of subnormal values about 1e-40 apart (magnitude
/// 1e-40: squared distances underflow f32, and hardware that flushes subnormals loses them).
/// The median and Krum must still pick the reference's values exactly; the geometric median
/// and CTMA over the median stay within their usual tolerance of the scale.
fn extreme_cases() -> Vec<Case> {
    let lambda = Some(ByzantineShare::Lambda(0.2));
    let rules = [
        Rule::CwMed,
        Rule::krum(2),
        Rule::Gm(GmParams::DEFAULT),
        Rule::ctma(Rule::CwMed, lambda),
    ];
    let mut cases = Vec::new();
    for (ri, rule) in rules.into_iter().enumerate() {
        for (ni, n) in [3usize, 7, 8].into_iter().enumerate() {
            if rule.plan(n, None).is_err() {
                continue;
            }
            for (mi, (pattern, magnitude)) in [
                (Pattern::HugeSameSign, 3e38f32),
                (Pattern::HugeSameSign, -3e38),
                (Pattern::Finite, 1e-40),
            ]
            .into_iter()
            .enumerate()
            {
                let weights = [Weights::Uniform, Weights::Integer][(ni + mi) % 2];
                let case = Case {
                    rule: rule.clone(),
                    n,
                    d: [33, 4099][(ri + ni + mi) % 2],
                    weights,
                    pattern,
                    poisoned: Vec::new(),
                    magnitude,
                    seed: SplitMix64(0xE7_0000 + (ri * 100 + ni * 10 + mi) as u64).next_u64(),
                };
                if !boundary_tie(&case) {
                    cases.push(case);
                }
            }
        }
    }
    cases
}

/// Relative gap under which two distances count as tied (an f32 backend's distances carry
/// relative errors near 1e-7; its center, rounded to f32, moves them further).
const TIE_REL: f64 = 1e-5;

/// Whether the case's expected output is decided by rounding: a CTMA whose mass boundary falls
/// between rows whose distances to the reference's center differ by less than `TIE_REL` (1e-5) of
/// their size. SPEC 5 lets such a tie go either way (as it does for Krum), and the two ways give
/// answers far apart (CTMA over the geometric median of two rows: both rows are equally far
/// from their midpoint), so such a case would test rounding, not the rule. The matrix leaves it
/// out.
pub fn boundary_tie(case: &Case) -> bool {
    let Ok(Plan::Ctma { base, lambda }) = case.plan() else {
        return false;
    };
    let rows = case.rows();
    let weights = case.weight_values().unwrap_or_else(|| vec![1.0; case.n]);
    let Ok(batch) = Batch::from_contiguous(&rows, case.n).and_then(|b| b.with_weights(&weights)) else {
        return false;
    };
    let Ok(center) = reference::aggregate(&base, &batch) else {
        return false;
    };
    let rows64: Vec<Vec<f64>> = rows
        .chunks(case.d)
        .map(|r| r.iter().map(|v| f64::from(*v)).collect())
        .collect();
    let dist = reference::center_dist(&rows64, &center);
    let mut order: Vec<usize> = (0..case.n).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)));
    let keep = (1.0 - lambda) * weights.iter().sum::<f64>();
    // The first row that the kept mass does not hold whole, and its neighbours in the order.
    let mut mass = 0.0;
    let Some(at) = order.iter().position(|&i| {
        mass += weights[i];
        mass > keep
    }) else {
        return false;
    };
    let tied = |a: usize, b: usize| {
        let (x, y) = (dist[order[a]], dist[order[b]]);
        x.is_finite() && y.is_finite() && (x - y).abs() <= TIE_REL * x.max(y)
    };
    (at > 0 && tied(at - 1, at)) || (at + 1 < order.len() && tied(at, at + 1))
}

/// Chooses the poisoned rows of a pattern, in a seeded order, keeping only what the plan
/// tolerates; `None` if the pattern cannot be realised (then the case would repeat another).
fn poison(plan: &Plan, w: &[f64], pattern: Pattern, seed: u64) -> Option<Vec<(usize, Poison)>> {
    let n = w.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64(seed ^ 0xBAD0_BAD0_BAD0_BAD0);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut bad = vec![false; n];
    let mut chosen = Vec::new();
    match pattern {
        Pattern::Finite | Pattern::HugeSameSign => return Some(chosen),
        // The mean is not robust: one NaN row must make its output NaN, like the reference.
        Pattern::NanRow if *plan == Plan::Mean => chosen.push((order[0], Poison::Nan)),
        Pattern::NanRow => {
            let i = order.into_iter().find(|&i| {
                bad[i] = true;
                let ok = tolerates(plan, w, &bad);
                bad[i] = false;
                ok
            })?;
            chosen.push((i, Poison::Nan));
        }
        Pattern::Outliers => {
            const KINDS: [Poison; 4] = [
                Poison::PosInf,
                Poison::NegInf,
                Poison::Huge,
                Poison::NanCoordinate,
            ];
            // A rule that tolerates every row poisoned (clipping zeroes them, FLTrust gives
            // them no trust) gets a minority of the weight, so finite rows still shape the
            // output.
            let unbounded = tolerates(plan, w, &vec![true; n]);
            let total: f64 = w.iter().sum();
            let mut mass = 0.0;
            for i in order {
                bad[i] = true;
                if tolerates(plan, w, &bad) && (!unbounded || 2.0 * (mass + w[i]) < total) {
                    mass += w[i];
                    chosen.push((i, KINDS[chosen.len() % KINDS.len()]));
                } else {
                    bad[i] = false;
                }
            }
            if chosen.is_empty() {
                return None;
            }
        }
    }
    chosen.sort_by_key(|&(i, _)| i);
    Some(chosen)
}

pub use crate::rule::tolerates;

/// How close a backend must come to the reference (SPEC 5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accuracy {
    /// Equal to the reference cast to f32 (the median and Krum pick input values).
    Exact,
    /// `|out - ref| <= tol * scale`, `scale` the larger of the data's magnitude
    /// ([`data_scale`]) and `max |ref|` over finite values.
    Relative(f64),
}

/// The accuracy a plan must meet: exact for the median and single-row Krum at the top level,
/// `1e-4` for anything that runs the geometric median to a tolerance, `1e-5` otherwise.
pub fn accuracy(plan: &Plan) -> Accuracy {
    fn converges_gm(plan: &Plan) -> bool {
        match plan {
            Plan::Gm(p) => p.tol > 0.0,
            Plan::Ctma { base, .. }
            | Plan::Nnm { base, .. }
            | Plan::Bucketing { base, .. }
            | Plan::Clip { base, .. }
            | Plan::Arc { base, .. } => converges_gm(base),
            Plan::CenteredClipping { center, .. } => center.as_deref().is_some_and(converges_gm),
            _ => false,
        }
    }
    match plan {
        Plan::Median | Plan::Krum { m: Some(1), .. } => Accuracy::Exact,
        _ if converges_gm(plan) => Accuracy::Relative(1e-4),
        _ => Accuracy::Relative(1e-5),
    }
}

/// One failed case.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The case, as [`Case`]'s `Display` writes it.
    pub case: String,
    /// What went wrong.
    pub message: String,
}

/// The suite's verdict on one rule and one backend.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    /// The rule's text form.
    pub rule: String,
    /// The backend checked.
    pub backend: Backend,
    /// Cases run.
    pub cases: usize,
    /// Largest `|out - ref| / scale` over the cases compared, failed ones included (`+inf`
    /// where a non-finite value differs; cases that erred or panicked add nothing).
    pub max_error: f64,
    /// The failed cases.
    pub failures: Vec<Failure>,
}

impl RuleResult {
    /// Whether every case passed.
    pub fn pass(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs the whole suite on `backend` ([`Backend::Auto`] resolves to the CPU, where a host batch runs).
///
/// `Err` only if the backend is unavailable; failed cases are reported in the results. Cases
/// run in parallel on rayon's pool.
pub fn run(backend: Backend) -> Result<Vec<RuleResult>> {
    run_cases(backend, &cases())
}

/// Runs the given cases on `backend`, one [`RuleResult`] per rule, in order of first appearance.
pub fn run_cases(backend: Backend, cases: &[Case]) -> Result<Vec<RuleResult>> {
    let backend = backend.resolve()?;
    let outcomes: Vec<Outcome> = cases.par_iter().map(|case| check(case, backend)).collect();
    let mut results: Vec<RuleResult> = Vec::new();
    for (case, outcome) in cases.iter().zip(outcomes) {
        let rule = case.rule.to_string();
        let index = match results.iter().position(|r| r.rule == rule) {
            Some(i) => i,
            None => {
                results.push(RuleResult {
                    rule,
                    backend,
                    cases: 0,
                    max_error: 0.0,
                    failures: Vec::new(),
                });
                results.len() - 1
            }
        };
        let result = &mut results[index];
        result.cases += 1;
        result.max_error = result.max_error.max(outcome.max_error);
        if let Some(message) = outcome.failure {
            result.failures.push(Failure {
                case: case.to_string(),
                message,
            });
        }
    }
    Ok(results)
}

/// What one case gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Largest `|out - ref| / scale` over the coordinates compared: `+inf` where a non-finite
    /// value differs from the reference's, 0 when nothing could be compared (an error).
    pub max_error: f64,
    /// What failed (the first coordinate out of bounds, an error, a panic); `None` if it passed.
    pub failure: Option<String>,
}

impl Outcome {
    fn failed(message: String) -> Self {
        Outcome {
            max_error: 0.0,
            failure: Some(message),
        }
    }
}

/// Runs one case on `backend` and on the reference, and compares them.
pub fn check(case: &Case, backend: Backend) -> Outcome {
    let rows = case.rows();
    let weights = case.weight_values();
    let root = case.root();
    let batch = match Batch::from_contiguous(&rows, case.n)
        .and_then(|b| match &weights {
            Some(w) => b.with_weights(w),
            None => Ok(b),
        })
        .and_then(|b| match &root {
            Some(g) => b.with_root(g),
            None => Ok(b),
        }) {
        Ok(batch) => batch,
        Err(e) => return Outcome::failed(format!("cannot build the batch: {e}")),
    };
    let plan = match case.plan() {
        Ok(plan) => plan,
        Err(e) => return Outcome::failed(format!("cannot plan: {e}")),
    };
    let expected = match guarded("reference", || reference::aggregate(&plan, &batch)) {
        Ok(v) => v,
        Err(message) => return Outcome::failed(message),
    };
    let out = match guarded(backend.name(), || {
        Aggregator::new(case.rule.clone(), backend)?.aggregate(&batch)
    }) {
        Ok(v) => v,
        Err(message) => return Outcome::failed(message),
    };
    let robust = plan != Plan::Mean || case.poisoned.is_empty();
    // The rows the rule reads as data: the poisoned ones left out (a row of 1e38 would make
    // any error small), the root update in.
    let clean = rows
        .chunks(case.d)
        .enumerate()
        .filter(|(i, _)| !case.poisoned.iter().any(|(p, _)| p == i))
        .flat_map(|(_, row)| row);
    let scale = data_scale(clean.chain(root.iter().flatten()));
    compare(accuracy(&plan), &expected, &out, robust, scale)
}

/// The magnitude a case's errors are measured against (SPEC 5: a relative error of about
/// 1e-5 of the scale): the largest finite `|value|` of `values`, the data the rule read (the
/// clean rows and the root update; leave poisoned rows out, their 1e38 would loosen the bound
/// to nothing). At least `f32::MIN_POSITIVE`: below the smallest normal f32 a value carries no
/// relative precision, so the bound stops shrinking there, an absolute floor of
/// `tol * 1.2e-38` (before, a floor of 1 let any output of data at 1e-40 pass).
///
/// ```
/// use byzagg::verify::data_scale;
///
/// assert_eq!(data_scale(&[1e-3f32, -2e-3, f32::NAN]), f64::from(2e-3f32));
/// assert_eq!(data_scale(&[1e-40f32]), f64::from(f32::MIN_POSITIVE));
/// ```
pub fn data_scale<'a>(values: impl IntoIterator<Item = &'a f32>) -> f64 {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(f64::from(f32::MIN_POSITIVE), |m, v| m.max(f64::from(v.abs())))
}

/// Whether `BYZAGG_REQUIRE` (a comma-separated list) names `name`: a backend (`wgpu`,
/// `cuda`) or a tool a check needs (`cuda-compile`, `numpy`). CI sets it where they must run.
pub fn required(name: &str) -> bool {
    std::env::var("BYZAGG_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .any(|r| r.trim() == name)
}

/// The skip rule of every check that needs something absent here (`name`, absent because
/// `why`): prints `skipped: why` and returns, or panics if `BYZAGG_REQUIRE` names it, so a
/// machine that should run the check cannot quietly skip it.
///
/// ```
/// // Nothing requires this name, so it skips (printing the reason).
/// byzagg::verify::require_or_skip("a-tool-nobody-requires", "not installed here");
/// ```
pub fn require_or_skip(name: &str, why: impl fmt::Display) {
    assert!(
        !required(name),
        "BYZAGG_REQUIRE names {name} but it is unavailable: {why}"
    );
    eprintln!("skipped: {why}");
}

/// Calls `f`, turning its error or its panic into a message naming `who`.
fn guarded<T>(who: &str, f: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{who} returned an error: {e}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(format!("{who} panicked: {message}"))
        }
    }
}

/// Compares a backend's output with the reference's; `finite`: the output must be finite;
/// `data_scale`: the magnitude of the data ([`data_scale`]), which errors are relative to
/// (the reference's own largest finite value counts too, if larger). Every coordinate counts
/// towards the error; the first one out of bounds is the failure. The one comparison of the
/// suite and of the crate's conformance tests.
///
/// ```
/// use byzagg::verify::{Accuracy, compare, data_scale};
///
/// let ok = compare(Accuracy::Relative(1e-5), &[1.0, 1e6], &[1.0, 1e6 + 1.0], true, 1.0);
/// assert!(ok.failure.is_none() && ok.max_error <= 1e-6);
/// let bad = compare(Accuracy::Exact, &[0.5], &[0.25], true, 1.0);
/// assert!(bad.failure.is_some());
/// // Data at 1e-40: an all-zero output is wrong, whatever its absolute error.
/// let zeros = compare(Accuracy::Relative(1e-5), &[1e-40], &[0.0], true, data_scale(&[1e-40]));
/// assert!(zeros.failure.is_some());
/// ```
pub fn compare(accuracy: Accuracy, expected: &[f64], out: &[f32], finite: bool, data_scale: f64) -> Outcome {
    if out.len() != expected.len() {
        return Outcome::failed(format!(
            "output has {} values, the reference {}",
            out.len(),
            expected.len()
        ));
    }
    let scale = expected
        .iter()
        .filter(|e| e.is_finite())
        .fold(data_scale.max(f64::from(f32::MIN_POSITIVE)), |s, e| {
            s.max(e.abs())
        });
    let mut worst = 0.0f64;
    let mut failure = None;
    for (j, (&e, &o)) in expected.iter().zip(out).enumerate() {
        let o64 = f64::from(o);
        let (error, problem) = if finite && !(e.is_finite() && o.is_finite()) {
            let problem = format!(
                "coordinate {j} is {o} (reference {e}), but the clean rows carry enough weight \
                 for a finite output"
            );
            (f64::INFINITY, Some(problem))
        } else if !e.is_finite() || !o.is_finite() {
            // Only the non-robust mean gets here: NaN must stay NaN, an infinity its sign.
            if e.is_nan() && o.is_nan() || e == o64 {
                (0.0, None)
            } else {
                (
                    f64::INFINITY,
                    Some(format!("coordinate {j} is {o}, the reference gives {e}")),
                )
            }
        } else {
            let error = (o64 - e).abs();
            let (ok, bound) = match accuracy {
                Accuracy::Exact => (o == e as f32, "exact equality".to_string()),
                Accuracy::Relative(tol) => (error <= tol * scale, format!("{tol:e} x scale {scale:.3e}")),
            };
            let problem = (!ok).then(|| {
                format!(
                    "coordinate {j} is {o:e}, the reference gives {e:e}: error {error:.3e} breaks {bound}"
                )
            });
            (error / scale, problem)
        };
        worst = worst.max(error);
        if failure.is_none() {
            failure = problem;
        }
    }
    Outcome {
        max_error: worst,
        failure,
    }
}

/// The weights of a case, drawn from its seed.
fn draw_weights(kind: Weights, n: usize, seed: u64) -> Option<Vec<f64>> {
    let mut rng = SplitMix64(seed ^ 0x3E16_4753_3E16_4753);
    match kind {
        Weights::Uniform => None,
        Weights::Integer => Some((0..n).map(|_| (1 + rng.below(5)) as f64).collect()),
        Weights::Real => Some((0..n).map(|_| 0.1 + 2.9 * rng.unit()).collect()),
    }
}

/// Uniform in [-1, 1).
fn symmetric(rng: &mut SplitMix64) -> f64 {
    2.0 * rng.unit() - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn ctma_cases_tied_at_the_mass_boundary_are_left_out() {
        // CTMA over the geometric median of two rows: both are equally far from the center.
        let tied = Case {
            rule: "ctma(gm,lambda=0.2)".parse().unwrap(),
            n: 2,
            d: 7,
            weights: Weights::Uniform,
            pattern: Pattern::Finite,
            poisoned: Vec::new(),
            magnitude: 1.0,
            seed: 0xc9b7_e6be_9522_d53d,
        };
        assert!(boundary_tie(&tied));
        assert!(
            !cases()
                .iter()
                .any(|c| c.rule == tied.rule && c.n == 2 && c.seed == tied.seed)
        );
        // Random rows around a common center are not tied, and other rules never are.
        let mut other = tied.clone();
        other.n = 9;
        assert!(!boundary_tie(&other));
        other.rule = Rule::CwMed;
        assert!(!boundary_tie(&other));
        // The matrix still holds CTMA over every base.
        let kept = cases()
            .iter()
            .filter(|c| matches!(c.rule, Rule::Ctma { .. }))
            .count();
        assert!(kept > 100, "{kept} CTMA cases");
    }

    #[test]
    fn matrix_is_fixed_and_covers_every_rule_and_pattern() {
        let cases = cases();
        assert_eq!(cases, super::cases(), "the matrix must not change between calls");
        for rule in rules() {
            let mine: Vec<&Case> = cases.iter().filter(|c| c.rule == rule).collect();
            assert!(!mine.is_empty(), "{rule:?} has no case");
            if rule != Rule::Mean {
                for pattern in [Pattern::Finite, Pattern::NanRow, Pattern::Outliers] {
                    assert!(
                        mine.iter().any(|c| c.pattern == pattern),
                        "{rule:?} lacks {pattern:?}"
                    );
                }
            }
            for d in DS {
                assert!(mine.iter().any(|c| c.d == d), "{rule:?} never meets d = {d}");
            }
        }
        // Shapes a rule rejects are left out, not failed.
        assert!(cases.iter().all(|c| c.plan().is_ok()));
        assert!(!cases.iter().any(|c| c.rule == Rule::krum(2) && c.n < 7));
        assert!(cases.iter().any(|c| c.rule == Rule::krum(2) && c.n == 7));
        // The mean never gets outliers, only the NaN row.
        assert!(
            cases
                .iter()
                .filter(|c| c.rule == Rule::Mean)
                .all(|c| c.pattern != Pattern::Outliers)
        );
        // Every poisoned case stays within its rule's budget.
        for c in cases
            .iter()
            .filter(|c| c.rule != Rule::Mean && !c.poisoned.is_empty())
        {
            let w = c.weight_values().unwrap_or_else(|| vec![1.0; c.n]);
            let mut bad = vec![false; c.n];
            for &(i, _) in &c.poisoned {
                bad[i] = true;
            }
            assert!(tolerates(&c.plan().unwrap(), &w, &bad), "{c:?}");
        }
    }

    #[test]
    fn extreme_cases_are_huge_of_one_sign_or_subnormal() {
        let extreme: Vec<Case> = cases()
            .into_iter()
            .filter(|c| c.pattern == Pattern::HugeSameSign || c.magnitude == 1e-40)
            .collect();
        for rule in ["cwmed", "krum(f=2)", "gm", "ctma(cwmed,lambda=0.2)"] {
            let rule: Rule = rule.parse().expect("rule");
            assert!(
                extreme
                    .iter()
                    .any(|c| c.rule.to_string() == rule.to_string() && c.pattern == Pattern::HugeSameSign),
                "{rule} lacks a huge case"
            );
            assert!(
                extreme
                    .iter()
                    .any(|c| c.rule.to_string() == rule.to_string() && c.magnitude == 1e-40),
                "{rule} lacks a subnormal case"
            );
        }
        for c in &extreme {
            let rows = c.rows();
            if c.pattern == Pattern::HugeSameSign {
                let sign = c.magnitude.signum();
                assert!(
                    rows.iter()
                        .all(|v| v.is_finite() && v.signum() == sign && v.abs() >= 2.8e38),
                    "{c}"
                );
                assert!(
                    rows.iter().any(|v| (v + v).is_infinite()),
                    "{c}: sums must overflow"
                );
            } else {
                assert!(rows.iter().all(|v| v.abs() < f32::MIN_POSITIVE), "{c}: subnormal");
                assert!(rows.iter().filter(|v| **v != 0.0).count() > rows.len() / 2, "{c}");
            }
        }
    }

    #[test]
    fn rows_and_weights_are_seeded_and_poisoned_as_listed() {
        let case = cases()
            .into_iter()
            .find(|c| c.pattern == Pattern::Outliers && c.poisoned.len() >= 3)
            .unwrap();
        let rows = case.rows();
        assert_eq!(rows.len(), case.n * case.d);
        assert_eq!(
            rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            case.rows().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for i in 0..case.n {
            let row = &rows[i * case.d..(i + 1) * case.d];
            match case.poisoned.iter().find(|(r, _)| *r == i).map(|(_, p)| *p) {
                None => assert!(
                    row.iter()
                        .all(|v| v.is_finite() && v.abs() <= 2.0 * case.magnitude)
                ),
                Some(Poison::Huge) => assert!(row.iter().all(|&v| v == 1e38)),
                Some(Poison::PosInf) => assert!(row.iter().all(|&v| v == f32::INFINITY)),
                Some(Poison::NegInf) => assert!(row.iter().all(|&v| v == f32::NEG_INFINITY)),
                Some(Poison::Nan) => assert!(row.iter().all(|v| v.is_nan())),
                Some(Poison::NanCoordinate) => assert_eq!(row.iter().filter(|v| v.is_nan()).count(), 1),
            }
        }
        for c in cases().iter().take(200) {
            match (c.weights, c.weight_values()) {
                (Weights::Uniform, None) => {}
                (Weights::Integer, Some(w)) => {
                    assert!(w.iter().all(|&x| x.fract() == 0.0 && (1.0..=5.0).contains(&x)))
                }
                (Weights::Real, Some(w)) => assert!(w.iter().all(|&x| (0.1..3.0).contains(&x))),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn budgets() {
        let median = Plan::Median;
        assert!(tolerates(&median, &[1.0; 3], &[true, false, false]));
        assert!(!tolerates(&median, &[1.0; 4], &[true, true, false, false]));
        assert!(!tolerates(&Plan::Mean, &[1.0; 4], &[true, false, false, false]));
        let trim = Plan::TrimmedMean { lambda: 0.25 };
        assert!(tolerates(
            &trim,
            &[1.0; 8],
            &[true, true, false, false, false, false, false, false]
        ));
        assert!(!tolerates(
            &trim,
            &[1.0; 8],
            &[true, true, true, false, false, false, false, false]
        ));
        // A heavy row is over budget on its own.
        assert!(!tolerates(
            &trim,
            &[5.0, 1.0, 1.0, 1.0],
            &[true, false, false, false]
        ));
        let multikrum = Plan::Krum {
            lambda: 0.3,
            m: Some(9),
        };
        let w = [0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let bad = [true, true, true, false, false, false, false, false, false, false];
        assert!(
            tolerates(&multikrum, &w, &bad),
            "rows of infinite score are never averaged, whatever m says"
        );
        assert!(tolerates(
            &Plan::Krum {
                lambda: 0.3,
                m: Some(1)
            },
            &w,
            &bad
        ));
        // Bucketing: one poisoned row poisons its bucket's whole mass.
        let bucketing = Plan::Bucketing {
            base: Box::new(Plan::Median),
            s: 2,
            seed: 7,
        };
        let mut bad = [false; 4];
        bad[0] = true;
        assert!(
            !tolerates(&bucketing, &[1.0; 4], &bad),
            "one of two buckets is not a minority"
        );
        assert!(tolerates(
            &bucketing,
            &[1.0; 6],
            &[true, false, false, false, false, false]
        ));
    }

    impl Outcome {
        fn is_ok(&self) -> bool {
            self.failure.is_none()
        }
        fn is_err(&self) -> bool {
            self.failure.is_some()
        }
        fn unwrap_err(self) -> String {
            self.failure.expect("a failure")
        }
    }

    #[test]
    fn failed_coordinates_count_towards_the_error() {
        let out = compare(
            Accuracy::Relative(1e-5),
            &[0.0, 10.0, 0.0],
            &[1e-3, 10.0, 0.5],
            true,
            1.0,
        );
        assert!(out.failure.as_deref().unwrap().contains("coordinate 0"));
        assert_eq!(out.max_error, f64::from(0.5f32) / 10.0);
        let out = compare(Accuracy::Exact, &[1.0], &[f32::INFINITY], true, 1.0);
        assert_eq!(out.max_error, f64::INFINITY);
    }

    #[test]
    fn comparison() {
        let exact = Accuracy::Exact;
        assert_eq!(
            compare(exact, &[1.0, 2.5], &[1.0, 2.5], true, 1.0),
            Outcome {
                max_error: 0.0,
                failure: None
            }
        );
        assert!(compare(exact, &[0.1], &[0.1f64 as f32], true, 1.0).is_ok());
        assert!(
            compare(exact, &[1.0], &[1.0 + f32::EPSILON], true, 1.0)
                .unwrap_err()
                .contains("exact")
        );
        let rel = Accuracy::Relative(1e-5);
        // Data of magnitude 1: an absolute 1e-5 near zero, relative for large values.
        assert!(compare(rel, &[0.0], &[9e-6], true, 1.0).is_ok());
        assert!(compare(rel, &[0.0], &[2e-5], true, 1.0).is_err());
        assert!(compare(rel, &[1000.0, 0.0], &[1000.0, 9e-3], true, 1.0).is_ok());
        assert!(
            compare(rel, &[1.0], &[f32::NAN], true, 1.0)
                .unwrap_err()
                .contains("finite")
        );
        assert!(
            compare(rel, &[f64::NAN], &[f32::NAN], true, 1.0).is_err(),
            "a robust rule must be finite"
        );
        // The mean with a NaN row: NaN must stay NaN, infinities keep their sign.
        assert!(
            compare(
                rel,
                &[f64::NAN, f64::INFINITY],
                &[f32::NAN, f32::INFINITY],
                false,
                1.0
            )
            .is_ok()
        );
        assert!(compare(rel, &[f64::NAN], &[1.0], false, 1.0).is_err());
        assert!(compare(rel, &[f64::INFINITY], &[f32::NEG_INFINITY], false, 1.0).is_err());
        assert!(
            compare(rel, &[1.0], &[1.0, 2.0], true, 1.0)
                .unwrap_err()
                .contains("2 values")
        );
    }

    /// The scale comes from the data, not from 1: a wrong output of small data fails. With
    /// the floor of 1 the suite had (a data scale of 1 below), all zeros passed for an answer
    /// of 1e-40, and a 0.5% error at 1e-3.
    #[test]
    fn small_data_is_held_to_its_own_scale() {
        let rel = Accuracy::Relative(1e-5);
        let data = [1e-40f32, -2e-40, 3e-40];
        let want = [1e-40, -2e-40, 3e-40];
        assert!(compare(rel, &want, &[0.0; 3], true, data_scale(&data)).is_err());
        assert!(
            compare(rel, &want, &[0.0; 3], true, 1.0).is_ok(),
            "the old floor of 1"
        );
        // Subnormal rounding (a few steps of 1.4e-45) stays within the floor at f32::MIN_POSITIVE.
        let near: Vec<f32> = want.iter().map(|&v| (v as f32) + 4.0 * 1.4e-45).collect();
        assert!(compare(rel, &want, &near, true, data_scale(&data)).is_ok());
        // At 1e-3: 0.5% is far off, 1e-6 relative is not.
        assert!(compare(rel, &[1e-3], &[1.005e-3], true, data_scale(&[1e-3])).is_err());
        assert!(compare(rel, &[1e-3], &[1e-3 * (1.0 + 1e-6)], true, data_scale(&[1e-3])).is_ok());
        assert!(
            compare(rel, &[1e-3], &[1.005e-3], true, 1.0).is_ok(),
            "the old floor of 1"
        );
        // Poisoned values are the caller's to leave out; non-finite ones never count.
        assert_eq!(data_scale(&[f32::INFINITY, f32::NAN, 2.0]), 2.0);
    }

    #[test]
    fn accuracy_by_plan() {
        assert_eq!(accuracy(&Plan::Median), Accuracy::Exact);
        assert_eq!(
            accuracy(&Plan::Krum {
                lambda: 0.2,
                m: Some(1)
            }),
            Accuracy::Exact
        );
        assert_eq!(
            accuracy(&Plan::Krum {
                lambda: 0.2,
                m: Some(3)
            }),
            Accuracy::Relative(1e-5)
        );
        assert_eq!(accuracy(&Plan::Gm(GmParams::RFA)), Accuracy::Relative(1e-5));
        let ctma_gm = Plan::Ctma {
            base: Box::new(Plan::Gm(GmParams::DEFAULT)),
            lambda: 0.2,
        };
        assert_eq!(accuracy(&ctma_gm), Accuracy::Relative(1e-4));
        let ctma_med = Plan::Ctma {
            base: Box::new(Plan::Median),
            lambda: 0.2,
        };
        assert_eq!(accuracy(&ctma_med), Accuracy::Relative(1e-5));
    }

    #[test]
    fn reference_meets_its_own_suite() {
        // Every seventh case, through the Aggregator (the reference cast to f32): exercises the
        // comparison and the finite-output guarantees of SPEC 3 on the oracle itself.
        let some: Vec<Case> = cases().into_iter().step_by(7).collect();
        let results = run_cases(Backend::Reference, &some).unwrap();
        assert_eq!(results.iter().map(|r| r.cases).sum::<usize>(), some.len());
        for r in &results {
            assert!(r.pass(), "{}: {:?}", r.rule, r.failures);
            assert!(r.max_error < 1e-7, "{}: {}", r.rule, r.max_error);
        }
    }

    #[test]
    fn a_panicking_or_failing_engine_fails_the_case_only() {
        assert!(
            guarded("x", || -> Result<()> { panic!("boom") })
                .unwrap_err()
                .contains("x panicked: boom")
        );
        let err = guarded("y", || -> Result<()> { Err(Error::invalid("f", 5, "too big")) }).unwrap_err();
        assert!(err.contains("y returned an error") && err.contains("f = 5"));
    }
}
