//! Primitive 2, `pairwise_dist` (SPEC 4.4 and section 5): the `n x n` squared distances,
//! launched from `kernels/pairwise_dist.cu`.
//!
//! Per coordinate chunk: `pairwise_dist_partial` on a grid of (pairs of 8-row sub-tiles of the
//! upper triangle) x splits, each block summing one coordinate split of 64 pairs with the pair
//! sums in registers, then `pairwise_dist_reduce` adding the splits in f64; the host adds the chunks in f64, mirrors the upper triangle and maps every
//! non-finite sum to `+inf` (a row holding NaN or an infinity, its diagonal included).
//! The number of splits aims at about eight blocks per multiprocessor. Distances within
//! rounding of a tie are then recomputed exactly (`exact_dist.rs`), so that exact ties break
//! by row index as in the reference.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::exact_dist;
use super::launch::{self, Splits};
use super::memory::CudaRows;
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
pub(crate) const ENTRIES: [&str; 2] = [PARTIAL, REDUCE];

/// Rows per sub-tile (`PD_R` in the kernel).
const ROWS: usize = 8;
/// Coordinates a block covers per step: `PD_WARPS * 32 * PD_K`.
const STEP: usize = 4 * 32 * 16;
/// Threads per block: `PD_WARPS * 32`.
const THREADS: u32 = 128;
/// The relative error of a lane's f32 sum of `PD_K` = 16 squares (at most 17 roundings of
/// 2^-24), for both sides of a comparison, with room to spare: distances closer than this
/// (plus the f64 part's bound) are recomputed exactly (`exact_dist.rs`).
const REGISTERS_BOUND: f64 = 4.0 * 17.0 / (1u64 << 24) as f64;

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
    let partial_fn = cuda.function(FILE, SOURCE, PARTIAL)?;
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
        let (upper, Splits { splits, span }) = launch::pairwise_grid(n, len, cuda.sm_count(), ROWS, STEP);
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
    for i in 0..n {
        for j in i..n {
            let v = sums[i * n + j];
            let v = if v.is_finite() { v } else { f64::INFINITY };
            sums[i * n + j] = v;
            sums[j * n + i] = v;
        }
    }
    exact_dist::settle_pairwise(
        cuda,
        rows,
        &mut sums,
        REGISTERS_BOUND + exact_dist::f64_sum_bound(d),
    )?;
    Ok(sums)
}
