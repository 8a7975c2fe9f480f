//! Numbers of the contract (SPEC sections 3 and 4) that the rule layer, the reference and
//! every backend must share bit for bit. They live here, below both sides, so a backend never
//! imports the rule layer to learn them.
//!
//! The order of values every backend sorts by is part of the same contract: -inf < finite <
//! +inf < NaN, ties by row index (SPEC section 3); each backend encodes it in its own keys.

/// Relative tolerance of a mass boundary: where a prefix of mass M ends inside a row, a
/// partial mass below `MASS_EPS * W` counts as zero. It keeps rounding in `lambda * W` (say
/// 0.2 * 5 = 1.0000000000000002) from letting a sliver of the next row, possibly NaN or
/// infinite, into a trimmed mean or a CTMA average. Part of the contract for every backend.
///
/// # Examples
///
/// ```
/// // 0.2 * 5 is one rounding step above 1: below MASS_EPS * W, so no row is split there.
/// let (lambda, total) = (0.2f64, 5.0f64);
/// assert!(lambda * total - 1.0 < byzagg::MASS_EPS * total);
/// ```
pub const MASS_EPS: f64 = 1e-9;
