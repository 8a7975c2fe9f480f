//! The CUDA backend: the four primitives of SPEC section 5 as CUDA C kernels
//! (`kernels/<stem>.cu`), compiled at run time by NVRTC for the device's architecture and
//! launched through cudarc.
//!
//! Nothing CUDA is linked: cudarc opens `libcuda` and NVRTC at run time, so byzagg builds and
//! runs anywhere, and [`available`] says why CUDA cannot run here (no driver, no device, no
//! NVRTC, or a build without the `cuda` feature) without ever panicking.
//!
//! - `driver.rs`: the driver probe (device count, driver version, one line per device),
//!   below `device.rs` and `nvrtc.rs`;
//! - `device.rs`: the module probe, one context and stream per device, kernel modules
//!   compiled once per context and cached, and the API for rows already on the device
//!   (`Cuda::rows_from_slice`, `Cuda::rows_from_pointers`; `Aggregator::aggregate_resident`
//!   runs a rule on them);
//! - this file: [`available`], [`describe`], [`compile_all`], and the
//!   [`crate::Kernels`] impl, which checks shapes and forwards to one file per
//!   primitive (`order_stats.rs`, `pairwise_dist.rs`, `center_dist.rs`, `mix.rs`);
//! - `caller.rs`: [`Cuda::from_stream`] and [`Cuda::from_raw_stream`], the backend
//!   on the caller's stream (PyTorch's current stream), with no device-wide synchronization;
//! - `write_row.rs`: one row of a resident matrix replaced (a training server's arrival);
//! - `rows.rs`: [`CudaRows`] (the resident rows, wherever they live) and the coordinate chunks (batches larger than the device's
//!   free memory stay on the host and are streamed through in chunks);
//! - the pruned `order_stats` variant's per-m sorting networks come from the crate's
//!   `sort_network.rs` (shared with wgpu), compiled into each module as a macro;
//! - `params.rs`: [`CudaParams`], the chunk cap and memory limit a handle runs with (fixed
//!   when it is opened: `BYZAGG_CUDA_CHUNK`, `BYZAGG_CUDA_MEM_LIMIT`, [`Cuda::with_params`]);
//! - `variant.rs`: [`KernelVariants`], the kernel variant of each primitive that has more
//!   than one, the one setting that selects between a kernel and the new one competing with
//!   it until a GPU has measured both (`BYZAGG_CUDA_KERNELS`, [`Cuda::with_kernels`]);
//! - `exact_dist.rs`: the fast distances' proven error bound ([`crate::Kernels::dist_error`])
//!   and the few distances a rule cannot order from them recomputed exactly on the device (the
//!   reference's terms added as integers), so exact ties break by row index as in the
//!   reference;
//! - `nvrtc.rs`: where NVRTC is searched for (`BYZAGG_NVRTC`, `CUDA_PATH`/`CUDA_HOME`, PyPI's
//!   `nvidia-cuda-nvrtc` wheels, the system loader) and the compile step.
//!
//! For the CLI: [`describe`] lists the devices and the NVRTC found (`byzagg devices`), and
//! [`compile_all`] compiles every kernel for given architectures without a GPU
//! (`byzagg verify --backend cuda --compile-only`).
//!
//! All work of one [`Cuda`] goes to one stream (its own, or the caller's); every primitive waits for its stream before
//! it returns, so the temporary buffers it frees are no longer in use and the caller's
//! buffers are no longer read.

#[cfg(feature = "cuda")]
mod caller;
#[cfg(feature = "cuda")]
mod center_dist;
#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
mod exact_dist;
#[cfg(feature = "cuda")]
mod launch;
#[cfg(feature = "cuda")]
mod mix;
#[cfg(feature = "cuda")]
mod nvrtc;
#[cfg(feature = "cuda")]
mod order_stats;
#[cfg(feature = "cuda")]
mod pairwise_dist;
#[cfg(feature = "cuda")]
mod params;
#[cfg(feature = "cuda")]
mod rows;
mod variant;
#[cfg(feature = "cuda")]
mod write_row;

pub use variant::{
    ENV as KERNELS_ENV, KernelVariants, MixRowsVariant, OrderStatsVariant, PairwiseVariant, StreamVariant,
};

#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
pub use device::Cuda;
#[cfg(feature = "cuda")]
pub use nvrtc::NvrtcInfo;
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub use order_stats::{PrunedKind, pruned_defines, pruned_plan};
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub use pairwise_dist::{tiled_overflow, tiled_rescue};
#[cfg(feature = "cuda")]
pub use params::CudaParams;
#[cfg(feature = "cuda")]
pub use rows::CudaRows;

use crate::error::{Error, Result};
#[cfg(feature = "cuda")]
use crate::{
    batch::Batch,
    kernels::{Kernels, OrderStat, shape},
};

