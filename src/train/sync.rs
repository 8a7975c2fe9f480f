//! The synchronous trainer (the ICML setting): every round, all m workers compute a fresh
//! vector at the current query point, the f Byzantine ones replace theirs by the attack's, and
//! the server aggregates the m vectors with equal weights and takes one optimizer step.
//!
//! The rule assumes f Byzantine rows out of m (the authors' sync code passes the Byzantine
//! count to every aggregator). Workers compute one after the other, in id order, so a seeded
//! run is reproducible bit for bit (a model's own kernels may still use several threads).
//!
//! A worker keeps an estimator if it is honest, or if the attack starts from its own honest
//! estimate (sign and label flipping, and the `none` control): as in the authors' code, the
//! Byzantine workers of the omniscient attacks (empire, ALIE) compute nothing. With
//! `sampling = epochs` the round's minibatches are dealt from passes over the training set
//! (`deal.rs`); with `storm_order = after-step` mu2-SGD's workers follow the authors' order: a
//! first step forms every estimator at x_0 on a batch of its own, then each round sends the
//! estimates formed in the previous one, takes the server's step, and forms the next
//! estimates on the round's minibatches at the new query point.

use crate::error::{Error, Result};
use crate::rule::ByzantineShare;

use super::adversary::Adversary;
use super::attack::HonestView;
use super::config::{StormOrder, TrainConfig};
use super::deal::{EpochDealer, Sampling};
use super::optimizer::Method;
use super::simulate::{ArrivalLog, RunResult, Window, setup_with_share};
use super::task::{Sharding, Task};

/// Runs `cfg.iterations` synchronous rounds (one server update each); `on_step` is called
/// after every round. The asynchronous settings (arrival speeds, Byzantine schedule, lambda,
/// weighting) do not apply: every worker reports every round, with weight 1.
///
/// # Examples
///
/// ```
/// use byzagg::train::{Attack, SyntheticTask, TrainConfig, simulate_sync};
/// use byzagg::Backend;
///
/// let task = SyntheticTask::new(20, 400, 200, 0);
/// let cfg = TrainConfig { workers: 5, byzantine: 2, backend: Backend::Reference, lr: 0.5,
///     iterations: 30, eval_every: 10, attack: Attack::SignFlip, ..TrainConfig::default() };
/// let run = simulate_sync(&task, &cfg, &mut |_| {})?;
/// assert_eq!(run.arrivals.len(), 30 * 5);
/// assert_eq!(run.counts, vec![30; 5]);
/// assert!((run.records.last().unwrap().byzantine_share - 0.4).abs() < 1e-12);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn simulate_sync(task: &dyn Task, cfg: &TrainConfig, on_step: &mut dyn FnMut(u64)) -> Result<RunResult> {
    let (m, f) = (cfg.workers, cfg.byzantine);
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
    if cfg.sampling == Sampling::Epochs && cfg.sharding != Sharding::Iid {
        // The dealer passes over the whole training set: shards would be ignored, and a run
        // labelled non-iid would be an iid one.
        return Err(Error::invalid(
            "sharding",
            cfg.sharding,
            "applies only with sampling=shards (sampling=epochs deals every worker from passes over the whole training set)",
        ));
    }
    let (mut server, mut workers) = setup_with_share(task, cfg, ByzantineShare::F(f))?;
    let byzantine: Vec<bool> = (0..m).map(|i| i >= m - f).collect();
    let keeps: Vec<bool> = (0..m)
        .map(|i| !byzantine[i] || cfg.attack.needs_estimate())
        .collect();
    let flips: Vec<bool> = (0..m)
        .map(|i| byzantine[i] && cfg.attack.flips_labels())
        .collect();
    let mut dealer = match cfg.sampling {
        Sampling::Shards => None,
        Sampling::Epochs => Some(EpochDealer::new(task.train_len(), m, cfg.batch, cfg.seed)?),
    };
    let after_step = cfg.storm_order == StormOrder::AfterStep && cfg.method == Method::Mu2;
    let mut adversary = Adversary::new(cfg.attack, &cfg.rule, cfg.backend, ByzantineShare::F(f), cfg.seed)?;
    let mut window = Window::default();
    window.per_update = m as u64;
    if after_step {
        // The authors' first step: every estimator formed at x_0, no update.
        let x = server.query_point().to_vec();
        let round = dealer.as_mut().map(EpochDealer::priming_round);
        for i in (0..m).filter(|&i| keeps[i]) {
            let sample = round.as_ref().map(|r| r[i].as_slice());
            workers[i].storm_prime(task, &x, sample, flips[i]);
        }
    }
    let mut records = vec![window.record(task, &server)];
    let mut arrivals = Vec::with_capacity(cfg.iterations as usize * m);
    let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); m];
    for _ in 0..cfg.iterations {
        let x = server.query_point().to_vec();
        let round = dealer.as_mut().map(EpochDealer::next_round);
        for i in 0..m {
            let sample = round.as_ref().map(|r| r[i].as_slice());
            vectors[i] = match (keeps[i], after_step, sample) {
                (false, _, _) => Vec::new(),
                (true, true, _) => workers[i].storm_send(task, &x, sample, flips[i]),
                (true, false, Some(s)) => workers[i].estimate_on(task, &x, s, flips[i]),
                (true, false, None) => workers[i].estimate(task, &x, flips[i]),
            };
            let loss = (!byzantine[i]).then(|| workers[i].last_loss());
            window.arrival(0, loss);
            arrivals.push(ArrivalLog {
                worker: i,
                byzantine: byzantine[i],
                staleness: 0,
            });
        }
        // The omniscient adversary sees this round's honest vectors, each with weight 1; ALIE's
        // counts are the round's (m vectors, f Byzantine) in either of its forms.
        let (honest, byz) = vectors.split_at_mut(m - f);
        let view = HonestView {
            rows: honest.iter().map(Vec::as_slice).collect(),
            weights: vec![1.0; m - f],
            workers: (m, f),
            updates: (m as u64, f as u64),
            ids: (0..m - f).collect(),
            byzantine_weights: vec![1.0; f],
        };
        let estimates = byz.iter_mut().map(std::mem::take).collect();
        for (v, sent) in byz.iter_mut().zip(adversary.send(estimates, &view, task.dim())?) {
            *v = sent;
        }
        window.byz_updates += f as u64;
        let rows: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let version = server.submit_round(&rows)?;
        if after_step {
            // The second pass: each kept estimator formed on this round's minibatch at the
            // new query point, to be sent next round.
            let x_new = server.query_point().to_vec();
            for i in (0..m).filter(|&i| keeps[i]) {
                workers[i].storm_update(task, &x_new, flips[i]);
            }
        }
        on_step(version);
        if version % cfg.eval_every == 0 || version == cfg.iterations {
            records.push(window.record(task, &server));
        }
    }
    Ok(RunResult::from_server(records, arrivals, &server))
}
