//! Primitive 4, `mix` (SPEC section 5): `out (k x d) = C (k x n) rows [+ scale base]`,
//! launched from `kernels/mix.cu`.
//!
//! The host lists, for each group of output rows (1 for `k == 1`, else 8), the input rows
//! with a non-zero coefficient in the group; the kernel reads only those, each value once
//! per group, and sums in f64. Launch: grid (coordinate blocks, groups) of 256 threads,
//! grid-stride over the chunk's coordinates. With `mix=wide` (`variant.rs`) and
//! `k == 1`, `mix_k1_wide`: four coordinates per thread, a one-wave persistent grid, the
//! group's row pointers and coefficients in shared memory; its results are bit-identical.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch;
use super::rows::CudaRows;
use super::variant::StreamVariant;
use super::{Cuda, backend_err};
use crate::error::{Error, Result};

/// The kernel file.
pub(crate) const FILE: &str = "mix.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/mix.cu");
/// One output row per group.
const K1: &str = "mix_k1";
/// Eight output rows per group.
const K8: &str = "mix_k8";
/// One output row, four coordinates per thread, a one-wave grid (`mix=wide`).
const K1_WIDE: &str = "mix_k1_wide";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 3] = [K1, K8, K1_WIDE];

const THREADS: usize = 256;

/// Runs primitive 4; returns the `k x d` result.
pub(crate) fn mix(
    cuda: &Cuda,
    rows: &CudaRows<'_>,
    coeffs: &[f64],
    k: usize,
    base: Option<(&CudaRows<'_>, f64)>,
) -> Result<CudaRows<'static>> {
    let (n, d) = (rows.k(), rows.d());
    let wide = k == 1 && cuda.kernels().mix == StreamVariant::Wide;
    let (kt, name) = match (k, wide) {
        (1, true) => (1, K1_WIDE),
        (1, false) => (1, K1),
        _ => (8, K8),
    };
    let groups = k.div_ceil(kt);
    if groups > 65_535 || k * n > i32::MAX as usize {
        return Err(Error::invalid(
            "k",
            k,
            "the CUDA mix takes at most 524280 output rows",
        ));
    }
    let mut cols: Vec<i32> = Vec::new();
    let mut start: Vec<i32> = vec![0];
    for g in 0..groups {
        let group = g * kt..((g + 1) * kt).min(k);
        cols.extend(
            (0..n)
                .filter(|&i| group.clone().any(|r| coeffs[r * n + i] != 0.0))
                .map(|i| i as i32),
        );
        start.push(cols.len() as i32);
    }
    let f = cuda.function(FILE, SOURCE, name)?;
    let coeffs_dev = cuda.to_device(coeffs)?;
    let cols_dev = cuda.to_device(&cols)?;
    let start_dev = cuda.to_device(&start)?;
    let (coeffs_ptr, cols_ptr, start_ptr) = (
        cuda.address(&coeffs_dev),
        cuda.address(&cols_dev),
        cuda.address(&start_dev),
    );
    let base = base.filter(|(_, scale)| *scale != 0.0);
    let scale = base.map_or(0.0, |(_, s)| s);
    let mut out = cuda.alloc_rows(k, d)?;
    let staged = if rows.is_on_device() { 0 } else { n }
        + base.map_or(0, |(b, _)| if b.is_on_device() { 0 } else { k })
        + if out.is_on_device() { 0 } else { k };
    let chunk = cuda.chunk_len(d, launch::mix_footprint(n, k, staged))?;
    let mut keep = Vec::new();
    let mut j0 = 0;
    while j0 < d {
        let len = chunk.min(d - j0);
        let row_ptrs = cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?;
        let base_ptrs = match base {
            Some((b, _)) => cuda.chunk_ptrs(b, None, j0, len, &mut keep)?,
            None => vec![0u64; k],
        };
        let out_ptrs = cuda.out_ptrs(&out, j0, len, &mut keep)?;
        let (rows_dev, base_dev, out_dev) = (
            cuda.to_device(&row_ptrs)?,
            cuda.to_device(&base_ptrs)?,
            cuda.to_device(&out_ptrs)?,
        );
        let (rows_ptr, base_ptr, out_ptr) = (
            cuda.address(&rows_dev),
            cuda.address(&base_dev),
            cuda.address(&out_dev),
        );
        let (blocks, _) = if wide {
            let per_sm = f
                .occupancy_max_active_blocks_per_multiprocessor(THREADS as u32, 0, None)
                .map_err(backend_err)? as usize;
            (
                launch::wide_blocks(groups, len, cuda.sm_count(), per_sm, THREADS),
                groups,
            )
        } else {
            launch::mix_grid(k, len, cuda.sm_count(), kt, THREADS)
        };
        let aligned = i32::from(
            row_ptrs
                .iter()
                .chain(&out_ptrs)
                .chain(if base.is_some() { &base_ptrs[..] } else { &[] })
                .all(|p| p % 16 == 0),
        );
        let (n32, k32, len64) = (n as i32, k as i32, len as u64);
        let mut launch = cuda.stream().launch_builder(&f);
        launch
            .arg(&rows_ptr)
            .arg(&n32)
            .arg(&coeffs_ptr)
            .arg(&k32)
            .arg(&cols_ptr)
            .arg(&start_ptr)
            .arg(&base_ptr)
            .arg(&scale)
            .arg(&len64)
            .arg(&out_ptr);
        if wide {
            launch.arg(&aligned);
        }
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, groups as u32, 1),
            block_dim: (THREADS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: arguments match MIX_ARGS (pointer, i32, pointer, i32, pointer, pointer,
        // pointer, f64, u64, pointer), followed for mix_k1_wide by `aligned` (i32: 1 only when
        // every row, base and output pointer is 16-byte aligned). `rows_ptr` holds n row pointers and `out_ptr` k, each
        // valid for `len` floats; `base_ptr` holds k pointers, valid when scale != 0 (the only
        // case the kernel reads them); `coeffs_ptr` holds k * n f64; `start_ptr` holds
        // groups + 1 offsets into `cols_ptr`, whose entries are < n. Threads write out[r][t]
        // for r < k and t < len only.
        unsafe { launch.launch(cfg) }.map_err(backend_err)?;
        cuda.finish_chunk(Some(&mut out), j0, len, &mut keep)?;
        drop((rows_dev, base_dev, out_dev));
        j0 += len;
    }
    drop((coeffs_dev, cols_dev, start_dev));
    Ok(out)
}
