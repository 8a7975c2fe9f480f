//! Primitive 2, `pairwise_dist` (SPEC 4.4, 4.7, section 5), on `shaders/pairwise_dist.wgsl`.
//!
//! For every chunk, the pairs `i < j` of rows without a non-finite value are launched in
//! batches small enough for their partial-sum buffer to fit one binding: one invocation per
//! (pair, tile of 64 coordinates), then `reduce.wgsl` adds each pair's partials on the device,
//! and one f32 per pair and chunk is read back (a single submission for the whole matrix).
//!
//! Accuracy: each pair is multiplied by a power of two chosen from the two rows' largest
//! magnitudes ([`scale_for`]), so finite inputs up to f32::MAX never overflow; the host divides
//! by the scale squared and adds the chunks in f64. Rows holding NaN or an infinity (from the
//! integer row statistics) get `+inf` in their row and column, the diagonal included; the
//! diagonal of a finite row is exactly 0.

use super::device::{PAIRWISE_DIST_PARTIAL, WORKGROUP};
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
    let mut dist = vec![0.0f64; n * n];
    if !pairs.is_empty() {
        let np = pairs.len() as u64;
        // One submission per launch: its partials (at most a quarter of a storage binding) are
        // freed before the next launch allocates its own, so the extra memory stays bounded by
        // the binding size whatever n and the number of chunks (recording every launch in one
        // submission kept all partials alive at once: about (n - 1) / 128 times the batch).
        let mut words = Vec::with_capacity(pairs.len() * rows.chunks());
        gpu.scoped("pairwise distances", || {
            for (c, chunk_stats) in stats.iter().enumerate() {
                let (_, len) = rows.range(c);
                let tiles = (len as u64).div_ceil(WORKGROUP);
                let per_launch = (gpu.max_binding() / 16 / tiles).clamp(1, np) as usize;
                for batch in pairs.chunks(per_launch) {
                    let mut enc = gpu.encoder("pairwise distances");
                    let list: Vec<u32> = batch
                        .iter()
                        .flat_map(|&(i, j)| {
                            let s = scale_for(chunk_stats[i].max(chunk_stats[j]));
                            // The scale twice: the shader multiplies row i by one copy and row j
                            // by the other, so no compiler can factor `x*s - y*s` into
                            // `(x - y)*s`, which overflows for +-3e38.
                            [i as u32, j as u32, s.to_bits(), s.to_bits()]
                        })
                        .collect();
                    let count = batch.len() as u64;
                    let list = gpu.storage_init("pairs", bytemuck::cast_slice(&list))?;
                    let params = gpu.uniform("pairwise_dist", &[len as u32, tiles as u32, count as u32, 0]);
                    let partial = gpu.storage("pairwise partials", 4 * count * tiles)?;
                    let bind = gpu.bind(
                        PAIRWISE_DIST_PARTIAL,
                        0,
                        &[&rows.bufs[c], &list, &params, &partial],
                    )?;
                    gpu.dispatch(&mut enc, PAIRWISE_DIST_PARTIAL, &bind, count * tiles)?;
                    let sums = reduce::sum_segments(gpu, &mut enc, partial, count, tiles)?;
                    let staging = gpu.staging(4 * count);
                    enc.copy_buffer_to_buffer(&sums, 0, &staging, 0, 4 * count);
                    words.extend(gpu.submit_and_read(enc, &staging)?);
                }
            }
            Ok(())
        })?;
        for c in 0..rows.chunks() {
            for (p, &(i, j)) in pairs.iter().enumerate() {
                let s = f64::from(scale_for(stats[c][i].max(stats[c][j])));
                let v = f64::from(f32::from_bits(words[c * pairs.len() + p])) / (s * s);
                dist[i * n + j] += v;
                dist[j * n + i] += v;
            }
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
