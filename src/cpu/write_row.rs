//! `write_row` on host rows: one row of a matrix the backend owns, overwritten in place.

use super::HostRows;
use crate::error::Result;
use crate::kernels::shape;

/// Copies `values` into row `row` of `rows`. A borrowed batch is the caller's memory and
/// stays read-only.
pub(super) fn write_row(rows: &mut HostRows<'_>, row: usize, values: &[f32]) -> Result<()> {
    shape::write_row((rows.k(), rows.d()), row, values.len())?;
    match rows {
        HostRows::Borrowed(_) => Err(shape::read_only("the caller's borrowed batch")),
        HostRows::Owned { data, d, .. } => {
            data[row * *d..(row + 1) * *d].copy_from_slice(values);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::error::Error;
    use crate::kernels::Kernels;

    fn name(r: Result<()>) -> &'static str {
        match r {
            Err(Error::InvalidParameter { name, .. }) => name,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn writes_one_row_and_refuses_bad_rows() {
        let cpu = super::super::Cpu::new();
        let mut rows = cpu.zeros(3, 2).unwrap();
        cpu.write_row(&mut rows, 1, &[5.0, f32::NAN]).unwrap();
        let mut out = [1.0f32; 6];
        cpu.download(&rows, &mut out).unwrap();
        assert_eq!(&out[..2], &[0.0, 0.0]);
        assert_eq!(out[2], 5.0);
        assert!(out[3].is_nan());
        assert_eq!(&out[4..], &[0.0, 0.0]);
        assert_eq!(name(cpu.write_row(&mut rows, 3, &[0.0, 0.0])), "row");
        assert_eq!(name(cpu.write_row(&mut rows, 0, &[0.0])), "values");
        let data = [1.0f32, 2.0];
        let batch = Batch::from_contiguous(&data, 1).unwrap();
        let mut borrowed = cpu.upload(&batch).unwrap();
        assert_eq!(name(cpu.write_row(&mut borrowed, 0, &[0.0, 0.0])), "rows");
    }
}
