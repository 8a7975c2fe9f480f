//! The embeddable asynchronous server of SPEC section 6: per worker the latest vector and its
//! count of delivered updates; after each arrival, one robust aggregate of all latest vectors
//! weighted by the counts, and one optimizer step.
//!
//! A submission is checked (known worker, length d, a model version not in the future) before
//! anything changes, and the aggregate is computed before the new vector is stored, so an `Err`
//! from either leaves the server exactly as it was. NaN and infinities are *not* errors: they are
//! Byzantine data for the aggregator to survive.

use std::time::{Duration, Instant};

use crate::aggregate::Aggregator;
use crate::batch::Batch;
use crate::error::{Error, Result};

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
        }
    }

    /// Adds a worker and returns its id (0, 1, 2, ...).
    pub fn register_worker(&mut self) -> usize {
        self.latest.push(vec![0.0; self.d()]);
        self.counts.push(0);
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
        let rows: Vec<&[f32]> = (0..self.workers())
            .map(|i| if i == worker { vector } else { &self.latest[i][..] })
            .collect();
        let batch = Batch::from_rows(&rows)?.with_weights(&weights)?;
        let started = Instant::now();
        self.aggregator.aggregate_into(&batch, &mut self.scratch)?;
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
        let batch = Batch::from_rows(vectors)?;
        let started = Instant::now();
        self.aggregator.aggregate_into(&batch, &mut self.scratch)?;
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
