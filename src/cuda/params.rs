//! The CUDA backend's tuning: [`CudaParams`], fixed when a handle is opened ([`Cuda::new`],
//! [`Cuda::shared`] and the caller-stream constructors take it from the environment through
//! [`CudaParams::from_env`]; [`Cuda::with_params`] from code) and carried by the handle, so that no primitive reads the
//! environment. Both settings change how the work is cut into coordinate chunks, never a
//! result.
//!
//! [`Cuda::new`]: super::Cuda::new
//! [`Cuda::shared`]: super::Cuda::shared
//! [`Cuda::with_params`]: super::Cuda::with_params

use crate::env_var::positive;
use crate::error::Result;

/// How the CUDA backend sizes its coordinate chunks. `None` everywhere
/// ([`CudaParams::default`]) is the device's own free memory and no cap; smaller values let
/// any GPU exercise the host-staged path and the chunk boundaries. The environment maps onto
/// these fields in one place ([`CudaParams::from_env`]: `BYZAGG_CUDA_CHUNK`,
/// `BYZAGG_CUDA_MEM_LIMIT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CudaParams {
    /// Most coordinates per chunk (at least 1); `None`: as many as the memory budget allows.
    pub chunk: Option<usize>,
    /// Most bytes of device memory byzagg assumes free (at least 1); `None`: the free memory
    /// the driver reports.
    pub mem_limit: Option<usize>,
}

impl CudaParams {
    /// The tuning the environment gives (unset variables leave the free memory and no chunk
    /// cap): the one place these variables are read. A value that is not a whole number >= 1
    /// is an error naming the variable.
    pub fn from_env() -> Result<CudaParams> {
        Ok(CudaParams {
            chunk: positive("BYZAGG_CUDA_CHUNK")?,
            mem_limit: positive("BYZAGG_CUDA_MEM_LIMIT")?,
        })
    }
}
