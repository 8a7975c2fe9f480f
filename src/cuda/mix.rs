//! Primitive 4, `mix` (SPEC section 5): `out (k x d) = C (k x n) rows [+ scale base]`,
//! launched from `kernels/mix.cu`.
//!
//! The host lists, for each group of output rows (1 for `k == 1`, else 8), the input rows
//! with a non-zero coefficient in the group; the kernel reads only those, each value once
//! per group, and sums in f64. Launch: grid (coordinate blocks, groups) of 256 threads,
//! grid-stride over the chunk's coordinates. With `mix=wide` (`variant.rs`) and
//! `k == 1`, `mix_k1_wide`: four coordinates per thread, a one-wave persistent grid, the
//! group's row pointers and coefficients in shared memory; its results are bit-identical.
//! With `mix_rows=tiled` and `k > 1`, `mix_tiled`: the same groups of 8 output rows, but a
//! block stages a tile of every input row any group needs in shared memory once and computes
//! all the groups from it (the batch read once instead of once per group); bit-identical too.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch;
use super::rows::CudaRows;
use super::variant::{MixRowsVariant, StreamVariant};
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
/// More output rows: every needed input row staged once per coordinate tile (`mix_rows=tiled`).
const TILED: &str = "mix_tiled";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 4] = [K1, K8, K1_WIDE, TILED];

const THREADS: usize = 256;
/// `mix_tiled`'s dynamic shared memory: at most the 48 KiB any launch may ask for without
/// opting in, for the staged pointers (8 bytes) and 64 << cw_shift floats per input row.
const TILED_SHARED: usize = 48 << 10;
/// Most input rows with a non-zero coefficient `mix_tiled` takes: 64 coordinates of each, and
/// its pointer, in [`TILED_SHARED`].
pub(crate) const TILED_MAX_ROWS: usize = TILED_SHARED / (8 + 64 * 4);

