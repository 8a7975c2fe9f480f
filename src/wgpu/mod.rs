//! The WGSL compute backend: the four primitives of SPEC section 5 as shaders run by wgpu on
//! Vulkan, Metal or DX12 (never GL).
//!
//! Layout: a resident `k x d` matrix ([`GpuRows`]) is a list of coordinate chunks, one storage
//! buffer of `k x len` f32 values each (row-major within the chunk). The chunk length is fixed
//! per aggregation when the batch is uploaded, so that one chunk of the batch fits one storage
//! binding (128 MiB on lavapipe); every matrix of that aggregation (centers, mixed rows) uses
//! the same chunk boundaries, and every primitive runs chunk by chunk. Coordinate-wise outputs
//! are written per chunk; distance partial sums come back per chunk and are added in f64.
//!
//! Files: `device.rs` (adapter, device, pipelines, launch helpers), one launcher per primitive
//! (`order_stats.rs`, `pairwise_dist.rs`, `center_dist.rs`, `mix.rs`) beside its shader in
//! `shaders/<stem>.wgsl`, and `reduce.rs` (row statistics and partial sums).
//!
//! Accuracy and non-finite values: the order statistics order values by integer keys and sum
//! weights in exact u64 fixed point, so the median and the trimmed mean select exactly the
//! values the reference selects (for integer and dyadic weights; real weights are quantised to
//! 2^-60 of the total). Distances scale each pair by a power of two so that no f32 square can
//! overflow, sum in small f32 trees, and add chunks in f64; rows holding NaN or an infinity are
//! found by integer row statistics and get `+inf` from the host. Mixes accumulate in f32.
//!
//! Without the `wgpu` cargo feature only [`adapters`] and the availability probe remain, and
//! they report that the feature is off.

#[cfg(feature = "wgpu")]
mod center_dist;
#[cfg(feature = "wgpu")]
mod device;
#[cfg(feature = "wgpu")]
mod mix;
#[cfg(feature = "wgpu")]
mod order_stats;
#[cfg(feature = "wgpu")]
mod pairwise_dist;
#[cfg(feature = "wgpu")]
mod reduce;

#[cfg(feature = "wgpu")]
pub use imp::{GpuRows, Wgpu};
#[cfg(feature = "wgpu")]
use imp::{same_chunks, scale_for};

use crate::error::{Error, Result};

/// The wgpu adapters on this machine, one line each (name, graphics API, device type,
/// driver), as `byzagg devices` lists them. Empty without the `wgpu` feature or a driver.
pub fn adapters() -> Vec<String> {
    #[cfg(feature = "wgpu")]
    {
        device::adapter_lines()
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Vec::new()
    }
}

/// `Ok(())` if the wgpu backend can run here (opens the shared device once), else
/// [`Error::Unavailable`] with the reason.
pub(crate) fn probe() -> Result<()> {
    #[cfg(feature = "wgpu")]
    {
        device::shared().map(|_| ())
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Err(Error::Unavailable {
            backend: "wgpu",
            reason: "byzagg was built without the `wgpu` cargo feature".into(),
        })
    }
}

