//! `write_row` on a resident wgpu matrix: the row's values go into each coordinate chunk
//! with `Queue::write_buffer`, `d` values in all, ordered before the next submitted work.

use super::handle::Wgpu;
use super::rows::WgpuRows;
use crate::error::Result;
use crate::kernels::shape;

/// Overwrites row `row` of `rows` with `values` and forgets the row statistics cached for the
/// old values. The application's buffer ([`Wgpu::rows_from_buffer`] without a copy) stays
/// read-only.
pub(super) fn write_row(wgpu: &Wgpu, rows: &mut WgpuRows, row: usize, values: &[f32]) -> Result<()> {
    shape::write_row(rows.shape(), row, values.len())?;
    if rows.borrowed {
        return Err(shape::read_only("the application's wgpu buffer"));
    }
    let gpu = wgpu.gpu_for(&[rows])?;
    gpu.scoped("writing a row", || {
        for c in 0..rows.chunks() {
            let (start, len) = rows.range(c);
            gpu.queue.write_buffer(
                &rows.bufs[c],
                (row * len * 4) as u64,
                bytemuck::cast_slice(&values[start..start + len]),
            );
        }
        // Submitting nothing flushes the staged writes, so a failure surfaces in this scope.
        gpu.submit(gpu.encoder("write row"))
    })?;
    rows.stats.take();
    Ok(())
}
