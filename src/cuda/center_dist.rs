//! Primitive 3, `center_dist` (SPEC 4.5-4.7 and section 5): the `n` squared distances from
//! each row to a `1 x d` center, launched from `kernels/center_dist.cu`.
//!
//! Per coordinate chunk, with `center_dist=classic` (the default, `variant.rs`):
//! `center_dist_partial` on a grid of splits x (groups of 4 rows), each block summing one split
//! of its rows in f64, then `center_dist_reduce` adding the splits in f64. With
//! `center_dist=wide`: `center_dist_wide`, a one-wave persistent grid x (groups of 16 rows
//! sharing each read of the center), four coordinates per thread, whose last block per group
//! adds the partials. With `center_dist=slices`: `center_dist_slices`, `classic`'s partial sums
//! bit for bit from a one-wave persistent grid of blocks that each take up to
//! `SLICES` row groups of one split (one read of the center), then `center_dist_reduce`.
//! The host adds the chunks and maps every non-finite sum to `+inf` (a row or a center
//! holding NaN or an infinity). The values are within `exact_dist::fast_bound` of the exact
//! ones; the rules ask for exact ones where that cannot order their selection
//! (`exact_dist.rs`), so that exact ties break by row index as in the reference.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::launch::{self, Splits};
use super::rows::CudaRows;
use super::variant::StreamVariant;
use super::{Cuda, backend_err};
use crate::error::{Error, Result};

/// The kernel file.
pub(crate) const FILE: &str = "center_dist.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/center_dist.cu");
/// Partial sums per coordinate split.
const PARTIAL: &str = "center_dist_partial";
/// Sum over the splits.
const REDUCE: &str = "center_dist_reduce";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 4] = [PARTIAL, REDUCE, WIDE, SLICED];

/// Rows per block of `center_dist_partial`.
const ROWS: usize = 4;
const THREADS: usize = 256;
/// The wide kernel.
const WIDE: &str = "center_dist_wide";
/// Rows per group of `center_dist_wide` (`CW_ROWS`).
const WIDE_ROWS: usize = 16;
/// The slices kernel.
const SLICED: &str = "center_dist_slices";
/// Row groups per block of `center_dist_slices` at most (`CS_SLICES`).
const SLICES: usize = 4;

/// Runs primitive 3; returns `n` squared distances.
pub(crate) fn center_dist(cuda: &Cuda, rows: &CudaRows<'_>, center: &CudaRows<'_>) -> Result<Vec<f64>> {
    let (n, d) = (rows.k(), rows.d());
    if n.div_ceil(ROWS) > 65_535 {
        return Err(Error::invalid(
            "n",
            n,
            "the CUDA center distances take at most 262140 rows",
        ));
    }
    let variant = cuda.kernels().center_dist;
    let wide = variant == StreamVariant::Wide;
    let staged = if rows.is_on_device() { 0 } else { n } + usize::from(!center.is_on_device());
    let fp = if wide {
        launch::center_wide_footprint(n, cuda.sm_count(), WIDE_ROWS, staged)
    } else {
        launch::center_footprint(n, cuda.sm_count(), ROWS, staged)
    };
    let chunk = cuda.chunk_len(d, fp)?;
    let mut sums = vec![0.0f64; n];
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let ptrs = cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?;
        let center_ptr = cuda.chunk_ptrs(center, None, j0, len, &mut keep)?[0];
        let host = match variant {
            StreamVariant::Wide => wide_chunk(cuda, &ptrs, center_ptr, len)?,
            StreamVariant::Slices => sliced_chunk(cuda, &ptrs, center_ptr, len)?,
            StreamVariant::Classic => classic_chunk(cuda, &ptrs, center_ptr, len)?,
        };
        cuda.finish_chunk(None, j0, len, &mut keep)?;
        for (s, h) in sums.iter_mut().zip(host) {
            *s += h;
        }
        j0 += len;
    }
    Ok(sums
        .into_iter()
        .map(|v| if v.is_finite() { v } else { f64::INFINITY })
        .collect())
}