/// The kernel files: (file name, embedded source, entry points), one per primitive.
#[cfg(feature = "cuda")]
pub const KERNEL_FILES: [(&str, &str, &[&str]); 5] = [
    (order_stats::FILE, order_stats::SOURCE, &order_stats::ENTRIES),
    (
        pairwise_dist::FILE,
        pairwise_dist::SOURCE,
        &pairwise_dist::ENTRIES,
    ),
    (center_dist::FILE, center_dist::SOURCE, &center_dist::ENTRIES),
    (mix::FILE, mix::SOURCE, &mix::ENTRIES),
    (exact_dist::FILE, exact_dist::SOURCE, &exact_dist::ENTRIES),
];

/// The architectures CI compiles for.
pub const CI_ARCHS: [&str; 2] = ["sm_80", "sm_90"];

/// `Ok(())` if CUDA can run here: the driver library loads, it reports a device, and NVRTC is
/// found. Otherwise [`Error::Unavailable`] with the reason. Probed once per process; never
/// panics.
pub fn available() -> Result<()> {
    probe().map_err(|reason| Error::Unavailable {
        backend: "cuda",
        reason,
    })
}

fn probe() -> Result<(), String> {
    #[cfg(feature = "cuda")]
    {
        static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        PROBE
            .get_or_init(|| {
                let count = driver::device_count()?;
                if count == 0 {
                    return Err("the NVIDIA driver reports no CUDA device".into());
                }
                nvrtc::nvrtc()?;
                device::load_probe_module()
            })
            .clone()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("byzagg was built without the `cuda` feature".into())
    }
}

/// How many CUDA devices this machine has (after the probe of [`available`]): what
/// `--backend cuda:all` opens, and the indices `cuda:N` may name.
pub fn device_count() -> Result<usize> {
    available()?;
    #[cfg(feature = "cuda")]
    {
        driver::device_count().map_err(|reason| Error::Unavailable {
            backend: "cuda",
            reason,
        })
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(0)
    }
}

/// Lines for `byzagg devices`: each CUDA device (name, compute capability, memory) and the
/// NVRTC found (path, version), or why not.
pub fn describe() -> Vec<String> {
    #[cfg(feature = "cuda")]
    {
        let mut lines = match driver::device_count() {
            Err(why) => vec![format!("cuda: no device: {why}")],
            Ok(0) => vec!["cuda: no device: the NVIDIA driver reports none".into()],
            Ok(count) => (0..count).map(driver::describe_device).collect(),
        };
        lines.push(match nvrtc::nvrtc() {
            Ok(info) => format!("nvrtc: {}.{} at {}", info.version.0, info.version.1, info.path),
            Err(why) => format!("nvrtc: unavailable: {why}"),
        });
        lines
    }
    #[cfg(not(feature = "cuda"))]
    {
        vec!["cuda: unavailable: byzagg was built without the `cuda` feature".into()]
    }
}

/// Compiles every kernel file for every architecture in `archs` (`sm_80`, `sm_90`, ...) with
/// NVRTC, without a GPU, and checks that each entry point is in the PTX. One entry per
/// (kernel file, architecture): `Err` holds NVRTC's log or the missing entry points.
pub fn compile_all(archs: &[&str]) -> Vec<(String, String, Result<(), String>)> {
    #[cfg(feature = "cuda")]
    {
        let mut out = Vec::new();
        for arch in archs {
            for (file, source, entries) in KERNEL_FILES {
                let result = nvrtc::compile(file, source, arch).and_then(|ptx| {
                    let text = ptx.to_src();
                    let missing: Vec<&str> = entries
                        .iter()
                        .copied()
                        .filter(|e| !text.contains(&format!(".entry {e}(")))
                        .collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!(
                            "{file} for {arch}: entry points missing from the PTX: {missing:?}"
                        ))
                    }
                });
                out.push((file.to_string(), arch.to_string(), result));
            }
        }
        out
    }
    #[cfg(not(feature = "cuda"))]
    {
        archs
            .iter()
            .map(|a| {
                (
                    "*".into(),
                    a.to_string(),
                    Err("byzagg was built without the `cuda` feature".into()),
                )
            })
            .collect()
    }
}

/// The PTX that NVRTC makes of kernel file `file` (a name of [`KERNEL_FILES`]) for `arch`, as
/// the backend would load it: for checking register use and spills with `ptxas -v`.
pub fn ptx(file: &str, arch: &str) -> std::result::Result<String, String> {
    #[cfg(feature = "cuda")]
    {
        let (name, source, _) = KERNEL_FILES
            .iter()
            .find(|(name, _, _)| *name == file)
            .ok_or_else(|| format!("no kernel file {file}"))?;
        nvrtc::compile(name, source, arch).map(|p| p.to_src())
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (file, arch);
        Err("byzagg was built without the `cuda` feature".into())
    }
}

/// The PTX of the pruned `order_stats` module for `m` rows (1..=64) and `kind`, compiled for
/// `arch` from the text the backend compiles (`pruned_defines` in front of the kernel file):
/// for the ptxas register and spill checks of every row count.
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub fn pruned_ptx(m: usize, kind: PrunedKind, arch: &str) -> std::result::Result<String, String> {
    let source = format!("{}{}", pruned_defines(m, kind), order_stats::SOURCE);
    nvrtc::compile(order_stats::FILE, &source, arch).map(|p| p.to_src())
}

