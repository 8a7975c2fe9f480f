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

mod cases;
mod compare;
mod poison;
mod runner;
mod skip;
#[cfg(test)]
mod tests;

pub use cases::{Case, DS, NS, Weights, boundary_tie, cases, rules};
pub use compare::{Accuracy, Outcome, accuracy, compare, data_scale};
pub use poison::{Pattern, Poison};
pub use runner::{Failure, RuleResult, check, run, run_cases};
pub use skip::{require_or_skip, required};

pub use crate::rule::tolerates;
