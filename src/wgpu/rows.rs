//! The wgpu backend's resident matrix: [`WgpuRows`] (a `k x d` matrix in coordinate chunks,
//! carrying its chunk plan), the chunk plan itself, the upload and download of a batch, and the
//! re-chunking of a matrix to a partner's plan.

use std::sync::{Arc, OnceLock};

use super::device::{Gpu, backend_error};
use super::handle::Wgpu;
use super::memory::{Buffer, Held};
use super::reduce;
use crate::batch::Batch;
use crate::error::{Error, Result};

/// A resident `k x d` f32 matrix on the device, in coordinate chunks.
pub struct WgpuRows {
    pub(super) k: usize,
    pub(super) d: usize,
    /// Coordinates per chunk (the last chunk may be shorter).
    pub(super) chunk: usize,
    /// One `k x len` buffer per chunk.
    pub(super) bufs: Vec<Buffer>,
    /// Per chunk, per row: the largest `bits & 0x7fffffff` (see `reduce.wgsl`), computed
    /// on first use; valid until the matrix changes (`write_row` clears it).
    pub(super) stats: OnceLock<Vec<Vec<u32>>>,
    /// The opening of the device the buffers belong to ([`Gpu`]'s `generation`).
    pub(super) generation: u64,
    /// The buffer is the application's (`Wgpu::rows_from_buffer`, no copy): read-only.
    pub(super) borrowed: bool,
}

impl WgpuRows {
    /// Rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        (self.k, self.d)
    }

    /// Number of coordinate chunks.
    pub fn chunks(&self) -> usize {
        self.bufs.len()
    }

    /// First coordinate and length of chunk `c`.
    pub(super) fn range(&self, c: usize) -> (usize, usize) {
        let start = c * self.chunk;
        (start, self.chunk.min(self.d - start))
    }

    /// Whether each row holds a non-finite value, and the row statistics.
    pub(super) fn stats(&self, gpu: &Gpu, cap: Option<u32>) -> Result<&Vec<Vec<u32>>> {
        if let Some(s) = self.stats.get() {
            return Ok(s);
        }
        let s = reduce::row_stats(gpu, self, cap)?;
        Ok(self.stats.get_or_init(|| s))
    }
}

impl Wgpu {
    /// Coordinates per chunk for a matrix of `k` rows and `d` columns: the chunk plan of
    /// that matrix, which it carries ([`WgpuRows`]'s `chunk`); a matrix planned for fewer rows
    /// is re-chunked to its partner's plan where two meet ([`Wgpu::chunked_like`]).
    pub(super) fn chunk_for(&self, k: usize, d: usize) -> Result<usize> {
        if let Some(c) = self.params.chunk_cols {
            return Ok(c.min(d));
        }
        let rows = k.max(1) as u64;
        let cols = self.gpu().max_binding() / (4 * rows);
        if cols == 0 {
            return Err(backend_error(format!(
                "{rows} rows do not fit one storage binding of {} bytes",
                self.gpu().max_binding()
            )));
        }
        let cols = cols as usize;
        Ok(if cols >= d { d } else { (cols / 64).max(1) * 64 })
    }

