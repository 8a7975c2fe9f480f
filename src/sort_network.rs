//! Sorting networks for the GPU `order_stats` kernels specialised per exact row count m,
//! generated on the host: CUDA's `pruned` variant gets them as an NVRTC macro (`OS_NET`,
//! [`macro_text`]), wgpu's `network` variant as generated WGSL (`wgpu/order_stats_network.rs`),
//! so that a kernel holds only the compare-exchanges the rule's ranks depend on.
//!
//! The network is Batcher's odd-even merge sort on the next power of two N >= m, with every
//! comparator that touches a position >= m dropped: the padding keys would be the largest
//! (all ones) and stay at positions >= m, so such a comparator never moves a real key. It is
//! then pruned backwards from the ranks the rule reads: a comparator whose outputs are both
//! unread goes, one with a single read output becomes a single min or max.

/// One step of a pruned network on keys `k[a]`, `k[b]` (a < b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `k[a], k[b] = min, max`.
    Exchange(usize, usize),
    /// `k[a] = min(k[a], k[b])` (the max is never read).
    Min(usize, usize),
    /// `k[b] = max(k[a], k[b])` (the min is never read).
    Max(usize, usize),
}

/// Batcher's odd-even merge sort on `m` keys (comparators on positions >= m dropped).
fn batcher(m: usize) -> Vec<(usize, usize)> {
    let n = m.next_power_of_two();
    let mut out = Vec::new();
    let mut p = 1;
    while p < n {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < n {
                for i in 0..k.min(n - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < m {
                        out.push((a, b));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

/// The network on `m` keys that leaves ranks `ranks` (a range within 0..m) exactly as a full
/// sort would, pruned as the module docs say.
pub(crate) fn pruned(m: usize, ranks: std::ops::Range<usize>) -> Vec<Op> {
    let mut read = vec![false; m];
    for r in ranks.clone() {
        read[r] = true;
    }
    let mut ops = Vec::new();
    for (a, b) in batcher(m).into_iter().rev() {
        let op = match (read[a], read[b]) {
            (false, false) => continue,
            (true, true) => Op::Exchange(a, b),
            (true, false) => Op::Min(a, b),
            (false, true) => Op::Max(a, b),
        };
        read[a] = true;
        read[b] = true;
        ops.push(op);
    }
    ops.reverse();
    ops
}

/// `#define OS_NET(X, L, H) X(a,b) L(a,b) H(a,b) ...`: the network as a macro the kernel
/// applies to its key array (`X` exchange, `L` min only, `H` max only).
#[cfg(feature = "cuda")]
pub(crate) fn macro_text(ops: &[Op]) -> String {
    use std::fmt::Write;
    let mut s = String::from("#define OS_NET(X, L, H)");
    for op in ops {
        let _ = match *op {
            Op::Exchange(a, b) => write!(s, " X({a},{b})"),
            Op::Min(a, b) => write!(s, " L({a},{b})"),
            Op::Max(a, b) => write!(s, " H({a},{b})"),
        };
    }
    s.push('\n');
    s
}

/// Min/max instructions of a network (two for an exchange, one otherwise).
#[cfg(test)]
pub(crate) fn min_max_count(ops: &[Op]) -> usize {
    ops.iter()
        .map(|op| if matches!(op, Op::Exchange(..)) { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(ops: &[Op], k: &mut [u32]) {
        for op in ops {
            match *op {
                Op::Exchange(a, b) => {
                    let (x, y) = (k[a], k[b]);
                    k[a] = x.min(y);
                    k[b] = x.max(y);
                }
                Op::Min(a, b) => k[a] = k[a].min(k[b]),
                Op::Max(a, b) => k[b] = k[a].max(k[b]),
            }
        }
    }

    /// The 0-1 principle where it is exhaustive (m <= 16), random keys with ties above: the
    /// pruned network leaves the ranks it promises exactly as a sort does.
    #[test]
    fn pruned_networks_put_their_ranks_in_place() {
        let mut rng = crate::SplitMix64(7);
        for m in 1..=64usize {
            let median = (m - 1) / 2..m / 2 + 1;
            let trim = m / 5..m - m / 5;
            for ranks in [0..m, median, trim, 0..0] {
                let ops = pruned(m, ranks.clone());
                let inputs: Vec<Vec<u32>> = if m <= 16 {
                    (0..1u32 << m)
                        .map(|bits| (0..m).map(|i| (bits >> i) & 1).collect())
                        .collect()
                } else {
                    (0..3000)
                        .map(|_| (0..m).map(|_| rng.below(m as u64 / 2) as u32).collect())
                        .collect()
                };
                for input in inputs {
                    let mut got = input.clone();
                    apply(&ops, &mut got);
                    let mut want = input;
                    want.sort_unstable();
                    for r in ranks.clone() {
                        assert_eq!(got[r], want[r], "m = {m}, ranks {ranks:?}, rank {r}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_median_networks_are_the_pruned_sizes() {
        // Batcher's merge sort is 63 / 191 / 543 comparators at 16 / 32 / 64; the median
        // needs fewer min/max than the full 2 per comparator.
        for (m, full) in [(16, 63), (32, 191), (64, 543)] {
            assert_eq!(batcher(m).len(), full);
            let med = pruned(m, m / 2 - 1..m / 2 + 1);
            assert!(min_max_count(&med) < 2 * full, "m = {m}: {}", min_max_count(&med));
        }
        assert!(pruned(1, 0..1).is_empty());
        assert_eq!(macro_text(&pruned(2, 0..2)), "#define OS_NET(X, L, H) X(0,1)\n");
    }
}
