//! Primitive 2, `pairwise_dist` (SPEC 4.4 and section 5): the `n x n` squared distances,
//! launched from `kernels/pairwise_dist.cu`.
//!
//! Per coordinate chunk: `pairwise_dist_partial` on a grid of (pairs of 8-row sub-tiles of the
//! upper triangle) x splits, each block summing one coordinate split of 64 pairs with the pair
//! sums in registers, then `pairwise_dist_reduce` adding the splits in f64; the host adds the chunks in f64, mirrors the upper triangle and maps every
//! non-finite sum to `+inf` (a row holding NaN or an infinity, its diagonal included).
//! The number of splits aims at about eight blocks per multiprocessor. With `pairwise=deferred`
//! (`variant.rs`), `pairwise_dist_deferred` instead: 64 coordinates per lane between flushes
//! and no inline f64 redo; the pairs that need one are recomputed afterwards
//! ([`redo_deferred`]). Distances within
//! rounding of a tie are then recomputed exactly (`exact_dist.rs`), so that exact ties break
//! by row index as in the reference.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::exact_dist;
use super::launch::{self, Splits};
use super::rows::CudaRows;
use super::variant::{PairwiseTiesVariant, PairwiseVariant};
use super::{Cuda, backend_err};
use crate::error::{Error, Result};

/// The kernel file.
pub(crate) const FILE: &str = "pairwise_dist.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/pairwise_dist.cu");
/// Partial sums per coordinate split.
const PARTIAL: &str = "pairwise_dist_partial";
/// Sum over the splits.
const REDUCE: &str = "pairwise_dist_reduce";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 3] = [PARTIAL, REDUCE, DEFERRED];

/// Rows per sub-tile (`PD_R` in the kernel).
const ROWS: usize = 8;
/// The `pairwise=deferred` kernel.
const DEFERRED: &str = "pairwise_dist_deferred";
/// Coordinates a block covers per step: `PD_WARPS * 32 * PD_K`.
const STEP: usize = 4 * 32 * 16;
/// The same for `pairwise_dist_deferred`: `PD_WARPS * 32 * PD_K_DEFERRED`.
const DEFERRED_STEP: usize = 4 * 32 * 64;
/// Threads per block: `PD_WARPS * 32`.
const THREADS: u32 = 128;
/// The relative error of a lane's f32 sum of `PD_K` = 16 squares (each difference rounded
/// once, the sum 16 times: 19 units of 2^-24 at most), for both sides of a comparison, with
/// room to spare: distances closer than this (plus the f64 part's bound) are recomputed
/// exactly (`exact_dist.rs`).
const REGISTERS_BOUND: f64 = 4.0 * 19.0 / (1u64 << 24) as f64;
/// The same for `pairwise_dist_deferred`'s 64 squares per lane.
const DEFERRED_BOUND: f64 = 4.0 * 67.0 / (1u64 << 24) as f64;

