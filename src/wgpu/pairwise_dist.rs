//! Primitive 2, `pairwise_dist` (SPEC 4.4, 4.7, section 5), on `shaders/pairwise_dist.wgsl`.
//!
//! For every chunk, the pairs `i < j` of rows without a non-finite value are launched in
//! batches small enough for their partial-sum buffer to fit one binding: one invocation per
//! (pair, tile of 64 coordinates), then `reduce.wgsl` adds each pair's partials on the device,
//! and one f32 per pair and chunk is read back (a single submission for the whole matrix).
//!
//! Accuracy: each pair is multiplied by a power of two chosen from the two rows' largest
//! magnitudes over all chunks ([`scale_for`]), so finite inputs up to f32::MAX never overflow;
//! each square is rounded once to f32 and the squares are added exactly, as integers
//! (`shaders/wide_sum.wgsl`), over tiles and chunks alike; the host converts the total to f64
//! once and divides by the scale squared. So a distance does not depend on where in the rows
//! each coordinate sits, or on the chunking: distances that are equal as multisets of squared
//! differences are bit-identical, and the rule layer breaks their ties by row index exactly as
//! the CPU and the reference do, at every scale. Rows holding NaN or an infinity (from the
//! integer row statistics) get `+inf` in their row and column, the diagonal included; the
//! diagonal of a finite row is exactly 0.

use super::device::{PAIRWISE_DIST_PARTIAL, WORKGROUP};
use super::reduce::{WIDE_BYTES, wide_int, wide_value};
use super::{Wgpu, WgpuRows, reduce, scale_for};
use crate::error::Result;

/// The `n x n` matrix of squared distances between the rows.
pub(super) fn pairwise_dist(w: &Wgpu, rows: &WgpuRows) -> Result<Vec<f64>> {
    let device = w.gpu_for(&[rows])?;
    let gpu = &*device;
    let n = rows.k;
    let stats = rows.stats(gpu)?;
    let bad: Vec<bool> = (0..n)
        .map(|i| stats.iter().any(|s| s[i] >= 0x7f80_0000))
        .collect();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| !bad[i] && !bad[j])
        .collect();
    // One scale per row over all chunks, so that chunk sums add as integers.
    let row_max: Vec<u32> = (0..n)
        .map(|i| stats.iter().map(|s| s[i]).max().unwrap_or(0))
        .collect();
    let scale = |i: usize, j: usize| scale_for(row_max[i].max(row_max[j]));
    let mut dist = vec![0.0f64; n * n];
    if !pairs.is_empty() {
        let np = pairs.len() as u64;
        let words = gpu.scoped("pairwise distances", || {
            let staging = gpu.staging(WIDE_BYTES * np * rows.chunks() as u64);
            let mut enc = gpu.encoder("pairwise distances");
            for c in 0..rows.chunks() {
                let (_, len) = rows.range(c);
                let tiles = (len as u64).div_ceil(WORKGROUP);
                let per_launch = (gpu.max_binding() / WIDE_BYTES / tiles).clamp(1, np) as usize;
                for (b, batch) in pairs.chunks(per_launch).enumerate() {
                    let list: Vec<u32> = batch
                        .iter()
                        .flat_map(|&(i, j)| {
                            let s = scale(i, j);
                            // The scale twice: the shader multiplies row i by one copy and row j
                            // by the other, so no compiler can factor `x*s - y*s` into
                            // `(x - y)*s`, which overflows for +-3e38.
                            [i as u32, j as u32, s.to_bits(), s.to_bits()]
                        })
                        .collect();
                    let count = batch.len() as u64;
                    let list = gpu.storage_init("pairs", bytemuck::cast_slice(&list))?;
                    let params = gpu.uniform("pairwise_dist", &[len as u32, tiles as u32, count as u32, 0]);
                    let partial = gpu.storage("pairwise partials", WIDE_BYTES * count * tiles)?;
                    let bind = gpu.bind(
                        PAIRWISE_DIST_PARTIAL,
                        0,
                        &[&rows.bufs[c], &list, &params, &partial],
                    )?;
                    gpu.dispatch(&mut enc, PAIRWISE_DIST_PARTIAL, &bind, count * tiles)?;
                    let sums = reduce::sum_segments(gpu, &mut enc, partial, count, tiles)?;
                    let at = WIDE_BYTES * (c as u64 * np + (b * per_launch) as u64);
                    enc.copy_buffer_to_buffer(&sums, 0, &staging, at, WIDE_BYTES * count);
                }
            }
            gpu.submit_and_read(enc, &staging)
        })?;
        for (p, &(i, j)) in pairs.iter().enumerate() {
            let total: u128 = (0..rows.chunks())
                .map(|c| {
                    let at = 4 * (c * pairs.len() + p);
                    wide_int(&words[at..at + 4])
                })
                .fold(0, u128::saturating_add);
            let v = wide_value(total, scale(i, j));
            dist[i * n + j] = v;
            dist[j * n + i] = v;
        }
    }
    for i in (0..n).filter(|&i| bad[i]) {
        for j in 0..n {
            dist[i * n + j] = f64::INFINITY;
            dist[j * n + i] = f64::INFINITY;
        }
    }
    Ok(dist)
}
