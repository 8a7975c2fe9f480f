//! Recovery from a lost wgpu device (a driver reset, the OS watchdog, or `destroy_device`): the
//! call that meets the loss fails with an error saying so, a matrix uploaded before the loss is
//! refused (never bound to the new device), and the next call opens the device again and works.
//! Its own test binary: destroying the process-wide device must not disturb other tests.
#![cfg(feature = "wgpu")]

use byzagg::wgpu::Wgpu;
use byzagg::{Batch, Kernels, OrderStat};

#[test]
fn a_lost_device_is_opened_again_and_old_matrices_are_refused() {
    let gpu = match Wgpu::new() {
        Ok(g) => g,
        Err(e) => {
            byzagg::verify::require_or_skip("wgpu", e);
            return;
        }
    };
    let data = [1.0f32, 5.0, 2.0, 7.0, 3.0, 6.0];
    let batch = Batch::from_contiguous(&data, 3).expect("batch");
    let median = |g: &Wgpu, rows: &byzagg::wgpu::WgpuRows| -> byzagg::Result<Vec<f32>> {
        let m = g.order_stats(rows, &[1.0; 3], OrderStat::Median)?;
        let mut out = vec![0.0; 2];
        g.download(&m, &mut out)?;
        Ok(out)
    };
    let old = gpu.upload(&batch).expect("upload");
    assert_eq!(median(&gpu, &old).expect("median"), [2.0, 6.0]);

    gpu.destroy_device();
    // A matrix of the lost device: a clear error, on this handle and on a new one.
    let err = median(&gpu, &old).expect_err("rows of a lost device").to_string();
    assert!(err.contains("lost"), "{err}");
    let fresh_handle = Wgpu::new().expect("the device opens again");
    assert!(median(&fresh_handle, &old).is_err());

    // Uploaded again, everything works on the new device, through both handles.
    for g in [&gpu, &fresh_handle] {
        let rows = g.upload(&batch).expect("upload to the new device");
        assert_eq!(median(g, &rows).expect("median"), [2.0, 6.0]);
    }
}
