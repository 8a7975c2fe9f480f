//! Primitive 3, `center_dist` (SPEC 4.5-4.7 and section 5): the `n` squared distances from
//! each row to a `1 x d` center, launched from `kernels/center_dist.cu`.
//!
//! Per coordinate chunk: `center_dist_partial` on a grid of splits x (groups of 4 rows), each
//! block summing one split of its rows in f64, then `center_dist_reduce` adding the splits in
//! f64; the host adds the chunks and maps every non-finite sum to `+inf` (a row or a center
//! holding NaN or an infinity). Distances within rounding of a tie are then recomputed
//! exactly (`exact_dist.rs`), so that exact ties break by row index as in the reference.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::exact_dist;
use super::launch::{self, Splits};
use super::memory::CudaRows;
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
pub(crate) const ENTRIES: [&str; 2] = [PARTIAL, REDUCE];

const ROWS: usize = 4;
const THREADS: usize = 256;

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
    let partial_fn = cuda.function(FILE, SOURCE, PARTIAL)?;
    let reduce_fn = cuda.function(FILE, SOURCE, REDUCE)?;
    let staged = if rows.is_on_device() { 0 } else { n } + usize::from(!center.is_on_device());
    let chunk = cuda.chunk_len(d, launch::center_footprint(n, cuda.sm_count(), ROWS, staged))?;
    let mut sums = vec![0.0f64; n];
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let ptrs = cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?;
        let center_ptr = cuda.chunk_ptrs(center, None, j0, len, &mut keep)?[0];
        let ptrs_dev = cuda.to_device(&ptrs)?;
        let rows_ptr = cuda.address(&ptrs_dev);
        let (Splits { splits, span }, groups) = launch::center_grid(n, len, cuda.sm_count(), ROWS, THREADS);
        let partial = cuda
            .stream()
            .alloc_zeros::<f64>(splits * n)
            .map_err(backend_err)?;
        let partial_ptr = cuda.address(&partial);
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
        let host = cuda.sum_splits(&reduce_fn, &partial, splits, n)?;
        cuda.finish_chunk(None, j0, len, &mut keep)?;
        for (s, h) in sums.iter_mut().zip(host) {
            *s += h;
        }
        drop((ptrs_dev, partial));
        j0 += len;
    }
    let mut sums: Vec<f64> = sums
        .into_iter()
        .map(|v| if v.is_finite() { v } else { f64::INFINITY })
        .collect();
    exact_dist::settle_center(cuda, rows, center, &mut sums, exact_dist::f64_sum_bound(d))?;
    Ok(sums)
}
