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
//! ([`redo_deferred`]). With `pairwise=tiled` (n <= [`TILED_MAX_ROWS`]; more rows take the
//! deferred kernel), `pairwise_dist_tiled`: a one-wave grid streaming tiles of all rows through
//! shared memory ([`tiled_sums`]); pairs whose squares overflowed f32 are summed again with the
//! rows scaled by a power of two ([`tiled_overflow`], [`tiled_rescue`]), the rest as for
//! `deferred`. The values are within `exact_dist::fast_bound` of the exact ones; the rules
//! ask for exact ones where that cannot order their selection (`exact_dist.rs`), so that
//! exact ties break by row index as in the reference.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::exact_dist;
use super::launch::{self, Splits};
use super::rows::CudaRows;
use super::variant::PairwiseVariant;
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
pub(crate) const ENTRIES: [&str; 5] = [PARTIAL, REDUCE, DEFERRED, TILED, TILED_SCALED];

/// Rows per sub-tile (`PD_R` in the kernel).
const ROWS: usize = 8;
/// The `pairwise=deferred` kernel.
const DEFERRED: &str = "pairwise_dist_deferred";
/// Coordinates a block covers per step: `PD_WARPS * 32 * PD_K`.
const STEP: usize = 4 * 32 * 16;
/// The same for `pairwise_dist_deferred`: `PD_WARPS * 32 * PD_K_DEFERRED`.
const DEFERRED_STEP: usize = 4 * 32 * 64;
/// The `pairwise=tiled` kernel, values as they are.
const TILED: &str = "pairwise_dist_tiled";
/// The same with every value times a power of two (`scale`).
const TILED_SCALED: &str = "pairwise_dist_tiled_scaled";
/// Most rows `pairwise_dist_tiled` takes (`PT_MAX_ROWS`: two tiles of them in 48 KB of shared
/// memory).
pub(crate) const TILED_MAX_ROWS: usize = 96;
/// Most warps (sub-tile pairs) per block (`PT_MAX_WARPS`).
const TILED_MAX_WARPS: usize = 12;
/// Coordinates per tile (`PT_COLS`).
const TILED_COLS: usize = 64;
/// Coordinates between a lane's f64 flushes, the spans' multiple: `PT_COLS * PT_FLUSH`.
const TILED_STEP: usize = 64 * 32;
/// Threads per block: `PD_WARPS * 32`.
const THREADS: u32 = 128;
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
    let variant = cuda.kernels().pairwise;
    let mut sums = if variant == PairwiseVariant::Tiled && n <= TILED_MAX_ROWS {
        let (mut sums, top) = tiled_sums(cuda, rows, 0)?;
        if let Some((s, pairs)) = tiled_overflow(&sums, &top, n) {
            let (scaled, _) = tiled_sums(cuda, rows, s)?;
            tiled_rescue(&mut sums, &scaled, &pairs, s, n, d);
        }
        redo_deferred(cuda, rows, &mut sums)?;
        sums
    } else {
        fast_sums(cuda, rows, variant)?
    };
    for i in 0..n {
        for j in i..n {
            let v = sums[i * n + j];
            let v = if v.is_finite() { v } else { f64::INFINITY };
            sums[i * n + j] = v;
            sums[j * n + i] = v;
        }
    }
    Ok(sums)
}

