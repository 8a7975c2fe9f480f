//! Running on the caller's CUDA stream: an embedding application (PyTorch, a cudarc program)
//! hands byzagg its stream, and byzagg queues its copies and kernels there, ordered after the
//! caller's earlier work on that stream and before its later work, with no device-wide or
//! context-wide synchronization.

use std::sync::Arc;

use cudarc::driver::sys::{CUcontext, CUstream, cuStreamGetCtx};
use cudarc::driver::{CudaContext, CudaStream};

use super::{Cuda, backend_err};
use crate::error::{Error, Result};

impl Cuda {
    /// The CUDA backend on the caller's `stream` of context `ctx`: every copy and kernel of
    /// this instance (and of its clones) goes to that stream.
    ///
    /// byzagg never synchronizes the device or the context. Before a primitive returns it
    /// waits for *this stream* (`cuStreamSynchronize`), as it does on its own stream, because
    /// its results (distances, the temporary buffers it frees) are read on the host; so the
    /// caller's work queued earlier on the stream finishes first, and work on the caller's
    /// other streams is not waited for.
    ///
    /// # Safety
    ///
    /// - `stream` is a live stream of `ctx` (the null handle is the context's legacy default
    ///   stream), and stays alive, not destroyed, for as long as this instance, its clones,
    ///   or any matrix they made ([`CudaRows`](super::CudaRows), which frees its memory on the stream)
    ///   are in use. `ctx` is kept alive by the `Arc`; the context it wraps must not be
    ///   destroyed by its owner meanwhile.
    /// - Data the caller hands byzagg (`rows_from_slice`, `rows_from_pointers`) and writes on
    ///   *another* stream must be complete before byzagg runs (the caller orders its streams,
    ///   e.g. with an event); on this stream, stream order does it.
    ///
    /// Errors: CUDA unavailable here (why), or a stream whose context is not `ctx`.
    pub unsafe fn from_stream(ctx: Arc<CudaContext>, stream: CUstream) -> Result<Self> {
        super::available()?;
        ctx.bind_to_thread().map_err(backend_err)?;
        let mut owner: CUcontext = std::ptr::null_mut();
        // SAFETY: the caller promises a live stream (or the null handle); `owner` is valid
        // for one write.
        unsafe { cuStreamGetCtx(stream, &mut owner) }
            .result()
            .map_err(backend_err)?;
        if owner != ctx.cu_ctx() {
            return Err(Error::invalid(
                "stream",
                format!("{stream:p}"),
                format!(
                    "must belong to the given context of cuda:{} (it belongs to another)",
                    ctx.ordinal()
                ),
            ));
        }
        // SAFETY: the stream belongs to `ctx` (checked above) and the caller keeps it alive
        // for as long as the wrapper is used (this function's contract); the wrapper never
        // destroys it.
        let stream: Arc<CudaStream> = unsafe { ctx.wrap_borrowed_stream(stream) };
        Cuda::on_stream(ctx, stream)
    }

    /// [`Cuda::from_stream`] from raw handles, as PyTorch gives them: the device ordinal
    /// (`torch.cuda.current_device()`) and the stream's address
    /// (`torch.cuda.current_stream().cuda_stream`, 0 for the default stream). The context is
    /// the device's primary context, the one the CUDA runtime and PyTorch use.
    ///
    /// # Safety
    ///
    /// As [`Cuda::from_stream`]: `stream` is a live stream of the primary context of device
    /// `ordinal`, kept alive while this instance or anything it made is in use.
    ///
    /// Errors: CUDA unavailable here (why); `ordinal` not a device of this machine; a stream
    /// of another context.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::cuda::Cuda;
    ///
    /// // Where CUDA cannot run, the error says why; on a GPU this is the backend on the
    /// // device's legacy default stream.
    /// // SAFETY: the null stream is always alive.
    /// match unsafe { Cuda::from_raw_stream(0, 0) } {
    ///     Ok(cuda) => assert_eq!(cuda.context().ordinal(), 0),
    ///     Err(byzagg::Error::Unavailable { backend, .. }) => assert_eq!(backend, "cuda"),
    ///     Err(other) => panic!("{other}"),
    /// }
    /// ```
    pub unsafe fn from_raw_stream(ordinal: usize, stream: usize) -> Result<Self> {
        let ctx = Cuda::primary_context(ordinal)?;
        // SAFETY: forwarded to the caller (this function's contract).
        unsafe { Cuda::from_stream(ctx, stream as CUstream) }
    }
}
