//! The skip rule of every check that needs something absent here: skipped with the reason
//! printed, unless `BYZAGG_REQUIRE` names it.

use std::fmt;

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
