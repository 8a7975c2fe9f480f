//! Device setup for the CUDA backend: the module probe, one context and stream per device (the
//! handle [`Cuda`]), kernels compiled by NVRTC once per context, and rows already on the
//! device. The driver probe is `driver.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream};

use super::driver::{device_count, driver_version};
use super::rows::CudaRows;
use super::{CudaParams, KernelVariants, backend_err, nvrtc};
use crate::error::{Error, Result};

/// Compiles a one-line kernel with the NVRTC in use and loads it on device 0: proof that the
/// driver accepts the PTX this NVRTC emits (NVRTC 13 writes PTX 9.0, which drivers before
/// R580 refuse), so that `auto` falls back to the CPU instead of failing every aggregation.
pub(crate) fn load_probe_module() -> Result<(), String> {
    const SOURCE: &str = "extern \"C\" __global__ void byzagg_probe(float* x) { x[0] = 1.0f; }";
    std::panic::catch_unwind(|| {
        let ctx = CudaContext::new(0).map_err(|e| format!("creating a context on device 0: {e}"))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| e.to_string())?;
        let ptx = nvrtc::compile("probe.cu", SOURCE, &format!("sm_{major}{minor}"))?;
        ctx.load_module(ptx).map_err(|e| {
            let nv = nvrtc::nvrtc().map(|i| i.version).unwrap_or((0, 0));
            let drv = driver_version().unwrap_or((0, 0));
            format!(
                "the driver (CUDA {}.{}) cannot load the PTX of NVRTC {}.{}: {e}; install the \
                 NVRTC of the driver's CUDA version (for a 12.x driver: \
                 `pip install nvidia-cuda-nvrtc-cu12`) or point BYZAGG_NVRTC at it",
                drv.0, drv.1, nv.0, nv.1
            )
        })?;
        Ok(())
    })
    .unwrap_or_else(|_| Err("the CUDA module probe panicked".into()))
}

/// The CUDA backend on one device: a context, a stream, and the kernels compiled for it.
///
/// Cheap to clone (shared handles). [`Cuda::shared`] gives the process-wide instance that
/// `Backend::Cuda` uses.
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<Inner>,
    /// The kernel variants this handle launches ([`Cuda::with_kernels`]); a clone keeps them.
    variants: KernelVariants,
    /// How it sizes its chunks ([`Cuda::with_params`]), fixed when it is opened.
    params: CudaParams,
}

struct Inner {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arch: String,
    sm_count: usize,
    /// Compiled modules by key: the file name, or for a module specialised by defines
    /// the key its launcher gives (`order_stats.cu m=33 median`).
    modules: Mutex<HashMap<String, Arc<CudaModule>>>,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cuda")
            .field("ordinal", &self.inner.ctx.ordinal())
            .field("arch", &self.inner.arch)
            .field("kernels", &self.variants)
            .field("params", &self.params)
            .finish()
    }
}

impl Cuda {
    /// Opens device `ordinal` (after the probe of [`super::available`]).
    pub fn new(ordinal: usize) -> Result<Self> {
        let ctx = Cuda::primary_context(ordinal)?;
        let stream = ctx.new_stream().map_err(backend_err)?;
        Cuda::on_stream(ctx, stream)
    }

    /// The primary context of device `ordinal`, after the probe and a bounds check.
    pub(crate) fn primary_context(ordinal: usize) -> Result<Arc<CudaContext>> {
        super::available()?;
        let count = device_count().map_err(backend_err)?;
        if ordinal >= count {
            return Err(Error::invalid(
                "device",
                ordinal,
                format!("this machine has {count} CUDA devices"),
            ));
        }
        CudaContext::new(ordinal).map_err(backend_err)
    }

    /// The backend on `stream` of `ctx`: the device's architecture and size read, no kernel
    /// compiled yet (each file is compiled on first use), the kernel variants read from
    /// `BYZAGG_CUDA_KERNELS` and the tuning ([`CudaParams`]) from `BYZAGG_CUDA_CHUNK` and
    /// `BYZAGG_CUDA_MEM_LIMIT` (an unusable value is an error naming the variable).
    pub(super) fn on_stream(ctx: Arc<CudaContext>, stream: Arc<CudaStream>) -> Result<Self> {
        let variants = KernelVariants::from_env()?;
        let params = CudaParams::from_env()?;
        let (major, minor) = ctx.compute_capability().map_err(backend_err)?;
        let sm_count = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(backend_err)?
            .max(1) as usize;
        Ok(Cuda {
            inner: Arc::new(Inner {
                ctx,
                stream,
                arch: format!("sm_{major}{minor}"),
                sm_count,
                modules: Mutex::new(HashMap::new()),
            }),
            variants,
            params,
        })
    }

