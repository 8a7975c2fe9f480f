//! The server's optimizer (SPEC section 6): plain SGD, momentum SGD, and mu2-SGD's AnyTime
//! averaging, each taking one step per aggregated update.
//!
//! State is an iterate `w` and a query point `x` (where workers evaluate gradients). For SGD and
//! momentum `x = w`; for AnyTime, `w <- w - eta * agg`, `x <- (1 - gamma_t) x + gamma_t w` with
//! `gamma_t = 2/(t+1)` (t counts steps from 1, so the first step sets x = w) or a fixed gamma.
//! The arithmetic is f32 in a fixed order, so a seeded run is reproducible bit for bit.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// AnyTime's averaging weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gamma {
    /// gamma_t = 2 / (t + 1): the weighted average with alpha_t = t (the sync code).
    AnyTime,
    /// gamma_t = max(t / (1 + ... + t) rounded to 3 decimals, 0.01), as the ICML sync code
    /// computes it (Python's `round`); from t = 200 on it stays 0.01.
    AnyTimeRounded,
    /// A fixed gamma in (0, 1] (the async code uses 0.1).
    Fixed(f32),
}

/// Which step the server takes with the aggregate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServerOptimizer {
    /// `w <- w - eta * agg`, query at `w`.
    Sgd,
    /// Server-side momentum: `m <- beta m + (1 - beta) agg`, `w <- w - eta m`, query at `w`.
    Momentum {
        /// Momentum factor in [0, 1).
        beta: f32,
    },
    /// mu2-SGD's AnyTime averaging: `w <- w - eta agg`, query at `x <- (1-gamma) x + gamma w`.
    AnyTime {
        /// The averaging weight.
        gamma: Gamma,
    },
}

impl ServerOptimizer {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            ServerOptimizer::Sgd => Ok(()),
            ServerOptimizer::Momentum { beta } if (0.0..1.0).contains(&beta) => Ok(()),
            ServerOptimizer::Momentum { beta } => {
                Err(Error::invalid("beta", beta, "momentum needs 0 <= beta < 1"))
            }
            ServerOptimizer::AnyTime {
                gamma: Gamma::Fixed(g),
            } if g > 0.0 && g <= 1.0 => Ok(()),
            ServerOptimizer::AnyTime {
                gamma: Gamma::Fixed(g),
            } => Err(Error::invalid("gamma", g, "AnyTime needs 0 < gamma <= 1")),
            ServerOptimizer::AnyTime { .. } => Ok(()),
        }
    }
}

/// The optimizer's state: iterate, query point, momentum buffer, step count.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    kind: ServerOptimizer,
    lr: f32,
    w: Vec<f32>,
    /// Query point, kept only for AnyTime (otherwise it is `w`).
    x: Option<Vec<f32>>,
    m: Option<Vec<f32>>,
    steps: u64,
}