/// A pair's distance from what `kernels/exact_dist.cu`'s `exact_dist_partial` writes per
/// block, summed over its blocks (`EX_SLOTS` values: 32-bit digits, each held in a u64, carries
/// not yet propagated, then the count of non-finite terms): `+inf` for a non-finite term, else
/// the f64 nearest to the integer. For tests/cuda_emulated.rs, which runs that kernel on the
/// CPU and compares the result with the reference bit for bit.
#[doc(hidden)]
#[cfg(feature = "cuda")]
pub fn exact_from_slots(slots: &[u64]) -> f64 {
    let wide: Vec<u128> = slots.iter().map(|&d| u128::from(d)).collect();
    exact_dist::exact_value(&wide)
}

/// The `u64` values `exact_dist_partial` writes per block (`EX_SLOTS`).
#[doc(hidden)]
#[cfg(feature = "cuda")]
pub const EXACT_SLOTS: usize = exact_dist::SLOTS;

/// The relative bounds of the fast distances with kernel `pairwise` ([`Kernels::dist_error`])
/// and of the refined ones ([`Kernels::refined_dist_error`]) at `d` coordinates: for
/// tests/cuda_emulated.rs, which checks the emulated kernels' sums against them.
#[doc(hidden)]
#[cfg(feature = "cuda")]
pub fn dist_bounds(pairwise: PairwiseVariant, d: usize) -> (f64, f64) {
    (exact_dist::fast_bound(pairwise, d), exact_dist::refined_bound(d))
}

/// A cudarc or NVRTC failure as the crate's error.
#[cfg(feature = "cuda")]
pub(crate) fn backend_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Backend {
        backend: "cuda",
        source: e.into(),
    }
}

/// The four primitives, each forwarded to its own file after the shape rules of `kernels.rs`.
#[cfg(feature = "cuda")]
impl Kernels for Cuda {
    type Rows<'a> = CudaRows<'a>;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn shape(&self, rows: &CudaRows<'_>) -> (usize, usize) {
        (rows.k(), rows.d())
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<CudaRows<'a>> {
        self.upload_batch(batch)
    }

    fn zeros(&self, k: usize, d: usize) -> Result<CudaRows<'static>> {
        self.alloc_rows(k, d)
    }

    fn download(&self, rows: &CudaRows<'_>, out: &mut [f32]) -> Result<()> {
        shape::download(self.shape(rows), out.len())?;
        self.download_rows(rows, out)
    }

    fn synchronize(&self) -> Result<()> {
        self.stream().synchronize().map_err(backend_err)
    }

    fn write_row(&self, rows: &mut CudaRows<'_>, row: usize, values: &[f32]) -> Result<()> {
        self.write_row_of(rows, row, values)
    }

    fn order_stats(
        &self,
        rows: &CudaRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<CudaRows<'static>> {
        shape::order_stats(self.shape(rows), weights.len())?;
        order_stats::order_stats(self, rows, weights, stat)
    }

    fn pairwise_dist(&self, rows: &CudaRows<'_>) -> Result<Vec<f64>> {
        pairwise_dist::pairwise_dist(self, rows)
    }

    fn center_dist(&self, rows: &CudaRows<'_>, center: &CudaRows<'_>) -> Result<Vec<f64>> {
        shape::center_dist(self.shape(rows), self.shape(center))?;
        center_dist::center_dist(self, rows, center)
    }

    fn dist_error(&self, d: usize) -> Option<f64> {
        Some(exact_dist::fast_bound(self.kernels().pairwise, d))
    }

    fn refined_dist_error(&self, d: usize) -> Option<f64> {
        Some(exact_dist::refined_bound(d))
    }

    fn exact_pair_dist(
        &self,
        rows: &CudaRows<'_>,
        pairs: &[(usize, usize)],
        exact: bool,
    ) -> Result<Vec<f64>> {
        shape::pairs(self.shape(rows), pairs)?;
        exact_dist::pair_dists(self, rows, rows, pairs, exact)
    }

    fn exact_center_dist(
        &self,
        rows: &CudaRows<'_>,
        center: &CudaRows<'_>,
        which: &[usize],
        exact: bool,
    ) -> Result<Vec<f64>> {
        shape::center_dist(self.shape(rows), self.shape(center))?;
        shape::which(self.shape(rows), which)?;
        let pairs: Vec<(usize, usize)> = which.iter().map(|&i| (i, 0)).collect();
        exact_dist::pair_dists(self, rows, center, &pairs, exact)
    }

    fn mix(
        &self,
        rows: &CudaRows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&CudaRows<'_>, f64)>,
    ) -> Result<CudaRows<'static>> {
        shape::mix(
            self.shape(rows),
            coeffs.len(),
            k,
            base.map(|(b, _)| self.shape(b)),
        )?;
        mix::mix(self, rows, coeffs, k, base)
    }
}