    /// The process-wide instance on device `BYZAGG_CUDA_DEVICE` (default 0), created on first
    /// use; its compiled kernels are reused by every later aggregation.
    pub fn shared() -> Result<Self> {
        static SHARED: OnceLock<Result<Cuda, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let ordinal = std::env::var("BYZAGG_CUDA_DEVICE")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                Cuda::new(ordinal).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| Error::Unavailable {
                backend: "cuda",
                reason,
            })
    }

    /// The context (to allocate buffers that byzagg can read without copies).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }

    /// The stream all of this instance's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }

    /// The architecture the kernels are compiled for (`sm_90` on an H100).
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }

    pub(crate) fn ctx(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }

    pub(crate) fn sm_count(&self) -> usize {
        self.inner.sm_count
    }

    /// This handle with the kernel variants `variants` (the same device, stream and compiled
    /// modules; other handles keep theirs). Until a GPU has measured a new kernel against
    /// the one it competes with, the default stays the old one.
    ///
    /// ```no_run
    /// use byzagg::cuda::{Cuda, KernelVariants};
    ///
    /// let cuda = Cuda::shared()?.with_kernels(KernelVariants::parse("order_stats=pruned")?);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn with_kernels(mut self, variants: KernelVariants) -> Self {
        self.variants = variants;
        self
    }

    /// The kernel variants this handle launches.
    pub fn kernels(&self) -> KernelVariants {
        self.variants
    }

    /// This handle with the tuning `params` (the same device, stream and compiled modules;
    /// other handles keep theirs).
    ///
    /// ```no_run
    /// use byzagg::cuda::{Cuda, CudaParams};
    ///
    /// // Chunks of at most 4,099 coordinates, whatever the free memory.
    /// let cuda = Cuda::shared()?.with_params(CudaParams { chunk: Some(4099), ..CudaParams::default() });
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn with_params(mut self, params: CudaParams) -> Self {
        self.params = params;
        self
    }

    /// The tuning this handle runs with.
    pub fn params(&self) -> CudaParams {
        self.params
    }

    /// Kernel `name` of `file`, compiling the file on first use in this context.
    pub(crate) fn function(&self, file: &'static str, source: &str, name: &str) -> Result<CudaFunction> {
        self.function_keyed(file, || source.to_string(), name)
    }

    /// Kernel `name` of the module cached under `key`, compiled on first use in this context
    /// from the text `source` makes (a file with its specialising defines in front).
    pub(crate) fn function_keyed(
        &self,
        key: &str,
        source: impl FnOnce() -> String,
        name: &str,
    ) -> Result<CudaFunction> {
        let module = {
            let mut modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
            match modules.get(key) {
                Some(m) => m.clone(),
                None => {
                    let ptx = nvrtc::compile(key, &source(), &self.inner.arch).map_err(backend_err)?;
                    let m = self.inner.ctx.load_module(ptx).map_err(backend_err)?;
                    modules.insert(key.to_string(), m.clone());
                    m
                }
            }
        };
        module.load_function(name).map_err(backend_err)
    }

    /// Rows already on this device as one contiguous row-major buffer of `n` rows: nothing is
    /// copied. The buffer must belong to this instance's context.
    pub fn rows_from_slice<'a>(&self, slice: &'a CudaSlice<f32>, n: usize) -> Result<CudaRows<'a>> {
        if slice.context() != self.context() {
            return Err(Error::invalid(
                "rows",
                "a buffer of another CUDA context",
                "must be on this context",
            ));
        }
        CudaRows::from_slice(slice, n)
    }

    /// Rows already on this device as separate buffers (one device address per row, `d`
    /// floats each): nothing is copied.
    ///
    /// # Safety
    ///
    /// Every pointer must address `d` readable f32 in this context, and stay valid and
    /// unwritten for as long as the returned rows are used; writes on other streams must
    /// be complete before the rows are passed to byzagg.
    pub unsafe fn rows_from_pointers(&self, ptrs: &[u64], d: usize) -> Result<CudaRows<'static>> {
        CudaRows::from_pointers(ptrs.to_vec(), d)
    }
}
