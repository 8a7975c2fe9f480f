//! The embeddable asynchronous server of SPEC section 6: per worker the latest vector and its
//! count of delivered updates; after each arrival, one robust aggregate of all latest vectors
//! weighted by the counts, and one optimizer step.
//!
//! A submission is checked (known worker, length d, a model version not in the future) before
//! anything changes, and the aggregate is computed before the new vector is stored, so an `Err`
//! from either leaves the server exactly as it was. NaN and infinities are *not* errors: they are
//! Byzantine data for the aggregator to survive.
//!
//! Residency: on a GPU engine (wgpu, cuda, or a sharded engine with a device) the m latest
//! vectors stay on the engine as one `m x d` matrix, so an arrival sends its `d` values into
//! its row ([`Kernels::write_row`]), the rule runs on the resident rows
//! ([`Aggregator::aggregate_resident`]) and only the `d` values of the aggregate come back for
//! the optimizer step; the matrix is built (the delivered rows, up to `m x d` values) when the
//! set of workers changes. The CPU engine reads the host copies in place, so a resident copy
//! would only double the memory: it aggregates from the host unless
//! [`Server::keep_resident`]`(true)` asks otherwise. The reference backend and strict mode
//! always aggregate from the host. [`Server::transfers`] counts the values moved.

use std::time::{Duration, Instant};

use crate::aggregator::Aggregator;
use crate::backend::Backend;
use crate::batch::Batch;
use crate::engine::{Engine, EngineRows};
use crate::error::{Error, Result};
use crate::kernels::Kernels;

use super::optimizer::OptimizerState;

/// How a worker's latest vector is weighted in the aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// Weight = number of updates the worker delivered (the NeurIPS paper's weighting).
    Counts,
    /// Every worker that delivered at least once weighs 1 (the unweighted baseline).
    Uniform,
}

/// What the server tells a worker after its update was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The worker.
    pub worker: usize,
    /// Updates the server applied between the worker's model version and this arrival.
    pub staleness: u64,
    /// The server's model version after this update (= updates applied so far).
    pub version: u64,
}

/// Values the server moved between the host and the aggregator's engine (f32 values, not
/// bytes): what residency saves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Values sent to the engine: rows written into the resident matrix, or whole batches
    /// handed to the aggregator on the host path (`m x d` per arrival there).
    pub uploaded: u64,
    /// Values brought back: the aggregate, `d` per update.
    pub downloaded: u64,
}

/// Server state: the workers' latest vectors and counts, the aggregator and the optimizer.
///
/// # Examples
///
/// ```
/// use byzagg::train::{OptimizerState, Server, ServerOptimizer, Weighting};
/// use byzagg::{Aggregator, Backend, Rule};
///
/// let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.5, vec![0.0, 0.0])?;
/// let agg = Aggregator::new(Rule::CwMed, Backend::Reference)?;
/// let mut server = Server::new(agg, Weighting::Counts, opt);
/// let (a, b) = (server.register_worker(), server.register_worker());
/// server.submit(a, &[1.0, 1.0], 0)?;
/// let arrival = server.submit(a, &[1.0, 1.0], 1)?;
/// assert_eq!((arrival.staleness, arrival.version), (0, 2));
/// server.submit(b, &[f32::NAN, 3.0], 0)?; // accepted: Byzantine data
/// assert_eq!(server.counts(), &[2, 1]);
/// assert!(server.submit(b, &[1.0], 3).is_err()); // wrong length: rejected, nothing changes
/// assert_eq!(server.version(), 3);
/// assert!(server.query_point().iter().all(|v| v.is_finite()));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    aggregator: Aggregator,
    weighting: Weighting,
    opt: OptimizerState,
    latest: Vec<Vec<f32>>,
    counts: Vec<u64>,
    version: u64,
    aggregate: Vec<f32>,
    scratch: Vec<f32>,
    aggregation_time: Duration,
    /// Whether to keep the latest vectors resident on the engine; `None`: on GPU engines.
    keep_resident: Option<bool>,
    /// The latest vectors on the engine, one row per worker; `None` until the first arrival
    /// and after the set of workers changed.
    resident: Option<EngineRows<'static>>,
    transfers: Transfers,
}

