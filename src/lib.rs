//! # byzagg: Byzantine-robust aggregation, weighted, on the CPU and GPUs
//!
//! Distributed training averages vectors from many workers; one faulty or malicious worker can
//! wreck a plain average. byzagg computes robust aggregates instead (coordinate-wise median,
//! trimmed mean, Krum, geometric median, the CTMA meta-aggregator, NNM, bucketing, centered
//! clipping), every one in weighted form for asynchronous training, with one contract for all
//! backends (see the crate README and `SPEC` notes in each module).
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
//! | rule (text form)                 | reference | cpu |
//! |----------------------------------|-----------|-----|
//! | `mean`                           | yes       | yes |
//! | `cwmed`                          | yes       | yes |
//! | `cwtm(lambda=..)`                | yes       | yes |
//! | `krum(f=..)`, `multikrum(f=..,m=..)` | yes   | yes |
//! | `gm`, `gm(preset=rfa)`           | yes       | yes |
//! | `ctma(base,lambda=..)`           | yes       | yes |
//! | `nnm(base,lambda=..)`            | yes       | yes |
//! | `bucketing(base,s=..,seed=..)`   | yes       | yes |
//! | `cclip(tau=..,iters=..)`         | yes       | yes |
//!
//! The wgpu and CUDA backends plug into the same [`Kernels`] trait; in this version they
//! report themselves unavailable ([`Error::Unavailable`]).
//!
//! ## Layout
//!
//! - [`Batch`] (`batch.rs`): the rows and weights, borrowed;
//! - [`Rule`], [`Plan`] (`rule/`): rules as data, their text form, validation;
//! - [`Aggregator`] (`aggregate.rs`): the rule layer, host-side logic over the primitives;
//! - [`Kernels`] (`kernels.rs`): the four primitives every backend implements;
//! - [`cpu`](mod@cpu): rayon across coordinate chunks, SIMD within them, dispatched at run time;
//! - [`cuda`](mod@cuda): CUDA kernels (`kernels/*.cu`) compiled by NVRTC at run time (feature
//!   `cuda`, on by default; it builds without CUDA installed and reports itself unavailable);
//! - [`reference`](mod@reference): the f64 oracle, written straight from the spec;
//! - [`verify`](mod@verify): the conformance suite behind `byzagg verify`;
//! - [`wgpu`](mod@wgpu): WGSL compute shaders (`shaders/*.wgsl`) through wgpu (feature `wgpu`, on
//!   by default; Vulkan, Metal or DX12, never GL; unavailable without an adapter);
//! - [`train`](mod@train): asynchronous Byzantine SGD (server, workers, attacks, MNIST) behind
//!   `byzagg train`;
//! - [`bench`](mod@bench): the benchmarks behind `byzagg bench` (timing, read pass, table,
//!   JSON, SVG plot);
//! - [`npy`](mod@npy): reading and writing numpy `.npy` files for the CLI;
//! - [`output`](mod@output): atomic writes of every output file, and the check of an output
//!   path before long work;
//! - [`budget`](mod@budget): the host memory budget that large allocations are checked
//!   against, so a huge size is an error, never an abort.
#![deny(missing_docs)]

mod aggregate;
mod backend;
mod batch;
pub mod bench;
pub mod budget;
pub mod cpu;
pub mod cuda;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod env_var;
mod error;
mod kernels;
pub mod npy;
pub mod output;
pub mod reference;
mod rng;
mod rule;
pub mod train;
pub mod verify;
pub mod wgpu;

pub use aggregate::{Aggregator, Report, Step, execute, execute_resident};
pub use backend::Backend;
pub use batch::Batch;
pub use error::{Error, Result};
pub use kernels::{Kernels, OrderStat};
pub use rng::SplitMix64;
pub use rule::{Center, GmInit, GmParams, MASS_EPS, MAX_DEPTH, Plan, Rule, Tolerance, bucket_permutation};

/// The README's examples run as doctests, so the tour cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
