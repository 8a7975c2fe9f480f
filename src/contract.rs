//! Numbers of the contract (SPEC sections 3 and 4) that the rule layer, the reference and
//! every backend must share bit for bit, and the limits that plans, the rule layer and the
//! reference check alike. They live here, below both sides, so a backend never
//! imports the rule layer to learn them.
//!
//! The order of values every backend sorts by is part of the same contract: -inf < finite <
//! +inf < NaN, ties by row index (SPEC section 3); each backend encodes it in its own keys.

use crate::error::{Error, Result};

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

/// The largest n that `mda` accepts (`aggregate/subset/`): the search is a branch and bound over 64-bit row sets.
/// Its worst case is exponential in the rows left out, but measured on Gaussian and uniform
/// rows it takes under 20 ms at n = 64 for every f up to 31 (docs/PERFORMANCE.md).
pub const MDA_MAX_N: usize = 64;

/// The largest n that `smea` accepts. The search may visit up to C(n, f) subsets, each
/// costing a k x k eigenvalue where its bounds do not rule it out: at n = 24 on Gaussian rows
/// it takes from 0.07 s (f = 4) to 10-14 s (f = 8) (docs/PERFORMANCE.md).
pub const SMEA_MAX_N: usize = 24;

/// An error naming n and the limit when a subset rule is asked for more rows than its
/// exact search allows.
pub(crate) fn check_n(rule: &str, n: usize, limit: usize) -> Result<()> {
    if n > limit {
        return Err(Error::invalid(
            "n",
            n,
            format!(
                "{rule} searches subsets exactly and accepts at most n = {limit} rows; \
                 use a rule that scales (ctma, krum, gm) or aggregate in groups"
            ),
        ));
    }
    Ok(())
}

/// The largest n that `caf` accepts (`aggregate/subset/caf.rs`): each round solves an
/// eigenproblem of the size of the rows still weighted, and up to n rounds run, so the host
/// work grows as n^4: 0.3 ms at n = 20, 50 ms at n = 64, 0.6 to 2.4 s at n = 128
/// (docs/PERFORMANCE.md).
pub const CAF_MAX_N: usize = 128;

/// The most rounds `caf` runs (`aggregate/subset/caf.rs`). Its weights shrink by
/// `1 - tau_i / max_j tau_j` with the maximum over every row, those already filtered out
/// included (as ByzFL's `CAF` does), so a filtered row far from the rest makes each later
/// round remove almost nothing: without a bound, one Byzantine row could make a call run for
/// days. The report's `Step::Caf` says when the bound ended the rounds.
pub const CAF_MAX_ROUNDS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_errors_naming_n() {
        let err = check_n("mda", 65, MDA_MAX_N).unwrap_err().to_string();
        assert!(err.contains("n = 65") && err.contains("64"), "{err}");
        assert!(check_n("smea", SMEA_MAX_N, SMEA_MAX_N).is_ok());
    }
}
