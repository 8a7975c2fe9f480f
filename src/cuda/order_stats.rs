//! Primitive 1, `order_stats` (SPEC 4.2, 4.3, 4.8 and section 5): per coordinate, the weighted
//! median, trimmed mean or MeaMed of the rows of positive weight, launched from
//! `kernels/order_stats.cu`.
//!
//! Only rows of positive weight are passed to the kernel (their pointers and weights, in row
//! order), so rows of weight 0 are never read. The entry point is chosen by that count m:
//! register sorting networks for m <= 8, 16, 32, 64 (32-bit keys when every positive weight
//! is 1, 64-bit keys carrying the row index otherwise) and a heap sort in a global scratch
//! above; MeaMed always takes the heap path. Launch: 1-D blocks of 128 threads, a grid-stride loop over the chunk's coordinates,
//! one thread per coordinate (see the kernel file for the contract and the accuracy notes).
//! The host computes W, lambda W, W - lambda W, (1 - lambda) W and MASS_EPS W exactly as the
//! reference does.
//!
//! That is the `bitonic` variant. With [`OrderStatsVariant::Pruned`] (see `variant.rs`) every
//! m <= 64 instead gets its own module: the file compiled with per-m defines in front
//! ([`pruned_defines`]: the row count, the kind, and Batcher's network pruned to the ranks
//! read, from `sort_network.rs`), cached per context under its key; row pointers and
//! weights travel as kernel parameters and the grid is one wave at the kernel's occupancy.
//! MeaMed takes that path too. Above 64 rows both variants use the heap path.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch;
use super::rows::CudaRows;
use super::{Cuda, OrderStatsVariant, backend_err};
use crate::contract::MASS_EPS;
use crate::error::{Error, Result};
use crate::kernels::OrderStat;
use crate::sort_network;

/// The kernel file.
pub(crate) const FILE: &str = "order_stats.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/order_stats.cu");
/// Register-path medians, by the largest row count each handles.
const MEDIAN_SMALL: [(usize, &str); 4] = [
    (8, "order_stats_median_n8"),
    (16, "order_stats_median_n16"),
    (32, "order_stats_median_n32"),
    (64, "order_stats_median_n64"),
];
/// Register-path trimmed means, by the largest row count each handles.
const TRIM_SMALL: [(usize, &str); 4] = [
    (8, "order_stats_trim_n8"),
    (16, "order_stats_trim_n16"),
    (32, "order_stats_trim_n32"),
    (64, "order_stats_trim_n64"),
];
/// Uniform-weight (all 1) register-path medians: 32-bit keys, no row index.
const MEDIAN_UNIFORM: [(usize, &str); 4] = [
    (8, "order_stats_median_u8"),
    (16, "order_stats_median_u16"),
    (32, "order_stats_median_u32"),
    (64, "order_stats_median_u64"),
];
/// Uniform-weight register-path trimmed means.
const TRIM_UNIFORM: [(usize, &str); 4] = [
    (8, "order_stats_trim_u8"),
    (16, "order_stats_trim_u16"),
    (32, "order_stats_trim_u32"),
    (64, "order_stats_trim_u64"),
];
/// Scratch-path median, any row count.
const MEDIAN_HEAP: &str = "order_stats_median_heap";
/// Scratch-path trimmed mean, any row count.
const TRIM_HEAP: &str = "order_stats_trim_heap";
/// Scratch-path MeaMed, any row count (its walk reads ranks chosen at run time).
const MEAMED_HEAP: &str = "order_stats_meamed_heap";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 19] = [
    MEDIAN_UNIFORM[0].1,
    MEDIAN_UNIFORM[1].1,
    MEDIAN_UNIFORM[2].1,
    MEDIAN_UNIFORM[3].1,
    TRIM_UNIFORM[0].1,
    TRIM_UNIFORM[1].1,
    TRIM_UNIFORM[2].1,
    TRIM_UNIFORM[3].1,
    MEDIAN_SMALL[0].1,
    MEDIAN_SMALL[1].1,
    MEDIAN_SMALL[2].1,
    MEDIAN_SMALL[3].1,
    TRIM_SMALL[0].1,
    TRIM_SMALL[1].1,
    TRIM_SMALL[2].1,
    TRIM_SMALL[3].1,
    MEDIAN_HEAP,
    TRIM_HEAP,
    MEAMED_HEAP,
];

const THREADS: u32 = 128;

/// Most rows of positive weight the pruned variant's modules take (`OS_MAX_ROWS`).
pub(crate) const PRUNED_MAX_ROWS: usize = 64;

