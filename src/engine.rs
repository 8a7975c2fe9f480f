//! The one place a [`Backend`] name becomes an opened engine: [`Engine`] holds the opened
//! handle (the CPU backend, a wgpu device, a CUDA context), and [`Engine::dispatch`] runs one
//! piece of generic code over whichever [`Kernels`] it holds. [`Aggregator`](crate::Aggregator),
//! `byzagg bench` and the criterion benches all go through it, so a backend added here is
//! added everywhere.
//!
//! Opening is the expensive part (a GPU device, compiled kernels), so an engine is opened once
//! and kept; every handle inside is cheap to clone and shares the device.

use crate::backend::Backend;
use crate::cpu::Cpu;
use crate::error::{Error, Result};
use crate::kernels::Kernels;

/// An opened backend.
///
/// # Examples
///
/// ```
/// use byzagg::{Backend, Batch, Engine, Kernels, KernelsJob, Result};
///
/// /// The backend's name and the squared distance between two rows.
/// struct Distance<'a>(Batch<'a>);
///
/// impl KernelsJob for Distance<'_> {
///     type Output = (&'static str, f64);
///     fn run<K: Kernels>(self, k: &K) -> Result<Self::Output> {
///         let rows = k.upload(&self.0)?;
///         Ok((k.name(), k.pairwise_dist(&rows)?[1]))
///     }
/// }
///
/// let data = [0.0f32, 0.0, 3.0, 4.0];
/// let engine = Engine::open(Backend::Cpu)?;
/// let (name, d2) = engine.dispatch(Distance(Batch::from_contiguous(&data, 2)?))?;
/// assert_eq!((name, d2), ("cpu", 25.0));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Engine {
    /// The f64 oracle of `reference.rs`; it has no [`Kernels`]: rules run it directly.
    Reference,
    /// The CPU backend.
    Cpu(Cpu),
    /// The wgpu backend on the shared device.
    #[cfg(feature = "wgpu")]
    Wgpu(crate::wgpu::Wgpu),
    /// The CUDA backend on the process-wide device (`BYZAGG_CUDA_DEVICE`, default 0).
    #[cfg(feature = "cuda")]
    Cuda(crate::cuda::Cuda),
}

/// Code generic over the backend, run by [`Engine::dispatch`] on the engine's [`Kernels`]
/// (Rust closures cannot be generic, so the job is a value with a generic method).
pub trait KernelsJob {
    /// What the job returns.
    type Output;

    /// Runs the job on one backend's kernels.
    fn run<K: Kernels>(self, kernels: &K) -> Result<Self::Output>;
}

impl Engine {
    /// Opens `backend`; `Backend::Auto` opens the fastest available one, and an unavailable
    /// backend is an [`Error::Unavailable`] saying why.
    pub fn open(backend: Backend) -> Result<Self> {
        match backend.resolve()? {
            Backend::Reference => Ok(Engine::Reference),
            Backend::Cpu => Ok(Engine::Cpu(Cpu::new())),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Engine::Wgpu(crate::wgpu::Wgpu::new()?)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Engine::Cuda(crate::cuda::Cuda::shared()?)),
            // `resolve` has checked availability, which a compiled-out backend never passes.
            other => Err(other.available().err().unwrap_or_else(|| Error::Unavailable {
                backend: other.name(),
                reason: "no engine is compiled in for it".into(),
            })),
        }
    }

    /// Every backend with [`Kernels`] that can run here, opened: the CPU, then wgpu and CUDA
    /// where available (what the benches cover).
    pub fn all_with_kernels() -> Vec<Engine> {
        [Backend::Cpu, Backend::Wgpu, Backend::Cuda]
            .into_iter()
            .filter_map(|b| Engine::open(b).ok())
            .collect()
    }

    /// The concrete backend this engine runs.
    pub fn backend(&self) -> Backend {
        match self {
            Engine::Reference => Backend::Reference,
            Engine::Cpu(_) => Backend::Cpu,
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(_) => Backend::Wgpu,
            #[cfg(feature = "cuda")]
            Engine::Cuda(_) => Backend::Cuda,
        }
    }

    /// The backend's name, as on the command line.
    pub fn name(&self) -> &'static str {
        self.backend().name()
    }

    /// Runs `job` on this engine's kernels. The reference has none (it computes whole rules in
    /// f64), so for it this is an [`Error::InvalidParameter`] naming the backend.
    pub fn dispatch<J: KernelsJob>(&self, job: J) -> Result<J::Output> {
        match self {
            Engine::Reference => Err(Error::invalid(
                "backend",
                "reference",
                "must be cpu, wgpu or cuda: the reference computes whole rules, not primitives",
            )),
            Engine::Cpu(cpu) => job.run(cpu),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(wgpu) => job.run(wgpu),
            #[cfg(feature = "cuda")]
            Engine::Cuda(cuda) => job.run(cuda),
        }
    }
}
