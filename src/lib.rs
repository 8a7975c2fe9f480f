//! # byzagg: Byzantine-robust aggregation, weighted, on the CPU and GPUs
//!
//! Distributed training averages vectors from many workers; one faulty or malicious worker can
//! wreck a plain average. byzagg computes robust aggregates instead (coordinate-wise median,
//! trimmed mean, Krum, geometric median, the CTMA meta-aggregator, NNM, bucketing, centered
//! clipping), every one in weighted form for asynchronous training, with one contract for all
//! backends (see the crate README and the `SPEC` notes in each module).
//!
//! ```
//! use byzagg::{Aggregator, Backend, Batch, Rule};
//!
//! let rows = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1e30, -1e30, f32::NAN]];
//! let rule: Rule = "ctma(cwmed,f=1)".parse()?;
//! let out = Aggregator::new(rule, Backend::Cpu)?.aggregate(&Batch::from_rows(&rows)?)?;
//! assert_eq!(out, vec![4.0, 5.0, 6.0]); // the mean of the three rows nearest the median
//! # Ok::<(), byzagg::Error>(())
//! ```
//!
//! ## Rules and backends
//!
//! Every rule runs on every backend: the rule layer is one piece of host code over the four
//! primitives of [`Kernels`], and the reference computes each rule directly in f64.
//!
//! | rule (text form)                     | reference | cpu | wgpu | cuda |
//! |--------------------------------------|-----------|-----|------|------|
//! | `mean`                               | yes       | yes | yes  | yes  |
//! | `cwmed`                              | yes       | yes | yes  | yes  |
//! | `cwtm(lambda=..)`                    | yes       | yes | yes  | yes  |
//! | `krum(f=..)`, `multikrum(f=..,m=..)` | yes       | yes | yes  | yes  |
//! | `gm`, `gm(preset=rfa)`               | yes       | yes | yes  | yes  |
//! | `ctma(base,lambda=..)`               | yes       | yes | yes  | yes  |
//! | `nnm(base,lambda=..)`                | yes       | yes | yes  | yes  |
//! | `bucketing(base,s=..,seed=..)`       | yes       | yes | yes  | yes  |
//! | `cclip(tau=..,iters=..)`             | yes       | yes | yes  | yes  |
//! | `clip(base,tau=..)`                  | yes       | yes | yes  | yes  |
//! | `arc(base,f=..)`                     | yes       | yes | yes  | yes  |
//! | `fltrust` (root: [`Batch::with_root`]) | yes     | yes | yes  | yes  |
//!
//! The reference and the CPU run everywhere; wgpu runs where a Vulkan, Metal or DX12 adapter
//! exists, CUDA where an NVIDIA driver, a device and NVRTC are found. An absent backend is an
//! [`Error::Unavailable`] saying why, never a panic.
//!
//! ## Feature flags
//!
//! - `wgpu`, `cuda` (default): the GPU backends; both build on any machine.
//! - `cli` (default): the `byzagg` binary (clap, indicatif); turns on `plot`.
//! - `plot`: SVG charts ([`bench::plot_svg`](crate::bench), `train::plot_accuracy`).
//!
//! ## Layout
//!
//! - [`Batch`] (`batch.rs`): the rows and weights, borrowed;
//! - [`Rule`], [`Plan`] (`rule/`): rules as data, their text form, validation;
//! - [`Aggregator`] (`aggregator.rs`): the public entry point, a rule bound to a backend,
//!   and the choice between the reference and an engine;
//! - `aggregate/`: the rule layer, one function per rule over the primitives, one file per
//!   family, [`Report`] and [`execute`];
//! - [`Engine`] (`engine/`): a [`Backend`] opened, itself a [`Kernels`] that forwards each
//!   primitive to the backend it holds (the one way to a backend); beside it the in-process
//!   [`Sharded`] engine behind `--backend cpu,wgpu` and `cuda:all`;
//! - [`shard`](mod@shard): past one device: the shard protocol (coordinate ranges, partial
//!   distances combined, every decision made once) and the step-by-step [`Session`](shard::Session);
//! - [`Kernels`] (`kernels.rs`): the four primitives every backend implements, and their
//!   shape rules;
//! - `contract.rs`: the numbers backends share with the rule layer ([`MASS_EPS`]) and the
//!   limits of the subset rules ([`MDA_MAX_N`], [`SMEA_MAX_N`], [`CAF_MAX_N`],
//!   [`CAF_MAX_ROUNDS`]);
//! - [`cpu`](mod@cpu): rayon across coordinate chunks, SIMD within them, dispatched at run time;
//! - [`wgpu`](mod@wgpu): WGSL compute shaders (`shaders/*.wgsl`) through wgpu (Vulkan, Metal
//!   or DX12, never GL);
//! - [`cuda`](mod@cuda): CUDA kernels (`kernels/*.cu`) compiled by NVRTC at run time;
//! - [`reference`](mod@reference): the f64 oracle, written straight from the spec;
//! - [`verify`](mod@verify): the conformance suite behind `byzagg verify`, and the tests'
//!   skip rule;
//! - [`train`](mod@train): asynchronous Byzantine SGD (server, workers, attacks, MNIST,
//!   presets) behind `byzagg train`;
//! - [`bench`](mod@bench): the benchmarks behind `byzagg bench` (timing, read pass, table,
//!   JSON, SVG plot);
//! - [`npy`](mod@npy): reading and writing numpy `.npy` files;
//! - [`output`](mod@output): atomic writes of every output file, and the check of an output
//!   path before long work;
//! - [`budget`](mod@budget): the host memory budget that large allocations are checked
//!   against, so a huge size is an error, never an abort.
//!
//! The command line lives in `src/bin/byzagg/`, one file per command; numbered examples in
//! `examples/`.
#![deny(missing_docs)]

mod aggregate;
mod aggregator;
mod backend;
mod batch;
pub mod bench;
pub mod budget;
mod contract;
pub mod cpu;
pub mod cuda;
mod engine;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod env_var;
mod error;
mod gm_scale;
mod kernels;
pub mod npy;
pub mod output;
pub mod reference;
mod rng;
mod rule;
pub mod shard;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod sort_network;
pub mod train;
pub mod verify;
pub mod wgpu;

pub use aggregate::{Report, Step, execute};
pub use aggregator::Aggregator;
pub use backend::{Backend, BackendList, Device, DeviceIndex};
pub use batch::Batch;
pub use contract::{CAF_MAX_N, CAF_MAX_ROUNDS, MASS_EPS, MDA_MAX_N, SMEA_MAX_N};
pub use engine::{Engine, EngineRows, Sharded, ShardedRows};
pub use error::{Error, Result};
pub use kernels::{Kernels, OrderStat};
pub use rng::SplitMix64;
pub use rule::{
    ByzantineShare, Center, GmInit, GmParams, MAX_DEPTH, Plan, Rule, bucket_permutation, tolerates,
};

/// The README's examples run as doctests, so the tour cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
