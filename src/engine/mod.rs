//! The one place a [`Backend`] name becomes an opened engine: [`Engine`] holds the opened
//! handle (the CPU backend, a wgpu device, a CUDA context) and is itself a [`Kernels`] whose
//! rows ([`EngineRows`]) are those of the backend it holds: each primitive matches once and
//! forwards. [`Aggregator`](crate::Aggregator), `byzagg bench`, the criterion benches and the
//! sharded engine all reach a backend that way, so a backend added here is added everywhere.
//!
//! Opening is the expensive part (a GPU device, compiled kernels), so an engine is opened once
//! and kept; every handle inside is cheap to clone and shares the device.
//!
//! A [`BackendList`] of several devices opens as [`Engine::Sharded`]: the coordinates split
//! across the devices' engines (`sharded.rs`, which combines the partial distances as the
//! shard protocol of `shard/` says), each primitive run on each of them through this same
//! impl.

use crate::backend::{Backend, BackendList, DeviceIndex};
use crate::batch::Batch;
use crate::cpu::{Cpu, HostRows};
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat};

mod sharded;
pub use sharded::{Sharded, ShardedRows};

/// An opened backend.
///
/// # Examples
///
/// ```
/// use byzagg::{Backend, Batch, Engine, Kernels};
///
/// /// The backend's name and the squared distance between two rows, on any backend.
/// fn distance<K: Kernels>(k: &K, batch: &Batch<'_>) -> byzagg::Result<(&'static str, f64)> {
///     let rows = k.upload(batch)?;
///     Ok((k.name(), k.pairwise_dist(&rows)?[1]))
/// }
///
/// let data = [0.0f32, 0.0, 3.0, 4.0];
/// let engine = Engine::open(Backend::Cpu)?;
/// let (name, d2) = distance(&engine, &Batch::from_contiguous(&data, 2)?)?;
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
    /// Several engines, each holding a range of the coordinates (`--backend cpu,wgpu`).
    Sharded(Sharded),
}

impl Engine {
    /// Opens `backend`; `Backend::Auto` opens the CPU backend (host rows, see
    /// [`Backend::Auto`]), and an unavailable backend is an [`Error::Unavailable`] saying why.
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

