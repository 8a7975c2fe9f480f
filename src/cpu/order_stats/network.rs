//! Batcher's odd-even merge sorting network, built at run time for any row count, and its
//! application to a block of lanes (keys alone, or (key, slot) pairs).

use super::LANES;

/// Batcher's odd-even merge sorting network for `m` inputs, as (low, high) comparator
/// pairs in order. Built for the next power of two; comparators that touch the padding are
/// dropped (padding acts as values above all others, which never move). With `wanted`, only
/// the comparators that the outputs at those ranks depend on are kept.
pub(super) fn network(m: usize, wanted: Option<&[usize]>) -> Vec<(u32, u32)> {
    let size = m.next_power_of_two();
    let mut net = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < m {
                        net.push((a as u32, b as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    if let Some(wanted) = wanted {
        // Backwards: a comparator matters if one of its outputs is wanted later.
        let mut live = vec![false; m];
        for &r in wanted {
            live[r] = true;
        }
        let mut kept: Vec<(u32, u32)> = net
            .into_iter()
            .rev()
            .filter(|&(a, b)| {
                let used = live[a as usize] || live[b as usize];
                if used {
                    live[a as usize] = true;
                    live[b as usize] = true;
                }
                used
            })
            .collect();
        kept.reverse();
        net = kept;
    }
    net
}

/// Applies the network to every lane: rank k ends up in `keys[k]`.
#[inline(always)]
pub(super) fn sort_lanes<T: Copy + Ord>(keys: &mut [[T; LANES]], net: &[(u32, u32)]) {
    for &(a, b) in net {
        let (lo, hi) = keys.split_at_mut(b as usize);
        let (x, y) = (&mut lo[a as usize], &mut hi[0]);
        // Whole arrays in and out, so the lanes are one vector operation (u64 included).
        let (p, q) = (*x, *y);
        let mut lo_l = p;
        let mut hi_l = q;
        for l in 0..LANES {
            let swap = q[l] < p[l];
            lo_l[l] = if swap { q[l] } else { p[l] };
            hi_l[l] = if swap { p[l] } else { q[l] };
        }
        *x = lo_l;
        *y = hi_l;
    }
}

/// Applies the network to (key, slot) pairs in every lane, ordered by key then slot, so
/// ties come out in row order.
#[inline(always)]
pub(super) fn sort_pairs(keys: &mut [[u32; LANES]], slots: &mut [[u32; LANES]], net: &[(u32, u32)]) {
    for &(a, b) in net {
        let (a, b) = (a as usize, b as usize);
        let (pk, qk, ps, qs) = (keys[a], keys[b], slots[a], slots[b]);
        let (mut lk, mut hk, mut ls, mut hs) = (pk, qk, ps, qs);
        for l in 0..LANES {
            let swap = (qk[l] < pk[l]) | ((qk[l] == pk[l]) & (qs[l] < ps[l]));
            lk[l] = if swap { qk[l] } else { pk[l] };
            hk[l] = if swap { pk[l] } else { qk[l] };
            ls[l] = if swap { qs[l] } else { ps[l] };
            hs[l] = if swap { ps[l] } else { qs[l] };
        }
        (keys[a], keys[b], slots[a], slots[b]) = (lk, hk, ls, hs);
    }
}