/// One chunk with `center_dist_partial` and `center_dist_reduce`: the `n` sums.
fn classic_chunk(cuda: &Cuda, ptrs: &[u64], center_ptr: u64, len: usize) -> Result<Vec<f64>> {
    let n = ptrs.len();
    let partial_fn = cuda.function(FILE, SOURCE, PARTIAL)?;
    let reduce_fn = cuda.function(FILE, SOURCE, REDUCE)?;
    let (Splits { splits, span }, groups) = launch::center_grid(n, len, cuda.sm_count(), ROWS, THREADS);
    let (ptrs_dev, partial) = split_buffers(cuda, ptrs, splits)?;
    let (rows_ptr, partial_ptr) = (cuda.address(&ptrs_dev), cuda.address(&partial));
    let (n32, len64, span64) = (n as i32, len as u64, span as u64);
    let mut launch = cuda.stream().launch_builder(&partial_fn);
    launch
        .arg(&rows_ptr)
        .arg(&n32)
        .arg(&center_ptr)
        .arg(&len64)
        .arg(&span64)
        .arg(&partial_ptr);
    let cfg = LaunchConfig {
        grid_dim: (splits as u32, groups as u32, 1),
        block_dim: (THREADS as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: arguments match center_dist_partial (pointer, i32, pointer, u64, u64,
    // pointer). `rows_ptr` holds n row pointers and `center_ptr` points at the center,
    // each valid for `len` floats; splits * span >= len; block (x, y) writes
    // partial[x * n + i] for its rows i < n only, inside the splits * n doubles allocated.
    unsafe { launch.launch(cfg) }.map_err(backend_err)?;
    cuda.sum_splits(&reduce_fn, &partial, splits, n)
}

/// One chunk with `center_dist_slices` and `center_dist_reduce`: [`classic_chunk`]'s splits
/// and sums, from a one-wave grid of blocks of 256 x (row groups per block) threads.
fn sliced_chunk(cuda: &Cuda, ptrs: &[u64], center_ptr: u64, len: usize) -> Result<Vec<f64>> {
    let n = ptrs.len();
    let f = cuda.function(FILE, SOURCE, SLICED)?;
    let reduce_fn = cuda.function(FILE, SOURCE, REDUCE)?;
    let (Splits { splits, span }, groups) = launch::center_grid(n, len, cuda.sm_count(), ROWS, THREADS);
    let slices = groups.min(SLICES);
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor((THREADS * slices) as u32, 0, None)
        .map_err(backend_err)? as usize;
    let items = splits * groups.div_ceil(slices);
    let blocks = (per_sm.max(1) * cuda.sm_count()).min(items).max(1);
    let (ptrs_dev, partial) = split_buffers(cuda, ptrs, splits)?;
    let (rows_ptr, partial_ptr) = (cuda.address(&ptrs_dev), cuda.address(&partial));
    let (n32, len64, span64, splits32) = (n as i32, len as u64, span as u64, splits as u32);
    let mut launch = cuda.stream().launch_builder(&f);
    launch
        .arg(&rows_ptr)
        .arg(&n32)
        .arg(&center_ptr)
        .arg(&len64)
        .arg(&span64)
        .arg(&splits32)
        .arg(&partial_ptr);
    let cfg = LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS as u32, slices as u32, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: arguments match center_dist_slices (pointer, i32, pointer, u64, u64, u32,
    // pointer). `rows_ptr` holds n row pointers and `center_ptr` points at the center, each
    // valid for `len` floats; splits * span >= len; blockDim.y = slices <= CS_SLICES; the item
    // of split x and row group g writes partial[x * n + i] for its rows i < n only, inside the
    // splits * n doubles allocated.
    unsafe { launch.launch(cfg) }.map_err(backend_err)?;
    cuda.sum_splits(&reduce_fn, &partial, splits, n)
}

/// What [`classic_chunk`] and [`sliced_chunk`] launch on: the row pointers on the device and
/// `splits * n` zeroed partial sums (kept alive by the caller until the reduce has read them).
fn split_buffers(cuda: &Cuda, ptrs: &[u64], splits: usize) -> Result<(CudaSlice<u64>, CudaSlice<f64>)> {
    let ptrs_dev = cuda.to_device(ptrs)?;
    let partial = cuda
        .stream()
        .alloc_zeros::<f64>(splits * ptrs.len())
        .map_err(backend_err)?;
    Ok((ptrs_dev, partial))
}

/// One chunk with `center_dist_wide`: a one-wave persistent grid whose last block per row
/// group adds the partials (one launch), the `n` sums read back.
fn wide_chunk(cuda: &Cuda, ptrs: &[u64], center_ptr: u64, len: usize) -> Result<Vec<f64>> {
    let n = ptrs.len();
    let f = cuda.function(FILE, SOURCE, WIDE)?;
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor(THREADS as u32, 0, None)
        .map_err(backend_err)? as usize;
    let (blocks, groups) = launch::center_wide_grid(n, len, cuda.sm_count(), per_sm, WIDE_ROWS, THREADS);
    let aligned = i32::from(ptrs.iter().chain([&center_ptr]).all(|p| p % 16 == 0));
    let ptrs_dev = cuda.to_device(ptrs)?;
    // The partials of every block, then the n sums, in one buffer.
    // SAFETY: the kernel writes every element before any is read (partials by their block,
    // sums by the last block of each group); `done`, which it reads first, is zeroed.
    let sums = unsafe { cuda.stream().alloc::<f64>((blocks + 1) * n) }.map_err(backend_err)?;
    let done = cuda.stream().alloc_zeros::<u32>(groups).map_err(backend_err)?;
    let (rows_ptr, sums_ptr, done_ptr) = (cuda.address(&ptrs_dev), cuda.address(&sums), cuda.address(&done));
    let out_ptr = sums_ptr + (8 * blocks * n) as u64;
    let (n32, len64) = (n as i32, len as u64);
    let mut launch = cuda.stream().launch_builder(&f);
    launch
        .arg(&rows_ptr)
        .arg(&n32)
        .arg(&center_ptr)
        .arg(&len64)
        .arg(&aligned)
        .arg(&sums_ptr)
        .arg(&done_ptr)
        .arg(&out_ptr);
    let cfg = LaunchConfig {
        grid_dim: (blocks as u32, groups as u32, 1),
        block_dim: (THREADS as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: arguments match center_dist_wide (pointer, i32, pointer, u64, i32, pointer,
    // pointer, pointer). `rows_ptr` holds n row pointers and `center_ptr` points at the
    // center, each valid for `len` floats (16-byte aligned when `aligned` is 1); block (x, y)
    // writes partial[x * n + i] for its rows i < n (blocks * n doubles), counts in done[y]
    // (groups zeroed u32), and the last block of group y writes out[i] (n doubles after the
    // partials).
    unsafe { launch.launch(cfg) }.map_err(backend_err)?;
    cuda.stream()
        .clone_dtoh(&sums.slice(blocks * n..))
        .map_err(backend_err)
}
