//! Primitive 2, `pairwise_dist` (SPEC 4.4, 4.7, section 5), on `shaders/pairwise_dist.wgsl`.
//!
//! For every chunk, the pairs `i < j` of rows without a non-finite value are launched in
//! batches whose partial sums fit one reused scratch buffer ([`PARTIAL_BYTES`]): one
//! partial sum per (pair, tile of coordinates), by one invocation per tile of 64 or, with
//! `BYZAGG_WGPU_KERNELS=coalesced` or `fast`, one workgroup per tile of 1024
//! ([`KernelVariant`]); then
//! `reduce.wgsl` adds each pair's partials on the device, and one exact sum per pair and chunk
//! is read back. Each launch is its own
//! submission, so the extra device memory is that buffer plus terms in n^2 (pair lists,
//! readback), never the partials of several launches or chunks at once.
//!
//! Accuracy: each pair is multiplied by a power of two chosen from the two rows' largest
//! magnitudes over all chunks ([`scale_for`]), so finite inputs up to f32::MAX never overflow
//! and subnormal rows (exactly scaled by integer arithmetic) keep their precision;
//! each square is rounded once to f32 and the squares are added exactly, as integers
//! (`shaders/wide_sum.wgsl`), over tiles and chunks alike; the host converts the total to f64
//! once and divides by the scale squared. So a distance does not depend on where in the rows
//! each coordinate sits, or on the chunking: distances that are equal as multisets of squared
//! differences are bit-identical, and the rule layer breaks their ties by row index exactly as
//! the CPU and the reference do, at every scale. Rows holding NaN or an infinity (from the
//! integer row statistics) get `+inf` in their row and column, the diagonal included; the
//! diagonal of a finite row is exactly 0. The `fast` kernels add each lane's 16 squares in
//! f32 first: within a proven bound of those exact sums, with the totals the bound does not
//! cover recomputed exactly ([`pair_dist`], `fast_dist.rs`).

use super::device::Gpu;
use super::fast_dist;
use super::kernel_variant::KernelVariant;
use super::reduce::{WIDE_BYTES, wide_int, wide_value};
use super::{Wgpu, WgpuRows, reduce, scale_for};
use crate::error::Result;

/// The `n x n` matrix of squared distances between the rows.
pub(super) fn pairwise_dist(w: &Wgpu, rows: &WgpuRows) -> Result<Vec<f64>> {
    let n = rows.k;
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect();
    // The diagonal is listed for its +inf on non-finite rows; it is never launched (0).
    let values = pair_dist(w, rows, &pairs, w.kernels)?;
    let mut dist = vec![0.0f64; n * n];
    for (&(i, j), &v) in pairs.iter().zip(&values) {
        dist[i * n + j] = v;
        dist[j * n + i] = v;
    }
    Ok(dist)
}

/// The squared distances of `pairs` of rows by the kernels of `variant`: `+inf` for a pair
/// touching a row with a non-finite value (from the integer row statistics), 0 for `(i, i)`
/// of a finite row, the others launched. With `fast`, the totals its bound does not cover are
/// recomputed by the exact-sum kernels before it returns (`fast_dist.rs`).
pub(super) fn pair_dist(
    w: &Wgpu,
    rows: &WgpuRows,
    pairs: &[(usize, usize)],
    variant: KernelVariant,
) -> Result<Vec<f64>> {
    let device = w.gpu_for(&[rows])?;
    let gpu = &*device;
    let n = rows.k;
    let stats = rows.stats(gpu, w.params.max_groups_x)?;
    let bad: Vec<bool> = (0..n)
        .map(|i| stats.iter().any(|s| s[i] >= 0x7f80_0000))
        .collect();
    let launched: Vec<(usize, usize)> = pairs
        .iter()
        .copied()
        .filter(|&(i, j)| i != j && !bad[i] && !bad[j])
        .collect();
    // One scale per row over all chunks, so that chunk sums add as integers.
    let row_max: Vec<u32> = (0..n)
        .map(|i| stats.iter().map(|s| s[i]).max().unwrap_or(0))
        .collect();
    let scale = |i: usize, j: usize| scale_for(row_max[i].max(row_max[j]));
    let mut totals = Vec::new();
    if !launched.is_empty() {
        let cap = w.params.max_groups_x;
        totals = gpu.scoped("pairwise distances", || {
            exact_sums(gpu, variant, cap, rows, &launched, &scale)
        })?;
        if !variant.is_exact_sum() {
            fast_dist::recompute_small(&mut totals, rows.d, |redo| {
                let again: Vec<(usize, usize)> = redo.iter().map(|&p| launched[p]).collect();
                gpu.scoped("pairwise distances recomputed", || {
                    exact_sums(gpu, variant.exact_sum(), cap, rows, &again, &scale)
                })
            })?;
        }
    }
    let mut launched_values = launched
        .iter()
        .zip(&totals)
        .map(|(&(i, j), &total)| wide_value(total, scale(i, j)));
    Ok(pairs
        .iter()
        .map(|&(i, j)| {
            if bad[i] || bad[j] {
                f64::INFINITY
            } else if i == j {
                0.0
            } else {
                launched_values.next().expect("one total per launched pair")
            }
        })
        .collect())
}