/// Runs primitive 2 over `rows`; returns the `n x n` matrix, row-major.
pub(crate) fn pairwise_dist(cuda: &Cuda, rows: &CudaRows<'_>) -> Result<Vec<f64>> {
    let (n, d) = (rows.k(), rows.d());
    if n > 46_340 {
        return Err(Error::invalid(
            "n",
            n,
            "the CUDA pairwise distances take at most 46340 rows",
        ));
    }
    let nn = n * n;
    let deferred = cuda.kernels().pairwise == PairwiseVariant::Deferred;
    let (entry, step, bound) = if deferred {
        (DEFERRED, DEFERRED_STEP, DEFERRED_BOUND)
    } else {
        (PARTIAL, STEP, REGISTERS_BOUND)
    };
    let partial_fn = cuda.function(FILE, SOURCE, entry)?;
    let reduce_fn = cuda.function(FILE, SOURCE, REDUCE)?;
    let mut sums = vec![0.0f64; nn];
    let fp = launch::pairwise_footprint(n, cuda.sm_count(), ROWS, !rows.is_on_device());
    let chunk = cuda.chunk_len(d, fp)?;
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let ptrs = cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?;
        let ptrs_dev = cuda.to_device(&ptrs)?;
        let rows_ptr = cuda.address(&ptrs_dev);
        let (upper, Splits { splits, span }) = launch::pairwise_grid(n, len, cuda.sm_count(), ROWS, step);
        let partial = cuda
            .stream()
            .alloc_zeros::<f64>(splits * nn)
            .map_err(backend_err)?;
        let partial_ptr = cuda.address(&partial);
        let (n32, len64, span64) = (n as i32, len as u64, span as u64);
        let mut launch = cuda.stream().launch_builder(&partial_fn);
        launch
            .arg(&rows_ptr)
            .arg(&n32)
            .arg(&len64)
            .arg(&span64)
            .arg(&partial_ptr);
        let cfg = LaunchConfig {
            grid_dim: (upper as u32, 1, splits as u32),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: arguments match pairwise_dist_partial (pointer, i32, u64, u64, pointer).
        // `rows_ptr` holds n row pointers valid for `len` floats; the grid covers the
        // sub-tile pairs of the upper triangle and `splits` spans with splits * span >= len;
        // blocks write partial[z][i][j] for z < splits and i <= j < n, inside the
        // splits * n * n doubles allocated.
        unsafe { launch.launch(cfg) }.map_err(backend_err)?;
        let host = cuda.sum_splits(&reduce_fn, &partial, splits, nn)?;
        cuda.finish_chunk(None, j0, len, &mut keep)?;
        for i in 0..n {
            for j in i..n {
                sums[i * n + j] += host[i * n + j];
            }
        }
        drop((ptrs_dev, partial));
        j0 += len;
    }
    if deferred {
        redo_deferred(cuda, rows, &mut sums)?;
    }
    for i in 0..n {
        for j in i..n {
            let v = sums[i * n + j];
            let v = if v.is_finite() { v } else { f64::INFINITY };
            sums[i * n + j] = v;
            sums[j * n + i] = v;
        }
    }
    if cuda.kernels().pairwise_ties == PairwiseTiesVariant::Exact {
        let rel = bound + exact_dist::f64_sum_bound(d);
        exact_dist::settle_pairwise(cuda, rows, &mut sums, rel)?;
    }
    Ok(sums)
}

/// What `pairwise_dist_deferred` leaves to the host, in the upper triangle of the raw sums:
/// a pair of finite rows (a row is finite when its diagonal sum is exactly 0; NaN otherwise)
/// whose sum is non-finite (squares that overflowed f32) or below `d 2^-100` (squares that
/// underflowed: the loss, at most 2^-150 per coordinate, would exceed the relative bound) is
/// recomputed exactly (`exact_dist.rs`). A sum of exactly 0 is first checked as equal rows
/// (one comparison per row, with the first earlier row at 0), which it nearly always is
/// (identical Byzantine rows): those pairs are exact 0 and need nothing more.
fn redo_deferred(cuda: &Cuda, rows: &CudaRows<'_>, sums: &mut [f64]) -> Result<()> {
    let (n, d) = (rows.k(), rows.d());
    let finite: Vec<bool> = (0..n).map(|i| sums[i * n + i] == 0.0).collect();
    let tiny = d as f64 * 2f64.powi(-100);
    let first_zero: Vec<(usize, usize)> = (0..n)
        .filter(|&i| finite[i])
        .filter_map(|i| {
            (0..i)
                .find(|&k| finite[k] && sums[k * n + i] == 0.0)
                .map(|k| (k, i))
        })
        .collect();
    let equal = exact_dist::rows_equal(cuda, rows, rows, &first_zero)?;
    let mut rep: Vec<usize> = (0..n).collect();
    for (&(k, i), eq) in first_zero.iter().zip(equal) {
        if eq {
            rep[i] = rep[k];
        }
    }
    let mut redo = Vec::new();
    for i in (0..n).filter(|&i| finite[i]) {
        for j in (i + 1..n).filter(|&j| finite[j]) {
            let v = sums[i * n + j];
            if rep[i] == rep[j] {
                sums[i * n + j] = 0.0;
            } else if !v.is_finite() || v < tiny {
                redo.push((i, j));
            }
        }
    }
    let exact = exact_dist::exact_dists(cuda, rows, rows, &redo)?;
    for (&(i, j), v) in redo.iter().zip(exact) {
        sums[i * n + j] = v;
    }
    Ok(())
}
