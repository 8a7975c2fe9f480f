//! Device setup for the wgpu backend: instance, adapter, device, the cached pipelines, and the
//! few helpers every launcher uses (buffers, uniforms, 2D dispatch, error scopes, readback).
//!
//! The adapter comes from Vulkan, Metal or DX12 only, or from the backends that `WGPU_BACKEND`
//! names (GL is not compiled in: on this project's machines it gave wrong results, so it can
//! never be picked silently). `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF` are honoured as wgpu
//! documents them. One device per process is opened on first use and shared (see
//! [`shared`]); its pipelines are built once, with it.
//!
//! Errors: every group of wgpu calls runs inside validation, out-of-memory and internal error
//! scopes ([`Gpu::scoped`]), and the device's uncaptured-error handler and device-lost callback
//! only record, so a wgpu failure becomes an [`Error::Backend`], never a panic.

use std::sync::{Arc, Mutex, mpsc};

use ::wgpu::util::DeviceExt;

use super::memory::{Buffer, Encoder};
use crate::error::{Error, Result};

/// Invocations per workgroup of every shader (they all use `@workgroup_size(64)`).
pub(crate) const WORKGROUP: u64 = 64;

/// The shader files, their Rust names and entry points: `(stem, source, entry points)`. The
/// distance shaders and their reduction share the exact integer sums of `wide_sum.wgsl`,
/// appended to each (WGSL has no include).
pub(crate) const SHADERS: [(&str, &str, &[&str]); 5] = [
    (
        "order_stats",
        ORDER_STATS_WGSL,
        &[ORDER_STATS_MEDIAN, ORDER_STATS_TRIM, ORDER_STATS_MEAMED],
    ),
    (
        "pairwise_dist",
        concat!(
            include_str!("../../shaders/pairwise_dist.wgsl"),
            include_str!("../../shaders/wide_sum.wgsl")
        ),
        &[PAIRWISE_DIST_PARTIAL, PAIRWISE_DIST_COALESCED, PAIRWISE_DIST_FAST],
    ),
    (
        "center_dist",
        concat!(
            include_str!("../../shaders/center_dist.wgsl"),
            include_str!("../../shaders/wide_sum.wgsl")
        ),
        &[CENTER_DIST_PARTIAL, CENTER_DIST_COALESCED, CENTER_DIST_FAST],
    ),
    (
        "mix",
        include_str!("../../shaders/mix.wgsl"),
        &[MIX, MIX_WIDE, MIX_WIDE_DIRECT],
    ),
    (
        "reduce",
        concat!(
            include_str!("../../shaders/reduce.wgsl"),
            include_str!("../../shaders/wide_sum.wgsl")
        ),
        &[REDUCE_SUM, REDUCE_MAX_ABS_BITS],
    ),
];

/// `order_stats.wgsl`, also the head of every generated `order_stats` kernel.
pub(crate) const ORDER_STATS_WGSL: &str = include_str!("../../shaders/order_stats.wgsl");

pub(crate) const ORDER_STATS_MEDIAN: &str = "order_stats_median";
pub(crate) const ORDER_STATS_TRIM: &str = "order_stats_trim";
pub(crate) const ORDER_STATS_MEAMED: &str = "order_stats_meamed";
pub(crate) const PAIRWISE_DIST_PARTIAL: &str = "pairwise_dist_partial";
pub(crate) const CENTER_DIST_PARTIAL: &str = "center_dist_partial";
pub(crate) const PAIRWISE_DIST_COALESCED: &str = "pairwise_dist_coalesced";
pub(crate) const CENTER_DIST_COALESCED: &str = "center_dist_coalesced";
pub(crate) const PAIRWISE_DIST_FAST: &str = "pairwise_dist_fast";
pub(crate) const CENTER_DIST_FAST: &str = "center_dist_fast";
pub(crate) const MIX: &str = "mix";
pub(crate) const MIX_WIDE: &str = "mix_wide";
pub(crate) const MIX_WIDE_DIRECT: &str = "mix_wide_direct";
pub(crate) const REDUCE_SUM: &str = "reduce_sum";
pub(crate) const REDUCE_MAX_ABS_BITS: &str = "reduce_max_abs_bits";

/// Turns any wgpu-side failure into the crate error.
pub(crate) fn backend_error(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: "wgpu",
        source: message.into().into(),
    }
}