    /// Opens what a `--backend` list names: one device as [`Engine::open`] does (`cuda:1`
    /// opens that CUDA device), several as one [`Engine::Sharded`] whose coordinate ranges
    /// follow the list's order. `cuda:all` stands for every CUDA device here.
    ///
    /// ```
    /// use byzagg::{BackendList, Engine};
    ///
    /// let engine = Engine::open_list(&"cpu,cpu".parse::<BackendList>()?)?;
    /// assert_eq!(engine.name(), "cpu,cpu");
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn open_list(list: &BackendList) -> Result<Self> {
        if let Some(backend) = list.single() {
            return Engine::open(backend);
        }
        let mut engines = Vec::new();
        for device in list.devices() {
            match (device.backend, device.index) {
                (backend, DeviceIndex::Default) => engines.push(Engine::open(backend)?),
                (Backend::Cuda, DeviceIndex::Ordinal(i)) => engines.push(open_cuda(i)?),
                (Backend::Cuda, DeviceIndex::All) => {
                    for i in 0..crate::cuda::device_count()? {
                        engines.push(open_cuda(i)?);
                    }
                }
                // `Device::from_str` gives indices to CUDA only.
                (backend, _) => {
                    return Err(Error::invalid(
                        "backend",
                        device,
                        format!("{backend} takes no device index"),
                    ));
                }
            }
        }
        match engines.len() {
            1 => Ok(engines.remove(0)),
            _ => Ok(Engine::Sharded(Sharded::new(engines)?)),
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

    /// The concrete backend this engine runs. A sharded engine runs several: it reports
    /// theirs when all its shards share one backend (`cuda:0,cuda:1` is CUDA), and
    /// [`Backend::Auto`] for a mix (`cpu,wgpu`); [`Engine::name`] names its devices.
    pub fn backend(&self) -> Backend {
        match self {
            Engine::Reference => Backend::Reference,
            Engine::Cpu(_) => Backend::Cpu,
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(_) => Backend::Wgpu,
            #[cfg(feature = "cuda")]
            Engine::Cuda(_) => Backend::Cuda,
            Engine::Sharded(s) => {
                let first = s.engines()[0].backend();
                match s.engines().iter().all(|e| e.backend() == first) {
                    true => first,
                    false => Backend::Auto,
                }
            }
        }
    }

    /// The engine's name, as on the command line: the backend's (`cpu`), and for a sharded
    /// engine its devices in order (`cpu,wgpu`, `cuda:0,cuda:1`).
    pub fn name(&self) -> String {
        match self {
            Engine::Sharded(s) => {
                let names: Vec<String> = s.engines().iter().map(Engine::device_name).collect();
                names.join(",")
            }
            _ => self.backend().name().to_string(),
        }
    }

    /// The kernel variants this engine launches in their text form (`order_stats=bitonic`,
    /// see [`crate::cuda::KernelVariants`]), for a benchmark's records; `None` for a backend
    /// with one variant of each kernel. A sharded engine reports its first CUDA shard's.
    pub fn kernel_variants(&self) -> Option<String> {
        match self {
            #[cfg(feature = "cuda")]
            Engine::Cuda(c) => Some(c.kernels().to_string()),
            Engine::Sharded(s) => s.engines().iter().find_map(Engine::kernel_variants),
            _ => None,
        }
    }

    /// One shard's name: `cuda:N` for a CUDA device, the backend's name otherwise.
    fn device_name(&self) -> String {
        match self {
            #[cfg(feature = "cuda")]
            Engine::Cuda(c) => format!("cuda:{}", c.context().ordinal()),
            other => other.name(),
        }
    }
}

/// Opens CUDA device `ordinal` (built without CUDA: why it is unavailable).
fn open_cuda(ordinal: usize) -> Result<Engine> {
    #[cfg(feature = "cuda")]
    {
        Ok(Engine::Cuda(crate::cuda::Cuda::new(ordinal)?))
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Err(crate::cuda::available().expect_err("cuda is compiled out"))
    }
}

/// A `k x d` matrix resident on one engine: the rows type of the backend the engine holds.
/// Given to an engine of another backend it is an error, never a panic.
#[non_exhaustive]
pub enum EngineRows<'a> {
    /// On the CPU backend.
    Cpu(HostRows<'a>),
    /// On the wgpu backend.
    #[cfg(feature = "wgpu")]
    Wgpu(crate::wgpu::WgpuRows),
    /// On the CUDA backend.
    #[cfg(feature = "cuda")]
    Cuda(crate::cuda::CudaRows<'a>),
    /// Split across a sharded engine's engines.
    Sharded(ShardedRows<'a>),
}

impl std::fmt::Debug for EngineRows<'_> {
    /// The backend and the shape (device rows have no printable values).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (backend, (k, d)) = match self {
            EngineRows::Cpu(r) => ("cpu", (r.k(), r.d())),
            #[cfg(feature = "wgpu")]
            EngineRows::Wgpu(r) => ("wgpu", r.shape()),
            #[cfg(feature = "cuda")]
            EngineRows::Cuda(r) => ("cuda", (r.k(), r.d())),
            EngineRows::Sharded(r) => ("sharded", r.shape()),
        };
        write!(f, "EngineRows({backend}, {k} x {d})")
    }
}

impl<'a> From<HostRows<'a>> for EngineRows<'a> {
    fn from(rows: HostRows<'a>) -> Self {
        EngineRows::Cpu(rows)
    }
}

#[cfg(feature = "wgpu")]
impl From<crate::wgpu::WgpuRows> for EngineRows<'_> {
    fn from(rows: crate::wgpu::WgpuRows) -> Self {
        EngineRows::Wgpu(rows)
    }
}

#[cfg(feature = "cuda")]
impl<'a> From<crate::cuda::CudaRows<'a>> for EngineRows<'a> {
    fn from(rows: crate::cuda::CudaRows<'a>) -> Self {
        EngineRows::Cuda(rows)
    }
}

impl<'a> From<ShardedRows<'a>> for EngineRows<'a> {
    fn from(rows: ShardedRows<'a>) -> Self {
        EngineRows::Sharded(rows)
    }
}

/// Rows of one backend handed to an engine of another.
fn foreign_rows(engine: &Engine) -> Error {
    Error::invalid(
        "rows",
        "rows of another engine",
        format!(
            "must be resident on the {} engine that runs the primitive",
            engine.name()
        ),
    )
}

