//! Which engine computes: the f64 reference, the CPU kernels, or a GPU backend.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A backend, as named on the command line.
///
/// # Examples
///
/// ```
/// use byzagg::Backend;
///
/// let b: Backend = "cpu".parse()?;
/// assert_eq!(b, Backend::Cpu);
/// // Auto is CUDA where a device and NVRTC are found, else wgpu, else the CPU.
/// assert!(Backend::Auto.resolve().is_ok());
/// assert!("tpu".parse::<Backend>().is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The best available: CUDA, then wgpu, then the CPU.
    Auto,
    /// The f64 oracle of `reference.rs`: slow, simple, the ground truth of `verify`.
    Reference,
    /// rayon across coordinate chunks, SIMD within them.
    Cpu,
    /// WGSL compute shaders through wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// CUDA kernels compiled by NVRTC.
    Cuda,
}

impl Backend {
    /// Every named backend, in the order `verify` and `devices` report them.
    pub const ALL: [Backend; 4] = [Backend::Reference, Backend::Cpu, Backend::Wgpu, Backend::Cuda];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Reference => "reference",
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// `Ok(())` if this backend can run here, else [`Error::Unavailable`] saying why. The CUDA
    /// probe runs once per process and never panics (no driver, no device, no NVRTC).
    pub fn available(self) -> Result<()> {
        match self {
            Backend::Auto | Backend::Reference | Backend::Cpu => Ok(()),
            Backend::Cuda => crate::cuda::available(),
            Backend::Wgpu => crate::wgpu::probe(),
        }
    }

    /// The concrete backend `Auto` stands for (the fastest available); others map to
    /// themselves if available.
    pub fn resolve(self) -> Result<Backend> {
        match self {
            Backend::Auto => {
                if Backend::Cuda.available().is_ok() {
                    return Ok(Backend::Cuda);
                }
                match crate::wgpu::auto_choice() {
                    Ok(()) => Ok(Backend::Wgpu),
                    Err(why) => {
                        // Say once per process why auto settles for the CPU.
                        static SAID: std::sync::Once = std::sync::Once::new();
                        SAID.call_once(|| eprintln!("byzagg: backend auto uses cpu: {why}"));
                        Ok(Backend::Cpu)
                    }
                }
            }
            b => b.available().map(|()| b),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            Backend::Auto,
            Backend::Reference,
            Backend::Cpu,
            Backend::Wgpu,
            Backend::Cuda,
        ]
        .into_iter()
        .find(|b| b.name() == s)
        .ok_or_else(|| Error::invalid("backend", s, "one of auto, reference, cpu, wgpu, cuda"))
    }
}