/// Whether `Backend::Auto` should pick wgpu: an adapter exists and is not a CPU emulation
/// (lavapipe and other software rasterisers are correctness backends, slower than the CPU
/// backend). The error says why not.
pub(crate) fn auto_choice() -> Result<()> {
    probe()?;
    #[cfg(feature = "wgpu")]
    {
        let gpu = device::shared()?;
        if gpu.info.device_type == ::wgpu::DeviceType::Cpu {
            return Err(Error::Unavailable {
                backend: "wgpu",
                reason: format!(
                    "adapter {} is a CPU emulation, slower than the cpu backend",
                    gpu.describe()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(feature = "wgpu")]
mod imp {
    use std::sync::{Arc, Mutex, OnceLock};

    use super::device::{Gpu, backend_error, shared};
    use super::{center_dist, mix, order_stats, pairwise_dist, reduce};
    use crate::batch::Batch;
    use crate::error::{Error, Result};
    use crate::kernels::{Kernels, OrderStat};

    /// A resident `k x d` f32 matrix on the device, in coordinate chunks.
    pub struct GpuRows {
        pub(super) k: usize,
        pub(super) d: usize,
        /// Coordinates per chunk (the last chunk may be shorter).
        pub(super) chunk: usize,
        /// One `k x len` buffer per chunk.
        pub(super) bufs: Vec<::wgpu::Buffer>,
        /// Per chunk, per row: the largest `bits & 0x7fffffff` (see `reduce.wgsl`), computed
        /// on first use; the matrix never changes, so it stays valid.
        pub(super) stats: OnceLock<Vec<Vec<u32>>>,
    }

    impl GpuRows {
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
        pub(super) fn stats(&self, gpu: &Gpu) -> Result<&Vec<Vec<u32>>> {
            if let Some(s) = self.stats.get() {
                return Ok(s);
            }
            let s = reduce::row_stats(gpu, self)?;
            Ok(self.stats.get_or_init(|| s))
        }
    }

    /// The wgpu backend: a handle on the shared device plus the chunking of one aggregation.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use byzagg::{Batch, Kernels, OrderStat, wgpu::Wgpu};
    ///
    /// let rows = [[1.0f32, 2.0], [3.0, 4.0], [5.0, 60.0]];
    /// let gpu = Wgpu::new()?;
    /// let resident = gpu.upload(&Batch::from_rows(&rows)?)?;
    /// let median = gpu.order_stats(&resident, &[1.0; 3], OrderStat::Median)?;
    /// let mut out = [0.0; 2];
    /// gpu.download(&median, &mut out)?;
    /// assert_eq!(out, [3.0, 4.0]);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub struct Wgpu {
        gpu: Arc<Gpu>,
        chunk_cols: Option<usize>,
        /// The most rows a chunk must hold (the uploaded batch's n).
        rows_hint: Mutex<usize>,
    }

    impl Wgpu {
        /// The shared device (opened on first use). `BYZAGG_WGPU_CHUNK=<coordinates>` forces
        /// a chunk length, which lets tests run the multi-chunk paths on small batches; a
        /// value that is not a whole number >= 1 is an error.
        pub fn new() -> Result<Self> {
            let chunk_cols = crate::env_var::positive("BYZAGG_WGPU_CHUNK")?;
            Ok(Wgpu {
                gpu: shared()?,
                chunk_cols,
                rows_hint: Mutex::new(1),
            })
        }

        /// Forces chunks of `cols` coordinates (at least 1) instead of the binding limit's.
        pub fn with_chunk_cols(mut self, cols: usize) -> Self {
            self.chunk_cols = Some(cols.max(1));
            self
        }

        /// The adapter in use, in words.
        pub fn device_name(&self) -> String {
            self.gpu.describe()
        }

        fn hint(&self) -> usize {
            self.rows_hint.lock().map_or(1, |h| *h)
        }

        /// Coordinates per chunk for matrices of up to `k` rows and `d` columns.
        fn chunk_for(&self, k: usize, d: usize) -> Result<usize> {
            if let Some(c) = self.chunk_cols {
                return Ok(c.min(d));
            }
            let rows = k.max(self.hint()) as u64;
            let cols = self.gpu.max_binding() / (4 * rows);
            if cols == 0 {
                return Err(backend_error(format!(
                    "{rows} rows do not fit one storage binding of {} bytes",
                    self.gpu.max_binding()
                )));
            }
            let cols = cols as usize;
            Ok(if cols >= d { d } else { (cols / 64).max(1) * 64 })
        }

        /// An empty matrix with fresh chunk buffers (zeroed by wgpu).
        pub(super) fn alloc(&self, k: usize, d: usize, chunk: usize, label: &str) -> Result<GpuRows> {
            let chunks = d.div_ceil(chunk);
            let bufs = self.gpu.scoped("allocating a matrix", || {
                (0..chunks)
                    .map(|c| {
                        let len = chunk.min(d - c * chunk);
                        self.gpu.storage(label, (k * len * 4) as u64)
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            Ok(GpuRows {
                k,
                d,
                chunk,
                bufs,
                stats: OnceLock::new(),
            })
        }

        pub(super) fn gpu(&self) -> &Gpu {
            &self.gpu
        }
    }

    /// Checks that two matrices share the chunking (they come from one aggregation).
    pub(super) fn same_chunks(a: &GpuRows, b: &GpuRows, what: &'static str) -> Result<()> {
        if a.d != b.d || a.chunk != b.chunk {
            return Err(Error::invalid(
                what,
                format!("d = {}, chunk = {}", b.d, b.chunk),
                format!("must match the rows: d = {}, chunk = {}", a.d, a.chunk),
            ));
        }
        Ok(())
    }

    impl Kernels for Wgpu {
        type Rows<'a> = GpuRows;

        fn name(&self) -> &'static str {
            "wgpu"
        }

        fn upload<'a>(&self, batch: &Batch<'a>) -> Result<GpuRows> {
            let (n, d) = (batch.n(), batch.d());
            if let Ok(mut h) = self.rows_hint.lock() {
                *h = n;
            }
            let chunk = self.chunk_for(n, d)?;
            let gpu = &self.gpu;
            let mut bufs = Vec::new();
            for start in (0..d).step_by(chunk) {
                let len = chunk.min(d - start);
                let bytes = (n * len * 4) as u64;
                // Mapped at creation: the rows go straight into the buffer, no staging copy.
                let buf = gpu.scoped("uploading the batch", || {
                    gpu.storage("rows", bytes)?;
                    Ok(gpu.device.create_buffer(&::wgpu::BufferDescriptor {
                        label: Some("rows"),
                        size: bytes,
                        usage: ::wgpu::BufferUsages::STORAGE
                            | ::wgpu::BufferUsages::COPY_SRC
                            | ::wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: true,
                    }))
                })?;
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
                bufs.push(buf);
            }
            Ok(GpuRows {
                k: n,
                d,
                chunk,
                bufs,
                stats: OnceLock::new(),
            })
        }

        fn zeros(&self, k: usize, d: usize) -> Result<GpuRows> {
            let chunk = self.chunk_for(k, d)?;
            self.alloc(k, d, chunk, "zeros")
        }

        fn download(&self, rows: &GpuRows, out: &mut [f32]) -> Result<()> {
            let (k, d) = (rows.k, rows.d);
            if out.len() != k * d {
                return Err(Error::invalid(
                    "out",
                    format!("length {}", out.len()),
                    format!("must have length k * d = {}", k * d),
                ));
            }
            for c in 0..rows.chunks() {
                let (start, len) = rows.range(c);
                let bytes = (k * len * 4) as u64;
                let words = self.gpu.scoped("downloading", || {
                    let staging = self.gpu.staging(bytes);
                    let mut enc = self.gpu.encoder("download");
                    enc.copy_buffer_to_buffer(&rows.bufs[c], 0, &staging, 0, bytes);
                    self.gpu.submit_and_read(enc, &staging)
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

        fn order_stats(&self, rows: &GpuRows, weights: &[f64], stat: OrderStat) -> Result<GpuRows> {
            order_stats::run(self, rows, weights, stat)
        }

        fn pairwise_dist(&self, rows: &GpuRows) -> Result<Vec<f64>> {
            pairwise_dist::run(self, rows)
        }

        fn center_dist(&self, rows: &GpuRows, center: &GpuRows) -> Result<Vec<f64>> {
            center_dist::run(self, rows, center)
        }

        fn mix(
            &self,
            rows: &GpuRows,
            coeffs: &[f64],
            k: usize,
            base: Option<(&GpuRows, f64)>,
        ) -> Result<GpuRows> {
            mix::run(self, rows, coeffs, k, base)
        }
    }

    /// The power of two that brings a largest magnitude `m` (an f32 bit pattern of a finite
    /// value) to about 2^40: squares of differences then stay below 2^82 and sums of up to
    /// 2^29 of them below 2^111, far from f32 overflow, while keeping most of f32's range
    /// below them. Clamped to normal f32 powers of two.
    pub(super) fn scale_for(max_bits: u32) -> f32 {
        let m = f32::from_bits(max_bits);
        if m == 0.0 || !m.is_finite() {
            return 1.0;
        }
        let e = f64::from(m).log2().floor() as i32;
        let s = (40 - e).clamp(-126, 127);
        2f32.powi(s)
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod tests;