/// `mix_tiled`'s `cw_shift` (each tile is 64 << cw_shift coordinates, 2^cw_shift warps of the
/// block's 8 share each group) and its shared memory in bytes, for `groups` groups of output
/// rows over `nuni` input rows: enough warps per group that every warp has a group, as far as
/// the shared memory allows; `None` when even 64 coordinates of every row do not fit (more
/// than [`TILED_MAX_ROWS`]).
pub(crate) fn tiled_shape(groups: usize, nuni: usize) -> Option<(u32, usize)> {
    if nuni > TILED_MAX_ROWS {
        return None;
    }
    let want = match groups {
        0 | 1 => 3,
        2 | 3 => 2,
        4..=7 => 1,
        _ => 0,
    };
    (0..=want)
        .rev()
        .map(|s: u32| (s, nuni * 8 + nuni * (64usize << s) * 4))
        .find(|&(_, bytes)| bytes <= TILED_SHARED)
}

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
    let kt = if k == 1 { 1 } else { 8 };
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
    // mix_rows=tiled (more than one output row): the input rows any group reads (ascending),
    // their tile's shape, each entry's slot among those rows in place of its row index, and
    // each entry's 8 coefficients side by side.
    let mut uni: Vec<usize> = Vec::new();
    let mut tiled = None;
    let mut cq: Vec<f64> = Vec::new();
    if k > 1 && cuda.kernels().mix_rows == MixRowsVariant::Tiled {
        uni = (0..n)
            .filter(|&i| (0..k).any(|r| coeffs[r * n + i] != 0.0))
            .collect();
        tiled = tiled_shape(groups, uni.len());
    }
    if tiled.is_some() {
        let mut slot = vec![0i32; n];
        for (s, &i) in uni.iter().enumerate() {
            slot[i] = s as i32;
        }
        cq = vec![0.0f64; cols.len() * 8];
        for g in 0..groups {
            for p in start[g] as usize..start[g + 1] as usize {
                let i = cols[p] as usize;
                for q in 0..8.min(k - 8 * g) {
                    cq[p * 8 + q] = coeffs[(8 * g + q) * n + i];
                }
                cols[p] = slot[i];
            }
        }
    }
    let name = match (k, wide, tiled) {
        (1, true, _) => K1_WIDE,
        (1, false, _) => K1,
        (_, _, Some(_)) => TILED,
        _ => K8,
    };
    let f = cuda.function(FILE, SOURCE, name)?;
    let coeffs_dev = cuda.to_device(if tiled.is_some() { &cq } else { coeffs })?;
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
        let row_ptrs = match tiled {
            Some(_) => cuda.chunk_ptrs(rows, Some(&uni), j0, len, &mut keep)?,
            None => cuda.chunk_ptrs(rows, None, j0, len, &mut keep)?,
        };
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
        if let Some((cw_shift, smem)) = tiled {
            let per_sm = f
                .occupancy_max_active_blocks_per_multiprocessor(THREADS as u32, smem, None)
                .map_err(backend_err)? as usize;
            // One block per tile of 64 << cw_shift coordinates, at most one wave.
            let blocks = launch::one_wave_blocks(len, cuda.sm_count(), 64 << cw_shift, per_sm);
            let (nuni32, k32, len64, cw32) = (uni.len() as i32, k as i32, len as u64, cw_shift as i32);
            let mut launch = cuda.stream().launch_builder(&f);
            launch
                .arg(&rows_ptr)
                .arg(&nuni32)
                .arg(&cols_ptr)
                .arg(&start_ptr)
                .arg(&coeffs_ptr)
                .arg(&k32)
                .arg(&base_ptr)
                .arg(&scale)
                .arg(&len64)
                .arg(&out_ptr)
                .arg(&cw32);
            let cfg = LaunchConfig {
                grid_dim: (blocks as u32, 1, 1),
                block_dim: (THREADS as u32, 1, 1),
                shared_mem_bytes: smem as u32,
            };
            // SAFETY: arguments match mix_tiled's (pointer, i32, pointer, pointer, pointer,
            // i32, pointer, f64, u64, pointer, i32). `rows_ptr` holds the nuni pointers of the
            // rows in `uni`, each valid for `len` floats; `cols_ptr` holds, per entry of the
            // group lists (`start_ptr`: groups + 1 offsets), a slot < nuni; `coeffs_ptr` 8 f64
            // per entry (16-byte aligned: a device allocation); `base_ptr` k pointers, read
            // only when scale != 0; `out_ptr` k pointers valid for `len` floats; `smem` bytes
            // hold nuni pointers and nuni << (6 + cw_shift) floats (`tiled_shape`). Threads
            // write out[r][t] for r < k and t < len only.
            unsafe { launch.launch(cfg) }.map_err(backend_err)?;
            cuda.finish_chunk(Some(&mut out), j0, len, &mut keep)?;
            drop((rows_dev, base_dev, out_dev));
            j0 += len;
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_shape_fits_the_shared_memory_and_keeps_every_warp_busy() {
        for nuni in 0..=TILED_MAX_ROWS + 1 {
            for groups in 1..=20usize {
                match tiled_shape(groups, nuni) {
                    Some((s, bytes)) => {
                        assert!(nuni <= TILED_MAX_ROWS, "nuni = {nuni}");
                        assert_eq!(bytes, nuni * 8 + nuni * (64 << s) * 4);
                        assert!(bytes <= TILED_SHARED, "groups = {groups}, nuni = {nuni}");
                        // 8 >> s warps share a sub-tile's groups: no more than the groups
                        // need, unless a wider tile (fewer warps each) does not fit.
                        let wider_fits = s < 3 && nuni * 8 + nuni * (64 << (s + 1)) * 4 <= TILED_SHARED;
                        assert!(
                            (8 >> s) <= groups.next_power_of_two() || !wider_fits,
                            "groups = {groups}, nuni = {nuni}, s = {s}"
                        );
                    }
                    None => assert!(nuni > TILED_MAX_ROWS, "nuni = {nuni}"),
                }
            }
        }
        // Few groups, few rows: the widest tile, every one of the 8 warps on its own sub-tile.
        assert_eq!(tiled_shape(1, 16), Some((3, 16 * 8 + 16 * 512 * 4)));
        assert_eq!(tiled_shape(8, 64), Some((0, 64 * 8 + 64 * 64 * 4)));
    }
}
