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
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sharding {
    /// A seeded shuffle cut into equal parts.
    Iid,
    /// Sorted by label, then cut into equal parts: each worker sees one or two labels.
    LabelSkew,
    /// Dirichlet label split (Hsu et al. 2019, the benchmarks' heterogeneity knob): for each
    /// class, shares p ~ Dir(alpha, ..., alpha) over the m workers, and the class's examples
    /// (shuffled) dealt in those proportions. Small alpha: each worker sees few classes; large:
    /// close to iid. A worker left with no example takes one from the largest shard.
    Dirichlet {
        /// The concentration alpha > 0.
        alpha: f64,
    },
}

impl std::fmt::Display for Sharding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sharding::Iid => write!(f, "iid"),
            Sharding::LabelSkew => write!(f, "label-skew"),
            Sharding::Dirichlet { alpha } => write!(f, "dirichlet({alpha})"),
        }
    }
}

impl std::str::FromStr for Sharding {
    type Err = Error;
    /// `iid`, `label-skew`, or `dirichlet(ALPHA)` (also `dirichlet:ALPHA`).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "iid" => return Ok(Sharding::Iid),
            "label-skew" | "skew" => return Ok(Sharding::LabelSkew),
            _ => {}
        }
        let alpha = s
            .strip_prefix("dirichlet(")
            .and_then(|r| r.strip_suffix(')'))
            .or_else(|| s.strip_prefix("dirichlet:"));
        match alpha {
            Some(a) => match a.parse::<f64>() {
                Ok(alpha) if alpha > 0.0 && alpha.is_finite() => Ok(Sharding::Dirichlet { alpha }),
                _ => Err(Error::invalid(
                    "shards",
                    s,
                    "dirichlet's alpha must be a number > 0",
                )),
            },
            None => Err(Error::invalid(
                "shards",
                s,
                "one of iid, label-skew, dirichlet(ALPHA)",
            )),
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
///
/// let skewed = shards(&task, 3, "dirichlet(0.1)".parse()?, 1);
/// assert_eq!(skewed.iter().map(Vec::len).sum::<usize>(), 100);
/// assert!(skewed.iter().all(|s| !s.is_empty()));
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn shards(task: &dyn Task, m: usize, sharding: Sharding, seed: u64) -> Vec<Vec<usize>> {
    let n = task.train_len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::stream(seed, 0x5A4D, 0);
    rng.shuffle(&mut order);
    match sharding {
        Sharding::Iid => {}
        Sharding::LabelSkew => order.sort_by_key(|&i| task.train_label(i)), // stable: shuffled within a label
        Sharding::Dirichlet { alpha } => return dirichlet_shards(task, m, alpha, &order, &mut rng),
    }
    (0..m)
        .map(|k| order[k * n / m..(k + 1) * n / m].to_vec())
        .collect()
}

/// The Dirichlet label split of [`Sharding::Dirichlet`]; `order` is the shuffled training set.
fn dirichlet_shards(
    task: &dyn Task,
    m: usize,
    alpha: f64,
    order: &[usize],
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); task.classes()];
    for &i in order {
        if let Some(c) = by_class.get_mut(task.train_label(i)) {
            c.push(i);
        }
    }
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); m];
    for class in &by_class {
        let g: Vec<f64> = (0..m).map(|_| rng.gamma(alpha)).collect();
        let total: f64 = g.iter().sum();
        // Cumulative cut points, the last one exactly at the class size.
        let mut acc = 0.0;
        let mut start = 0;
        for (k, gk) in g.iter().enumerate() {
            acc += gk;
            let end = if k + 1 == m || total <= 0.0 {
                class.len()
            } else {
                ((acc / total) * class.len() as f64).round() as usize
            }
            .clamp(start, class.len());
            out[k].extend_from_slice(&class[start..end]);
            start = end;
        }
    }
    // Every worker needs examples to sample minibatches from.
    for k in 0..m {
        if out[k].is_empty()
            && let Some(big) = (0..m).max_by_key(|&j| out[j].len())
            && out[big].len() > 1
            && let Some(x) = out[big].pop()
        {
            out[k].push(x);
        }
    }
    out
}
