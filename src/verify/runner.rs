//! Running the suite: one case on a backend and on the reference ([`check`]), a case that
//! errs or panics failing alone, and the verdicts gathered per rule ([`run_cases`]).

use std::panic::{AssertUnwindSafe, catch_unwind};

use rayon::prelude::*;

use super::cases::{Case, cases};
use super::compare::{Outcome, accuracy, compare};
use crate::aggregator::Aggregator;
use crate::backend::Backend;
use crate::batch::Batch;
use crate::error::Result;
use crate::reference;
use crate::rule::Plan;

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
    compare(accuracy(&plan), &expected, &out, robust, case.data_scale())
}

/// Calls `f`, turning its error or its panic into a message naming `who`.
pub(super) fn guarded<T>(who: &str, f: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
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
