//! What a call reports to Python (`Aggregator.last_report`): the crate's [`Report`] steps, plus,
//! when asked for, which rows held NaN or infinity and whether the rule's tolerance covered them.
//!
//! The scan for non-finite rows is one more read of the whole batch: about as long as a whole
//! median on the CPU backend, so it is opt-in (`report_non_finite=True`).

use byzagg::{Batch, Plan, Report, Rule, Step};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::Share;

/// One call's report, kept until the next call.
pub struct Outcome {
    report: Report,
    n: usize,
    d: usize,
    /// Per row: whether it holds a non-finite value (None: not scanned).
    bad: Option<Vec<bool>>,
    weights: Vec<f64>,
    plan: Option<Plan>,
}

impl Outcome {
    /// Keeps what `to_dict` needs; with `scan`, finds the non-finite rows (one read of the
    /// rows, stopping early in a row at its first non-finite chunk).
    pub fn new(report: Report, batch: &Batch<'_>, rule: &Rule, share: Option<Share>, scan: bool) -> Self {
        Outcome {
            report,
            n: batch.n(),
            d: batch.d(),
            bad: scan.then(|| batch.rows().map(has_non_finite).collect()),
            weights: batch.weights().to_vec(),
            plan: rule.plan(batch.n(), share).ok(),
        }
    }

    /// The outcome of the same rows' next layer appended to this one.
    pub fn merge(mut self, next: Outcome) -> Self {
        self.report.steps.extend(next.report.steps);
        self.d += next.d;
        if let (Some(bad), Some(next_bad)) = (self.bad.as_mut(), next.bad) {
            for (b, nb) in bad.iter_mut().zip(next_bad) {
                *b |= nb;
            }
        }
        self
    }
}

/// Whether a row holds NaN or an infinity; chunks of 1024 values are tested branch-free so the
/// test vectorizes, and the scan stops at the first chunk that has one.
fn has_non_finite(row: &[f32]) -> bool {
    row.chunks(1024)
        .any(|c| c.iter().fold(false, |acc, v| acc | !v.is_finite()))
}

/// The report as a dict: `rule`, `backend`, `n`, `d`, `steps` (one dict per step of a composed
/// rule, innermost first), `non_finite_rows` and `tolerance_held` (None when not scanned).
pub fn to_dict<'py>(py: Python<'py>, o: &Outcome, rule: &str, backend: &str) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("rule", rule)?;
    dict.set_item("backend", backend)?;
    dict.set_item("n", o.n)?;
    dict.set_item("d", o.d)?;
    let steps = PyList::empty(py);
    for step in &o.report.steps {
        steps.append(step_dict(py, step)?)?;
    }
    dict.set_item("steps", steps)?;
    // None for both when the rows were not scanned.
    let non_finite = o
        .bad
        .as_ref()
        .map(|bad| (0..o.n).filter(|&i| bad[i]).collect::<Vec<_>>());
    dict.set_item("non_finite_rows", non_finite)?;
    let held = match (&o.bad, &o.plan) {
        (Some(bad), Some(plan)) => {
            Some(!bad.iter().any(|b| *b) || byzagg::verify::tolerates(plan, &o.weights, bad))
        }
        _ => None,
    };
    dict.set_item("tolerance_held", held)?;
    Ok(dict)
}

pub(crate) fn step_dict<'py>(py: Python<'py>, step: &Step) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    match step {
        Step::Krum { scores, selected } => {
            dict.set_item("step", "krum")?;
            dict.set_item("scores", scores)?;
            dict.set_item("selected", selected)?;
        }
        Step::Gm {
            iterations,
            converged,
        } => {
            dict.set_item("step", "gm")?;
            dict.set_item("iterations", iterations)?;
            dict.set_item("converged", converged)?;
        }
        Step::Caf { rounds, finished } => {
            dict.set_item("step", "caf")?;
            dict.set_item("rounds", rounds)?;
            dict.set_item("finished", finished)?;
        }
        Step::Ctma { kept, rejected } => {
            dict.set_item("step", "ctma")?;
            dict.set_item("kept", kept)?;
            dict.set_item("rejected", rejected)?;
        }
        Step::Clip { threshold, clipped } => {
            dict.set_item("step", "clip")?;
            dict.set_item("threshold", threshold)?;
            dict.set_item("clipped", clipped)?;
        }
        Step::FlTrust { trust } => {
            dict.set_item("step", "fltrust")?;
            dict.set_item("trust", trust)?;
        }
        // A step this binding does not know yet: its debug form rather than nothing.
        other => {
            dict.set_item("step", "other")?;
            dict.set_item("debug", format!("{other:?}"))?;
        }
    }
    Ok(dict)
}
