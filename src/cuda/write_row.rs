//! `write_row` on a CUDA matrix: one host-to-device copy of `d` values on the instance's
//! stream (the caller's stream for `Cuda::from_stream`), into a buffer byzagg owns.

use super::rows::{CudaRows, Data};
use super::{Cuda, backend_err};
use crate::error::Result;
use crate::kernels::shape;

impl Cuda {
    /// Overwrites row `row` of `rows` with `values` (checked here). The caller's buffers
    /// (`rows_from_slice`, `rows_from_pointers`) and batches stay read-only.
    pub(crate) fn write_row_of(&self, rows: &mut CudaRows<'_>, row: usize, values: &[f32]) -> Result<()> {
        shape::write_row((rows.k(), rows.d()), row, values.len())?;
        let d = rows.d();
        match &mut rows.data {
            Data::Owned(buf) => {
                self.stream()
                    .memcpy_htod(values, &mut buf.slice_mut(row * d..(row + 1) * d))
                    .map_err(backend_err)?;
                // The copy reads `values`, which the caller may reuse as soon as this returns.
                self.stream().synchronize().map_err(backend_err)
            }
            Data::HostOwned(v) => {
                v[row * d..(row + 1) * d].copy_from_slice(values);
                Ok(())
            }
            Data::Slice(_) => Err(shape::read_only("the caller's CUDA buffer")),
            Data::Pointers(_) => Err(shape::read_only("the caller's device row pointers")),
            Data::Host(_) => Err(shape::read_only("the caller's host batch")),
        }
    }
}
