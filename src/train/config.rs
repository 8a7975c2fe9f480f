//! Everything one training run needs, as plain data (the CLI builds it from flags and presets).

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::rule::Rule;

use super::attack::Attack;
use super::deal::Sampling;
use super::optimizer::{Gamma, Method, ServerOptimizer};
use super::schedule::{ByzSchedule, Speeds};
use super::server::Weighting;
use super::task::Sharding;
use super::worker::{Beta, Estimator, MomentumStart};

/// One run's configuration.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Workers m.
    pub workers: usize,
    /// Byzantine workers f (the last f ids).
    pub byzantine: usize,
    /// The aggregation rule.
    pub rule: Rule,
    /// The backend that aggregates.
    pub backend: Backend,
    /// Byzantine share lambda: the schedule's bound and the rule's default tolerance.
    pub lambda: f64,
    /// Weights = update counts, or uniform.
    pub weighting: Weighting,
    /// mu2-SGD, momentum or SGD.
    pub method: Method,
    /// Learning rate eta.
    pub lr: f32,
    /// Minibatch size per update.
    pub batch: usize,
    /// STORM's beta: `None` is beta_t = 1/t.
    pub beta: Option<f32>,
    /// AnyTime's gamma: `None` is gamma_t = 2/(t+1).
    pub gamma: Option<f32>,
    /// The momentum baseline's beta (0.9).
    pub momentum: f32,
    /// Where the momentum baseline's estimator starts (0, or the first gradient as the ICML
    /// sync code).
    pub momentum_start: MomentumStart,
    /// Round beta_t = 1/t and gamma_t = 2/(t+1) to 3 decimals with a floor of 0.01, as the
    /// ICML sync code (only where beta and gamma follow their schedules).
    pub round_schedules: bool,
    /// Rescale every worker's minibatch gradient to norm at most this before it enters the
    /// estimator (the ICML sync code's 2.0); `None`: no clipping.
    pub clip: Option<f32>,
    /// Where workers' minibatches come from: their shards, or dealt rounds (sync mode only).
    pub sampling: Sampling,
    /// STORM's order in sync mode: a fresh sample evaluated at x_t and x_{t-1}, or the ICML
    /// sync code's second pass after the step (sync mode only).
    pub storm_order: StormOrder,
    /// Arrival probabilities.
    pub speeds: Speeds,
    /// How Byzantine arrivals are placed.
    pub byz_schedule: ByzSchedule,
    /// What Byzantine workers send.
    pub attack: Attack,
    /// Server updates (arrivals) to run.
    pub iterations: u64,
    /// Evaluate on the test set every this many updates (and at the end).
    pub eval_every: u64,
    /// Seed of everything: shards, samples, schedule, noise, initial model.
    pub seed: u64,
    /// How the training set is dealt to workers.
    pub sharding: Sharding,
    /// Threads mode only: worker i waits this many microseconds times (fastest speed / its
    /// speed) before each send, to emulate slow workers.
    pub thread_delay_us: u64,
    /// Keep the workers' latest vectors resident on the backend (`Server::keep_resident`):
    /// d values move per arrival instead of m x d. `None`: on GPU backends, not on the CPU;
    /// `Some(false)` measures the host path.
    pub resident: Option<bool>,
}

impl Default for TrainConfig {
    /// The NeurIPS async MNIST setup: 17 workers, 8 Byzantine, lambda = 0.4, arrival
    /// proportional to (i+1)^2, lr 0.01, batch 16, beta 0.25, gamma 0.1, w-CTMA over w-CWMed,
    /// sign flipping.
    fn default() -> Self {
        TrainConfig {
            workers: 17,
            byzantine: 8,
            rule: Rule::ctma(Rule::CwMed, None),
            backend: Backend::Auto,
            lambda: 0.4,
            weighting: Weighting::Counts,
            method: Method::Mu2,
            lr: 0.01,
            batch: 16,
            beta: Some(0.25),
            gamma: Some(0.1),
            momentum: 0.9,
            momentum_start: MomentumStart::Zero,
            round_schedules: false,
            clip: None,
            sampling: Sampling::Shards,
            storm_order: StormOrder::FreshSample,
            speeds: Speeds::Quadratic,
            byz_schedule: ByzSchedule::Periodic,
            attack: Attack::SignFlip,
            iterations: 1000,
            eval_every: 100,
            seed: 0,
            sharding: Sharding::Iid,
            thread_delay_us: 0,
            resident: None,
        }
    }
}

/// When a STORM worker evaluates its sample at the second point (see `train/worker.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StormOrder {
    /// Each round draws a sample and evaluates it at x_t and x_{t-1} (the NeurIPS code).
    #[default]
    FreshSample,
    /// The round's sample at x_t before the step and at x_{t+1} after it, the estimate sent
    /// next round, after a first step that only forms d = g(x_0) (the ICML sync code).
    AfterStep,
}

impl std::str::FromStr for StormOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fresh-sample" => Ok(StormOrder::FreshSample),
            "after-step" => Ok(StormOrder::AfterStep),
            _ => Err(Error::invalid("storm_order", s, "fresh-sample or after-step")),
        }
    }
}

impl TrainConfig {
    /// The honest workers' estimator for the method.
    pub fn estimator(&self) -> Estimator {
        let harmonic = if self.round_schedules {
            Beta::HarmonicRounded
        } else {
            Beta::Harmonic
        };
        match self.method {
            Method::Mu2 => Estimator::Storm {
                beta: self.beta.map_or(harmonic, Beta::Fixed),
            },
            Method::Momentum => Estimator::Momentum { beta: self.momentum },
            Method::Sgd => Estimator::Gradient,
        }
    }

    /// The server's step for the method.
    pub fn server_optimizer(&self) -> ServerOptimizer {
        match self.method {
            Method::Mu2 => ServerOptimizer::AnyTime {
                gamma: self.gamma.map_or(
                    if self.round_schedules {
                        Gamma::AnyTimeRounded
                    } else {
                        Gamma::AnyTime
                    },
                    Gamma::Fixed,
                ),
            },
            Method::Momentum | Method::Sgd => ServerOptimizer::Sgd,
        }
    }

    /// Checks what the parts do not check themselves.
    pub fn validate(&self) -> Result<()> {
        // The models' products run at the CPU's SIMD level whatever the aggregation backend, so
        // an invalid BYZAGG_SIMD is an error here too, not only where the cpu backend reads it.
        crate::cpu::simd_cap()?;
        if self.batch == 0 {
            return Err(Error::invalid("batch", 0, "need at least one example per update"));
        }
        if self.eval_every == 0 {
            return Err(Error::invalid("eval_every", 0, "must be >= 1"));
        }
        if let Some(b) = self.beta
            && !(b > 0.0 && b <= 1.0)
        {
            return Err(Error::invalid("beta", b, "STORM needs 0 < beta <= 1"));
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid(
                "clip",
                c,
                "the gradient norm bound must be finite and > 0",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::invalid("momentum", self.momentum, "must be in [0, 1)"));
        }
        self.server_optimizer().validate()
    }
}
