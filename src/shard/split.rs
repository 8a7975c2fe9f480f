//! Which coordinates each shard holds: ranges proportional to the shards' shares.

use std::ops::Range;

/// Shard boundaries of large batches fall on multiples of this many coordinates (256 bytes
/// of f32): whole SIMD vectors on the CPU, whole coalesced loads on a GPU.
const ALIGN: usize = 64;

/// Below this many aligned steps per shard, boundaries are not aligned (rounding to 64 would
/// skew small splits, or empty a shard).
const ALIGNED_STEPS: usize = 16;

/// Splits `0..d` into one range per share, in order, each about `share / sum(shares)` of
/// `d`; when `d` is large (at least 1,024 coordinates per shard) the inner boundaries fall on
/// multiples of 64 coordinates. A range may be empty when `d` is smaller than the number of
/// shares; the ranges always cover `0..d` exactly. Shares are positive and finite (the caller
/// checks).
///
/// # Examples
///
/// ```
/// use byzagg::shard::split;
///
/// assert_eq!(split(&[1.0, 1.0], 100_000), vec![0..50_048, 50_048..100_000]);
/// assert_eq!(split(&[3.0, 1.0], 1000), vec![0..750, 750..1000]);
/// assert_eq!(split(&[1.0, 1.0, 1.0], 2), vec![0..1, 1..1, 1..2]);
/// ```
pub fn split(shares: &[f64], d: usize) -> Vec<Range<usize>> {
    let total: f64 = shares.iter().sum();
    let align = if d >= ALIGN * ALIGNED_STEPS * shares.len() {
        ALIGN
    } else {
        1
    };
    let mut ranges = Vec::with_capacity(shares.len());
    let (mut start, mut cumulative) = (0, 0.0);
    for (i, share) in shares.iter().enumerate() {
        cumulative += share;
        let end = if i + 1 == shares.len() {
            d
        } else {
            let exact = (cumulative / total * d as f64).round() as usize;
            (exact.div_ceil(align) * align).clamp(start, d)
        };
        ranges.push(start..end);
        start = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_coordinates_in_order() {
        for d in [1, 63, 64, 65, 1000, 4099, 1 << 20] {
            for shares in [vec![1.0], vec![1.0, 1.0], vec![5.0, 1.0, 2.0], vec![1e-9, 1.0]] {
                let ranges = split(&shares, d);
                assert_eq!(ranges.len(), shares.len());
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges.last().unwrap().end, d);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start, "{shares:?} {d}");
                    assert!(d < 1 << 16 || pair[0].end % ALIGN == 0 || pair[0].end == d);
                }
            }
        }
        // Proportional within one alignment step.
        let ranges = split(&[3.0, 1.0], 1 << 20);
        assert!(ranges[0].len().abs_diff(3 << 18) <= ALIGN, "{ranges:?}");
    }
}