/// What a pruned module is specialised for, besides its row count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrunedKind {
    /// The median with every weight 1 (entry `os_median_u`).
    MedianUniform,
    /// The trimmed mean with every weight 1 whose ranks `lo..hi` may keep mass (`os_trim_u`).
    TrimUniform {
        /// First rank that may keep mass.
        lo: usize,
        /// One past the last.
        hi: usize,
    },
    /// Any weights, any of the three statistics (`os_median_w`, `os_trim_w`, `os_meamed_w`).
    Weighted,
}

/// The defines put in front of `order_stats.cu` for the pruned module of `m` rows (1..=64)
/// and `kind`: what the kernel file's pruned section documents. Public for the kernel
/// emulator (`tests/cuda_emulated.rs`), which compiles the same text.
#[doc(hidden)]
pub fn pruned_defines(m: usize, kind: PrunedKind) -> String {
    let (code, ranks) = match kind {
        PrunedKind::MedianUniform => (0, (m - 1) / 2..m / 2 + 1),
        PrunedKind::TrimUniform { lo, hi } => (1, lo..hi),
        PrunedKind::Weighted => (2, 0..m),
    };
    format!(
        "#define OS_M {m}\n#define OS_KIND {code}\n#define OS_RANK_LO {}\n#define OS_RANK_HI {}\n{}",
        ranks.start,
        ranks.end,
        sort_network::macro_text(&sort_network::pruned(m, ranks.clone()))
    )
}

/// The ranks `lo..hi` of `m` uniform weights that keep mass under the trimmed mean's bounds
/// `lo`, `hi` and `eps`, decided by the kernel's own expressions (an empty range if none).
pub(crate) fn kept_ranks(m: usize, lo: f64, hi: f64, eps: f64) -> std::ops::Range<usize> {
    let keeps = |k: usize| {
        let kept = ((k as f64 + 1.0).min(hi) - (k as f64).max(lo)).max(0.0);
        !(kept < eps || kept == 0.0)
    };
    match (0..m).find(|&k| keeps(k)) {
        Some(first) => first..(0..m).rev().find(|&k| keeps(k)).map_or(first, |k| k) + 1,
        None => 0..0,
    }
}

/// W, lo, hi and eps of the kernels' arguments: the same expressions, in the same order, as
/// reference.rs.
fn bounds(weights: &[f64], stat: OrderStat) -> [f64; 4] {
    let total: f64 = weights.iter().sum();
    let (lo, hi) = match stat {
        OrderStat::Median => (0.0, total),
        OrderStat::TrimmedMean { lambda } => (lambda * total, total - lambda * total),
        // The mass kept around the median travels as `hi`.
        OrderStat::MeaMed { lambda } => (0.0, (1.0 - lambda) * total),
    };
    [total, lo, hi, MASS_EPS * total]
}

/// What the pruned variant launches for `stat` over rows of weights `weights`: the row
/// count m, the module's kind and the entry point; `None` where it takes the heap path (more
/// than 64 rows of positive weight). Public for the kernel emulator, which must build the
/// very modules the launcher would.
#[doc(hidden)]
pub fn pruned_plan(weights: &[f64], stat: OrderStat) -> Option<(usize, PrunedKind, &'static str)> {
    let wpos: Vec<f64> = weights.iter().copied().filter(|&w| w > 0.0).collect();
    let m = wpos.len();
    if m == 0 || m > PRUNED_MAX_ROWS {
        return None;
    }
    let [_, lo, hi, eps] = bounds(weights, stat);
    let (kind, name) = pruned_entry(stat, m, wpos.iter().all(|&w| w == 1.0), lo, hi, eps);
    Some((m, kind, name))
}

/// The pruned module and entry point for `stat` on `m` rows (`uniform`: every weight 1).
fn pruned_entry(
    stat: OrderStat,
    m: usize,
    uniform: bool,
    lo: f64,
    hi: f64,
    eps: f64,
) -> (PrunedKind, &'static str) {
    match (stat, uniform) {
        (OrderStat::Median, true) => (PrunedKind::MedianUniform, "os_median_u"),
        (OrderStat::TrimmedMean { .. }, true) => {
            let r = kept_ranks(m, lo, hi, eps);
            (
                PrunedKind::TrimUniform {
                    lo: r.start,
                    hi: r.end,
                },
                "os_trim_u",
            )
        }
        (OrderStat::Median, false) => (PrunedKind::Weighted, "os_median_w"),
        (OrderStat::TrimmedMean { .. }, false) => (PrunedKind::Weighted, "os_trim_w"),
        (OrderStat::MeaMed { .. }, _) => (PrunedKind::Weighted, "os_meamed_w"),
    }
}