/// Runs `$body` with `$k` bound to the engine's kernels and each `$r` to the rows of the same
/// backend, and wraps the rows it returns back into [`EngineRows`] (`$wrap` given) or returns
/// its value as it is. The reference has no kernels; rows of another backend are an error.
macro_rules! on_backend {
    ($engine:expr, ($($rows:expr => $r:ident),+), $k:ident => $body:expr $(, $wrap:ident)?) => {
        match $engine {
            Engine::Cpu($k) => match ($($rows,)+) {
                ($(EngineRows::Cpu($r),)+) => $body $(.map(EngineRows::$wrap))?,
                #[allow(unreachable_patterns)]
                _ => Err(foreign_rows($engine)),
            },
            #[cfg(feature = "wgpu")]
            Engine::Wgpu($k) => match ($($rows,)+) {
                ($(EngineRows::Wgpu($r),)+) => $body $(.map(EngineRows::$wrap))?,
                #[allow(unreachable_patterns)]
                _ => Err(foreign_rows($engine)),
            },
            #[cfg(feature = "cuda")]
            Engine::Cuda($k) => match ($($rows,)+) {
                ($(EngineRows::Cuda($r),)+) => $body $(.map(EngineRows::$wrap))?,
                #[allow(unreachable_patterns)]
                _ => Err(foreign_rows($engine)),
            },
            Engine::Sharded($k) => match ($($rows,)+) {
                ($(EngineRows::Sharded($r),)+) => $body $(.map(EngineRows::$wrap))?,
                #[allow(unreachable_patterns)]
                _ => Err(foreign_rows($engine)),
            },
            Engine::Reference => Err(no_kernels()),
        }
    };
}

/// Runs `$body` with `$k` bound to the engine's kernels, wrapping the rows it returns.
macro_rules! on_kernels {
    ($engine:expr, $k:ident => $body:expr) => {
        match $engine {
            Engine::Cpu($k) => $body.map(EngineRows::from),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu($k) => $body.map(EngineRows::from),
            #[cfg(feature = "cuda")]
            Engine::Cuda($k) => $body.map(EngineRows::from),
            Engine::Sharded($k) => $body.map(EngineRows::from),
            Engine::Reference => Err(no_kernels()),
        }
    };
}

/// What asking the reference for a primitive gives.
fn no_kernels() -> Error {
    Error::invalid(
        "backend",
        "reference",
        "must be cpu, wgpu or cuda: the reference computes whole rules, not primitives",
    )
}

/// The primitives of whichever backend the engine holds, so that code over many engines (the
/// sharded engine) needs no generic parameter per engine. Each call matches once and forwards.
impl Kernels for Engine {
    type Rows<'a> = EngineRows<'a>;

