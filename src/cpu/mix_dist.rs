//! `mix` of one output row fused with `center_dist` to it: the mixed row and the `n` squared
//! distances of the rows to it, in one pass over the rows.
//!
//! ## Why
//!
//! Each Weiszfeld iteration of the geometric median mixes the rows into the next iterate and
//! then needs the rows' distances to it; MoNNA picks its pivot row by a mix and then needs the
//! distances to the pivot. Two passes over the batch each, bound by memory speed. Here a task
//! takes one chunk of `center_dist`'s coordinates ([`CHUNK`]), and for each span of
//! coordinates in it writes the mix with `mix`'s chunk kernel, straight into the output, then adds the span's distance
//! partials against the freshly written output while the rows' span is still in L1/L2: the
//! span is as long as the rows' values in it fit in half an L2 (`center_dist::span_for`), at
//! most `mix`'s own chunk ([`MAX_SPAN`]).
//!
//! ## Bit-identical to the composition
//!
//! Each output coordinate of `mix` is an f64 sum in row order rounded once, whatever the
//! chunking. The distance partials are `center_dist`'s (see `order_stats_dist.rs`). The tests compare with
//! the two primitives called one after the other, bit for bit, at every SIMD level.

use crate::error::Result;

use super::SimdLevel;
use super::center_dist::{fill_with_dist, span_for};
use super::mix;
use super::pairwise_dist::{BLOCK, CHUNK};

/// The longest span per `mix` call: that primitive's chunk.
const MAX_SPAN: usize = 2048;

/// `coeffs * rows` (one output row, `coeffs` holding one coefficient per row) and the squared
/// distance of every row to it (`+inf` for a row or an output with a non-finite value).
pub(super) fn mix_with_dist(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    d: usize,
) -> Result<(Vec<f32>, Vec<f64>)> {
    with_span(simd, rows, coeffs, d, span_for(rows.len(), MAX_SPAN))
}

/// [`mix_with_dist`] in spans of `span` coordinates (a power of two from [`BLOCK`] to
/// [`CHUNK`]).
fn with_span(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    d: usize,
    span: usize,
) -> Result<(Vec<f32>, Vec<f64>)> {
    debug_assert!(span.is_power_of_two() && (BLOCK..=CHUNK).contains(&span));
    let mut out = super::buffer::take(d);
    // The next span is fetched as this one's distances are added: measured 20-35% faster at
    // n = 16 to 64 (memory works during the arithmetic).
    let dist = fill_with_dist(simd, rows, &mut out, span, span, |s0, values| {
        mix::chunk(simd, rows, coeffs, None, s0, &mut [values]);
        Ok(())
    })?;
    Ok((out, dist))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::center_dist::center_dist;
    use crate::cpu::fused_tests::{batches, same_bits};

    /// The fused pass against `mix` then `center_dist`, bit for bit, on batches with NaN,
    /// infinite, huge and subnormal rows: coefficients that skip the bad rows, that take
    /// them, that pick one row, and the mean; in the span the kernel picks and in spans from
    /// one block to a whole chunk.
    fn matches_the_composition() {
        let simd = crate::cpu::simd_level().unwrap();
        for (rows, weights) in batches(0xfeed) {
            let (n, d) = (rows.len(), rows[0].len());
            let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let total: f64 = weights.iter().sum();
            let mut pick = vec![0.0; n];
            pick[n / 2] = 1.0;
            let skewed: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5).recip()).collect();
            for coeffs in [weights.iter().map(|w| w / total).collect(), pick, skewed] {
                let want = mix::mix(simd, &slices, &coeffs, 1, None, d);
                let want_dist = center_dist(simd, &slices, &want);
                let (center, dist) = mix_with_dist(simd, &slices, &coeffs, d).unwrap();
                let what = format!("{simd} n {n} d {d} {coeffs:?}");
                same_bits(&center, &want, &want_dist, &dist, &what);
                for span in [BLOCK, 1024, CHUNK] {
                    let (center, dist) = with_span(simd, &slices, &coeffs, d, span).unwrap();
                    same_bits(&center, &want, &want_dist, &dist, &format!("{what} span {span}"));
                }
            }
        }
    }

    #[test]
    fn matches_the_composition_at_every_level() {
        matches_the_composition();
        crate::cpu::simd::each_lower_level(matches_the_composition);
    }
}
