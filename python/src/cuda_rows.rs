//! CUDA tensors without a host copy of the rows: `aggregate_cuda` reads `n` rows of `d` float32
//! values in place from device pointers (a PyTorch tensor's `data_ptr()`), runs the rule on
//! the caller's stream (PyTorch's current stream) through `Cuda::from_raw_stream`, and writes
//! the `d` values of the result to a host array. The rows never cross the host link; the
//! result does (d values), which the torch adapter moves back to the tensor's device.

use byzagg::Kernels;
use byzagg::cuda::Cuda;
use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::prelude::*;

use crate::aggregator::Aggregator;
use crate::errors::{invalid, to_py};

/// Aggregates `n` device rows (`ptrs[i]` the address of row i's `d` float32 values on CUDA
/// device `device`, 4-byte aligned) on the CUDA stream `stream` (a raw `CUstream`, 0 for the
/// legacy default stream) into `out` (host, length `d`).
///
/// The caller keeps the rows' memory and the stream alive and unchanged until the call
/// returns (the torch adapter holds the tensors; the call waits for its work on the stream).
#[pyfunction]
#[pyo3(signature = (agg, ptrs, d, device, stream, weights, out))]
#[allow(clippy::too_many_arguments)] // one call's whole description, each argument named
pub fn aggregate_cuda(
    py: Python<'_>,
    agg: &Aggregator,
    ptrs: Vec<u64>,
    d: usize,
    device: usize,
    stream: usize,
    weights: Option<PyReadonlyArray1<'_, f64>>,
    mut out: PyReadwriteArray1<'_, f32>,
) -> PyResult<()> {
    let w = weights
        .as_ref()
        .map(|w| {
            w.as_slice()
                .map_err(|e| invalid("weights", e, "must be contiguous"))
        })
        .transpose()?;
    let out = out
        .as_slice_mut()
        .map_err(|e| invalid("out", e, "must be contiguous"))?;
    if out.len() != d {
        return Err(invalid(
            "out",
            format!("length {}", out.len()),
            format!("must have length d = {d}"),
        ));
    }
    let aggregator = agg.inner();
    py.detach(|| -> byzagg::Result<()> {
        // SAFETY: the stream and the rows' memory belong to the caller, who keeps them alive
        // for this call (this function's contract, kept by byzagg.torch).
        let cuda = unsafe { Cuda::from_raw_stream(device, stream)? };
        let rows = unsafe { cuda.rows_from_pointers(&ptrs, d)? };
        let (result, _report) = aggregator.aggregate_resident(&cuda, &rows, w)?;
        cuda.download(&result, out)
    })
    .map_err(to_py)
}
