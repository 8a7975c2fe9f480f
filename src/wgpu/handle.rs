//! The wgpu backend's handle: [`Wgpu`], the shared device (or an application's) with the
//! tuning ([`WgpuParams`]) and distance kernels ([`KernelVariant`]) fixed when it is made. The
//! device itself, opened once per process and shared by every handle, is `device.rs`'s
//! [`Gpu`]; the rows a handle makes and reads are `rows.rs`'s.

use std::sync::{Arc, Mutex};

use super::device::{Gpu, shared};
use super::kernel_variant::{KernelVariant, MixVariant, OrderStatsVariant, WgpuKernels};
use super::params::WgpuParams;
use crate::error::Result;

/// The wgpu backend: a handle on the shared device plus the chunking of one aggregation.
///
/// # Examples
///
/// ```no_run
/// use byzagg::{Batch, Kernels, OrderStat, wgpu::Wgpu};
///
/// let rows = [[1.0f32, 2.0], [3.0, 4.0], [5.0, 60.0]];
/// let gpu = Wgpu::new()?;
/// let resident = gpu.upload(&Batch::from_rows(&rows)?)?;
/// let median = gpu.order_stats(&resident, &[1.0; 3], OrderStat::Median)?;
/// let mut out = [0.0; 2];
/// gpu.download(&median, &mut out)?;
/// assert_eq!(out, [3.0, 4.0]);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub struct Wgpu {
    /// The shared device; replaced by a new opening when it is found lost.
    gpu: Mutex<Arc<Gpu>>,
    /// How it cuts its work (chunks, grids, dispatches), fixed when it is made.
    pub(super) params: WgpuParams,
    /// The distance kernels it launches (`BYZAGG_WGPU_KERNELS`, read when it is made).
    pub(super) kernels: KernelVariant,
    /// The `order_stats` kernels it launches (`BYZAGG_WGPU_KERNELS`, read when it is made).
    pub(super) order_stats: OrderStatsVariant,
    /// The `mix` kernel it launches (`BYZAGG_WGPU_KERNELS`, read when it is made).
    pub(super) mix: MixVariant,
    /// The device is an application's (`Wgpu::from_device`): never replaced by the shared one.
    pub(super) application: bool,
}

impl Clone for Wgpu {
    fn clone(&self) -> Self {
        Wgpu {
            gpu: Mutex::new(self.gpu()),
            params: self.params,
            kernels: self.kernels,
            order_stats: self.order_stats,
            mix: self.mix,
            application: self.application,
        }
    }
}

impl std::fmt::Debug for Wgpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wgpu")
            .field("device", &self.gpu().describe())
            .field("params", &self.params)
            .field("kernels", &self.kernels)
            .field("order_stats", &self.order_stats)
            .field("mix", &self.mix)
            .finish()
    }
}

impl Wgpu {
    /// The shared device (opened on first use), with the tuning the environment gives
    /// ([`WgpuParams`]: `BYZAGG_WGPU_CHUNK=<coordinates>` forces a chunk length, which lets
    /// tests run the multi-chunk paths on small batches; `BYZAGG_WGPU_MAX_GROUPS` and
    /// `BYZAGG_WGPU_ORDER_STATS_WORK` tighten the launches the same way). A value that is not
    /// a whole number >= 1 is an error. `BYZAGG_WGPU_KERNELS` selects the distance kernels
    /// ([`KernelVariant`]); an unknown name is an error.
    pub fn new() -> Result<Self> {
        Wgpu::with_params(WgpuParams::from_env()?)
    }

    /// The shared device (opened on first use) with the tuning `params` instead of the
    /// environment's; the distance kernels are still `BYZAGG_WGPU_KERNELS`'s.
    pub fn with_params(params: WgpuParams) -> Result<Self> {
        let kernels = WgpuKernels::from_env()?;
        Ok(Wgpu {
            gpu: Mutex::new(shared()?),
            params,
            kernels: kernels.distances,
            order_stats: kernels.order_stats,
            mix: kernels.mix,
            application: false,
        })
    }

    /// A handle on an opened device that is not the shared one (an application's).
    pub(super) fn on(gpu: Arc<Gpu>) -> Result<Self> {
        let params = WgpuParams::from_env()?;
        let kernels = WgpuKernels::from_env()?;
        Ok(Wgpu {
            gpu: Mutex::new(gpu),
            params,
            kernels: kernels.distances,
            order_stats: kernels.order_stats,
            mix: kernels.mix,
            application: true,
        })
    }

    /// Forces chunks of `cols` coordinates (at least 1) instead of the binding limit's.
    pub fn with_chunk_cols(mut self, cols: usize) -> Self {
        self.params.chunk_cols = Some(cols.max(1));
        self
    }

    /// The tuning this handle runs with.
    pub fn params(&self) -> WgpuParams {
        self.params
    }

    /// Launches the distance kernels of `kernels` instead of those `BYZAGG_WGPU_KERNELS`
    /// selected (tests and benchmarks that compare the variants in one process).
    pub fn with_kernels(mut self, kernels: KernelVariant) -> Self {
        self.kernels = kernels;
        self
    }

    /// The distance kernels this handle launches ([`KernelVariant`]).
    pub fn kernels(&self) -> KernelVariant {
        self.kernels
    }

    /// Launches the `order_stats` kernels of `variant` instead of those `BYZAGG_WGPU_KERNELS`
    /// selected (tests and benchmarks that compare the variants in one process).
    pub fn with_order_stats(mut self, variant: OrderStatsVariant) -> Self {
        self.order_stats = variant;
        self
    }

    /// The `order_stats` kernels this handle launches ([`OrderStatsVariant`]).
    pub fn order_stats_variant(&self) -> OrderStatsVariant {
        self.order_stats
    }

    /// Launches the `mix` kernel of `variant` instead of the one `BYZAGG_WGPU_KERNELS`
    /// selected (tests and benchmarks that compare the variants in one process).
    pub fn with_mix(mut self, variant: MixVariant) -> Self {
        self.mix = variant;
        self
    }

    /// The `mix` kernel this handle launches ([`MixVariant`]).
    pub fn mix_variant(&self) -> MixVariant {
        self.mix
    }

    /// The adapter in use, in words.
    pub fn device_name(&self) -> String {
        self.gpu().describe()
    }

    /// The device, opened again if it was lost since the last call (the call that met the
    /// loss failed with an error saying so; later calls work on the new device).
    pub(super) fn gpu(&self) -> Arc<Gpu> {
        let mut current = self.gpu.lock().unwrap_or_else(|e| e.into_inner());
        if !self.application
            && current.lost()
            && let Ok(fresh) = shared()
        {
            *current = fresh;
        }
        current.clone()
    }

    /// Destroys the shared device, releasing all of its memory; every matrix on it becomes
    /// unusable, and the next call opens the device again. Also how the recovery from a lost
    /// device (a driver reset, the OS watchdog) is tested. A handle on an application's device
    /// ([`Wgpu::from_device`]) leaves it alone: that device is the application's to destroy.
    pub fn destroy_device(&self) {
        if !self.application {
            self.gpu().destroy();
        }
    }
}
