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

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch;
use super::memory::CudaRows;
use super::{Cuda, backend_err};
use crate::contract::MASS_EPS;
use crate::error::{Error, Result};
use crate::kernels::OrderStat;

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
    let (n, d) = (rows.k(), rows.d());
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
    // The same expressions, in the same order, as reference.rs.
    let total: f64 = weights.iter().sum();
    let (lo, hi) = match stat {
        OrderStat::Median => (0.0, total),
        OrderStat::TrimmedMean { lambda } => (lambda * total, total - lambda * total),
        // The mass kept around the median travels as `hi`.
        OrderStat::MeaMed { lambda } => (0.0, (1.0 - lambda) * total),
    };
    let eps = MASS_EPS * total;
    let (name, heap) = entry(stat, m, wpos.iter().all(|&w| w == 1.0));
    let f = cuda.function(FILE, SOURCE, name)?;
    let w_dev = cuda.to_device(&wpos)?;
    let w_ptr = cuda.address(&w_dev);
    let mut out = cuda.alloc_rows(1, d)?;
    let staged = if rows.is_on_device() { 0 } else { m };
    // The heap path's scratch is capped by the budget too, and counted in the plan.
    let heap_cap = if heap {
        Some(launch::heap_scratch_cap(cuda.budget()?))
    } else {
        None
    };
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
        let ptrs = cuda.chunk_ptrs(rows, Some(&idx), j0, len, &mut keep)?;
        let ptrs_dev = cuda.to_device(&ptrs)?;
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
        let out_ptr = cuda.out_ptrs(&out, j0, len, &mut keep)?[0];
        let (m32, len64) = (m as i32, len as u64);
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
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
        unsafe { launch.launch(cfg) }.map_err(backend_err)?;
        cuda.finish_chunk(Some(&mut out), j0, len, &mut keep)?;
        drop((ptrs_dev, scratch));
        j0 += len;
    }
    drop(w_dev);
    Ok(out)
}
