//! A synthetic convex task of any dimension: binary logistic regression on Rademacher features.
//!
//! Example k's features are d signs (+-1/sqrt(d)) drawn from a seeded stream for k, so no data
//! matrix is stored and d = 10^6 costs only the parameter vector; labels come from a hidden
//! planted vector with 5% label noise. The gradient of one example is a full d-vector, which is
//! what the aggregation kernels see, so this task exercises them at scale.

use super::{Eval, Task};
use crate::train::rng::Rng;

/// Binary logistic regression with planted labels.
///
/// # Examples
///
/// ```
/// use byzagg::train::{SyntheticTask, Task};
///
/// let task = SyntheticTask::new(20, 200, 100, 3);
/// let mut g = vec![0.0; 20];
/// let loss = task.gradient(&task.init(0), &[0, 1, 2], false, &mut g);
/// assert!((loss - 2f64.ln()).abs() < 1e-6); // zero weights predict 1/2
/// ```
#[derive(Clone, Debug)]
pub struct SyntheticTask {
    d: usize,
    n_train: usize,
    n_test: usize,
    seed: u64,
    labels: Vec<u8>,
}

const NOISE: f64 = 0.05;
const MARGIN: f64 = 3.0;

impl SyntheticTask {
    /// `d` features, `n_train` training and `n_test` test examples, all from `seed`.
    pub fn new(d: usize, n_train: usize, n_test: usize, seed: u64) -> Self {
        let mut planted = vec![0.0f32; d];
        let mut r = Rng::stream(seed, 0x71A, 0);
        for p in planted.iter_mut() {
            *p = (MARGIN * r.normal()) as f32;
        }
        let mut t = SyntheticTask {
            d,
            n_train,
            n_test,
            seed,
            labels: Vec::new(),
        };
        let mut noise = Rng::stream(seed, 0x7015E, 0);
        t.labels = (0..n_train + n_test)
            .map(|k| {
                let y = (t.dot(k, &planted) > 0.0) as u8;
                if noise.uniform() < NOISE { 1 - y } else { y }
            })
            .collect();
        t
    }

    /// Calls `f(j, sign)` for the features of example `k` (train k < n_train, then test).
    fn features(&self, k: usize, mut f: impl FnMut(usize, f32)) {
        let s = 1.0 / (self.d as f32).sqrt();
        let mut r = Rng::stream(self.seed, 0xFEA7, k as u64);
        for start in (0..self.d).step_by(64) {
            let bits = r.next_u64();
            for j in start..(start + 64).min(self.d) {
                f(j, if bits >> (j - start) & 1 == 1 { s } else { -s });
            }
        }
    }

    fn dot(&self, k: usize, w: &[f32]) -> f64 {
        let mut z = 0.0f64;
        let mut acc = 0.0f32;
        self.features(k, |j, a| {
            acc += a * w[j];
            if j % 1024 == 1023 {
                z += acc as f64;
                acc = 0.0;
            }
        });
        z + acc as f64
    }
}

fn log1pexp(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

impl Task for SyntheticTask {
    fn describe(&self) -> String {
        format!(
            "synthetic logistic regression, d = {}, {} train / {} test",
            self.d, self.n_train, self.n_test
        )
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn classes(&self) -> usize {
        2
    }
    fn init(&self, _seed: u64) -> Vec<f32> {
        vec![0.0; self.d]
    }
    fn train_len(&self) -> usize {
        self.n_train
    }
    fn train_label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }
    fn gradient(&self, params: &[f32], examples: &[usize], flip: bool, grad: &mut [f32]) -> f64 {
        grad.fill(0.0);
        let mut loss = 0.0;
        let b = examples.len() as f64;
        for &k in examples {
            let y = self.labels[k] as f64;
            let y = if flip { 1.0 - y } else { y };
            let z = self.dot(k, params);
            // loss = log(1 + e^z) - y z; dloss/dz = sigmoid(z) - y
            loss += log1pexp(z) - y * z;
            let c = ((1.0 / (1.0 + (-z).exp()) - y) / b) as f32;
            self.features(k, |j, a| grad[j] += c * a);
        }
        loss / b
    }
    fn evaluate(&self, params: &[f32]) -> Eval {
        let (mut loss, mut correct) = (0.0, 0usize);
        for k in self.n_train..self.n_train + self.n_test {
            let y = self.labels[k] as f64;
            let z = self.dot(k, params);
            loss += log1pexp(z) - y * z;
            correct += ((z > 0.0) == (y == 1.0)) as usize;
        }
        Eval {
            loss: loss / self.n_test as f64,
            accuracy: correct as f64 / self.n_test as f64,
        }
    }
}