/// `OsRows` / `OsWeights` of the kernel file: 64 pointers or f64 by value.
#[repr(C)]
#[derive(Clone, Copy)]
struct ParamArray<T: Copy>([T; PRUNED_MAX_ROWS]);
// SAFETY: a plain array of u64 or f64, the layout of the kernel's parameter struct.
unsafe impl cudarc::driver::DeviceRepr for ParamArray<u64> {}
// SAFETY: as above.
unsafe impl cudarc::driver::DeviceRepr for ParamArray<f64> {}

/// The entry point for `m` rows of positive weight (`uniform`: every one of weight exactly 1),
/// and whether it needs the scratch.
fn entry(stat: OrderStat, m: usize, uniform: bool) -> (&'static str, bool) {
    let (small, heap) = match (stat, uniform) {
        (OrderStat::Median, false) => (MEDIAN_SMALL, MEDIAN_HEAP),
        (OrderStat::TrimmedMean { .. }, false) => (TRIM_SMALL, TRIM_HEAP),
        (OrderStat::Median, true) => (MEDIAN_UNIFORM, MEDIAN_HEAP),
        (OrderStat::TrimmedMean { .. }, true) => (TRIM_UNIFORM, TRIM_HEAP),
        (OrderStat::MeaMed { .. }, _) => return (MEAMED_HEAP, true),
    };
    small
        .iter()
        .find(|(cap, _)| m <= *cap)
        .map_or((heap, true), |(_, name)| (name, false))
}

/// Runs primitive 1 over `rows`; returns a `1 x d` matrix.
pub(crate) fn order_stats(
    cuda: &Cuda,
    rows: &CudaRows<'_>,
    weights: &[f64],
    stat: OrderStat,
) -> Result<CudaRows<'static>> {
    let n = rows.k();
    let idx: Vec<usize> = (0..n).filter(|&i| weights[i] > 0.0).collect();
    let wpos: Vec<f64> = idx.iter().map(|&i| weights[i]).collect();
    let m = idx.len();
    if m == 0 || m > i32::MAX as usize {
        return Err(Error::invalid(
            "weights",
            format!("{m} positive"),
            "need 1 to 2^31 - 1 positive weights",
        ));
    }
    let [total, lo, hi, eps] = bounds(weights, stat);
    let uniform = wpos.iter().all(|&w| w == 1.0);
    if cuda.kernels().order_stats == OrderStatsVariant::Pruned && m <= PRUNED_MAX_ROWS {
        return order_stats_pruned(cuda, rows, &idx, &wpos, stat, uniform, [total, lo, hi, eps]);
    }
    let (name, heap) = entry(stat, m, uniform);
    let f = cuda.function(FILE, SOURCE, name)?;
    let w_dev = cuda.to_device(&wpos)?;
    let w_ptr = cuda.address(&w_dev);
    // The heap path's scratch is capped by the budget too, and counted in the plan.
    let heap_cap = if heap {
        Some(launch::heap_scratch_cap(cuda.budget()?))
    } else {
        None
    };
    let out = for_each_chunk(cuda, rows, &idx, heap_cap, |len, ptrs, out_ptr| {
        let ptrs_dev = cuda.to_device(ptrs)?;
        let rows_ptr = cuda.address(&ptrs_dev);
        let blocks = launch::order_stats_blocks(
            len,
            cuda.sm_count(),
            THREADS as usize,
            heap_cap.map(|cap| (m, cap)),
        );
        let scratch = cuda
            .stream()
            .alloc_zeros::<u64>(if heap { m * blocks * THREADS as usize } else { 1 })
            .map_err(backend_err)?;
        let scratch_ptr = cuda.address(&scratch);
        let (m32, len64) = (m as i32, len as u64);
        let mut launch = cuda.stream().launch_builder(&f);
        launch
            .arg(&rows_ptr)
            .arg(&w_ptr)
            .arg(&m32)
            .arg(&total)
            .arg(&lo)
            .arg(&hi)
            .arg(&eps)
            .arg(&len64)
            .arg(&out_ptr)
            .arg(&scratch_ptr);
        // SAFETY: the arguments match ORDER_STATS_ARGS in order and type (three pointers to
        // device arrays, i32, four f64, u64, two pointers). `rows_ptr` holds m row pointers,
        // each valid for `len` floats from the chunk start; `w_ptr` holds m f64; `out_ptr`
        // is valid for `len` floats; the heap variants get m * blocks * 128 keys of scratch,
        // one column per launched thread. Threads write only out[t] for t < len.
        unsafe { launch.launch(grid(blocks)) }.map_err(backend_err)?;
        // The pointer array and the scratch live until the chunk's kernel has finished.
        Ok((ptrs_dev, scratch))
    })?;
    drop(w_dev);
    Ok(out)
}

