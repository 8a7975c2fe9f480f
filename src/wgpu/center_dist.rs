//! Primitive 3, `center_dist` (SPEC 4.5-4.7, section 5), on `shaders/center_dist.wgsl`.
//!
//! For every chunk: one partial sum per (listed row, tile of coordinates; [`KernelVariant`]: one
//! invocation per tile of 64, or one workgroup per tile of 1024) into one partials buffer
//! that every chunk reuses, `reduce.wgsl` adds each row's partials on the device, and one
//! exact sum per row is read back and added on the host (one submission per chunk), so the
//! scratch is one chunk's worth (1/16 of it), whatever the number of chunks.
//!
//! Accuracy: each row and the center are multiplied by a power of two chosen from their
//! largest magnitudes over all chunks ([`scale_for`]), so no f32 overflow for finite input;
//! the squares are added exactly, as integers, over tiles and chunks (`shaders/wide_sum.wgsl`,
//! as in `pairwise_dist.rs`: equal distances are bit-identical), and the host converts the
//! total once and divides by the scale squared. A row (or a center) holding NaN or an
//! infinity, known from the integer row statistics, gets `+inf` and is not launched. The
//! kernels read a list of rows, so the exact recomputation of a few rows
//! ([`center_dist_rows`]: the `fast` kernels' small totals, `Kernels::exact_center_dist`)
//! launches just those.

use super::device::Gpu;
use super::fast_dist;
use super::kernel_variant::KernelVariant;
use super::reduce::{WIDE_BYTES, wide_int, wide_value};
use super::{Wgpu, WgpuRows, reduce, same_chunks, scale_for};
use crate::error::Result;

/// The `n` squared distances from the rows to `center` (a `1 x d` matrix).
/// Shapes are checked by the caller (`kernels::shape`); the chunking here.
pub(super) fn center_dist(w: &Wgpu, rows: &WgpuRows, center: &WgpuRows) -> Result<Vec<f64>> {
    let all: Vec<usize> = (0..rows.k).collect();
    center_dist_rows(w, rows, center, &all, w.kernels)
}

/// The squared distances of the rows `which` to `center`, in the order of `which`, by the
/// kernels of `variant`: `+inf` for a row (or a center) with a non-finite value, the others
/// launched. With `fast`, the totals its bound does not cover are recomputed by the exact-sum
/// kernels before it returns (`fast_dist.rs`).
pub(super) fn center_dist_rows(
    w: &Wgpu,
    rows: &WgpuRows,
    center: &WgpuRows,
    which: &[usize],
    variant: KernelVariant,
) -> Result<Vec<f64>> {
    let device = w.gpu_for(&[rows, center])?;
    let gpu = &*device;
    same_chunks(rows, center, "center")?;
    let stats = rows.stats(gpu, w.params.max_groups_x)?;
    let cstats = center.stats(gpu, w.params.max_groups_x)?;
    if cstats.iter().any(|s| s[0] >= 0x7f80_0000) {
        return Ok(vec![f64::INFINITY; which.len()]);
    }
    let bad = |i: usize| stats.iter().any(|s| s[i] >= 0x7f80_0000);
    // One scale per row over all chunks, so that chunk sums add as integers.
    let center_max = cstats.iter().map(|s| s[0]).max().unwrap_or(0);
    let scale = |i: usize| scale_for(stats.iter().map(|s| s[i]).max().unwrap_or(0).max(center_max));
    let launched: Vec<usize> = which.iter().copied().filter(|&i| !bad(i)).collect();
    let mut totals = Vec::new();
    if !launched.is_empty() {
        let cap = w.params.max_groups_x;
        totals = gpu.scoped("center distances", || {
            exact_sums(gpu, variant, cap, rows, center, &launched, &scale)
        })?;
        if !variant.is_exact_sum() {
            fast_dist::recompute_small(&mut totals, rows.d, |redo| {
                let again: Vec<usize> = redo.iter().map(|&p| launched[p]).collect();
                gpu.scoped("center distances recomputed", || {
                    exact_sums(gpu, variant.exact_sum(), cap, rows, center, &again, &scale)
                })
            })?;
        }
    }
    let mut launched_values = launched
        .iter()
        .zip(&totals)
        .map(|(&i, &total)| wide_value(total, scale(i)));
    Ok(which
        .iter()
        .map(|&i| {
            if bad(i) {
                f64::INFINITY
            } else {
                launched_values.next().expect("one total per launched row")
            }
        })
        .collect())
}

/// The exact sums (integers in units of 2^-10) of the scaled squared differences of the rows
/// `list` to `center` over all chunks, by the kernels of `variant`: one partials buffer sized
/// for chunk 0 (the longest) reused by every chunk, each chunk's sums read back and added on
/// the host (one submission per chunk).
fn exact_sums(
    gpu: &Gpu,
    variant: KernelVariant,
    cap: Option<u32>,
    rows: &WgpuRows,
    center: &WgpuRows,
    list: &[usize],
    scale: &dyn Fn(usize) -> i32,
) -> Result<Vec<u128>> {
    let n = list.len() as u64;
    // Per listed row: its index, then its scale twice (row, center: see the shader on why).
    let words: Vec<i32> = list
        .iter()
        .flat_map(|&i| {
            let s = scale(i);
            [i as i32, s, s, 0]
        })
        .collect();
    let list_buf = gpu.storage_init("center rows", bytemuck::cast_slice(&words))?;
    let entry = variant.center_entry();
    let max_tiles = (rows.range(0).1 as u64).div_ceil(variant.tile());
    let partial = gpu.storage("center partials", WIDE_BYTES * n * max_tiles)?;
    let staging = gpu.staging(WIDE_BYTES * n);
    let mut totals = vec![0u128; list.len()];
    for c in 0..rows.chunks() {
        let (_, len) = rows.range(c);
        let tiles = (len as u64).div_ceil(variant.tile());
        let mut enc = gpu.encoder("center distances");
        let params = gpu.uniform("center_dist", &[len as u32, tiles as u32, n as u32, 0]);
        let bind = gpu.bind(
            entry,
            0,
            &[&rows.bufs[c], &center.bufs[c], &list_buf, &params, &partial],
        )?;
        gpu.dispatch(&mut enc, entry, &bind, variant.invocations(n * tiles), cap)?;
        let sums = reduce::sum_segments(gpu, &mut enc, partial.clone(), n, tiles, cap)?;
        enc.copy(&sums, 0, &staging, 0, WIDE_BYTES * n);
        let words = gpu.submit_and_read(enc, &staging)?;
        for (i, total) in totals.iter_mut().enumerate() {
            *total = total.saturating_add(wide_int(&words[4 * i..4 * i + 4]));
        }
    }
    Ok(totals)
}
