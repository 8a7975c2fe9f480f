//! What a rule reports beyond its output: [`Report`] and its [`Step`]s, filled by the rule
//! functions as they run.

use crate::rule::Plan;

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
    /// `None` when the rows were not scanned (see
    /// [`Aggregator::scan_non_finite`](crate::Aggregator::scan_non_finite): by default they
    /// are scanned only when the output is not finite).
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
    pub(crate) fn set_non_finite(&mut self, plan: &Plan, w: &[f64], bad: &[bool]) {
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
    /// CAF's filter rounds.
    Caf {
        /// Rounds run.
        rounds: usize,
        /// Whether the filter finished (the weight left reached `(1 - 2 lambda) W`, or the
        /// rows left coincide, or a round changed nothing); `false` when
        /// [`CAF_MAX_ROUNDS`](crate::CAF_MAX_ROUNDS) cut it short.
        finished: bool,
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