/// The pruned variant on `m = idx.len() <= 64` rows of positive weight (see the module docs);
/// `bounds` = W, lo, hi, eps as the bitonic path computes them.
fn order_stats_pruned(
    cuda: &Cuda,
    rows: &CudaRows<'_>,
    idx: &[usize],
    wpos: &[f64],
    stat: OrderStat,
    uniform: bool,
    bounds: [f64; 4],
) -> Result<CudaRows<'static>> {
    let [total, lo, hi, eps] = bounds;
    let m = idx.len();
    let (kind, name) = pruned_entry(stat, m, uniform, lo, hi, eps);
    let key = format!("{FILE} m={m} {kind:?}");
    let f = cuda.function_keyed(&key, || format!("{}{SOURCE}", pruned_defines(m, kind)), name)?;
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor(THREADS, 0, None)
        .map_err(backend_err)? as usize;
    let mut weights = ParamArray([0.0f64; PRUNED_MAX_ROWS]);
    weights.0[..m].copy_from_slice(wpos);
    for_each_chunk(cuda, rows, idx, None, |len, chunk_ptrs, out_ptr| {
        let mut ptrs = ParamArray([0u64; PRUNED_MAX_ROWS]);
        ptrs.0[..m].copy_from_slice(chunk_ptrs);
        let blocks = launch::one_wave_blocks(len, cuda.sm_count(), THREADS as usize, per_sm);
        let len64 = len as u64;
        let mut launch = cuda.stream().launch_builder(&f);
        launch
            .arg(&ptrs)
            .arg(&weights)
            .arg(&total)
            .arg(&lo)
            .arg(&hi)
            .arg(&eps)
            .arg(&len64)
            .arg(&out_ptr);
        // SAFETY: the arguments match OS_ARGS in order and type (64 pointers and 64 f64 by
        // value, four f64, u64, a pointer). The first m pointers are each valid for `len`
        // floats from the chunk start, and the module was compiled for exactly m rows;
        // `out_ptr` is valid for `len` floats, and threads write only out[t] for t < len.
        unsafe { launch.launch(grid(blocks)) }.map_err(backend_err)
    })
}

/// A 1-D grid of `blocks` blocks of [`THREADS`].
fn grid(blocks: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The chunk loop both variants share: allocates the `1 x d` output, plans the chunks by
/// [`launch::order_stats_footprint`] (`heap_cap`: the heap path's scratch cap where it runs),
/// and for each chunk calls `launch_chunk(len, row pointers of the rows idx, output pointer)`,
/// then waits for it and finishes it (a host output is copied back). Whatever `launch_chunk`
/// returns (device buffers its kernel reads) is dropped only after that wait.
fn for_each_chunk<G>(
    cuda: &Cuda,
    rows: &CudaRows<'_>,
    idx: &[usize],
    heap_cap: Option<usize>,
    mut launch_chunk: impl FnMut(usize, &[u64], u64) -> Result<G>,
) -> Result<CudaRows<'static>> {
    let (m, d) = (idx.len(), rows.d());
    let mut out = cuda.alloc_rows(1, d)?;
    let staged = if rows.is_on_device() { 0 } else { m };
    let fp = launch::order_stats_footprint(
        d,
        m,
        cuda.sm_count(),
        THREADS as usize,
        heap_cap,
        staged,
        !out.is_on_device(),
    );
    let chunk = cuda.chunk_len(d, fp)?;
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let ptrs = cuda.chunk_ptrs(rows, Some(idx), j0, len, &mut keep)?;
        let out_ptr = cuda.out_ptrs(&out, j0, len, &mut keep)?[0];
        let alive = launch_chunk(len, &ptrs, out_ptr)?;
        cuda.finish_chunk(Some(&mut out), j0, len, &mut keep)?;
        drop(alive);
        j0 += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_ranks_hold_every_rank_the_walk_keeps() {
        for m in 1..=64usize {
            let w = m as f64;
            for lambda in [0.0, 0.1, 0.2, 0.25, 0.45, 0.49, 0.5] {
                let (lo, hi, eps) = (lambda * w, w - lambda * w, MASS_EPS * w);
                let r = kept_ranks(m, lo, hi, eps);
                for k in 0..m {
                    let kept = ((k as f64 + 1.0).min(hi) - (k as f64).max(lo)).max(0.0);
                    let keeps = !(kept < eps || kept == 0.0);
                    assert_eq!(keeps, r.contains(&k), "m = {m}, lambda = {lambda}, rank {k}");
                }
            }
        }
        // lambda = 1/2 keeps no mass at all: the empty range (the kernel then divides 0 by 0).
        assert_eq!(kept_ranks(4, 2.0, 2.0, 4e-9), 0..0);
    }
}