impl Server {
    /// A server with no workers yet; the model starts at the optimizer's initial point.
    pub fn new(aggregator: Aggregator, weighting: Weighting, opt: OptimizerState) -> Self {
        let d = opt.query_point().len();
        Server {
            aggregator,
            weighting,
            opt,
            latest: Vec::new(),
            counts: Vec::new(),
            version: 0,
            aggregate: vec![0.0; d],
            scratch: vec![0.0; d],
            aggregation_time: Duration::ZERO,
            keep_resident: None,
            resident: None,
            transfers: Transfers::default(),
        }
    }

    /// Whether to keep the latest vectors resident on the aggregator's engine: by default on
    /// GPU engines, where it saves the transfers, and not on the CPU, where it would only
    /// copy. `true` keeps them resident on any engine with kernels (the CPU included);
    /// `false` hands all m of them to the aggregator on every arrival, as a host caller
    /// would. Results are the same either way; the transfers are not.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::{OptimizerState, Server, ServerOptimizer, Transfers, Weighting};
    /// use byzagg::{Aggregator, Backend, Rule};
    ///
    /// let server = |resident| -> byzagg::Result<Server> {
    ///     let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.5, vec![0.0; 4])?;
    ///     let agg = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
    ///     let mut s = Server::new(agg, Weighting::Counts, opt).keep_resident(resident);
    ///     for _ in 0..3 {
    ///         s.register_worker();
    ///     }
    ///     for (w, v) in [(0, 1.0), (1, 2.0), (2, 9.0), (0, 3.0)] {
    ///         s.submit(w, &[v; 4], 0)?;
    ///     }
    ///     Ok(s)
    /// };
    /// let (resident, host) = (server(true)?, server(false)?);
    /// assert_eq!(resident.query_point(), host.query_point());
    /// // Resident: the 3 x 4 matrix starts as zeros on the engine; each arrival sends its row.
    /// assert_eq!(resident.transfers(), Transfers { uploaded: 4 * 4, downloaded: 4 * 4 });
    /// // Host: every arrival hands the aggregator all 3 rows.
    /// assert_eq!(host.transfers(), Transfers { uploaded: 4 * 12, downloaded: 4 * 4 });
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn keep_resident(mut self, on: bool) -> Self {
        self.keep_resident = Some(on);
        self.resident = None;
        self
    }

    /// Values moved between the host and the aggregator's engine so far.
    pub fn transfers(&self) -> Transfers {
        self.transfers
    }

    /// Whether arrivals go to the resident matrix: asked for (by default, on an engine that
    /// is not the CPU's), an engine with kernels (not the reference), and not strict mode
    /// (which scans the values on the host).
    fn resident_path(&self) -> bool {
        let engine = self.aggregator.engine();
        let wanted = self
            .keep_resident
            .unwrap_or(!matches!(engine.backend(), Backend::Cpu));
        wanted && !matches!(engine, Engine::Reference) && !self.aggregator.is_strict()
    }

    /// Adds a worker and returns its id (0, 1, 2, ...).
    pub fn register_worker(&mut self) -> usize {
        self.latest.push(vec![0.0; self.d()]);
        self.counts.push(0);
        // The resident matrix has a row per worker: built again, with the new row, on the
        // next arrival.
        self.resident = None;
        self.latest.len() - 1
    }

    /// Model dimension.
    pub fn d(&self) -> usize {
        self.aggregate.len()
    }

    /// Number of registered workers.
    pub fn workers(&self) -> usize {
        self.counts.len()
    }

    /// Applies one update from `worker`, computed at model `version`: stores it, aggregates
    /// all latest vectors and steps the optimizer.
    ///
    /// Errors (and no change of state): unknown worker, length != d, a version newer than the
    /// server's, or an aggregation error (for example a rule that needs more workers).
    pub fn submit(&mut self, worker: usize, vector: &[f32], version: u64) -> Result<Arrival> {
        if worker >= self.workers() {
            return Err(Error::invalid(
                "worker",
                worker,
                format!("unknown worker: {} are registered", self.workers()),
            ));
        }
        if vector.len() != self.d() {
            return Err(Error::invalid(
                "update",
                format!("length {}", vector.len()),
                format!("must have the model's length d = {}", self.d()),
            ));
        }
        if version > self.version {
            return Err(Error::invalid(
                "version",
                version,
                format!("the server is at version {}", self.version),
            ));
        }
        let mut counts = self.counts.clone();
        counts[worker] += 1;
        let weights: Vec<f64> = counts
            .iter()
            .map(|&c| match (self.weighting, c) {
                (_, 0) => 0.0,
                (Weighting::Counts, c) => c as f64,
                (Weighting::Uniform, _) => 1.0,
            })
            .collect();
        let started = Instant::now();
        if self.resident_path() {
            self.aggregate_resident(Some((worker, vector)), Some(&weights))?;
        } else {
            let rows: Vec<&[f32]> = (0..self.workers())
                .map(|i| if i == worker { vector } else { &self.latest[i][..] })
                .collect();
            let batch = Batch::from_rows(&rows)?.with_weights(&weights)?;
            self.aggregator.aggregate_into(&batch, &mut self.scratch)?;
            self.count_host_path();
        }
        self.aggregation_time += started.elapsed();
        // Commit: nothing below can fail.
        std::mem::swap(&mut self.aggregate, &mut self.scratch);
        self.latest[worker].copy_from_slice(vector);
        self.counts = counts;
        self.opt.step(&self.aggregate);
        let staleness = self.version - version;
        self.version += 1;
        Ok(Arrival {
            worker,
            staleness,
            version: self.version,
        })
    }