    fn name(&self) -> &'static str {
        match self {
            Engine::Sharded(_) => "sharded",
            other => other.backend().name(),
        }
    }

    fn shape(&self, rows: &EngineRows<'_>) -> (usize, usize) {
        match rows {
            EngineRows::Cpu(r) => (r.k(), r.d()),
            #[cfg(feature = "wgpu")]
            EngineRows::Wgpu(r) => r.shape(),
            #[cfg(feature = "cuda")]
            EngineRows::Cuda(r) => (r.k(), r.d()),
            EngineRows::Sharded(r) => r.shape(),
        }
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<EngineRows<'a>> {
        on_kernels!(self, k => k.upload(batch))
    }

    fn zeros(&self, k: usize, d: usize) -> Result<EngineRows<'static>> {
        on_kernels!(self, kernels => kernels.zeros(k, d))
    }

    fn download(&self, rows: &EngineRows<'_>, out: &mut [f32]) -> Result<()> {
        on_backend!(self, (rows => r), k => k.download(r, out))
    }

    fn write_row(&self, rows: &mut EngineRows<'_>, row: usize, values: &[f32]) -> Result<()> {
        on_backend!(self, (rows => r), k => k.write_row(r, row, values))
    }

    fn synchronize(&self) -> Result<()> {
        match self {
            Engine::Reference => Err(no_kernels()),
            Engine::Cpu(k) => k.synchronize(),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(k) => k.synchronize(),
            #[cfg(feature = "cuda")]
            Engine::Cuda(k) => k.synchronize(),
            Engine::Sharded(k) => k.synchronize(),
        }
    }

    fn order_stats(
        &self,
        rows: &EngineRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<EngineRows<'static>> {
        on_backend!(self, (rows => r), k => k.order_stats(r, weights, stat), from)
    }

    fn pairwise_dist(&self, rows: &EngineRows<'_>) -> Result<Vec<f64>> {
        on_backend!(self, (rows => r), k => k.pairwise_dist(r))
    }

    fn center_dist(&self, rows: &EngineRows<'_>, center: &EngineRows<'_>) -> Result<Vec<f64>> {
        on_backend!(self, (rows => r, center => c), k => k.center_dist(r, c))
    }

    // The CPU, CUDA and wgpu (its fast kernels) have exact distances; the sharded engine's
    // shards sum their own parts.
    fn dist_error(&self, d: usize) -> Option<f64> {
        match self {
            Engine::Cpu(k) => k.dist_error(d),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(k) => k.dist_error(d),
            #[cfg(feature = "cuda")]
            Engine::Cuda(k) => k.dist_error(d),
            _ => None,
        }
    }

    fn refined_dist_error(&self, d: usize) -> Option<f64> {
        match self {
            Engine::Cpu(k) => k.refined_dist_error(d),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(k) => k.refined_dist_error(d),
            #[cfg(feature = "cuda")]
            Engine::Cuda(k) => k.refined_dist_error(d),
            _ => None,
        }
    }

    fn exact_pair_dist(
        &self,
        rows: &EngineRows<'_>,
        pairs: &[(usize, usize)],
        exact: bool,
    ) -> Result<Vec<f64>> {
        on_backend!(self, (rows => r), k => k.exact_pair_dist(r, pairs, exact))
    }

    fn exact_center_dist(
        &self,
        rows: &EngineRows<'_>,
        center: &EngineRows<'_>,
        which: &[usize],
        exact: bool,
    ) -> Result<Vec<f64>> {
        on_backend!(self, (rows => r, center => c), k => k.exact_center_dist(r, c, which, exact))
    }

    fn mix(
        &self,
        rows: &EngineRows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&EngineRows<'_>, f64)>,
    ) -> Result<EngineRows<'static>> {
        match base {
            None => on_backend!(self, (rows => r), kern => kern.mix(r, coeffs, k, None), from),
            Some((base, scale)) => on_backend!(
                self,
                (rows => r, base => b),
                kern => kern.mix(r, coeffs, k, Some((b, scale))),
                from
            ),
        }
    }

    // The fused pairs go to the held backend's own (the CPU's one-pass kernels); the sharded
    // engine keeps the trait's default, the two primitives across its shards.
    fn fuses_dist(&self) -> bool {
        match self {
            Engine::Reference => false,
            Engine::Cpu(k) => k.fuses_dist(),
            #[cfg(feature = "wgpu")]
            Engine::Wgpu(k) => k.fuses_dist(),
            #[cfg(feature = "cuda")]
            Engine::Cuda(k) => k.fuses_dist(),
            Engine::Sharded(k) => k.fuses_dist(),
        }
    }

    fn order_stats_with_dist(
        &self,
        rows: &EngineRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<(EngineRows<'static>, Vec<f64>)> {
        on_backend!(self, (rows => r), k => k
            .order_stats_with_dist(r, weights, stat)
            .map(|(center, dist)| (EngineRows::from(center), dist)))
    }

    fn mix_with_dist(
        &self,
        rows: &EngineRows<'_>,
        coeffs: &[f64],
    ) -> Result<(EngineRows<'static>, Vec<f64>)> {
        on_backend!(self, (rows => r), k => k
            .mix_with_dist(r, coeffs)
            .map(|(mixed, dist)| (EngineRows::from(mixed), dist)))
    }

    fn mix_order_stats(
        &self,
        rows: &EngineRows<'_>,
        coeffs: &[f64],
        k: usize,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<EngineRows<'static>> {
        // Each backend's own: the CPU's fused pass, the others' default composition.
        on_backend!(
            self,
            (rows => r),
            kern => kern.mix_order_stats(r, coeffs, k, weights, stat),
            from
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendList;

    /// The fused pairs through an engine: a CPU engine reaches the CPU's one-pass kernels and
    /// says so, the sharded engine composes the primitives across its shards; both give the
    /// numbers of the primitives called one after the other, bit for bit.
    #[test]
    fn fused_pairs_forward_to_the_held_backend() {
        let (n, d) = (5, 20_000);
        let data: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
        let batch = Batch::from_contiguous(&data, n).unwrap();
        let w = [1.0, 2.0, 0.0, 1.0, 3.0];
        let coeffs = [0.1, 0.2, 0.0, 0.3, 0.4];
        let cpu = Engine::open(Backend::Cpu).unwrap();
        let sharded = Engine::open_list(&"cpu,cpu".parse::<BackendList>().unwrap()).unwrap();
        assert!(cpu.fuses_dist());
        assert!(!sharded.fuses_dist());
        let download = |e: &Engine, r: &EngineRows<'_>| {
            let mut out = vec![0.0f32; d];
            e.download(r, &mut out).unwrap();
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for e in [&cpu, &sharded] {
            let rows = e.upload(&batch).unwrap();
            let (median, dist) = e.order_stats_with_dist(&rows, &w, OrderStat::Median).unwrap();
            let want = e.order_stats(&rows, &w, OrderStat::Median).unwrap();
            assert_eq!(download(e, &median), download(e, &want));
            assert_eq!(bits(&dist), bits(&e.center_dist(&rows, &want).unwrap()));
            let (mixed, dist) = e.mix_with_dist(&rows, &coeffs).unwrap();
            let want = e.mix(&rows, &coeffs, 1, None).unwrap();
            assert_eq!(download(e, &mixed), download(e, &want));
            assert_eq!(bits(&dist), bits(&e.center_dist(&rows, &want).unwrap()));
        }
    }
}
