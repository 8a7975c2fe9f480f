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
/// // Auto runs a batch in host memory on the CPU, wherever a GPU is (see `Backend::Auto`).
/// assert_eq!(Backend::Auto.resolve()?, Backend::Cpu);
/// assert!("tpu".parse::<Backend>().is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Where the rows live. A [`Batch`](crate::Batch) is in host memory, so `Auto` opens the
    /// CPU backend, which reads it in place: a GPU backend would first copy the whole batch
    /// over the host link, which bounds it at 15-17x a host read pass on CUDA and 56-74x on
    /// wgpu (docs/PERFORMANCE.md, "Rules called through `Aggregator::aggregate` on a batch in
    /// host memory"), against 1.3-2x for the CPU backend. Rows already on a device run there:
    /// [`Aggregator::aggregate_resident`](crate::Aggregator::aggregate_resident) runs on the
    /// backend that holds them, and Python's `byzagg.torch` sends CUDA tensors to `cuda`.
    /// Choosing probes no driver, so `Auto` opens no Vulkan instance and no CUDA context.
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

    /// The concrete backend `Auto` stands for with rows in host memory (the CPU: see
    /// [`Backend::Auto`]); others map to themselves if available.
    pub fn resolve(self) -> Result<Backend> {
        match self {
            Backend::Auto => {
                // Said once per process, through the `log` facade (the library never prints;
                // the `byzagg` command shows it on stderr).
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    log::info!(
                        "backend auto uses cpu: the rows are in host memory, which the cpu \
                         backend reads in place (a GPU backend would first copy them over the \
                         host link); --backend cuda or wgpu asks for one"
                    )
                });
                Ok(Backend::Cpu)
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

/// Which of a backend's devices a [`BackendList`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceIndex {
    /// The backend's default device (for CUDA, `BYZAGG_CUDA_DEVICE` or 0).
    Default,
    /// One device by its index, as `byzagg devices` lists them (`cuda:1`).
    Ordinal(usize),
    /// Every device of the backend this machine has (`cuda:all`).
    All,
}

/// One entry of a [`BackendList`]: a backend and which of its devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// The backend.
    pub backend: Backend,
    /// Which of its devices.
    pub index: DeviceIndex,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            DeviceIndex::Default => write!(f, "{}", self.backend),
            DeviceIndex::Ordinal(i) => write!(f, "{}:{i}", self.backend),
            DeviceIndex::All => write!(f, "{}:all", self.backend),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `name`, `name:INDEX` or `name:all`; indices are for CUDA only (wgpu opens one
    /// adapter, the CPU is one device).
    fn from_str(s: &str) -> Result<Self> {
        let (name, index) = match s.split_once(':') {
            None => (s, None),
            Some((name, index)) => (name, Some(index)),
        };
        let backend: Backend = name.trim().parse()?;
        let index = match index.map(str::trim) {
            None => DeviceIndex::Default,
            Some(_) if backend != Backend::Cuda => {
                return Err(Error::invalid(
                    "backend",
                    s,
                    "only cuda takes a device index (cuda:0, cuda:all); cpu and wgpu name one device each",
                ));
            }
            Some("all") => DeviceIndex::All,
            Some(i) => DeviceIndex::Ordinal(i.parse().map_err(|_| {
                Error::invalid(
                    "backend",
                    s,
                    "a device index is a number or `all` (cuda:0, cuda:all)",
                )
            })?),
        };
        Ok(Device { backend, index })
    }
}

/// What `--backend` names: one backend (`cpu`), one CUDA device (`cuda:1`), or several devices
/// that split the coordinates between them (`cpu,wgpu`, `cuda:0,cuda:1`, `cuda:all`), which
/// [`Engine::open_list`](crate::Engine::open_list) opens as one sharded engine.
///
/// # Examples
///
/// ```
/// use byzagg::{Backend, BackendList};
///
/// let list: BackendList = "cuda:0,cuda:1".parse()?;
/// assert_eq!(list.devices().len(), 2);
/// assert_eq!(list.to_string(), "cuda:0,cuda:1");
/// assert_eq!("cpu".parse::<BackendList>()?, BackendList::from(Backend::Cpu));
/// // The reference computes whole rules in f64: it cannot hold a shard.
/// assert!("cpu,reference".parse::<BackendList>().is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BackendList(Vec<Device>);

impl BackendList {
    /// The devices, in the order given (the order of their coordinate ranges).
    pub fn devices(&self) -> &[Device] {
        &self.0
    }

    /// The one backend this list names, if it names exactly one backend's default device.
    pub fn single(&self) -> Option<Backend> {
        match self.0.as_slice() {
            [
                Device {
                    backend,
                    index: DeviceIndex::Default,
                },
            ] => Some(*backend),
            _ => None,
        }
    }
}

impl From<Backend> for BackendList {
    fn from(backend: Backend) -> Self {
        BackendList(vec![Device {
            backend,
            index: DeviceIndex::Default,
        }])
    }
}

impl fmt::Display for BackendList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(Device::to_string).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for BackendList {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let devices: Vec<Device> = s.split(',').map(str::parse).collect::<Result<_>>()?;
        let several = devices.len() > 1 || devices.iter().any(|d| d.index == DeviceIndex::All);
        if several
            && let Some(d) = devices
                .iter()
                .find(|d| matches!(d.backend, Backend::Reference | Backend::Auto))
        {
            return Err(Error::invalid(
                "backend",
                s,
                format!(
                    "{} cannot hold a shard: a list names devices of cpu, wgpu or cuda",
                    d.backend
                ),
            ));
        }
        Ok(BackendList(devices))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_lists_parse_and_print_back() {
        for text in [
            "cpu",
            "cpu,cpu",
            "cpu,wgpu",
            "cuda:0,cuda:1",
            "cuda:all",
            "cuda:1",
        ] {
            let list: BackendList = text.parse().unwrap();
            assert_eq!(list.to_string(), text);
        }
        let list: BackendList = "cuda:all,cpu".parse().unwrap();
        assert_eq!(list.devices()[0].index, DeviceIndex::All);
        assert_eq!(
            "wgpu".parse::<BackendList>().unwrap().single(),
            Some(Backend::Wgpu)
        );
        assert_eq!("cuda:0".parse::<BackendList>().unwrap().single(), None);
    }

    #[test]
    fn bad_backend_lists_name_the_parameter_and_the_bound() {
        for (text, bound) in [
            ("cpu:1", "only cuda takes a device index"),
            ("cuda:x", "a number or `all`"),
            ("cpu,", "one of auto"),
            ("auto,cpu", "auto cannot hold a shard"),
            ("reference,cpu", "reference cannot hold a shard"),
            ("tpu", "one of auto"),
        ] {
            let message = text.parse::<BackendList>().unwrap_err().to_string();
            assert!(
                message.contains("backend") && message.contains(bound),
                "{text}: {message}"
            );
        }
    }
}
