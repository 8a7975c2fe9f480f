//! The one comparison of the suite and of the crate's conformance tests: how close a backend
//! must come to the reference ([`accuracy`]), measured against the data's own magnitude
//! ([`data_scale`]).

use crate::rule::Plan;

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
    pub(super) fn failed(message: String) -> Self {
        Outcome {
            max_error: 0.0,
            failure: Some(message),
        }
    }
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
