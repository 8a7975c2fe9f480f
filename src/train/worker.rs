//! Honest workers' estimators (SPEC section 6): the plain gradient, momentum, and STORM's
//! corrected momentum, which evaluates the same sample at the new and the previous query point.
//!
//! A worker owns a shard of training example indices and a seeded stream; each call draws a
//! minibatch (with replacement) from its shard, or takes the one the driver deals it
//! ([`WorkerState::estimate_on`]), and returns the vector to send.
//!
//! STORM runs in either of two orders with the same law (each sample is drawn independently
//! of the points it is evaluated at): [`WorkerState::estimate`] draws a sample and evaluates
//! it at the current and the previous query point (the NeurIPS asynchronous code), while
//! [`WorkerState::storm_send`] and [`WorkerState::storm_update`] follow the ICML synchronous
//! code: the round's sample is evaluated at x_t before the server's step and at x_{t+1} after
//! it, and the estimate so formed is sent in the next round. The orders differ in which
//! gradients a model's side effects see (BatchNorm's running statistics), not in the
//! estimates' law.
//!
//! Optional, as in the ICML synchronous code: every minibatch gradient rescaled to norm at
//! most `clip` before it enters the estimator ([`WorkerState::with_clip`]), and momentum
//! started at the first gradient instead of 0 ([`MomentumStart`]).

use super::optimizer::round_to_thousandths;
use super::rng::Rng;
use super::task::Task;

/// STORM's beta_t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Beta {
    /// beta_t = 1/t: d_1 = g_1, then the corrected running average.
    Harmonic,
    /// beta_t = max(1/t rounded to 3 decimals, 0.01), as the ICML sync code computes it
    /// (Python's `round`: the nearest thousandth, ties to even on the exact value); from
    /// t = 101 on it stays 0.01.
    HarmonicRounded,
    /// A fixed beta in (0, 1] (the async code uses 0.25).
    Fixed(f32),
}

impl Beta {
    /// beta_t for the t-th estimate (t from 1).
    pub fn at(self, t: u64) -> f32 {
        match self {
            Beta::Harmonic => (1.0 / t as f64) as f32,
            Beta::HarmonicRounded => round_to_thousandths(1.0 / t as f64).max(0.01) as f32,
            Beta::Fixed(b) => b,
        }
    }
}