    /// An empty matrix with fresh chunk buffers (zeroed by wgpu).
    pub(super) fn alloc(&self, k: usize, d: usize, chunk: usize, label: &str) -> Result<WgpuRows> {
        let chunks = d.div_ceil(chunk);
        let gpu = self.gpu();
        let bufs = gpu.scoped("allocating a matrix", || {
            (0..chunks)
                .map(|c| {
                    let len = chunk.min(d - c * chunk);
                    gpu.storage(label, (k * len * 4) as u64)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(WgpuRows {
            k,
            d,
            chunk,
            bufs,
            stats: OnceLock::new(),
            generation: gpu.generation,
            borrowed: false,
        })
    }

    /// Uploads the batch, each chunk straight into a buffer mapped at creation; wgpu stages
    /// such a buffer in host-visible memory of the same size until the next submission, so
    /// each chunk is flushed before the next is made: the staging never exceeds one chunk.
    pub(super) fn upload_batch(&self, batch: &Batch<'_>) -> Result<WgpuRows> {
        let (n, d) = (batch.n(), batch.d());
        let chunk = self.chunk_for(n, d)?;
        let gpu = self.gpu();
        let mut bufs = Vec::new();
        for start in (0..d).step_by(chunk) {
            let len = chunk.min(d - start);
            let bytes = (n * len * 4) as u64;
            // Mapped at creation: the rows go straight into the buffer, no staging copy.
            let buf = gpu.scoped("uploading the batch", || {
                // The limit check alone (creating a buffer to check it cost a whole chunk).
                gpu.check_size("rows", bytes)?;
                Ok(Buffer::new(gpu.device.create_buffer(&::wgpu::BufferDescriptor {
                    label: Some("rows"),
                    size: bytes,
                    usage: ::wgpu::BufferUsages::STORAGE
                        | ::wgpu::BufferUsages::COPY_SRC
                        | ::wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: true,
                })))
            })?;
            // wgpu's staging copy of the mapped buffer, alive until the flush below.
            let staged = Held::new(bytes);
            {
                let mut view = buf
                    .get_mapped_range_mut(..)
                    .map_err(|e| backend_error(format!("mapping an upload buffer: {e}")))?;
                for (i, row) in batch.rows().enumerate() {
                    view.slice(i * len * 4..(i + 1) * len * 4)
                        .copy_from_slice(bytemuck::cast_slice(&row[start..start + len]));
                }
            }
            buf.unmap();
            gpu.scoped("uploading the batch", || gpu.flush())?;
            drop(staged);
            bufs.push(buf);
        }
        Ok(WgpuRows {
            k: n,
            d,
            chunk,
            bufs,
            stats: OnceLock::new(),
            generation: gpu.generation,
            borrowed: false,
        })
    }

    /// Copies a matrix into `out` (length `k * d`, checked by the caller), chunk by chunk.
    pub(super) fn download_rows(&self, rows: &WgpuRows, out: &mut [f32]) -> Result<()> {
        let (k, d) = (rows.k, rows.d);
        let gpu = self.gpu_for(&[rows])?;
        for c in 0..rows.chunks() {
            let (start, len) = rows.range(c);
            let bytes = (k * len * 4) as u64;
            let words = gpu.scoped("downloading", || {
                let staging = gpu.staging(bytes);
                let mut enc = gpu.encoder("download");
                enc.copy(&rows.bufs[c], 0, &staging, 0, bytes);
                gpu.submit_and_read(enc, &staging)
            })?;
            for i in 0..k {
                for (o, w) in out[i * d + start..i * d + start + len]
                    .iter_mut()
                    .zip(&words[i * len..(i + 1) * len])
                {
                    *o = f32::from_bits(*w);
                }
            }
        }
        Ok(())
    }

    /// `m` copied into the chunk plan of `like` (same d), or `None` when the plans agree and
    /// `m` serves as it is. A center or a base made by `zeros` is planned for its own few
    /// rows; the batch it meets may need shorter chunks.
    pub(super) fn chunked_like(&self, m: &WgpuRows, like: &WgpuRows) -> Result<Option<WgpuRows>> {
        if m.chunk == like.chunk || m.d != like.d {
            // Equal plans, or a shape error that the primitive's own check reports.
            return Ok(None);
        }
        let gpu = self.gpu_for(&[m, like])?;
        let out = self.alloc(m.k, m.d, like.chunk, "rechunked")?;
        gpu.scoped("re-chunking a matrix", || {
            let mut enc = gpu.encoder("rechunk");
            for c in 0..out.chunks() {
                let (start, len) = out.range(c);
                for s in 0..m.chunks() {
                    let (s_start, s_len) = m.range(s);
                    let (a, b) = (start.max(s_start), (start + len).min(s_start + s_len));
                    if a >= b {
                        continue;
                    }
                    for i in 0..m.k {
                        enc.copy(
                            &m.bufs[s],
                            ((i * s_len + a - s_start) * 4) as u64,
                            &out.bufs[c],
                            ((i * len + a - start) * 4) as u64,
                            ((b - a) * 4) as u64,
                        );
                    }
                }
            }
            gpu.submit(enc)
        })?;
        Ok(Some(out))
    }

    /// The device, after checking that every matrix in `rows` lives on it: a matrix uploaded
    /// before a device loss is gone with that device and must be uploaded again.
    pub(super) fn gpu_for(&self, rows: &[&WgpuRows]) -> Result<Arc<Gpu>> {
        let gpu = self.gpu();
        if rows.iter().any(|r| r.generation != gpu.generation) {
            return Err(backend_error(format!(
                "a matrix was uploaded to a wgpu device that has since been lost; upload it \
                 again to {}",
                gpu.describe()
            )));
        }
        Ok(gpu)
    }
}

/// Checks that two matrices share the chunking (they come from one aggregation).
pub(super) fn same_chunks(a: &WgpuRows, b: &WgpuRows, what: &'static str) -> Result<()> {
    if a.d != b.d || a.chunk != b.chunk {
        return Err(Error::invalid(
            what,
            format!("d = {}, chunk = {}", b.d, b.chunk),
            format!("must match the rows: d = {}, chunk = {}", a.d, a.chunk),
        ));
    }
    Ok(())
}

/// The exponent k of the power of two 2^k that brings a largest magnitude `m` (an f32 bit
/// pattern of a finite value) to about 2^40: squares of differences then stay below 2^82 and
/// sums of up to 2^29 of them below 2^111, far from f32 overflow, while keeping most of f32's
/// range below them. From -87 (m near f32::MAX) to 189 (m the smallest subnormal): the shaders
/// scale by integer arithmetic on the exponent bits (`scaled` in `shaders/wide_sum.wgsl`), so
/// k is not limited to f32's exponent range and subnormal rows are scaled exactly.
pub(super) fn scale_for(max_bits: u32) -> i32 {
    let m = f32::from_bits(max_bits);
    if m == 0.0 || !m.is_finite() {
        return 0;
    }
    40 - f64::from(m).log2().floor() as i32
}
