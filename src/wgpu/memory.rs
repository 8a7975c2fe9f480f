//! The device memory byzagg holds on the wgpu backend, counted: every buffer byzagg creates is
//! a [`Buffer`], whose bytes count as live from its creation until byzagg has dropped every
//! handle on it *and* the last submission that uses it has completed. The second condition is
//! why recorded work goes through an [`Encoder`]: wgpu keeps a buffer bound in a recorded pass
//! alive until that submission ends, so the encoder keeps a handle on every buffer it records
//! and releases them only after [`super::device::Gpu::submit`] waited for the work. Without it
//! a launcher that drops its scratch buffer at the end of a loop iteration would look cheap
//! while the device still held every iteration's buffer.
//!
//! [`memory_stats`] reads the live and peak bytes (process-wide, all devices); tests compare
//! the peak of a primitive over many coordinate chunks with the peak over a few to check that
//! scratch memory is bounded by one chunk's worth, never by all of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of byzagg's wgpu buffers alive now.
static LIVE: AtomicU64 = AtomicU64::new(0);
/// The most [`LIVE`] has been since the last [`reset_peak`].
static PEAK: AtomicU64 = AtomicU64::new(0);

/// Live and peak bytes of the wgpu buffers byzagg created (see the module docs for when a
/// buffer stops counting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes alive now.
    pub live: u64,
    /// The most bytes alive at once since the last [`reset_peak`] (or the process start).
    pub peak: u64,
}

/// The live and peak bytes of byzagg's wgpu buffers, process-wide. For tests and diagnostics:
/// the numbers cover every thread of the process.
#[doc(hidden)]
pub fn memory_stats() -> MemoryStats {
    MemoryStats {
        live: LIVE.load(Ordering::SeqCst),
        peak: PEAK.load(Ordering::SeqCst),
    }
}

/// Starts a new peak measurement: the peak becomes the bytes alive now.
#[doc(hidden)]
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// `bytes` counted as live for as long as this value exists.
#[derive(Debug)]
pub(crate) struct Held(u64);

impl Held {
    /// Counts `bytes` as live (also used for memory wgpu allocates on byzagg's behalf, such as
    /// the staging copy of a buffer mapped at creation).
    pub(crate) fn new(bytes: u64) -> Self {
        let now = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
        PEAK.fetch_max(now, Ordering::SeqCst);
        Held(bytes)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        LIVE.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// A wgpu buffer whose bytes are counted while any clone of it exists (an [`Encoder`] holds a
/// clone of each buffer it records until its submission completed).
#[derive(Clone, Debug)]
pub(crate) struct Buffer {
    raw: ::wgpu::Buffer,
    _held: Arc<Held>,
}

impl Buffer {
    /// Takes ownership of a buffer byzagg just created and counts its size.
    pub(crate) fn new(raw: ::wgpu::Buffer) -> Self {
        let held = Arc::new(Held::new(raw.size()));
        Buffer { raw, _held: held }
    }

    /// An application's buffer used in place ([`super::Wgpu::rows_from_buffer`]): the
    /// application allocated it, so it counts as zero bytes of byzagg's.
    pub(crate) fn borrowed(raw: ::wgpu::Buffer) -> Self {
        Buffer {
            raw,
            _held: Arc::new(Held::new(0)),
        }
    }
}

impl std::ops::Deref for Buffer {
    type Target = ::wgpu::Buffer;

    fn deref(&self) -> &::wgpu::Buffer {
        &self.raw
    }
}

/// A command encoder that keeps every buffer it records alive (and counted) until its
/// submission has completed.
pub(crate) struct Encoder {
    pub(crate) raw: ::wgpu::CommandEncoder,
    keep: Vec<Buffer>,
}

impl Encoder {
    pub(crate) fn new(raw: ::wgpu::CommandEncoder) -> Self {
        Encoder {
            raw,
            keep: Vec::new(),
        }
    }

    /// Keeps `buffers` alive until the submission of this encoder has completed.
    pub(crate) fn retain<'b>(&mut self, buffers: impl IntoIterator<Item = &'b Buffer>) {
        self.keep.extend(buffers.into_iter().cloned());
    }

    /// Records a copy of `bytes` bytes from `src` at `src_at` to `dst` at `dst_at`.
    pub(crate) fn copy(&mut self, src: &Buffer, src_at: u64, dst: &Buffer, dst_at: u64, bytes: u64) {
        self.raw.copy_buffer_to_buffer(src, src_at, dst, dst_at, bytes);
        self.retain([src, dst]);
    }

    /// The finished command buffer and the buffers to release once it has run.
    pub(crate) fn finish(self) -> (::wgpu::CommandBuffer, Vec<Buffer>) {
        (self.raw.finish(), self.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other tests of the process allocate concurrently, so only this held amount is checked,
    /// as a lower bound on the live bytes and the peak while it is held.
    #[test]
    fn held_bytes_count_until_dropped() {
        let bytes = 1 << 40;
        let held = Held::new(bytes);
        let during = memory_stats();
        assert!(during.live >= bytes, "{during:?}");
        assert!(during.peak >= during.live, "{during:?}");
        drop(held);
        assert!(memory_stats().live < bytes, "released");
    }
}