    /// The synchronous round (the ICML setting): every registered worker delivers one fresh
    /// vector, computed at the current model, and the server aggregates them with equal
    /// weights and takes one optimizer step. Returns the new version.
    ///
    /// Errors (and no change of state): not one vector per worker, or a vector whose length
    /// is not d, or an aggregation error.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::{OptimizerState, Server, ServerOptimizer, Weighting};
    /// use byzagg::{Aggregator, Backend, Rule};
    ///
    /// let opt = OptimizerState::new(ServerOptimizer::Sgd, 1.0, vec![0.0])?;
    /// let mut server = Server::new(Aggregator::new(Rule::CwMed, Backend::Reference)?, Weighting::Counts, opt);
    /// for _ in 0..3 {
    ///     server.register_worker();
    /// }
    /// assert_eq!(server.submit_round(&[&[1.0], &[2.0], &[1e30]])?, 1);
    /// assert_eq!(server.query_point(), &[-2.0]); // the median's step
    /// assert!(server.submit_round(&[&[1.0], &[2.0]]).is_err());
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn submit_round(&mut self, vectors: &[&[f32]]) -> Result<u64> {
        if vectors.len() != self.workers() {
            return Err(Error::invalid(
                "round",
                format!("{} vectors", vectors.len()),
                format!(
                    "a synchronous round needs one vector from each of the {} workers",
                    self.workers()
                ),
            ));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != self.d()) {
            return Err(Error::invalid(
                "update",
                format!("length {}", v.len()),
                format!("must have the model's length d = {}", self.d()),
            ));
        }
        let started = Instant::now();
        if self.resident_path() {
            self.aggregate_round_resident(vectors)?;
        } else {
            let batch = Batch::from_rows(vectors)?;
            self.aggregator.aggregate_into(&batch, &mut self.scratch)?;
            self.count_host_path();
        }
        self.aggregation_time += started.elapsed();
        std::mem::swap(&mut self.aggregate, &mut self.scratch);
        for (latest, v) in self.latest.iter_mut().zip(vectors) {
            latest.copy_from_slice(v);
        }
        for c in self.counts.iter_mut() {
            *c += 1;
        }
        self.opt.step(&self.aggregate);
        self.version += 1;
        Ok(self.version)
    }

    /// The host path's transfers: the whole `m x d` batch handed over, the aggregate back.
    fn count_host_path(&mut self) {
        let (m, d) = (self.workers() as u64, self.d() as u64);
        self.transfers.uploaded += m * d;
        self.transfers.downloaded += d;
    }

