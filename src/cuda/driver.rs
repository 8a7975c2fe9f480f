//! The CUDA driver probed without a context of byzagg's: how many devices there are, the
//! driver's CUDA version, one line about a device. Below both `device.rs` (which opens the
//! backend) and `nvrtc.rs` (which orders the NVRTC libraries by the driver's version), so
//! neither imports the other for it.

use std::sync::OnceLock;

use cudarc::driver::CudaContext;
use cudarc::driver::sys::CUdevice_attribute;

/// Number of CUDA devices, or why the driver cannot be asked. Never panics: the driver
/// library's presence is checked before any cudarc call that would panic without it.
pub(crate) fn device_count() -> Result<usize, String> {
    static COUNT: OnceLock<Result<usize, String>> = OnceLock::new();
    COUNT
        .get_or_init(|| {
            std::panic::catch_unwind(|| {
                // SAFETY: only tries to open the driver library by its names.
                if !unsafe { cudarc::driver::sys::is_culib_present() } {
                    return Err("no NVIDIA driver library (libcuda.so.1) found".to_string());
                }
                cudarc::driver::result::init().map_err(|e| format!("cuInit failed: {e}"))?;
                let n = CudaContext::device_count().map_err(|e| format!("cuDeviceGetCount failed: {e}"))?;
                Ok(n.max(0) as usize)
            })
            .unwrap_or_else(|_| Err("the CUDA driver probe panicked".into()))
        })
        .clone()
}

/// The driver's CUDA version (major, minor), e.g. (13, 0) for R580, or `None` without a
/// driver library. Needs no device.
pub(crate) fn driver_version() -> Option<(i32, i32)> {
    static VERSION: OnceLock<Option<(i32, i32)>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        std::panic::catch_unwind(|| {
            // SAFETY: only tries to open the driver library by its names.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return None;
            }
            let mut v = 0;
            // SAFETY: the library is present; `v` is valid for one write.
            let status = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
            (status == cudarc::driver::sys::CUresult::CUDA_SUCCESS).then_some((v / 1000, v % 1000 / 10))
        })
        .unwrap_or(None)
    })
}

/// One line about device `ordinal` for `byzagg devices`.
pub(crate) fn describe_device(ordinal: usize) -> String {
    let info = || -> Result<String, cudarc::driver::DriverError> {
        let ctx = CudaContext::new(ordinal)?;
        let (major, minor) = ctx.compute_capability()?;
        let (free, total) = ctx.mem_get_info()?;
        Ok(format!(
            "cuda:{ordinal}: {} (sm_{major}{minor}, {} multiprocessors, {:.1} GiB free of {:.1} GiB)",
            ctx.name()?,
            ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            free as f64 / (1u64 << 30) as f64,
            total as f64 / (1u64 << 30) as f64
        ))
    };
    match std::panic::catch_unwind(info) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => format!("cuda:{ordinal}: cannot open: {e}"),
        Err(_) => format!("cuda:{ordinal}: cannot open: the driver call panicked"),
    }
}
