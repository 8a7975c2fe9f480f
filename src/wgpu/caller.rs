//! Sharing an application's wgpu device: [`Wgpu::from_device`] runs byzagg's pipelines on a
//! device and queue the application opened, and [`Wgpu::rows_from_buffer`] reads the rows to
//! aggregate from one of the application's buffers, so the data never leaves the device.

use std::sync::{Arc, OnceLock};

use super::device::{Gpu, backend_error};
use super::handle::Wgpu;
use super::rows::WgpuRows;
use crate::error::{Error, Result};

impl Wgpu {
    /// The wgpu backend on an application's device and queue: byzagg builds its pipelines on
    /// them (once, here) and submits its work to the queue, so the application's buffers can
    /// be aggregated without a copy through the host ([`Wgpu::rows_from_buffer`]).
    ///
    /// The device keeps the application's device-lost and uncaptured-error handlers; byzagg
    /// catches its own errors in error scopes, and never destroys or replaces the device
    /// ([`Wgpu::destroy_device`] leaves it alone). The device needs no features beyond the
    /// defaults; its limits bound the chunk sizes as an adapter's do. `BYZAGG_WGPU_CHUNK` is
    /// honoured as by [`Wgpu::new`].
    ///
    /// Errors: the pipelines could not be built on this device (its error, as a backend
    /// error), or a bad `BYZAGG_WGPU_CHUNK`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use byzagg::{Aggregator, Engine, Rule, wgpu::Wgpu};
    ///
    /// # fn app_device() -> (wgpu::Device, wgpu::Queue) { unimplemented!() }
    /// let (device, queue) = app_device(); // the application's own
    /// let gpu = Wgpu::from_device(device.clone(), queue.clone())?;
    /// let buffer = device.create_buffer(&wgpu::BufferDescriptor {
    ///     label: Some("gradients"),
    ///     size: 3 * 1000 * 4, // 3 rows of d = 1000 f32
    ///     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    ///     mapped_at_creation: false,
    /// });
    /// // ... the application fills `buffer` on the device ...
    /// let rows = gpu.rows_from_buffer(&buffer, 3, 1000)?;
    /// let agg = Aggregator::with_engine(Rule::CwMed, Engine::Wgpu(gpu.clone()));
    /// let (median, _report) = agg.aggregate_resident(&gpu, &rows, None)?;
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn from_device(device: ::wgpu::Device, queue: ::wgpu::Queue) -> Result<Self> {
        let gpu = Gpu::on_device(device, queue, false).map_err(backend_error)?;
        Wgpu::on(Arc::new(gpu))
    }

    /// `k x d` row-major f32 rows held in `buffer`, a buffer of this handle's device (its
    /// first `k * d * 4` bytes).
    ///
    /// When the buffer is exactly `k * d * 4` bytes and the matrix fits one storage binding
    /// (one coordinate chunk), the rows *are* the buffer: nothing is copied, and they are
    /// read-only ([`crate::Kernels::write_row`] refuses them). Otherwise the rows are copied,
    /// on the device, into byzagg's own chunk buffers, which needs `COPY_SRC` usage.
    ///
    /// The rows see the buffer's contents when each primitive runs, but a rule caches
    /// per-row statistics on first use: make new rows (cheap) after the application writes
    /// the buffer.
    ///
    /// Errors, naming the parameter and the bound: `k` or `d` zero; a buffer without
    /// `STORAGE` usage; one smaller than `k * d * 4` bytes; one that needs the copy but lacks
    /// `COPY_SRC`. A buffer of another device fails when it is used, as a backend error.
    pub fn rows_from_buffer(&self, buffer: &::wgpu::Buffer, k: usize, d: usize) -> Result<WgpuRows> {
        if k == 0 || d == 0 {
            return Err(Error::invalid(
                "shape",
                format!("{k} x {d}"),
                "needs at least one row and one coordinate",
            ));
        }
        let usage = buffer.usage();
        if !usage.contains(::wgpu::BufferUsages::STORAGE) {
            return Err(Error::invalid(
                "buffer",
                format!("usage {usage:?}"),
                "must include STORAGE: byzagg's shaders bind the rows as storage",
            ));
        }
        let bytes =
            k.checked_mul(d).and_then(|v| v.checked_mul(4)).ok_or_else(|| {
                Error::invalid("shape", format!("{k} x {d}"), "k * d * 4 bytes overflow usize")
            })? as u64;
        if buffer.size() < bytes {
            return Err(Error::invalid(
                "buffer",
                format!("{} bytes", buffer.size()),
                format!("must hold k * d * 4 = {bytes} bytes for {k} x {d} f32 rows"),
            ));
        }
        let gpu = self.gpu();
        let chunk = self.chunk_for(k, d)?;
        if chunk == d && buffer.size() == bytes {
            return Ok(WgpuRows {
                k,
                d,
                chunk,
                bufs: vec![super::memory::Buffer::borrowed(buffer.clone())],
                stats: OnceLock::new(),
                generation: gpu.generation,
                borrowed: true,
            });
        }
        if !usage.contains(::wgpu::BufferUsages::COPY_SRC) {
            return Err(Error::invalid(
                "buffer",
                format!("usage {usage:?}, {} bytes", buffer.size()),
                format!(
                    "must include COPY_SRC: rows that are not exactly one binding of {bytes} \
                     bytes ({k} x {d} in chunks of {chunk} coordinates) are copied into \
                     byzagg's buffers"
                ),
            ));
        }
        let out = self.alloc(k, d, chunk, "rows")?;
        gpu.scoped("copying the application's rows", || {
            let src = super::memory::Buffer::borrowed(buffer.clone());
            let mut enc = gpu.encoder("rows from buffer");
            for c in 0..out.chunks() {
                let (start, len) = out.range(c);
                for i in 0..k {
                    enc.copy(
                        &src,
                        ((i * d + start) * 4) as u64,
                        &out.bufs[c],
                        (i * len * 4) as u64,
                        (len * 4) as u64,
                    );
                }
            }
            gpu.submit(enc)
        })?;
        Ok(out)
    }
}
