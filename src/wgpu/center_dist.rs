//! Primitive 3, `center_dist` (SPEC 4.5-4.7, section 5), on `shaders/center_dist.wgsl`.
//!
//! For every chunk: one partial sum per (row, tile of coordinates; [`KernelVariant`]: one
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
//! infinity, known from the integer row statistics, gets `+inf`.

#[cfg(doc)]
use super::KernelVariant;
use super::reduce::{WIDE_BYTES, wide_int, wide_value};
use super::{Wgpu, WgpuRows, reduce, same_chunks, scale_for};
use crate::error::Result;

/// The `n` squared distances from the rows to `center` (a `1 x d` matrix).
/// Shapes are checked by the caller (`kernels::shape`); the chunking here.
pub(super) fn center_dist(w: &Wgpu, rows: &WgpuRows, center: &WgpuRows) -> Result<Vec<f64>> {
    let device = w.gpu_for(&[rows, center])?;
    let gpu = &*device;
    same_chunks(rows, center, "center")?;
    let n = rows.k as u64;
    let stats = rows.stats(gpu, w.params.max_groups_x)?;
    let cstats = center.stats(gpu, w.params.max_groups_x)?;
    if cstats.iter().any(|s| s[0] >= 0x7f80_0000) {
        return Ok(vec![f64::INFINITY; rows.k]);
    }
    // One scale per row over all chunks, so that chunk sums add as integers.
    let center_max = cstats.iter().map(|s| s[0]).max().unwrap_or(0);
    let scales: Vec<i32> = (0..rows.k)
        .map(|i| scale_for(stats.iter().map(|s| s[i]).max().unwrap_or(0).max(center_max)))
        .collect();
    // Each scale twice (row, center): see the shader on why.
    let doubled: Vec<i32> = scales.iter().flat_map(|&s| [s, s]).collect();
    let totals = gpu.scoped("center distances", || {
        let scale_buf = gpu.storage_init("scales", bytemuck::cast_slice(&doubled))?;
        // Chunk 0 is the longest: one partials buffer sized for it serves every chunk.
        let variant = w.kernels;
        let entry = variant.center_entry();
        let max_tiles = (rows.range(0).1 as u64).div_ceil(variant.tile());
        let partial = gpu.storage("center partials", WIDE_BYTES * n * max_tiles)?;
        let staging = gpu.staging(WIDE_BYTES * n);
        let mut totals = vec![0u128; rows.k];
        for c in 0..rows.chunks() {
            let (_, len) = rows.range(c);
            let tiles = (len as u64).div_ceil(variant.tile());
            let mut enc = gpu.encoder("center distances");
            let params = gpu.uniform("center_dist", &[len as u32, tiles as u32, n as u32, 0]);
            let bind = gpu.bind(
                entry,
                0,
                &[&rows.bufs[c], &center.bufs[c], &scale_buf, &params, &partial],
            )?;
            gpu.dispatch(
                &mut enc,
                entry,
                &bind,
                variant.invocations(n * tiles),
                w.params.max_groups_x,
            )?;
            let sums = reduce::sum_segments(gpu, &mut enc, partial.clone(), n, tiles, w.params.max_groups_x)?;
            enc.copy(&sums, 0, &staging, 0, WIDE_BYTES * n);
            let words = gpu.submit_and_read(enc, &staging)?;
            for (i, total) in totals.iter_mut().enumerate() {
                *total = total.saturating_add(wide_int(&words[4 * i..4 * i + 4]));
            }
        }
        Ok(totals)
    })?;
    Ok((0..rows.k)
        .map(|i| {
            if stats.iter().any(|s| s[i] >= 0x7f80_0000) {
                return f64::INFINITY;
            }
            wide_value(totals[i], scales[i])
        })
        .collect())
}
