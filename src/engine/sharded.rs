//! The in-process sharded engine: several engines in one process (CUDA devices, a wgpu
//! adapter, the CPU), each holding a range of the coordinates, driven by the one rule layer.
//!
//! It is the protocol with every holder in one process: coordinate-wise primitives run on
//! every engine over its range, distances are each engine's partial sums added by
//! [`sum_in_order`], and every host-side decision is made once, by the rule layer above.
//! Engines run their parts on threads of their own when one of them is a device (so two GPUs
//! work at once); CPU-only shards run one after the other, each with all of rayon's threads.

use std::ops::Range;

use super::{Engine, EngineRows};
use crate::backend::Backend;
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat, shape};
use crate::shard::{split, sum_in_order};

/// Engines that share the coordinates of every batch (see the module docs). Opened by
/// [`Engine::open_list`] from a backend list such as `cpu,wgpu` or `cuda:all`.
///
/// # Examples
///
/// ```
/// use byzagg::{Aggregator, Backend, Batch, Engine, Rule, Sharded};
///
/// let halves = Sharded::new(vec![Engine::open(Backend::Cpu)?, Engine::open(Backend::Cpu)?])?;
/// assert_eq!(halves.ranges(1000), vec![0..500, 500..1000]);
/// let rows = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 90.0]];
/// let agg = Aggregator::with_engine(Rule::CwMed, Engine::Sharded(halves));
/// assert_eq!(agg.aggregate(&Batch::from_rows(&rows)?)?, vec![4.0, 5.0, 6.0]);
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sharded {
    engines: Vec<Engine>,
    shares: Vec<f64>,
    threads: bool,
}

/// A `k x d` matrix split across a sharded engine: one part per engine whose range of the
/// coordinates is not empty.
#[derive(Debug)]
pub struct ShardedRows<'a> {
    k: usize,
    d: usize,
    parts: Vec<Part<'a>>,
}

/// One engine's columns of a [`ShardedRows`].
#[derive(Debug)]
struct Part<'a> {
    /// Index of the engine that holds it.
    shard: usize,
    /// Its columns of the whole matrix.
    range: Range<usize>,
    rows: EngineRows<'a>,
}

impl ShardedRows<'_> {
    /// Rows and columns of the whole matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.k, self.d)
    }
}

impl Sharded {
    /// Engines sharing the coordinates in proportion to their free memory: the host's
    /// available memory for the CPU, the device's free memory for CUDA. wgpu reports none,
    /// so a list with a wgpu engine splits evenly.
    pub fn new(engines: Vec<Engine>) -> Result<Self> {
        let shares = free_memory_shares(&engines);
        Sharded::with_shares(engines, shares)
    }

