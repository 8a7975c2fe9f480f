//! `order_stats` fused with `center_dist` to its result: the order statistic of every
//! coordinate and the `n` squared distances of the rows to it, in one pass over the rows.
//!
//! ## Why
//!
//! CTMA and the geometric median's median start compute an order statistic and then the
//! distances of every row to it: two passes over the batch, each bound by memory speed. Here a
//! task takes one chunk of `center_dist`'s coordinates ([`CHUNK`]), and for each span of
//! coordinates in it writes the order statistic with `order_stats_into`, then the
//! span's distance partials while the rows' span is still in L1/L2: the span is as long as
//! the rows' values in it fit in half an L2 (`center_dist::span_for`), at most `order_stats`'s
//! own chunk ([`MAX_SPAN`]), so each call is one task of it, run on this thread.
//!
//! ## Bit-identical to the composition
//!
//! The order statistic of a coordinate does not depend on the chunking (it is exact, or an
//! f64 sum in row order rounded once). The distance partials are `center_dist`'s: the same
//! chunks, each row's blocks added into its f64 partial in coordinate order span after span
//! (`center_dist::add_span`), the chunks' partials added in chunk order. The tests compare
//! with the two primitives called one after the other, bit for bit, at every SIMD level.

use crate::error::Result;
use crate::kernels::OrderStat;

use super::SimdLevel;
use super::center_dist::{fill_with_dist, span_for};
use super::order_stats::order_stats_into;
use super::pairwise_dist::{BLOCK, CHUNK};

/// The longest span per `order_stats` call: that primitive's chunk.
const MAX_SPAN: usize = 4096;

/// The order statistic `stat` of `rows` (all of one length d) under `weights`, and the squared
/// distance of every row to it (`+inf` for a row or a result with a non-finite value).
pub(super) fn order_stats_with_dist(
    simd: SimdLevel,
    rows: &[&[f32]],
    weights: &[f64],
    stat: OrderStat,
) -> Result<(Vec<f32>, Vec<f64>)> {
    with_span(simd, rows, weights, stat, span_for(rows.len(), MAX_SPAN))
}

/// [`order_stats_with_dist`] in spans of `span` coordinates (a power of two from [`BLOCK`] to
/// [`CHUNK`]).
fn with_span(
    simd: SimdLevel,
    rows: &[&[f32]],
    weights: &[f64],
    stat: OrderStat,
    span: usize,
) -> Result<(Vec<f32>, Vec<f64>)> {
    debug_assert!(span.is_power_of_two() && (BLOCK..=CHUNK).contains(&span));
    // Fetch the next span while adding this one's distances only where the rows do not fit
    // a whole chunk of `order_stats` in cache (n > 32): measured 10-20% faster at n = 64, but
    // 15-25% slower at n = 16 and 32, where the sorting network, not memory, sets the pace.
    let ahead = if span < MAX_SPAN { span } else { 0 };
    let d = rows.first().map_or(0, |r| r.len());
    // The primitive's parameter checks, on no coordinates: its errors, before any work.
    order_stats_into(simd, rows, weights, stat, &mut [])?;
    let mut out = super::buffer::take(d);
    let dist = fill_with_dist(simd, rows, &mut out, span, ahead, |s0, values| {
        let at: Vec<&[f32]> = rows.iter().map(|r| &r[s0..s0 + values.len()]).collect();
        order_stats_into(simd, &at, weights, stat, values)
    })?;
    Ok((out, dist))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::center_dist::center_dist;
    use crate::cpu::fused_tests::{batches, same_bits};
    use crate::cpu::order_stats::order_stats;

    /// The fused pass against `order_stats` then `center_dist`, bit for bit, for every stat
    /// on batches with NaN, infinite, huge and subnormal rows, uniform and other weights, in
    /// the span the kernel picks and in spans from one block to a whole chunk.
    fn matches_the_composition() {
        let simd = crate::cpu::simd_level().unwrap();
        let stats = [
            OrderStat::Median,
            OrderStat::TrimmedMean { lambda: 0.2 },
            OrderStat::MeaMed { lambda: 0.3 },
        ];
        for (rows, weights) in batches(0x5eed) {
            let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            for stat in stats {
                let want = order_stats(simd, &slices, &weights, stat).unwrap();
                let want_dist = center_dist(simd, &slices, &want);
                let (center, dist) = order_stats_with_dist(simd, &slices, &weights, stat).unwrap();
                let what = format!("{simd} n {} d {} {stat:?}", rows.len(), center.len());
                same_bits(&center, &want, &want_dist, &dist, &what);
                for span in [BLOCK, 2048, CHUNK] {
                    let (center, dist) = with_span(simd, &slices, &weights, stat, span).unwrap();
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

    #[test]
    fn errors_are_the_primitives() {
        let simd = crate::cpu::simd_level().unwrap();
        let rows = [vec![1.0f32; 5000], vec![2.0; 5000]];
        let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let err = order_stats_with_dist(simd, &slices, &[0.0, 0.0], OrderStat::Median).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        let err = order_stats_with_dist(simd, &slices, &[1.0, 1.0], OrderStat::TrimmedMean { lambda: 0.5 })
            .unwrap_err();
        assert!(err.to_string().contains("lambda"), "{err}");
    }
}
