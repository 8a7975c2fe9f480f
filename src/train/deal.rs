//! How a synchronous round's workers get their minibatches.
//!
//! [`Sampling::Shards`]: each worker draws its own minibatch with replacement from its shard
//! (the training set dealt by [`Sharding`](super::task::Sharding)). [`Sampling::Epochs`]: the
//! ICML synchronous code's data loader: every round takes the next `m b` examples of a seeded
//! pass over the whole training set (no replacement, a new permutation each epoch, an
//! incomplete last round skipped) and cuts them into m minibatches of b, worker i getting the
//! i-th: the honest workers the first rows, the Byzantine ones (the last f ids) the last. The
//! code's first step takes its minibatches from a separate pass ([`EpochDealer::priming_round`]).

use std::fmt;
use std::str::FromStr;

use super::rng::Rng;
use crate::error::{Error, Result};

/// Where a worker's minibatches come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sampling {
    /// Each worker draws with replacement from its own shard.
    #[default]
    Shards,
    /// Rounds dealt from epoch-wise passes over the whole training set (synchronous mode).
    Epochs,
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sampling::Shards => "shards",
            Sampling::Epochs => "epochs",
        })
    }
}

impl FromStr for Sampling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shards" => Ok(Sampling::Shards),
            "epochs" => Ok(Sampling::Epochs),
            _ => Err(Error::invalid("sampling", s, "shards or epochs")),
        }
    }
}

/// Deals rounds of `workers` minibatches of `batch` examples from seeded passes over the
/// training set.
///
/// # Examples
///
/// ```
/// use byzagg::train::EpochDealer;
///
/// let mut deal = EpochDealer::new(10, 2, 2, 0)?; // 10 examples, rounds of 2 x 2
/// let mut seen = Vec::new();
/// for _ in 0..2 {
///     let round = deal.next_round();
///     assert_eq!((round.len(), round[0].len()), (2, 2));
///     seen.extend(round.concat());
/// }
/// seen.sort();
/// seen.dedup();
/// assert_eq!(seen.len(), 8); // one epoch: no example twice (2 of the 10 skipped)
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EpochDealer {
    workers: usize,
    batch: usize,
    order: Vec<usize>,
    pos: usize,
    rng: Rng,
    priming: Rng,
}

impl EpochDealer {
    /// A dealer over `n` training examples; errors if one round (`workers x batch`) needs
    /// more than `n`.
    pub fn new(n: usize, workers: usize, batch: usize, seed: u64) -> Result<Self> {
        let round = workers.saturating_mul(batch);
        if round == 0 || round > n {
            return Err(Error::invalid(
                "batch",
                batch,
                format!(
                    "a dealt round of {workers} workers x {batch} examples must fit the {n} training examples"
                ),
            ));
        }
        let mut rng = Rng::stream(seed, 0xDEA1, 0);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        Ok(EpochDealer {
            workers,
            batch,
            order,
            pos: 0,
            rng,
            priming: Rng::stream(seed, 0xDEA1, 1),
        })
    }

    /// The next round: `workers` minibatches, in worker order.
    pub fn next_round(&mut self) -> Vec<Vec<usize>> {
        let round = self.workers * self.batch;
        if self.pos + round > self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.pos = 0;
        }
        let out = self.cut(&self.order[self.pos..self.pos + round]);
        self.pos += round;
        out
    }

    /// A round from a pass of its own (the first round of a fresh permutation), which leaves
    /// the epochs' order untouched: the ICML code's first step draws its batch so.
    pub fn priming_round(&mut self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.order.len()).collect();
        self.priming.shuffle(&mut order);
        self.cut(&order[..self.workers * self.batch])
    }

    fn cut(&self, rows: &[usize]) -> Vec<Vec<usize>> {
        rows.chunks_exact(self.batch).map(<[usize]>::to_vec).collect()
    }
}