    /// Engines sharing the coordinates in proportion to `shares` (one positive, finite
    /// number per engine).
    pub fn with_shares(engines: Vec<Engine>, shares: Vec<f64>) -> Result<Self> {
        if engines.is_empty() {
            return Err(Error::invalid(
                "engines",
                "none",
                "a sharded engine needs at least one engine",
            ));
        }
        if let Some(e) = engines
            .iter()
            .find(|e| matches!(e, Engine::Reference | Engine::Sharded(_)))
        {
            return Err(Error::invalid(
                "engines",
                e.name(),
                "each shard is a cpu, wgpu or cuda engine (the reference has no primitives; shards do not nest)",
            ));
        }
        if shares.len() != engines.len() {
            return Err(Error::invalid(
                "shares",
                format!("{} values", shares.len()),
                format!("need one share per engine, {}", engines.len()),
            ));
        }
        if let Some((i, s)) = shares
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(Error::invalid(
                "shares",
                format!("shares[{i}] = {s}"),
                "every share must be finite and > 0",
            ));
        }
        let threads = engines.len() > 1 && engines.iter().any(|e| e.backend() != Backend::Cpu);
        Ok(Sharded {
            engines,
            shares,
            threads,
        })
    }

    /// The engines, in the order of their coordinate ranges.
    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// The share of each engine (the coordinates split in proportion).
    pub fn shares(&self) -> &[f64] {
        &self.shares
    }

    /// The coordinates each engine holds of a batch of dimension `d` (see [`split`]).
    pub fn ranges(&self, d: usize) -> Vec<Range<usize>> {
        split(&self.shares, d)
    }

    /// `(engine index, range)` of every engine with a non-empty range.
    fn parts(&self, d: usize) -> Vec<(usize, Range<usize>)> {
        self.ranges(d)
            .into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }

    /// Runs `f(i)` for `i` in `0..count`, on a thread each when a device is among the engines
    /// (so devices work at once), else in turn; results in order, the first error wins.
    fn across<T: Send>(&self, count: usize, f: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
        if !self.threads || count < 2 {
            return (0..count).map(f).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    scope.spawn({
                        let f = &f;
                        move || f(i)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    }

    /// New rows from `f(engine, part index)` over the parts of `like`.
    fn map_parts(
        &self,
        like: &ShardedRows<'_>,
        k: usize,
        f: impl Fn(&Engine, usize) -> Result<EngineRows<'static>> + Sync,
    ) -> Result<ShardedRows<'static>> {
        let rows = self.across(like.parts.len(), |i| f(&self.engines[like.parts[i].shard], i))?;
        Ok(ShardedRows {
            k,
            d: like.d,
            parts: like
                .parts
                .iter()
                .zip(rows)
                .map(|(p, rows)| Part {
                    shard: p.shard,
                    range: p.range.clone(),
                    rows,
                })
                .collect(),
        })
    }

    /// The partial sums of every part, added by the protocol's combine.
    fn combined(
        &self,
        rows: &ShardedRows<'_>,
        f: impl Fn(&Engine, usize) -> Result<Vec<f64>> + Sync,
    ) -> Result<Vec<f64>> {
        let partials = self.across(rows.parts.len(), |i| f(&self.engines[rows.parts[i].shard], i))?;
        sum_in_order(&partials)
    }
}

/// Shares in proportion to free memory where every engine reports it, else equal shares.
fn free_memory_shares(engines: &[Engine]) -> Vec<f64> {
    // One reading of the host's memory for every CPU shard, so equal CPU shards split evenly.
    let host = crate::budget::available().map(|b| b.bytes as f64);
    let free: Option<Vec<f64>> = engines
        .iter()
        .map(|e| match e {
            Engine::Cpu(_) => host,
            #[cfg(feature = "cuda")]
            Engine::Cuda(c) => c.budget().ok().map(|b| b as f64),
            _ => None,
        })
        .map(|f| f.filter(|f| *f > 0.0))
        .collect();
    free.unwrap_or_else(|| vec![1.0; engines.len()])
}

/// Two sharded matrices that do not have the same columns in the same parts.
fn mismatched(name: &'static str, a: &ShardedRows<'_>, b: &ShardedRows<'_>) -> Error {
    Error::invalid(
        name,
        format!("{} x {} in {} parts", b.k, b.d, b.parts.len()),
        format!(
            "must be split like the rows ({} x {} in {} parts)",
            a.k,
            a.d,
            a.parts.len()
        ),
    )
}

/// Whether two matrices split their columns alike.
fn same_split(a: &ShardedRows<'_>, b: &ShardedRows<'_>) -> bool {
    a.d == b.d
        && a.parts.len() == b.parts.len()
        && a.parts
            .iter()
            .zip(&b.parts)
            .all(|(p, q)| p.shard == q.shard && p.range == q.range)
}

impl Kernels for Sharded {
    type Rows<'a> = ShardedRows<'a>;

    fn name(&self) -> &'static str {
        "sharded"
    }

    fn shape(&self, rows: &ShardedRows<'_>) -> (usize, usize) {
        rows.shape()
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<ShardedRows<'a>> {
        let parts = self.parts(batch.d());
        let rows = self.across(parts.len(), |i| {
            let (shard, range) = &parts[i];
            self.engines[*shard].upload(&batch.columns(range.clone()))
        })?;
        Ok(ShardedRows {
            k: batch.n(),
            d: batch.d(),
            parts: parts
                .into_iter()
                .zip(rows)
                .map(|((shard, range), rows)| Part { shard, range, rows })
                .collect(),
        })
    }

    fn zeros(&self, k: usize, d: usize) -> Result<ShardedRows<'static>> {
        let parts = self.parts(d);
        let rows = self.across(parts.len(), |i| {
            let (shard, range) = &parts[i];
            self.engines[*shard].zeros(k, range.len())
        })?;
        Ok(ShardedRows {
            k,
            d,
            parts: parts
                .into_iter()
                .zip(rows)
                .map(|((shard, range), rows)| Part { shard, range, rows })
                .collect(),
        })
    }

    fn download(&self, rows: &ShardedRows<'_>, out: &mut [f32]) -> Result<()> {
        shape::download(rows.shape(), out.len())?;
        let (k, d) = rows.shape();
        for part in &rows.parts {
            let engine = &self.engines[part.shard];
            if k == 1 {
                engine.download(&part.rows, &mut out[part.range.clone()])?;
                continue;
            }
            let width = part.range.len();
            let mut block = vec![0.0f32; k * width];
            engine.download(&part.rows, &mut block)?;
            for (i, row) in block.chunks_exact(width).enumerate() {
                out[i * d + part.range.start..i * d + part.range.end].copy_from_slice(row);
            }
        }
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        self.engines.iter().try_for_each(Kernels::synchronize)
    }

    /// Each engine receives its own columns of the row.
    fn write_row(&self, rows: &mut ShardedRows<'_>, row: usize, values: &[f32]) -> Result<()> {
        shape::write_row(rows.shape(), row, values.len())?;
        for part in &mut rows.parts {
            self.engines[part.shard].write_row(&mut part.rows, row, &values[part.range.clone()])?;
        }
        Ok(())
    }

    fn order_stats(
        &self,
        rows: &ShardedRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<ShardedRows<'static>> {
        shape::order_stats(rows.shape(), weights.len())?;
        self.map_parts(rows, 1, |e, i| e.order_stats(&rows.parts[i].rows, weights, stat))
    }

    fn pairwise_dist(&self, rows: &ShardedRows<'_>) -> Result<Vec<f64>> {
        self.combined(rows, |e, i| e.pairwise_dist(&rows.parts[i].rows))
    }

    fn center_dist(&self, rows: &ShardedRows<'_>, center: &ShardedRows<'_>) -> Result<Vec<f64>> {
        shape::center_dist(rows.shape(), center.shape())?;
        if !same_split(rows, center) {
            return Err(mismatched("center", rows, center));
        }
        self.combined(rows, |e, i| {
            e.center_dist(&rows.parts[i].rows, &center.parts[i].rows)
        })
    }

    fn mix(
        &self,
        rows: &ShardedRows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&ShardedRows<'_>, f64)>,
    ) -> Result<ShardedRows<'static>> {
        shape::mix(rows.shape(), coeffs.len(), k, base.map(|(b, _)| b.shape()))?;
        if let Some((b, _)) = base
            && !same_split(rows, b)
        {
            return Err(mismatched("base", rows, b));
        }
        self.map_parts(rows, k, |e, i| {
            let base = base.map(|(b, scale)| (&b.parts[i].rows, scale));
            e.mix(&rows.parts[i].rows, coeffs, k, base)
        })
    }

    /// Coordinate-wise like its two steps, so each engine runs it on its own columns (the CPU
    /// engine fused).
    fn mix_order_stats(
        &self,
        rows: &ShardedRows<'_>,
        coeffs: &[f64],
        k: usize,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<ShardedRows<'static>> {
        shape::mix(rows.shape(), coeffs.len(), k, None)?;
        shape::order_stats((k, rows.d), weights.len())?;
        self.map_parts(rows, 1, |e, i| {
            e.mix_order_stats(&rows.parts[i].rows, coeffs, k, weights, stat)
        })
    }
}
