//! Any weights, generic block kernel: each key travels with its row's slot and the network
//! compares (key, slot) pairs, so ties come out in row order; all lanes then scan their sorted
//! slots together ([`Reduce::scan_lanes`]). A block holding a -0.0 takes a per-lane scan that
//! reads the values back from their rows instead.

use super::block::{load, store};
use super::network::sort_pairs;
use super::reduce::Reduce;
use super::{LANES, key};

/// What every chunk of the weighted path shares.
#[derive(Clone, Copy, Debug)]
pub(super) struct WeightedPlan<'a> {
    /// The weights of the rows, padded with zeros to a power of two.
    pub(super) table: &'a [f64],
    /// The full sorting network.
    pub(super) net: &'a [(u32, u32)],
    /// The rule.
    pub(super) reduce: Reduce,
}

crate::cpu::simd::at_level!(
    /// [`weighted_chunk`] at a SIMD level.
    pub(super) fn weighted_chunk_at(
        rows: &[&[f32]],
        plan: &WeightedPlan<'_>,
        c0: usize,
        out: &mut [f32],
        keys: &mut [[u32; LANES]],
        slots: &mut [[u32; LANES]],
    ) = weighted_chunk
);

/// Any weights: the coordinates `c0..c0 + out.len()`; `keys` and `slots` are scratch of
/// one row per row.
/// Compiled into each SIMD level's function by `at_level!`.
#[inline(always)]
fn weighted_chunk(
    rows: &[&[f32]],
    plan: &WeightedPlan<'_>,
    c0: usize,
    out: &mut [f32],
    keys: &mut [[u32; LANES]],
    slots: &mut [[u32; LANES]],
) {
    let WeightedPlan { table, net, reduce } = *plan;
    for (bi, out) in out.chunks_mut(LANES).enumerate() {
        let c = c0 + bi * LANES;
        let len = out.len();
        let mut neg_zero = [0u32; LANES];
        for (s, ((k, sl), r)) in keys.iter_mut().zip(slots.iter_mut()).zip(rows).enumerate() {
            let src = load(r, c, len);
            *sl = [s as u32; LANES];
            for l in 0..LANES {
                k[l] = key(src[l]);
                neg_zero[l] |= u32::from(src[l].to_bits() == 0x8000_0000);
            }
        }
        sort_pairs(keys, slots, net);
        if neg_zero.iter().any(|&z| z != 0) {
            // Cold: values read back from their rows, so a zero keeps its sign.
            for (l, o) in out.iter_mut().enumerate() {
                *o = reduce.scan(&table[..rows.len()], |k| slots[k][l] as usize, |s| rows[s][c + l]);
            }
        } else {
            let res = reduce.scan_lanes(table, keys, slots);
            store(out, &res);
        }
    }
}