    /// The resident matrix, built from the host copies when there is none (the first
    /// arrival, or the set of workers changed): rows of workers that never delivered stay
    /// zero, as their host copies are.
    fn resident_rows(&mut self) -> Result<EngineRows<'static>> {
        if let Some(rows) = self.resident.take() {
            return Ok(rows);
        }
        let engine = self.aggregator.engine();
        let mut rows = engine.zeros(self.workers(), self.d())?;
        for (i, v) in self.latest.iter().enumerate() {
            if self.counts[i] > 0 {
                engine.write_row(&mut rows, i, v)?;
                self.transfers.uploaded += v.len() as u64;
            }
        }
        Ok(rows)
    }

    /// One aggregate on the resident rows into `scratch`, after writing `arrival` (a worker
    /// and its vector) into its row. On an error the row gets its old vector back (or the
    /// matrix is dropped, to be built again), so the resident rows always equal the host
    /// copies between calls.
    fn aggregate_resident(
        &mut self,
        arrival: Option<(usize, &[f32])>,
        weights: Option<&[f64]>,
    ) -> Result<()> {
        let mut rows = self.resident_rows()?;
        let engine = self.aggregator.engine();
        let mut result = Ok(());
        if let Some((worker, vector)) = arrival {
            result = engine.write_row(&mut rows, worker, vector);
            self.transfers.uploaded += vector.len() as u64;
        }
        if result.is_ok() {
            result = self
                .aggregator
                .aggregate_resident(engine, &rows, weights)
                .and_then(|(out, _report)| engine.download(&out, &mut self.scratch));
        }
        match result {
            Ok(()) => {
                self.transfers.downloaded += self.d() as u64;
                self.resident = Some(rows);
                Ok(())
            }
            Err(e) => {
                if let Some((worker, _)) = arrival
                    && engine.write_row(&mut rows, worker, &self.latest[worker]).is_ok()
                {
                    self.transfers.uploaded += self.d() as u64;
                    self.resident = Some(rows);
                }
                Err(e)
            }
        }
    }

    /// A synchronous round on the resident rows: every row is written (`m x d` values, all
    /// of them new), then one unweighted aggregate. On an error the matrix is dropped and
    /// built again from the host copies at the next arrival.
    fn aggregate_round_resident(&mut self, vectors: &[&[f32]]) -> Result<()> {
        let mut rows = self.resident_rows()?;
        let engine = self.aggregator.engine();
        for (i, v) in vectors.iter().enumerate() {
            engine.write_row(&mut rows, i, v)?;
            self.transfers.uploaded += v.len() as u64;
        }
        let (out, _report) = self.aggregator.aggregate_resident(engine, &rows, None)?;
        engine.download(&out, &mut self.scratch)?;
        self.transfers.downloaded += self.d() as u64;
        self.resident = Some(rows);
        Ok(())
    }

    /// Wall time spent inside the aggregator so far (the cost of the rule in training).
    pub fn aggregation_time(&self) -> Duration {
        self.aggregation_time
    }

    /// The point workers should evaluate their next gradient at.
    pub fn query_point(&self) -> &[f32] {
        self.opt.query_point()
    }

    /// The optimizer (iterate, steps).
    pub fn optimizer(&self) -> &OptimizerState {
        &self.opt
    }

    /// Updates applied so far (the model version workers receive).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Delivered updates per worker.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The weights the next aggregate uses for the workers' current latest vectors.
    pub fn weights(&self) -> Vec<f64> {
        self.counts
            .iter()
            .map(|&c| match (self.weighting, c) {
                (_, 0) => 0.0,
                (Weighting::Counts, c) => c as f64,
                (Weighting::Uniform, _) => 1.0,
            })
            .collect()
    }

    /// The latest vector of `worker`, if it delivered one.
    pub fn latest(&self, worker: usize) -> Option<&[f32]> {
        (self.counts.get(worker).copied().unwrap_or(0) > 0).then(|| &self.latest[worker][..])
    }

    /// The last aggregate (zeros before the first update).
    pub fn last_aggregate(&self) -> &[f32] {
        &self.aggregate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;
    use crate::train::ServerOptimizer;

    /// The resident matrix, downloaded (`None` when the server holds none).
    fn resident_values(s: &Server) -> Option<Vec<f32>> {
        let rows = s.resident.as_ref()?;
        let mut out = vec![0.0; s.workers() * s.d()];
        s.aggregator.engine().download(rows, &mut out).unwrap();
        Some(out)
    }

    #[test]
    fn a_refused_aggregate_leaves_no_stale_resident_row() {
        // Krum with f = 2 refuses 5 rows (it needs n > 2f + 2).
        let agg = Aggregator::new("krum(f=2)".parse::<Rule>().unwrap(), Backend::Cpu).unwrap();
        let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; 3]).unwrap();
        let mut s = Server::new(agg, Weighting::Counts, opt).keep_resident(true);
        for _ in 0..5 {
            s.register_worker();
        }
        // A refused arrival: its row is written, then restored.
        assert!(s.submit(2, &[5.0, 6.0, 7.0], 0).is_err());
        assert_eq!(resident_values(&s), Some(vec![0.0; 15]));
        // A refused round: every row was overwritten, so the matrix is dropped.
        let rows: Vec<&[f32]> = vec![&[1.0, 1.0, 1.0]; 5];
        assert!(s.submit_round(&rows).is_err());
        assert_eq!(resident_values(&s), None);
        assert_eq!(s.version(), 0);
    }
}