/// One opened device with its queue and pipelines.
pub struct Gpu {
    pub(crate) device: ::wgpu::Device,
    pub(crate) queue: ::wgpu::Queue,
    pub(crate) info: ::wgpu::AdapterInfo,
    pub(crate) limits: ::wgpu::Limits,
    pipelines: Vec<(&'static str, ::wgpu::ComputePipeline)>,
    /// Pipelines of generated WGSL (`order_stats_network.rs`), built on first use, by name.
    generated: Mutex<std::collections::HashMap<String, ::wgpu::ComputePipeline>>,
    /// Set by the device-lost callback or the uncaptured-error handler.
    failure: Arc<Mutex<Option<String>>>,
    /// A one-value storage buffer bound where a shader's optional input is absent.
    pub(crate) placeholder: Buffer,
    /// Which opening of the device this is (1, 2, ...): matrices remember the device they
    /// live on, so one uploaded before a device loss is refused, never bound to its successor.
    pub(crate) generation: u64,
}

/// The backends byzagg asks wgpu for: `WGPU_BACKEND` if set, else Vulkan, Metal and DX12.
pub(crate) fn backends() -> ::wgpu::Backends {
    ::wgpu::Backends::from_env()
        .unwrap_or(::wgpu::Backends::VULKAN | ::wgpu::Backends::METAL | ::wgpu::Backends::DX12)
}

fn instance() -> ::wgpu::Instance {
    let mut desc = ::wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends();
    ::wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds with [`backends`], one line each.
pub(crate) fn adapter_lines() -> Vec<String> {
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(backends()))
        .iter()
        .map(|a| {
            let i = a.get_info();
            let driver = if i.driver.is_empty() {
                String::new()
            } else {
                format!(", {} {}", i.driver, i.driver_info)
            };
            format!("{} ({:?}, {:?}{driver})", i.name, i.backend, i.device_type)
        })
        .collect()
}

/// The adapter named by `WGPU_ADAPTER_NAME` (a case-insensitive part of its name) among
/// [`backends`], else wgpu's default for `WGPU_POWER_PREF`.
///
/// wgpu's own `initialize_adapter_from_env_or_default` panics when the name matches no
/// adapter, and looks beyond [`backends`]; this is the same choice with an error instead.
async fn pick_adapter(instance: &::wgpu::Instance) -> std::result::Result<::wgpu::Adapter, String> {
    if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
        let adapters = instance.enumerate_adapters(backends()).await;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&wanted.to_lowercase()))
            .ok_or_else(|| {
                format!(
                    "WGPU_ADAPTER_NAME={wanted:?} matches none of the adapters for backends \
                     {:?} ({}); unset it or name one of them",
                    backends(),
                    if names.is_empty() {
                        "there are none".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            });
    }
    instance
        .request_adapter(&::wgpu::RequestAdapterOptions {
            power_preference: ::wgpu::PowerPreference::from_env().unwrap_or_default(),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            format!(
                "no wgpu adapter for backends {:?} ({e}); install a Vulkan driver (Debian: \
                 mesa-vulkan-drivers) or set WGPU_BACKEND",
                backends()
            )
        })
}

/// The process-wide device, opened on first use and opened again after it was lost (a driver
/// reset, the OS watchdog, [`Gpu::destroy`]); the error says why there is none.
pub(crate) fn shared() -> Result<Arc<Gpu>> {
    static GPU: Mutex<Option<std::result::Result<Arc<Gpu>, String>>> = Mutex::new(None);
    let mut slot = GPU.lock().unwrap_or_else(|e| e.into_inner());
    if matches!(&*slot, Some(Ok(gpu)) if gpu.lost()) {
        *slot = None;
    }
    match slot.get_or_insert_with(|| Gpu::open().map(Arc::new)) {
        Ok(gpu) => Ok(gpu.clone()),
        Err(reason) => Err(Error::Unavailable {
            backend: "wgpu",
            reason: reason.clone(),
        }),
    }
}