/// Where the momentum estimator starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MomentumStart {
    /// d_0 = 0, so d_1 = (1 - beta) g_1.
    #[default]
    Zero,
    /// d_1 = g_1 (the ICML synchronous code's worker).
    FirstGradient,
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
    clip: Option<f32>,
    momentum_start: MomentumStart,
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
            clip: None,
            momentum_start: MomentumStart::Zero,
        }
    }

    /// Rescales every minibatch gradient to norm at most `clip` (> 0) before it enters the
    /// estimator; `None` leaves gradients as they are. A gradient whose norm is not a finite
    /// number above `clip` (NaN) is left as it is, as the ICML code's comparison does.
    pub fn with_clip(mut self, clip: Option<f32>) -> Self {
        self.clip = clip;
        self
    }

    /// Where the momentum estimator starts (ignored by the other estimators).
    pub fn with_momentum_start(mut self, start: MomentumStart) -> Self {
        self.momentum_start = start;
        self
    }

    /// Draws this call's minibatch from the shard (with replacement), or takes `given`.
    fn take_sample(&mut self, given: Option<&[usize]>) {
        self.sample.clear();
        match given {
            Some(s) => self.sample.extend_from_slice(s),
            None => {
                for _ in 0..self.batch {
                    let k = self.rng.below(self.shard.len());
                    self.sample.push(self.shard[k]);
                }
            }
        }
    }

    /// The minibatch gradient of the current sample at `x` into `out` (clipped if asked);
    /// returns the minibatch loss.
    fn gradient_into(&self, task: &dyn Task, x: &[f32], flip: bool, out: &mut Vec<f32>) -> f64 {
        out.resize(x.len(), 0.0);
        let loss = task.gradient(x, &self.sample, flip, out);
        if let Some(c) = self.clip {
            let norm = out.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt();
            if norm > c as f64 {
                let s = (c as f64 / norm) as f32;
                out.iter_mut().for_each(|v| *v *= s);
            }
        }
        loss
    }

    /// Computes the next vector at query point `x` on a minibatch drawn from the shard; with
    /// `flip`, on flipped labels.
    pub fn estimate(&mut self, task: &dyn Task, x: &[f32], flip: bool) -> Vec<f32> {
        self.take_sample(None);
        self.estimate_current(task, x, flip)
    }

    /// [`WorkerState::estimate`] on the minibatch `sample` (training example indices, at
    /// least the task's minimum batch) instead of one drawn from the shard.
    pub fn estimate_on(&mut self, task: &dyn Task, x: &[f32], sample: &[usize], flip: bool) -> Vec<f32> {
        self.take_sample(Some(sample));
        self.estimate_current(task, x, flip)
    }

    fn estimate_current(&mut self, task: &dyn Task, x: &[f32], flip: bool) -> Vec<f32> {
        self.t += 1;
        let mut g = std::mem::take(&mut self.g);
        self.last_loss = self.gradient_into(task, x, flip, &mut g);
        self.g = g;
        match self.estimator {
            Estimator::Gradient => self.g.clone(),
            Estimator::Momentum { beta } => {
                match self.d.as_mut() {
                    Some(d) => {
                        for (di, gi) in d.iter_mut().zip(&self.g) {
                            *di = beta * *di + (1.0 - beta) * gi;
                        }
                    }
                    None => {
                        self.d = Some(match self.momentum_start {
                            MomentumStart::FirstGradient => self.g.clone(),
                            MomentumStart::Zero => self.g.iter().map(|gi| (1.0 - beta) * gi).collect(),
                        })
                    }
                }
                self.d.clone().unwrap_or_default()
            }
            Estimator::Storm { beta } => {
                let b = beta.at(self.t);
                let out = match (self.d.take(), self.x_prev.as_deref()) {
                    (Some(mut d), Some(xp)) => {
                        let mut gp = std::mem::take(&mut self.g_prev);
                        self.gradient_into(task, xp, flip, &mut gp);
                        self.g_prev = gp;
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

    /// STORM in the ICML synchronous order, before the step: evaluates the round's minibatch
    /// (`sample`, or one drawn from the shard) at `x` and keeps that gradient for
    /// [`WorkerState::storm_update`]; returns the estimate formed at the end of the previous
    /// round (by [`WorkerState::storm_prime`] in the first). Other estimators: the same as
    /// [`WorkerState::estimate_on`] (they have no second pass).
    pub fn storm_send(
        &mut self,
        task: &dyn Task,
        x: &[f32],
        sample: Option<&[usize]>,
        flip: bool,
    ) -> Vec<f32> {
        self.take_sample(sample);
        if !matches!(self.estimator, Estimator::Storm { .. }) {
            return self.estimate_current(task, x, flip);
        }
        let mut g = std::mem::take(&mut self.g_prev);
        self.last_loss = self.gradient_into(task, x, flip, &mut g);
        self.g_prev = g;
        self.d.clone().unwrap_or_else(|| vec![0.0; x.len()])
    }

    /// STORM in the ICML synchronous order, after the step: the estimate to send next round,
    /// `d = g(x_new; sample) + (1 - beta_t) (d - g(x; sample))` on the sample of the last
    /// [`WorkerState::storm_send`], with t counting the estimates formed (the first is
    /// `d = g`). A no-op for the other estimators.
    pub fn storm_update(&mut self, task: &dyn Task, x_new: &[f32], flip: bool) {
        let Estimator::Storm { beta } = self.estimator else {
            return;
        };
        self.t += 1;
        let b = beta.at(self.t);
        let mut g = std::mem::take(&mut self.g);
        self.gradient_into(task, x_new, flip, &mut g);
        match self.d.as_mut() {
            Some(d) => {
                for ((di, gi), gp) in d.iter_mut().zip(&g).zip(&self.g_prev) {
                    *di = gi + (1.0 - b) * (*di - gp);
                }
            }
            None => self.d = Some(g.clone()),
        }
        self.g = g;
    }

    /// The ICML synchronous code's first step: the first estimate, `d = g(x; sample)` (or on a
    /// sample drawn from the shard), formed before any round.
    pub fn storm_prime(&mut self, task: &dyn Task, x: &[f32], sample: Option<&[usize]>, flip: bool) {
        self.take_sample(sample);
        self.d = None;
        self.storm_update(task, x, flip);
    }

    /// Minibatch loss at the last query point.
    pub fn last_loss(&self) -> f64 {
        self.last_loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::task::synthetic::SyntheticTask;

    #[test]
    fn rounded_beta_follows_pythons_round_and_the_floor() {
        let b = Beta::HarmonicRounded;
        assert_eq!(b.at(1), 1.0);
        assert_eq!(b.at(3), 0.333);
        assert_eq!(b.at(16), 0.062); // 0.0625 is exact: ties to even, as Python's round
        assert_eq!(b.at(100), 0.01);
        assert_eq!(b.at(250), 0.01); // 0.004 floored
        assert_eq!(Beta::Harmonic.at(250), 0.004);
    }

    #[test]
    fn clipping_bounds_each_gradient_and_momentum_can_start_at_it() {
        let task = SyntheticTask::new(6, 40, 10, 3);
        let x = vec![5.0f32; 6];
        let sample: Vec<usize> = (0..4).collect();
        let raw = WorkerState::new(Estimator::Gradient, (0..40).collect(), 4, 0)
            .estimate_on(&task, &x, &sample, false);
        let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        assert!(norm(&raw) > 0.05, "{}", norm(&raw));
        let clip = (norm(&raw) / 2.0) as f32;
        let mut w = WorkerState::new(Estimator::Gradient, (0..40).collect(), 4, 0).with_clip(Some(clip));
        let clipped = w.estimate_on(&task, &x, &sample, false);
        assert!((norm(&clipped) - clip as f64).abs() < 1e-5 * clip as f64);
        for (c, r) in clipped.iter().zip(&raw) {
            assert!((c * 2.0 - r).abs() < 1e-5, "same direction, half the norm");
        }
        // A bound above the norm leaves the gradient alone.
        let mut w =
            WorkerState::new(Estimator::Gradient, (0..40).collect(), 4, 0).with_clip(Some(clip * 4.0));
        assert_eq!(w.estimate_on(&task, &x, &sample, false), raw);
        // Momentum from the first gradient: d_1 = g_1; from zero: d_1 = 0.1 g_1.
        let est = Estimator::Momentum { beta: 0.9 };
        let mut w =
            WorkerState::new(est, (0..40).collect(), 4, 0).with_momentum_start(MomentumStart::FirstGradient);
        assert_eq!(w.estimate_on(&task, &x, &sample, false), raw);
        let mut w = WorkerState::new(est, (0..40).collect(), 4, 0);
        let d = w.estimate_on(&task, &x, &sample, false);
        assert!(d.iter().zip(&raw).all(|(a, b)| (a - 0.1 * b).abs() < 1e-7));
    }

    #[test]
    fn the_after_step_order_sends_last_rounds_estimate() {
        // By hand: prime d = g(x0; s0); round 1 sends it, keeps g(x1; s1), then forms
        // d = g(x2; s1) + (1 - 1/2) (d - g(x1; s1)).
        let task = SyntheticTask::new(5, 30, 10, 1);
        let g = |x: &[f32], s: &[usize]| {
            let mut out = vec![0.0; 5];
            task.gradient(x, s, false, &mut out);
            out
        };
        let (x0, x1, x2) = (vec![0.1f32; 5], vec![0.3f32; 5], vec![-0.2f32; 5]);
        let (s0, s1): (Vec<usize>, Vec<usize>) = ((0..4).collect(), (4..8).collect());
        let mut w = WorkerState::new(
            Estimator::Storm {
                beta: Beta::HarmonicRounded,
            },
            (0..30).collect(),
            4,
            0,
        );
        w.storm_prime(&task, &x0, Some(&s0), false);
        assert_eq!(w.storm_send(&task, &x1, Some(&s1), false), g(&x0, &s0));
        w.storm_update(&task, &x2, false);
        let want: Vec<f32> = g(&x2, &s1)
            .iter()
            .zip(g(&x0, &s0))
            .zip(g(&x1, &s1))
            .map(|((a, d), b)| a + 0.5 * (d - b))
            .collect();
        let got = w.storm_send(&task, &x2, Some(&s0), false);
        assert!(
            got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?} vs {want:?}"
        );
    }
}