/// The upper triangle of the raw sums of `pairwise_dist_partial` or (`deferred`, or `tiled`
/// past [`TILED_MAX_ROWS`]) `pairwise_dist_deferred`, the latter's left-over pairs redone.
fn fast_sums(cuda: &Cuda, rows: &CudaRows<'_>, variant: PairwiseVariant) -> Result<Vec<f64>> {
    let (n, d) = (rows.k(), rows.d());
    let nn = n * n;
    let deferred = variant != PairwiseVariant::Registers;
    let (entry, step) = if deferred {
        (DEFERRED, DEFERRED_STEP)
    } else {
        (PARTIAL, STEP)
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
    Ok(sums)
}

/// `pairwise_dist_tiled` over every chunk (with `scale_exp > 0`, `pairwise_dist_tiled_scaled`
/// with every value times 2^-scale_exp): the upper triangle of the raw sums (as the kernel
/// left them: non-finite or tiny ones not redone) and each row's largest |value|.
pub(crate) fn tiled_sums(cuda: &Cuda, rows: &CudaRows<'_>, scale_exp: i32) -> Result<(Vec<f64>, Vec<f32>)> {
    let (n, d) = (rows.k(), rows.d());
    let nn = n * n;
    let scaled = scale_exp > 0;
    let f = cuda.function(FILE, SOURCE, if scaled { TILED_SCALED } else { TILED })?;
    let reduce_fn = cuda.function(FILE, SOURCE, REDUCE)?;
    let (groups, warps) = launch::pairwise_tiled_shape(n, TILED_MAX_WARPS);
    let threads = (warps * 32) as u32;
    let smem = (2 * n.div_ceil(ROWS) * ROWS * TILED_COLS * 4) as u32;
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor(threads, smem as usize, None)
        .map_err(backend_err)? as usize;
    let wanted = (per_sm.max(1) * cuda.sm_count()).div_ceil(groups);
    let fp = launch::pairwise_tiled_footprint(n, wanted, !rows.is_on_device());
    let chunk = cuda.chunk_len(d, fp)?;
    let mut sums = vec![0.0f64; nn];
    let mut top = vec![0.0f32; n];
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let ptrs = cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?;
        let ptrs_dev = cuda.to_device(&ptrs)?;
        let rows_ptr = cuda.address(&ptrs_dev);
        let Splits { splits, span } = launch::split(len, TILED_STEP, wanted);
        let partial = cuda
            .stream()
            .alloc_zeros::<f64>(splits * nn)
            .map_err(backend_err)?;
        let rowmax = cuda
            .stream()
            .alloc_zeros::<f32>(splits * n)
            .map_err(backend_err)?;
        let (partial_ptr, rowmax_ptr) = (cuda.address(&partial), cuda.address(&rowmax));
        let (n32, len64, span64) = (n as i32, len as u64, span as u64);
        let scale = 2f32.powi(-scale_exp);
        let mut launch = cuda.stream().launch_builder(&f);
        launch.arg(&rows_ptr).arg(&n32).arg(&len64).arg(&span64);
        if scaled {
            launch.arg(&scale);
        }
        launch.arg(&partial_ptr).arg(&rowmax_ptr);
        let cfg = LaunchConfig {
            grid_dim: (groups as u32, splits as u32, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: smem,
        };
        // SAFETY: arguments match pairwise_dist_tiled (pointer, i32, u64, u64, pointer,
        // pointer), or _scaled with an f32 before the pointers. `rows_ptr` holds n <=
        // PT_MAX_ROWS row pointers valid for `len` floats; the block has warps * 32 <=
        // PT_MAX_WARPS * 32 threads and `smem` bytes hold its two tiles of ceil(n / 8) * 8
        // rows; groups * warps covers the sub-tile pairs and splits * span >= len; block
        // (x, y) writes partial[y][i][j] (i <= j < n) and rowmax[y * n + i] (i < n), inside
        // the splits * n * n doubles and splits * n floats allocated.
        unsafe { launch.launch(cfg) }.map_err(backend_err)?;
        let host = cuda.sum_splits(&reduce_fn, &partial, splits, nn)?;
        let maxima = cuda.stream().clone_dtoh(&rowmax).map_err(backend_err)?;
        cuda.finish_chunk(None, j0, len, &mut keep)?;
        for i in 0..n {
            for j in i..n {
                sums[i * n + j] += host[i * n + j];
            }
        }
        for split in maxima.chunks(n) {
            for (t, m) in top.iter_mut().zip(split) {
                *t = t.max(*m);
            }
        }
        drop((ptrs_dev, partial, rowmax));
        j0 += len;
    }
    Ok((sums, top))
}

/// After `pairwise_dist_tiled`: the pairs of finite rows (diagonal sum exactly 0) whose sums
/// are not finite (squares that overflowed f32), and the power of two 2^-s that brings the
/// largest |value| of their rows (`rowmax`) below 2^58, so that a lane's 64 squares of
/// differences (each below 2^118) stay finite; `None` when no pair overflowed.
#[doc(hidden)]
pub fn tiled_overflow(sums: &[f64], rowmax: &[f32], n: usize) -> Option<(i32, Vec<(usize, usize)>)> {
    let finite = |i: usize| sums[i * n + i] == 0.0;
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| finite(i) && finite(j) && !sums[i * n + j].is_finite())
        .collect();
    let top = pairs
        .iter()
        .flat_map(|&(i, j)| [rowmax[i], rowmax[j]])
        .fold(0.0f32, f32::max);
    // top < 2^e (top is finite: its rows are).
    let e = if top >= 1.0 {
        ((top.to_bits() >> 23) & 0xff) as i32 - 126
    } else {
        0
    };
    let s = e - 58;
    (!pairs.is_empty() && s > 0).then_some((s, pairs))
}

/// Takes the scaled pass's sums (values times 2^-s) for the overflowed `pairs`, times 2^(2 s),
/// where they are finite and at least `d 2^-100` (below that, squares of the scaled values may
/// have underflowed); the others stay non-finite, for the exact recomputation.
#[doc(hidden)]
pub fn tiled_rescue(sums: &mut [f64], scaled: &[f64], pairs: &[(usize, usize)], s: i32, n: usize, d: usize) {
    let tiny = d as f64 * 2f64.powi(-100);
    let back = 2f64.powi(2 * s);
    for &(i, j) in pairs {
        let v = scaled[i * n + j];
        if v.is_finite() && v >= tiny {
            sums[i * n + j] = v * back;
        }
    }
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
    let exact = exact_dist::pair_dists(cuda, rows, rows, &redo, true)?;
    for (&(i, j), v) in redo.iter().zip(exact) {
        sums[i * n + j] = v;
    }
    Ok(())
}