impl Gpu {
    /// Opens the adapter, the device, and builds every pipeline.
    fn open() -> std::result::Result<Gpu, String> {
        let instance = instance();
        let adapter = pollster::block_on(pick_adapter(&instance))?;
        let info = adapter.get_info();
        if info.backend == ::wgpu::Backend::Gl {
            return Err(format!(
                "adapter {} uses GL, which byzagg does not trust",
                info.name
            ));
        }
        // The adapter's own limits: lavapipe's 128 MiB storage bindings and large buffers.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&::wgpu::DeviceDescriptor {
            label: Some("byzagg"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| format!("adapter {} refused a device: {e}", info.name))?;
        Gpu::on_device(device, queue, true)
    }

    /// Builds the pipelines on an opened device. `own_handlers`: byzagg opened the device and
    /// installs its device-lost and uncaptured-error handlers; an application's device
    /// (`Wgpu::from_device`) keeps the application's, and byzagg relies on its error scopes.
    pub(crate) fn on_device(
        device: ::wgpu::Device,
        queue: ::wgpu::Queue,
        own_handlers: bool,
    ) -> std::result::Result<Gpu, String> {
        let (info, limits) = (device.adapter_info(), device.limits());
        // Record, never panic (wgpu's default handler panics).
        let failure = Arc::new(Mutex::new(None::<String>));
        if own_handlers {
            let lost = failure.clone();
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut f) = lost.lock() {
                    f.get_or_insert(format!("device lost ({reason:?}): {message}"));
                }
            });
            let uncaptured = failure.clone();
            device.on_uncaptured_error(Arc::new(move |e| {
                if let Ok(mut f) = uncaptured.lock() {
                    f.get_or_insert(format!("uncaptured error: {e}"));
                }
            }));
        }

        let scope = ErrorScopes::push(&device);
        let mut pipelines = Vec::new();
        for (stem, source, entries) in SHADERS {
            let module = device.create_shader_module(::wgpu::ShaderModuleDescriptor {
                label: Some(stem),
                source: ::wgpu::ShaderSource::Wgsl(source.into()),
            });
            for entry in entries {
                let pipeline = device.create_compute_pipeline(&::wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
                pipelines.push((*entry, pipeline));
            }
        }
        let placeholder = Buffer::new(device.create_buffer(&::wgpu::BufferDescriptor {
            label: Some("placeholder"),
            size: 4,
            usage: ::wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        }));
        scope
            .pop()
            .map_err(|e| format!("adapter {}: building the pipelines failed: {e}", info.name))?;
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            pipelines,
            generated: Mutex::default(),
            failure,
            placeholder,
            generation: OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        })
    }

    /// Whether the device is lost: every later call on it fails, and [`shared`] opens a new one.
    pub(crate) fn lost(&self) -> bool {
        self.failure
            .lock()
            .map(|f| f.as_deref().is_some_and(|m| m.starts_with("device lost")))
            .unwrap_or(true)
    }

    /// Destroys the device: its memory is released, and calls on it fail from now on.
    pub(crate) fn destroy(&self) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert("device lost (destroyed by byzagg)".to_string());
        }
        self.device.destroy();
    }

    /// The pipeline of an entry point (all are built at open).
    pub(crate) fn pipeline(&self, entry: &str) -> Result<&::wgpu::ComputePipeline> {
        self.pipelines
            .iter()
            .find(|(e, _)| *e == entry)
            .map(|(_, p)| p)
            .ok_or_else(|| backend_error(format!("no pipeline for entry point {entry}")))
    }

    /// The pipeline of entry point `entry` in the generated WGSL `source()`, built on the
    /// first call for `name` and cached with the device (a name stands for one source).
    pub(crate) fn generated_pipeline(
        &self,
        name: &str,
        entry: &str,
        source: impl FnOnce() -> String,
    ) -> Result<::wgpu::ComputePipeline> {
        let mut cache = self.generated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(name) {
            return Ok(p.clone());
        }
        let scope = ErrorScopes::push(&self.device);
        let module = self.device.create_shader_module(::wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: ::wgpu::ShaderSource::Wgsl(source().into()),
        });
        let pipeline = self
            .device
            .create_compute_pipeline(&::wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        scope
            .pop()
            .map_err(|e| backend_error(format!("building {name} on {}: {e}", self.describe())))?;
        cache.insert(name.to_string(), pipeline.clone());
        Ok(pipeline)
    }

    /// A description of the adapter, for messages and `byzagg devices`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// The largest storage binding, in bytes (capped at 1 GiB so u32 indices never wrap).
    pub(crate) fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(1 << 30)
    }

    /// Runs `f` inside error scopes: any validation, out-of-memory or internal error of the
    /// wgpu calls it makes, or a lost device, comes back as `Err`.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check()?;
        let scope = ErrorScopes::push(&self.device);
        let out = f();
        let popped = scope.pop();
        self.check()?;
        popped.map_err(|e| backend_error(format!("{what} on {}: {e}", self.describe())))?;
        out
    }

    /// `Err` if the device was lost or reported an error outside a scope.
    pub(crate) fn check(&self) -> Result<()> {
        match self.failure.lock() {
            Ok(f) => match f.as_ref() {
                Some(m) => Err(backend_error(format!("{}: {m}", self.describe()))),
                None => Ok(()),
            },
            Err(_) => Err(backend_error("device state poisoned by a panic")),
        }
    }

    /// A storage buffer of `bytes` bytes (zeroed by wgpu), checked against the limits.
    pub(crate) fn storage(&self, label: &str, bytes: u64) -> Result<Buffer> {
        self.check_size(label, bytes)?;
        Ok(Buffer::new(self.device.create_buffer(
            &::wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(4),
                usage: ::wgpu::BufferUsages::STORAGE
                    | ::wgpu::BufferUsages::COPY_SRC
                    | ::wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            },
        )))
    }

    /// A storage buffer holding `data`.
    pub(crate) fn storage_init(&self, label: &str, data: &[u8]) -> Result<Buffer> {
        self.check_size(label, data.len() as u64)?;
        Ok(Buffer::new(self.device.create_buffer_init(
            &::wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: ::wgpu::BufferUsages::STORAGE | ::wgpu::BufferUsages::COPY_SRC,
            },
        )))
    }

    /// A uniform buffer of parameters.
    pub(crate) fn uniform(&self, label: &str, words: &[u32]) -> Buffer {
        Buffer::new(
            self.device
                .create_buffer_init(&::wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(words),
                    usage: ::wgpu::BufferUsages::UNIFORM,
                }),
        )
    }

    /// `Err` if a buffer of `bytes` bytes exceeds the storage binding limit.
    pub(crate) fn check_size(&self, label: &str, bytes: u64) -> Result<()> {
        if bytes > self.max_binding() {
            return Err(backend_error(format!(
                "buffer {label} of {bytes} bytes exceeds the storage binding limit of {} bytes of {}",
                self.max_binding(),
                self.describe()
            )));
        }
        Ok(())
    }

    /// A bind group of `buffers` at bindings `first..` of the pipeline's group 0, with handles
    /// on the buffers (a dispatch keeps them alive until its submission completed).
    pub(crate) fn bind(&self, entry: &str, first: u32, buffers: &[&Buffer]) -> Result<Bound> {
        self.bind_on(self.pipeline(entry)?, entry, first, buffers)
    }

    /// [`Gpu::bind`] for a pipeline in hand (a generated one), `label` naming it.
    pub(crate) fn bind_on(
        &self,
        pipeline: &::wgpu::ComputePipeline,
        label: &str,
        first: u32,
        buffers: &[&Buffer],
    ) -> Result<Bound> {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<::wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| ::wgpu::BindGroupEntry {
                binding: first + i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let group = self.device.create_bind_group(&::wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &layout,
            entries: &entries,
        });
        Ok(Bound {
            group,
            buffers: buffers.iter().map(|b| (*b).clone()).collect(),
        })
    }

    /// Records one launch of `threads` invocations of `entry` (workgroups of 64 on a 2D grid;
    /// the shaders rebuild the linear id and skip ids past their bound). The grid's rows hold
    /// at most the device's workgroups per dimension, or `cap` (the handle's
    /// [`WgpuParams::max_groups_x`]) if that is fewer.
    pub(crate) fn dispatch(
        &self,
        encoder: &mut Encoder,
        entry: &str,
        bind: &Bound,
        threads: u64,
        cap: Option<u32>,
    ) -> Result<()> {
        self.dispatch_on(encoder, self.pipeline(entry)?, entry, bind, threads, cap)
    }

    /// [`Gpu::dispatch`] for a pipeline in hand (a generated one), `entry` naming it.
    pub(crate) fn dispatch_on(
        &self,
        encoder: &mut Encoder,
        pipeline: &::wgpu::ComputePipeline,
        entry: &str,
        bind: &Bound,
        threads: u64,
        cap: Option<u32>,
    ) -> Result<()> {
        let groups = threads.div_ceil(WORKGROUP);
        if groups == 0 {
            return Ok(());
        }
        let max = u64::from(self.limits.max_compute_workgroups_per_dimension);
        let (x, y) = grid(groups, max, cap);
        if y > max {
            return Err(backend_error(format!(
                "{entry}: {threads} invocations exceed the dispatch limit of {}",
                self.describe()
            )));
        }
        {
            let mut pass = encoder.raw.begin_compute_pass(&::wgpu::ComputePassDescriptor {
                label: Some(entry),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind.group, &[]);
            pass.dispatch_workgroups(x as u32, y as u32, 1);
        }
        encoder.retain(&bind.buffers);
        Ok(())
    }

    pub(crate) fn encoder(&self, label: &str) -> Encoder {
        Encoder::new(
            self.device
                .create_command_encoder(&::wgpu::CommandEncoderDescriptor { label: Some(label) }),
        )
    }

    /// Submits `encoder` and waits for it; the buffers it recorded are released after.
    pub(crate) fn submit(&self, encoder: Encoder) -> Result<()> {
        let (commands, keep) = encoder.finish();
        let index = self.queue.submit([commands]);
        self.device
            .poll(::wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| backend_error(format!("waiting for {}: {e}", self.describe())))?;
        drop(keep);
        self.check()
    }

    /// Submits no work and waits: wgpu's pending writes (the copies from buffers mapped at
    /// creation, with their staging memory) go with every submission and are freed after it.
    pub(crate) fn flush(&self) -> Result<()> {
        self.submit(self.encoder("flush"))
    }

    /// Submits `encoder` (which must end by copying into `staging`), waits, and returns the
    /// staging buffer's contents as u32 words.
    pub(crate) fn submit_and_read(&self, encoder: Encoder, staging: &Buffer) -> Result<Vec<u32>> {
        let (commands, keep) = encoder.finish();
        let index = self.queue.submit([commands]);
        let (tx, rx) = mpsc::channel();
        staging.map_async(::wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(::wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| backend_error(format!("waiting for {}: {e}", self.describe())))?;
        drop(keep);
        self.check()?;
        rx.recv()
            .map_err(|_| backend_error("the readback callback never ran"))?
            .map_err(|e| backend_error(format!("mapping a readback buffer: {e}")))?;
        let words = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| backend_error(format!("reading a readback buffer: {e}")))?;
            bytemuck::pod_collect_to_vec::<u8, u32>(&view)
        };
        staging.unmap();
        Ok(words)
    }

    /// A buffer to copy results into and map for reading.
    pub(crate) fn staging(&self, bytes: u64) -> Buffer {
        Buffer::new(self.device.create_buffer(&::wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }
}

/// A bind group and the buffers bound in it.
pub(crate) struct Bound {
    group: ::wgpu::BindGroup,
    buffers: Vec<Buffer>,
}

/// The 2D grid `(x, y)` of `groups` workgroups: rows of at most `max` (the device's limit per
/// dimension) or `cap` workgroups, as many rows as needed (`y` may exceed `max`: the caller
/// reports that).
pub(crate) fn grid(groups: u64, max: u64, cap: Option<u32>) -> (u64, u64) {
    let row = cap.map_or(max, |c| u64::from(c).clamp(1, max));
    let x = groups.min(row).max(1);
    (x, groups.div_ceil(x))
}

/// The three error scopes around a group of wgpu calls.
struct ErrorScopes {
    scopes: Vec<::wgpu::ErrorScopeGuard>,
}

impl ErrorScopes {
    fn push(device: &::wgpu::Device) -> Self {
        ErrorScopes {
            scopes: [
                ::wgpu::ErrorFilter::Validation,
                ::wgpu::ErrorFilter::OutOfMemory,
                ::wgpu::ErrorFilter::Internal,
            ]
            .into_iter()
            .map(|f| device.push_error_scope(f))
            .collect(),
        }
    }

    /// Pops in reverse order; the first error found, in words.
    fn pop(mut self) -> std::result::Result<(), String> {
        let mut first = None;
        while let Some(scope) = self.scopes.pop() {
            if let Some(e) = pollster::block_on(scope.pop()) {
                first.get_or_insert(e.to_string());
            }
        }
        first.map_or(Ok(()), Err)
    }
}