impl OptimizerState {
    /// Starts at `init` (w = x = init).
    pub fn new(kind: ServerOptimizer, lr: f32, init: Vec<f32>) -> Result<Self> {
        kind.validate()?;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid(
                "lr",
                lr,
                "the learning rate must be finite and > 0",
            ));
        }
        let d = init.len();
        Ok(OptimizerState {
            kind,
            lr,
            x: matches!(kind, ServerOptimizer::AnyTime { .. }).then(|| init.clone()),
            m: matches!(kind, ServerOptimizer::Momentum { .. }).then(|| vec![0.0; d]),
            w: init,
            steps: 0,
        })
    }

    /// One step with the aggregate `agg` (length d, checked by the caller).
    pub fn step(&mut self, agg: &[f32]) {
        self.steps += 1;
        let lr = self.lr;
        match self.kind {
            ServerOptimizer::Sgd => axpy(&mut self.w, -lr, agg),
            ServerOptimizer::Momentum { beta } => {
                let m = self.m.get_or_insert_with(|| vec![0.0; agg.len()]);
                for (mi, a) in m.iter_mut().zip(agg) {
                    *mi = beta * *mi + (1.0 - beta) * a;
                }
                axpy(&mut self.w, -lr, m);
            }
            ServerOptimizer::AnyTime { gamma } => {
                axpy(&mut self.w, -lr, agg);
                let t = self.steps as f64;
                let g = match gamma {
                    Gamma::AnyTime => (2.0 / (t + 1.0)) as f32,
                    Gamma::AnyTimeRounded => round_to_thousandths(t / (t * (t + 1.0) / 2.0)).max(0.01) as f32,
                    Gamma::Fixed(g) => g,
                };
                let x = self.x.get_or_insert_with(|| self.w.clone());
                for (xi, wi) in x.iter_mut().zip(&self.w) {
                    *xi = (1.0 - g) * *xi + g * wi;
                }
            }
        }
    }

    /// Where workers evaluate gradients (and where the model is evaluated).
    pub fn query_point(&self) -> &[f32] {
        self.x.as_deref().unwrap_or(&self.w)
    }

    /// The iterate w.
    pub fn iterate(&self) -> &[f32] {
        &self.w
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

/// `x` rounded to 3 decimals as Python's `round(x, 3)` does it: the nearest thousandth of the
/// exact binary value, ties to even (Rust's formatting rounds the same way), read back as
/// the nearest f64.
pub(crate) fn round_to_thousandths(x: f64) -> f64 {
    format!("{x:.3}").parse().unwrap_or(x)
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// The three methods compared in the papers: each pairs a worker estimator with a server step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// mu2-SGD: STORM workers, AnyTime server.
    Mu2,
    /// Worker momentum (beta 0.9) with plain server steps.
    Momentum,
    /// Plain gradients, plain steps.
    Sgd,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 3] = [Method::Mu2, Method::Momentum, Method::Sgd];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Mu2 => "mu2",
            Method::Momentum => "momentum",
            Method::Sgd => "sgd",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::invalid("optimizer", s, "one of mu2, momentum, sgd"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anytime_first_step_sets_x_to_w_then_averages() {
        let mut o = OptimizerState::new(
            ServerOptimizer::AnyTime {
                gamma: Gamma::AnyTime,
            },
            1.0,
            vec![0.0],
        )
        .unwrap();
        o.step(&[-1.0]); // w = 1, gamma_1 = 1 -> x = 1
        assert_eq!(o.query_point(), &[1.0]);
        o.step(&[-1.0]); // w = 2, gamma_2 = 2/3 -> x = 1/3 + 4/3
        assert!((o.query_point()[0] - 5.0 / 3.0).abs() < 1e-6);
        assert_eq!(o.iterate(), &[2.0]);
    }

    #[test]
    fn rounded_anytime_weights_follow_the_sync_code() {
        let mut o = OptimizerState::new(
            ServerOptimizer::AnyTime {
                gamma: Gamma::AnyTimeRounded,
            },
            1.0,
            vec![0.0],
        )
        .unwrap();
        o.step(&[-1.0]); // gamma_1 = 1: x = w = 1
        o.step(&[-1.0]); // gamma_2 = 0.667 (2/3 rounded): x = 0.333 + 0.667 * 2
        assert!((o.query_point()[0] - (0.333 + 0.667 * 2.0)).abs() < 1e-6);
        assert_eq!(round_to_thousandths(0.0625), 0.062);
        assert_eq!(round_to_thousandths(2.0 / 3.0), 0.667);
        for _ in 2..300 {
            o.step(&[0.0]);
        }
        // gamma_300 = 2/301 = 0.00664, floored at 0.01: x moves 1% of the way to w.
        let (x, w) = (o.query_point()[0], o.iterate()[0]);
        o.step(&[0.0]);
        assert!((o.query_point()[0] - (0.99 * x + 0.01 * w)).abs() < 1e-6);
    }

    #[test]
    fn momentum_and_sgd_query_at_w() {
        let mut o = OptimizerState::new(ServerOptimizer::Momentum { beta: 0.5 }, 1.0, vec![0.0]).unwrap();
        o.step(&[2.0]);
        assert_eq!(o.query_point(), &[-1.0]);
        assert!(OptimizerState::new(ServerOptimizer::Sgd, 0.0, vec![0.0]).is_err());
    }
}
