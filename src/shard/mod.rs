//! Past one device: the coordinates of a batch split across several holders, each holding a
//! range of the coordinates of every row.
//!
//! # The shard protocol
//!
//! Sharding splits coordinates, never rows. Of the four primitives of [`Kernels`], two are
//! coordinate-wise (`order_stats`, `mix`: each holder computes its own range, no message) and
//! two are sums over coordinates (`pairwise_dist`, `center_dist`: each holder computes the
//! partial sum over its range). So every rule runs as the same small state machine on every
//! holder, a loop of three steps:
//!
//! 1. **compute local partials**: run the rule layer on the holder's coordinates until it
//!    needs distances; the holder's partial is `n x n` doubles (`pairwise_dist`), `n` doubles
//!    (`center_dist` of the rows) or one double (`center_dist` of one row: the geometric
//!    median's stopping test);
//! 2. **combine partials**: the sum over holders, in holder order ([`sum_in_order`]): pure
//!    and deterministic, so bit-identical on every holder;
//! 3. **apply**: every host-side decision (the Krum choice, the Weiszfeld weights, the CTMA
//!    prefix, the NNM neighbours, the clipping factors) is a pure function of the combined
//!    numbers, the weights and the rule, so every holder makes the same one and applies it to
//!    its own coordinates (`mix`), with no further message.
//!
//! Order statistics need no partials at all, and no message is ever larger than `n x n`
//! doubles, whatever `d`. A *round* is one combine; per rule:
//!
//! | rule                   | rounds                                   | doubles per round |
//! |------------------------|------------------------------------------|-------------------|
//! | `mean`, `cwmed`, `cwtm`| 0                                        | -                 |
//! | `krum`, `multikrum`    | 1                                        | n x n             |
//! | `gm`                   | 1 per iteration (+2 with `tol > 0`)      | n (+1, +1)        |
//! | `ctma(base)`           | rounds of base + 1                       | n                 |
//! | `nnm(base)`            | 1 + rounds of base                       | n x n, then base  |
//! | `bucketing(base)`      | rounds of base (over the bucket means)   | as base           |
//! | `cclip(center,iters)`  | rounds of center + iters                 | n                 |
//! | `clip(base)`, `arc(base)` | 1 + rounds of base                    | n, then base      |
//! | `fltrust`              | 2 + 2 per norm group (<= 3), else 3     | n, 1, then 1 + n  |
//!
//! So `cwmed` takes no round, `krum` one, `ctma(cwmed)` one, and `gm` one per Weiszfeld
//! iteration plus the two one-double rounds of its stopping test when `tol > 0`.
//!
//! The protocol is transport-neutral: a [`Holder`] is a [`Kernels`] over one holder's
//! coordinates and a [`Combine`] that carries step 2 (an in-process sum, an all-gather over
//! a network), so the crate's one rule layer drives it unchanged. The in-process
//! [`Sharded`](crate::Sharded) engine (`--backend cpu,wgpu`, `cuda:0,cuda:1`) holds every
//! range itself and combines by [`sum_in_order`] directly; [`Session`] runs a [`Holder`] step by step for hosts
//! whose transport lives outside Rust (the Python package's `torch.distributed` adapter).
//!
//! Every holder must be trusted: a holder controls its partials and its coordinates of the
//! result, so a Byzantine holder can move both. Robustness against Byzantine *rows* is the
//! rule's; robustness against Byzantine *holders* is not offered.
//!
//! Files: `split.rs` (the coordinate ranges, proportional to each device's free memory),
//! `protocol.rs` ([`Combine`], [`Holder`],
//! [`sum_in_order`]), `session.rs` ([`Session`]). The in-process engine lives beside the
//! engine it extends (`engine/sharded.rs`), so this module never imports the engine.
//!
//! [`Kernels`]: crate::Kernels

mod protocol;
mod session;
mod split;

pub use protocol::{Combine, Holder, sum_in_order};
pub use session::{Session, SessionStep};
pub use split::split;
