//! Honest workers' estimators (SPEC section 6): the plain gradient, momentum, and STORM's
//! corrected momentum, which evaluates the same sample at the new and the previous query point.
//!
//! A worker owns a shard of training example indices and a seeded stream; each call draws a
//! minibatch (with replacement) from its shard and returns the vector to send.

use super::rng::Rng;
use super::task::Task;

/// STORM's beta_t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Beta {
    /// beta_t = 1/t (the sync code): d_1 = g_1, then the corrected running average.
    Harmonic,
    /// A fixed beta in (0, 1] (the async code uses 0.25).
    Fixed(f32),
}

/// What an honest worker sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Estimator {
    /// The minibatch gradient.
    Gradient,
    /// Momentum `d <- beta d + (1 - beta) g`, starting from d = 0.
    Momentum {
        /// Momentum factor in [0, 1) (0.9 in the papers' baselines).
        beta: f32,
    },
    /// STORM: `d_t = g(x_t; z_t) + (1 - beta_t) (d_{t-1} - g(x_{t-1}; z_t))`, d_1 = g(x_1; z_1).
    Storm {
        /// The correction weight.
        beta: Beta,
    },
}

/// One worker's estimator state, shard and random stream.
///
/// # Examples
///
/// ```
/// use byzagg::train::{Beta, Estimator, SyntheticTask, Task, WorkerState};
///
/// let task = SyntheticTask::new(8, 64, 16, 0);
/// let mut w = WorkerState::new(Estimator::Storm { beta: Beta::Harmonic }, (0..64).collect(), 4, 1);
/// let x = task.init(0);
/// let d1 = w.estimate(&task, &x, false);
/// assert_eq!(d1.len(), 8);
/// ```
#[derive(Clone, Debug)]
pub struct WorkerState {
    estimator: Estimator,
    shard: Vec<usize>,
    batch: usize,
    rng: Rng,
    t: u64,
    d: Option<Vec<f32>>,
    x_prev: Option<Vec<f32>>,
    sample: Vec<usize>,
    g: Vec<f32>,
    g_prev: Vec<f32>,
    last_loss: f64,
}

impl WorkerState {
    /// A worker drawing minibatches of `batch` examples from `shard` (not empty), seeded.
    pub fn new(estimator: Estimator, shard: Vec<usize>, batch: usize, seed: u64) -> Self {
        WorkerState {
            estimator,
            shard,
            batch: batch.max(1),
            rng: Rng::new(seed),
            t: 0,
            d: None,
            x_prev: None,
            sample: Vec::new(),
            g: Vec::new(),
            g_prev: Vec::new(),
            last_loss: f64::NAN,
        }
    }

    /// Computes the next vector at query point `x`; with `flip`, on flipped labels.
    pub fn estimate(&mut self, task: &dyn Task, x: &[f32], flip: bool) -> Vec<f32> {
        self.t += 1;
        let n = x.len();
        self.sample.clear();
        for _ in 0..self.batch {
            let k = self.rng.below(self.shard.len());
            self.sample.push(self.shard[k]);
        }
        self.g.resize(n, 0.0);
        self.last_loss = task.gradient(x, &self.sample, flip, &mut self.g);
        match self.estimator {
            Estimator::Gradient => self.g.clone(),
            Estimator::Momentum { beta } => {
                let d = self.d.get_or_insert_with(|| vec![0.0; n]);
                for (di, gi) in d.iter_mut().zip(&self.g) {
                    *di = beta * *di + (1.0 - beta) * gi;
                }
                d.clone()
            }
            Estimator::Storm { beta } => {
                let b = match beta {
                    Beta::Harmonic => (1.0 / self.t as f64) as f32,
                    Beta::Fixed(b) => b,
                };
                let out = match (self.d.take(), self.x_prev.as_deref()) {
                    (Some(mut d), Some(xp)) => {
                        self.g_prev.resize(n, 0.0);
                        task.gradient(xp, &self.sample, flip, &mut self.g_prev);
                        for ((di, gi), gp) in d.iter_mut().zip(&self.g).zip(&self.g_prev) {
                            *di = gi + (1.0 - b) * (*di - gp);
                        }
                        d
                    }
                    _ => self.g.clone(),
                };
                match &mut self.x_prev {
                    Some(xp) => xp.copy_from_slice(x),
                    None => self.x_prev = Some(x.to_vec()),
                }
                self.d = Some(out.clone());
                out
            }
        }
    }

    /// Minibatch loss at the last query point.
    pub fn last_loss(&self) -> f64 {
        self.last_loss
    }
}
