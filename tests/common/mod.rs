//! Shared test helpers: seeded data, backend selection with skip-or-require, comparison.
#![allow(dead_code, unused_macros)]

pub mod cli;

/// Stamps out, for each `name => Backend::X`, a module `name` holding one `#[test]` per listed
/// function of the test file, each calling it with that backend (candle's `test_device!`):
/// `backend_tests!([matches_reference, survives_nan]; cpu => Backend::Cpu, cuda => Backend::Cuda);`.
/// Each listed function takes the backend and skips or fails by `verify::require_or_skip`.
macro_rules! backend_tests {
    ($tests:tt; $($backend:ident => $variant:expr),* $(,)?) => {
        $( backend_tests!(@module $backend, $variant, $tests); )*
    };
    (@module $backend:ident, $variant:expr, [$($test:ident),* $(,)?]) => {
        mod $backend {
            // The backend expressions name the test file's imports (`Backend::Cpu`).
            #[allow(unused_imports)]
            use super::*;
            $( #[test] fn $test() { super::$test($variant) } )*
        }
    };
}

use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Rule, SplitMix64};

/// Seeded test data from the crate's own SplitMix64, so runs are reproducible.
pub struct Rng(pub u64);

impl Rng {
    /// Runs `f` on a SplitMix64 stream whose state is ours.
    fn draw<T>(&mut self, f: impl FnOnce(&mut SplitMix64) -> T) -> T {
        let mut g = SplitMix64(self.0);
        let value = f(&mut g);
        self.0 = g.0;
        value
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.draw(SplitMix64::unit)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.draw(|g| g.below(n as u64)) as usize
    }
    /// n rows of d values: a common mean plus noise, so rules have something to agree on.
    pub fn rows(&mut self, n: usize, d: usize) -> Vec<f32> {
        let center: Vec<f64> = (0..d).map(|_| self.range(-3.0, 3.0)).collect();
        (0..n)
            .flat_map(|_| {
                center
                    .iter()
                    .map(|c| (c + self.range(-1.0, 1.0)) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The weight kinds every rule is tested with.
#[derive(Clone, Copy, Debug)]
pub enum Weights {
    Uniform,
    Integer,
    Real,
}

impl Weights {
    pub const ALL: [Weights; 3] = [Weights::Uniform, Weights::Integer, Weights::Real];

    pub fn make(self, n: usize, rng: &mut Rng) -> Option<Vec<f64>> {
        match self {
            Weights::Uniform => None,
            Weights::Integer => Some((0..n).map(|_| (1 + rng.below(4)) as f64).collect()),
            Weights::Real => Some((0..n).map(|_| rng.range(0.1, 3.0)).collect()),
        }
    }
}

/// The backend if it is available here; otherwise `None` after printing why, or a panic if
/// `BYZAGG_REQUIRE` (a comma-separated list) names it.
pub fn backend_or_skip(backend: Backend) -> Option<Backend> {
    match backend.available() {
        Ok(()) => Some(backend),
        Err(e) => {
            byzagg::verify::require_or_skip(backend.name(), e);
            None
        }
    }
}

/// Aggregates `data` (n rows) with `rule` on `backend`.
pub fn run(
    rule: &Rule,
    backend: Backend,
    data: &[f32],
    n: usize,
    weights: Option<&[f64]>,
    share: Option<ByzantineShare>,
) -> byzagg::Result<Vec<f32>> {
    let mut batch = Batch::from_contiguous(data, n)?;
    if let Some(w) = weights {
        batch = batch.with_weights(w)?;
    }
    let mut agg = Aggregator::new(rule.clone(), backend)?;
    if let Some(t) = share {
        agg = agg.with_byzantine_share(t);
    }
    agg.aggregate(&batch)
}

/// Whether `a` is within `tol * scale` of `b` in every coordinate, where `scale` is the
/// largest finite |b| (at least 1); equal non-finite values (NaN and NaN, an infinity and
/// itself) count as equal, a non-finite value against a finite one never does.
pub fn close(a: &[f32], b: &[f32], tol: f64) -> bool {
    let scale = b
        .iter()
        .filter(|v| v.is_finite())
        .fold(1.0f64, |m, v| m.max(f64::from(v.abs())));
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            if x.is_finite() && y.is_finite() {
                approx::abs_diff_eq!(f64::from(*x), f64::from(*y), epsilon = tol * scale)
            } else {
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
            }
        })
}

/// Four shipped MNIST test images, normalised as the papers' code does ((p / 255 - 0.1307) /
/// 0.3081), with their labels: a real minibatch for the CNNs' gradient checks.
pub fn mnist_batch() -> Vec<(Vec<f32>, usize)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let images = byzagg::train::Idx::read(&dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = byzagg::train::Idx::read(&dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    (0..4)
        .map(|k| {
            let px = &images.data[k * 784..(k + 1) * 784];
            (
                px.iter().map(|&p| (p as f32 / 255.0 - 0.1307) / 0.3081).collect(),
                labels.data[k] as usize,
            )
        })
        .collect()
}