/// Bytes of partial sums one launch may write: the scratch of the whole primitive is this
/// buffer (reused by every launch and chunk), its reduction tree (under 1/63 of it), the pair
/// lists and one readback of 16 bytes per pair, whatever the number of chunks.
const PARTIAL_BYTES: u64 = 64 << 20;

/// The exact sums of scaled squared differences of `pairs` (scales by `scale`) over all
/// chunks, as integers in units of 2^-10, by the kernels of `variant` (one partial sum per
/// pair and tile of `variant.tile()` coordinates). The pairs go in launches of at most
/// [`PARTIAL_BYTES`] of partials (at least one pair each); every launch is its own
/// submission, and each chunk's sums are read back and added on the host before the next
/// chunk, so no scratch outlives its launch.
fn exact_sums(
    gpu: &Gpu,
    variant: KernelVariant,
    cap: Option<u32>,
    rows: &WgpuRows,
    pairs: &[(usize, usize)],
    scale: &dyn Fn(usize, usize) -> i32,
) -> Result<Vec<u128>> {
    let np = pairs.len() as u64;
    // Chunk 0 is the longest: its tiles size the launches of every chunk.
    let max_tiles = (rows.range(0).1 as u64).div_ceil(variant.tile());
    let entry = variant.pairwise_entry();
    let budget = PARTIAL_BYTES.min(gpu.max_binding());
    let per_launch = (budget / WIDE_BYTES / max_tiles).clamp(1, np) as usize;
    let lists = pairs
        .chunks(per_launch)
        .map(|batch| {
            let words: Vec<u32> = batch
                .iter()
                .flat_map(|&(i, j)| {
                    let s = scale(i, j);
                    // The scale twice: the shader multiplies row i by one copy and row j by
                    // the other, so no compiler can factor `x*s - y*s` into `(x - y)*s`,
                    // which overflows for +-3e38.
                    [i as u32, j as u32, s as u32, s as u32]
                })
                .collect();
            gpu.storage_init("pairs", bytemuck::cast_slice(&words))
        })
        .collect::<Result<Vec<_>>>()?;
    let partial = gpu.storage("pairwise partials", WIDE_BYTES * per_launch as u64 * max_tiles)?;
    let staging = gpu.staging(WIDE_BYTES * np);
    let mut totals = vec![0u128; pairs.len()];
    for c in 0..rows.chunks() {
        let (_, len) = rows.range(c);
        let tiles = (len as u64).div_ceil(variant.tile());
        for (b, list) in lists.iter().enumerate() {
            let count = per_launch.min(pairs.len() - b * per_launch) as u64;
            let mut enc = gpu.encoder("pairwise distances");
            let params = gpu.uniform("pairwise_dist", &[len as u32, tiles as u32, count as u32, 0]);
            let bind = gpu.bind(entry, 0, &[&rows.bufs[c], list, &params, &partial])?;
            gpu.dispatch(&mut enc, entry, &bind, variant.invocations(count * tiles), cap)?;
            let sums = reduce::sum_segments(gpu, &mut enc, partial.clone(), count, tiles, cap)?;
            let at = WIDE_BYTES * (b * per_launch) as u64;
            enc.copy(&sums, 0, &staging, at, WIDE_BYTES * count);
            if b + 1 < lists.len() {
                gpu.submit(enc)?;
                continue;
            }
            let words = gpu.submit_and_read(enc, &staging)?;
            for (p, total) in totals.iter_mut().enumerate() {
                *total = total.saturating_add(wide_int(&words[4 * p..4 * p + 4]));
            }
        }
    }
    Ok(totals)
}
