//! Primitive 1, `order_stats` (SPEC 4.2, 4.3 and section 3): per coordinate, the weighted
//! median or weighted trimmed mean of the values of the rows of positive weight.
//!
//! ## Layout and chunking
//!
//! rayon splits the coordinates into chunks of [`CHUNK`]; within a chunk, [`LANES`]
//! consecutive coordinates are processed in lockstep. Their values are gathered into a small
//! scratch matrix `[m][LANES]` (m = rows of positive weight), row `s` holding row `s`'s
//! `LANES` consecutive values, so the gather is `m` contiguous loads. Each value becomes a
//! `u32` key whose integer order is the value order of SPEC section 3 (-inf < finite < +inf
//! < NaN, every NaN one key, -0.0 and +0.0 one key). The columns are then sorted all at once
//! by a Batcher odd-even merge network: every comparator is a lane-wise min/max of two scratch
//! rows, which the compiler vectorises. No allocation and no per-coordinate `sort` in the loop.
//!
//! - Uniform weights (every positive weight equal): the cumulative weights depend on the rank
//!   only, so the ranks the rule needs (the median's one or two, the trimmed mean's kept ranks
//!   and their masses) are worked out once per call, and the network is pruned to the
//!   comparators those ranks depend on. Equal keys are equal values, so ties need no row
//!   index; the one exception, the sign of a zero median, is settled by a cold scalar path
//!   that finds the zero of that rank in row order (only when the block holds a -0.0).
//! - Other weights: each key travels with its row's slot and the network compares (key,
//!   slot) pairs, so ties come out in row order. All lanes then scan their sorted slots
//!   together, adding the weights in f64 exactly as SPEC 4.2/4.3 say, with values decoded
//!   from the keys; a block holding a -0.0 takes a per-lane scan that reads the values back
//!   from their rows instead.
//! - Other weights with 1..=32 or 64 rows at AVX-512 or AVX2 (`composite512.rs`,
//!   `composite_avx2.rs`): each key's low `ceil(log2 m)` bits are replaced by the row's slot
//!   and these composite u32 keys are sorted by the uniform path's compile-time network; the
//!   full keys are fetched back by slot and checked to be in order (a block where two rows'
//!   keys differ only in those low bits, or that holds a -0.0, takes the u64 pair kernel
//!   `weighted512.rs` or the generic kernel whole), so the order is the (key, slot) order
//!   above and the results are bit for bit the same. The median scans the composite keys
//!   and reads back two values per lane; the trimmed mean and MeaMed scan the ranks' full keys
//!   and slots on 16 lanes in registers.
//! - More than [`NETWORK_MAX`] rows: the per-lane scan over a per-chunk scratch of u64
//!   (key, slot) values sorted with `sort_unstable` per coordinate.
//!
//! SIMD is chosen at run time: the chunk functions run at the backend's level (`simd.rs`), and the
//! register kernels (`avx512.rs`, `composite512.rs`, `weighted512.rs`, `meamed512.rs`) at the
//! AVX-512 level and `avx2.rs`, `composite_avx2.rs` at the AVX2 level.
//!
//! ## Accuracy
//!
//! The arithmetic on weights and values is the spec's, in f64 and in the same order as a
//! plain sequential implementation, so the median is exact (a midpoint is computed in f64 and
//! rounded once to f32) and the trimmed mean is the f64 value rounded to f32. A kept mass
//! below `MASS_EPS * W` counts as zero, so a NaN or infinite row just past the trimming
//! boundary never contributes `0 * inf`.
//!
//! ## Left to the caller
//!
//! Weights are validated by [`crate::Batch`]: finite, >= 0, not all zero (an all-zero weight
//! vector is still an `Err` here, not a panic).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::OrderStat;

use super::SimdLevel;

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod avx512;
#[cfg(target_arch = "x86_64")]
#[macro_use]
mod avx2;
mod block;
#[cfg(target_arch = "x86_64")]
mod composite512;
#[cfg(target_arch = "x86_64")]
mod composite_avx2;
#[cfg(target_arch = "x86_64")]
mod meamed512;
mod network;
mod reduce;
mod uniform;
mod weighted;
#[cfg(target_arch = "x86_64")]
mod weighted512;

use network::network;
use reduce::Reduce;
use uniform::{Pick, uniform_chunk_at};
use weighted::{WeightedPlan, weighted_chunk_at};

/// Coordinates processed in lockstep: one AVX-512 register of u32 keys, two of AVX2.
const LANES: usize = 16;
/// Coordinates per rayon task.
const CHUNK: usize = 4096;
/// Above this many rows of positive weight, each coordinate is sorted on its own.
const NETWORK_MAX: usize = 2048;
/// The key of both zeros.
const ZERO_KEY: u32 = 0x8000_0000;
/// The key of every NaN, above +inf's.
const NAN_KEY: u32 = u32::MAX;

/// The order statistic `stat` of every coordinate of `rows` (all of one length d) over the
/// rows of positive weight; see the module docs.
pub(super) fn order_stats(
    simd: SimdLevel,
    rows: &[&[f32]],
    weights: &[f64],
    stat: OrderStat,
) -> Result<Vec<f32>> {
    let mut out = super::buffer::take(rows.first().map_or(0, |r| r.len()));
    order_stats_into(simd, rows, weights, stat, &mut out)?;
    Ok(out)
}

