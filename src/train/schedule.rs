//! Who arrives next: a seeded arrival process over worker speeds, with the Byzantine share
//! bounded by lambda (SPEC section 6).
//!
//! Worker i is chosen with probability proportional to 1, (i+1) or (i+1)^2. Byzantine workers
//! are the last f ids (the fastest under non-uniform speeds). The Byzantine schedule decides
//! whether an arrival is Byzantine: every ceil(1/lambda)-th arrival (the authors' code), each
//! arrival independently with probability lambda, or free (whoever the speeds pick). Then a
//! worker of that kind is drawn by speed.

use std::str::FromStr;

use super::rng::Rng;
use crate::error::{Error, Result};

/// Relative worker speeds (arrival probabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speeds {
    /// All equal.
    Uniform,
    /// Proportional to i + 1.
    Linear,
    /// Proportional to (i + 1)^2.
    Quadratic,
}

impl Speeds {
    /// Arrival probabilities (unnormalised) of m workers.
    pub fn weights(self, m: usize) -> Vec<f64> {
        (0..m)
            .map(|i| match self {
                Speeds::Uniform => 1.0,
                Speeds::Linear => (i + 1) as f64,
                Speeds::Quadratic => ((i + 1) * (i + 1)) as f64,
            })
            .collect()
    }
}

impl FromStr for Speeds {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "uniform" => Ok(Speeds::Uniform),
            "linear" => Ok(Speeds::Linear),
            "quadratic" | "squared" => Ok(Speeds::Quadratic),
            _ => Err(Error::invalid("arrival", s, "one of uniform, linear, quadratic")),
        }
    }
}

/// How Byzantine arrivals are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByzSchedule {
    /// Every ceil(1/lambda)-th arrival is Byzantine (the NeurIPS authors' code).
    Periodic,
    /// Each arrival is Byzantine with probability lambda.
    Random,
    /// No forcing: the speeds pick any worker, Byzantine or not.
    Free,
}

impl FromStr for ByzSchedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "periodic" => Ok(ByzSchedule::Periodic),
            "random" => Ok(ByzSchedule::Random),
            "free" => Ok(ByzSchedule::Free),
            _ => Err(Error::invalid("byz_schedule", s, "one of periodic, random, free")),
        }
    }
}

/// A seeded arrival process.
///
/// # Examples
///
/// ```
/// use byzagg::train::{ByzSchedule, Schedule, Speeds};
///
/// // 5 workers, the last 2 Byzantine, every ceil(1/0.4) = 3rd arrival Byzantine.
/// let mut s = Schedule::new(5, 2, Speeds::Quadratic, ByzSchedule::Periodic, 0.4, 7)?;
/// let arrivals: Vec<usize> = (0..6).map(|_| s.next_arrival()).collect();
/// assert!(s.is_byzantine(arrivals[2]) && s.is_byzantine(arrivals[5]));
/// assert!(!s.is_byzantine(arrivals[0]) && !s.is_byzantine(arrivals[1]));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    speeds: Vec<f64>,
    m: usize,
    f: usize,
    kind: ByzSchedule,
    lambda: f64,
    rng: Rng,
    t: u64,
}

impl Schedule {
    /// m workers of which the last f are Byzantine.
    pub fn new(
        m: usize,
        f: usize,
        speeds: Speeds,
        kind: ByzSchedule,
        lambda: f64,
        seed: u64,
    ) -> Result<Self> {
        if m == 0 {
            return Err(Error::invalid("workers", 0, "need at least one worker"));
        }
        if f >= m {
            return Err(Error::invalid(
                "byzantine",
                f,
                format!("must be below the number of workers {m}"),
            ));
        }
        if !(0.0..0.5).contains(&lambda) {
            return Err(Error::invalid("lambda", lambda, "must be in [0, 1/2)"));
        }
        Ok(Schedule {
            speeds: speeds.weights(m),
            m,
            f,
            kind,
            lambda,
            rng: Rng::stream(seed, 0x5C4E, 0),
            t: 0,
        })
    }

    /// Whether worker `i` is Byzantine.
    pub fn is_byzantine(&self, i: usize) -> bool {
        i >= self.m - self.f
    }

    /// Whether the next update must be Byzantine: `Some(kind)` under the periodic and random
    /// schedules, `None` under the free one (whoever arrives). Advances the schedule by one
    /// update; [`Schedule::next_arrival`] calls it, and the threads mode calls it alone, since
    /// there the OS, not the speeds, picks who arrives.
    pub fn next_kind(&mut self) -> Option<bool> {
        self.t += 1;
        match self.kind {
            _ if self.f == 0 => Some(false),
            ByzSchedule::Periodic => {
                Some(self.lambda > 0.0 && self.t.is_multiple_of((1.0 / self.lambda).ceil() as u64))
            }
            ByzSchedule::Random => Some(self.rng.uniform() < self.lambda),
            ByzSchedule::Free => None,
        }
    }

    /// The next arriving worker.
    pub fn next_arrival(&mut self) -> usize {
        let Some(byz) = self.next_kind() else {
            return self.rng.weighted(&self.speeds);
        };
        let honest = self.m - self.f;
        let w: Vec<f64> = (0..self.m)
            .map(|i| if (i >= honest) == byz { self.speeds[i] } else { 0.0 })
            .collect();
        self.rng.weighted(&w)
    }
}
