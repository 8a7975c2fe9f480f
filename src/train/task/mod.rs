//! Learning tasks: a model, its training examples and a held-out test set.
//!
//! A task computes the mean loss and gradient over a list of training examples (optionally with
//! flipped labels, for the label-flipping attack) and evaluates a parameter vector on its test
//! set. Workers only ever see indices into the training set, so sharding and sampling live in
//! the driver, not in the task.

pub mod cnn;
pub(crate) mod dense;
pub mod idx;
pub mod mlp;
pub mod mnist;
pub mod simple_cnn;
pub mod synthetic;

use super::rng::Rng;
use crate::error::{Error, Result};

/// Test-set loss and accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Mean loss (cross-entropy for classification).
    pub loss: f64,
    /// Share of test examples classified correctly, in [0, 1].
    pub accuracy: f64,
}

/// A supervised learning task.
pub trait Task: Send + Sync {
    /// A short description (for logs and the CSV).
    fn describe(&self) -> String;
    /// Number of parameters d.
    fn dim(&self) -> usize;
    /// Number of classes (labels are 0..classes).
    fn classes(&self) -> usize;
    /// Initial parameters, seeded. A task with running state that is not a parameter (the
    /// CNN's BatchNorm statistics) resets it here: every run calls `init` once, first.
    fn init(&self, seed: u64) -> Vec<f32>;
    /// The smallest minibatch [`Task::gradient`] accepts (2 for BatchNorm in training mode).
    fn min_batch(&self) -> usize {
        1
    }
    /// Number of training examples.
    fn train_len(&self) -> usize;
    /// Label of training example `i` (for label-skewed shards).
    fn train_label(&self, i: usize) -> usize;
    /// Writes the mean gradient over `examples` into `grad` (length d) and returns the mean
    /// loss; with `flip`, label y is replaced by `classes - 1 - y`. `examples` holds at least
    /// [`Task::min_batch`] indices (the drivers check the batch size before a run; calling with
    /// fewer is a contract violation and may panic).
    fn gradient(&self, params: &[f32], examples: &[usize], flip: bool, grad: &mut [f32]) -> f64;
    /// Loss and accuracy on the test set.
    fn evaluate(&self, params: &[f32]) -> Eval;
}

/// How training examples are dealt to workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharding {
    /// A seeded shuffle cut into equal parts.
    Iid,
    /// Sorted by label, then cut into equal parts: each worker sees one or two labels.
    LabelSkew,
}

impl std::str::FromStr for Sharding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "iid" => Ok(Sharding::Iid),
            "label-skew" | "skew" => Ok(Sharding::LabelSkew),
            _ => Err(Error::invalid("shards", s, "one of iid, label-skew")),
        }
    }
}

/// Deals the training set into `m` shards (every example in exactly one shard).
///
/// # Examples
///
/// ```
/// use byzagg::train::{Sharding, SyntheticTask, shards};
///
/// let task = SyntheticTask::new(10, 100, 50, 0);
/// let s = shards(&task, 3, Sharding::Iid, 1);
/// assert_eq!(s.iter().map(Vec::len).sum::<usize>(), 100);
/// ```
pub fn shards(task: &dyn Task, m: usize, sharding: Sharding, seed: u64) -> Vec<Vec<usize>> {
    let n = task.train_len();
    let mut order: Vec<usize> = (0..n).collect();
    Rng::stream(seed, 0x5A4D, 0).shuffle(&mut order);
    if sharding == Sharding::LabelSkew {
        order.sort_by_key(|&i| task.train_label(i)); // stable: shuffled within a label
    }
    (0..m)
        .map(|k| order[k * n / m..(k + 1) * n / m].to_vec())
        .collect()
}