/// [`order_stats`] written into `out` (one value per coordinate; every row holds at least
/// `out.len()` values): what the fused `mix_order_stats` runs on each chunk of mixed rows.
pub(super) fn order_stats_into(
    simd: SimdLevel,
    rows: &[&[f32]],
    weights: &[f64],
    stat: OrderStat,
    out: &mut [f32],
) -> Result<()> {
    let total: f64 = weights.iter().sum();
    let active: Vec<usize> = (0..rows.len()).filter(|&i| weights[i] > 0.0).collect();
    if active.is_empty() {
        return Err(Error::invalid(
            "weights",
            "all zero",
            "at least one weight must be > 0",
        ));
    }
    if let OrderStat::TrimmedMean { lambda } = stat
        && !(0.0..0.5).contains(&lambda)
    {
        return Err(Error::invalid("lambda", lambda, "must lie in [0, 1/2)"));
    }
    if let OrderStat::MeaMed { lambda } = stat
        && !(0.0..1.0).contains(&lambda)
    {
        return Err(Error::invalid("lambda", lambda, "must lie in [0, 1) for MeaMed"));
    }
    let rows: Vec<&[f32]> = active.iter().map(|&i| rows[i]).collect();
    let weights: Vec<f64> = active.iter().map(|&i| weights[i]).collect();
    let reduce = Reduce::new(stat, total);
    let m = rows.len();

    if m <= NETWORK_MAX && weights.iter().all(|&w| w == weights[0]) {
        let pick = Pick::new(&reduce, &weights);
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx512
            && let Some(f) = avx512::select(m, &pick)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx512 level means AVX-512 F/BW/DQ/VL were detected; every row holds d values.
                unsafe { f(&rows, ci * CHUNK, o, &pick) }
            });
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx512
            && let Pick::MeaMed { w, total, keep, eps } = pick
            && let Some(f) = meamed512::select(m)
        {
            let walk = meamed512::Walk::new(m, w, total, keep, eps);
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx512 level means AVX-512 F/BW/DQ/VL were detected; every row holds d values.
                unsafe { f(&rows, ci * CHUNK, o, &walk) }
            });
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx2
            && let Some(f) = avx2::select(m, &pick)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx2 level means AVX2 and FMA were detected; every row holds d values.
                unsafe { f(&rows, ci * CHUNK, o, &pick) }
            });
            return Ok(());
        }
        let net = network(m, Some(&pick.ranks(m)));
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let mut keys = vec![[0u32; LANES]; m];
            uniform_chunk_at(simd, &rows, ci * CHUNK, o, &net, &pick, &mut keys);
        });
    } else if m <= NETWORK_MAX {
        // Padded to a power of two so that `table[s & mask]` needs no bounds check.
        let mut table = weights.clone();
        table.resize(m.next_power_of_two(), 0.0);
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx512
            && let Some(f) = composite512::select(m)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                // SAFETY: the Avx512 level means AVX-512 F/BW/DQ/VL were detected; every row holds d values.
                unsafe { f(&rows, &table, &reduce, ci * CHUNK, o) }
            });
            return Ok(());
        }
        let net = network(m, None);
        let plan = WeightedPlan {
            table: &table,
            net: &net,
            reduce,
        };
        #[cfg(target_arch = "x86_64")]
        if simd == SimdLevel::Avx2
            && let Some(f) = composite_avx2::select(m)
        {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
                let (mut keys, mut slots) = (vec![[0u32; LANES]; m], vec![[0u32; LANES]; m]);
                // SAFETY: the Avx2 level means AVX2 and FMA were detected; every row holds d values.
                unsafe { f(&rows, &plan, ci * CHUNK, o, &mut keys, &mut slots) }
            });
            return Ok(());
        }
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let (mut keys, mut slots) = (vec![[0u32; LANES]; m], vec![[0u32; LANES]; m]);
            weighted_chunk_at(simd, &rows, &plan, ci * CHUNK, o, &mut keys, &mut slots);
        });
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| {
            let mut keys = vec![0u64; m];
            for (l, o) in o.iter_mut().enumerate() {
                let c = ci * CHUNK + l;
                for (s, (k, r)) in keys.iter_mut().zip(&rows).enumerate() {
                    *k = wide_key(r[c], s);
                }
                keys.sort_unstable();
                *o = reduce.scan(&weights, |k| slot(keys[k]), |s| rows[s][c]);
            }
        });
    }
    Ok(())
}

/// The monotone key of a value: integer order is the order of SPEC section 3, with every NaN
/// on one key above +inf and both zeros on one key.
#[inline(always)]
fn key(v: f32) -> u32 {
    let b = v.to_bits();
    let k = if b & 0x8000_0000 != 0 { !b } else { b | 0x8000_0000 };
    if v.is_nan() {
        NAN_KEY
    } else if k == 0x7FFF_FFFF {
        ZERO_KEY // -0.0
    } else {
        k
    }
}

/// The bits that hold the slot in a composite key for `n` rows (`ceil(log2 n)`): the
/// weighted register kernels (`composite512.rs`, `composite_avx2.rs`) sort each key with its
/// low bits replaced by the row's slot.
#[cfg(target_arch = "x86_64")]
const fn slot_bits(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// The value of a key (a NaN for the NaN key, +0.0 for the zero key).
#[inline(always)]
fn value(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 { k & 0x7FFF_FFFF } else { !k })
}

/// The key with the row's slot below it, so that integer order breaks ties by row index.
#[inline(always)]
fn wide_key(v: f32, slot: usize) -> u64 {
    (u64::from(key(v)) << 32) | slot as u64
}

/// The slot (row among those of positive weight) of a wide key.
#[inline(always)]
fn slot(k: u64) -> usize {
    (k & 0xFFFF_FFFF) as usize
}

/// `(a + b) / 2` computed in f64 and rounded once.
#[inline(always)]
fn midpoint(a: f32, b: f32) -> f32 {
    ((f64::from(a) + f64::from(b)) / 2.0) as f32
}

#[cfg(test)]
mod tests;
