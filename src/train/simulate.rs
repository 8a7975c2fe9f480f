//! The deterministic discrete-event simulation: one arrival at a time, drawn by a seeded
//! [`Schedule`]; each worker computes at the model version it received at its previous arrival,
//! so staleness follows from the schedule alone. Same seed, same bits.

use crate::aggregator::Aggregator;
use crate::error::{Error, Result};
use crate::rule::ByzantineShare;

use super::adversary::Adversary;
use super::attack::HonestView;
use super::config::{StormOrder, TrainConfig};
use super::deal::Sampling;
use super::optimizer::OptimizerState;
use super::rng::Rng;
use super::schedule::Schedule;
use super::server::Server;
use super::task::{Task, shards};
use super::worker::WorkerState;

/// One row of the training log (also one CSV line).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Server updates applied so far.
    pub iteration: u64,
    /// Test accuracy at the query point.
    pub test_accuracy: f64,
    /// Test loss at the query point.
    pub test_loss: f64,
    /// Largest staleness among the updates since the previous record.
    pub max_staleness: u64,
    /// Mean staleness among the updates since the previous record.
    pub mean_staleness: f64,
    /// Share of all updates so far that were Byzantine.
    pub byzantine_share: f64,
    /// Mean honest minibatch loss since the previous record.
    pub train_loss: f64,
    /// Wall time spent inside the aggregator so far, in seconds.
    pub aggregation_seconds: f64,
}

/// One arrival, as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrivalLog {
    /// The worker.
    pub worker: usize,
    /// Whether it was Byzantine.
    pub byzantine: bool,
    /// Updates applied since the model version the vector was computed at.
    pub staleness: u64,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Evaluations: at 0, every `eval_every` updates, and at the end.
    pub records: Vec<Record>,
    /// Every arrival in order.
    pub arrivals: Vec<ArrivalLog>,
    /// Updates delivered per worker (= the final aggregation weights with counts weighting).
    pub counts: Vec<u64>,
    /// The final query point.
    pub params: Vec<f32>,
    /// Wall time spent inside the aggregator over the whole run, in seconds.
    pub aggregation_seconds: f64,
}

impl RunResult {
    /// A finished run: its evaluations and arrivals, and what the server holds at the end.
    pub(crate) fn from_server(records: Vec<Record>, arrivals: Vec<ArrivalLog>, server: &Server) -> RunResult {
        RunResult {
            records,
            arrivals,
            counts: server.counts().to_vec(),
            params: server.query_point().to_vec(),
            aggregation_seconds: server.aggregation_time().as_secs_f64(),
        }
    }

    /// The last record's test accuracy.
    pub fn final_accuracy(&self) -> f64 {
        self.records.last().map_or(f64::NAN, |r| r.test_accuracy)
    }
}

/// Builds the server and the workers of an asynchronous run (the rule's Byzantine share is
/// lambda, a share of the updates). Dealt rounds and STORM's after-step order exist only in
/// synchronous rounds: asking for them here is an error.
pub(crate) fn setup(task: &dyn Task, cfg: &TrainConfig) -> Result<(Server, Vec<WorkerState>)> {
    if cfg.sampling != Sampling::Shards {
        return Err(Error::invalid(
            "sampling",
            cfg.sampling,
            "dealt rounds need synchronous rounds (mode=sync)",
        ));
    }
    if cfg.storm_order != StormOrder::FreshSample {
        return Err(Error::invalid(
            "storm_order",
            "after-step",
            "the second pass after the step needs synchronous rounds (mode=sync)",
        ));
    }
    setup_with_share(task, cfg, ByzantineShare::Lambda(cfg.lambda))
}

/// Builds the server and the workers of a run whose rule assumes `share`.
pub(crate) fn setup_with_share(
    task: &dyn Task,
    cfg: &TrainConfig,
    share: ByzantineShare,
) -> Result<(Server, Vec<WorkerState>)> {
    cfg.validate()?;
    if cfg.batch < task.min_batch() {
        return Err(Error::invalid(
            "batch",
            cfg.batch,
            format!("this model needs minibatches of at least {}", task.min_batch()),
        ));
    }
    if task.train_len() < cfg.workers {
        return Err(Error::invalid(
            "workers",
            cfg.workers,
            format!("more workers than the {} training examples", task.train_len()),
        ));
    }
    let opt = OptimizerState::new(cfg.server_optimizer(), cfg.lr, task.init(cfg.seed))?;
    let agg = Aggregator::new(cfg.rule.clone(), cfg.backend)?.with_byzantine_share(share);
    let mut server = Server::new(agg, cfg.weighting, opt);
    if let Some(resident) = cfg.resident {
        server = server.keep_resident(resident);
    }
    let workers = shards(task, cfg.workers, cfg.sharding, cfg.seed)
        .into_iter()
        .enumerate()
        .map(|(i, shard)| {
            server.register_worker();
            let seed = Rng::stream(cfg.seed, 0x3012, i as u64).next_u64();
            WorkerState::new(cfg.estimator(), shard, cfg.batch, seed)
                .with_clip(cfg.clip)
                .with_momentum_start(cfg.momentum_start)
        })
        .collect();
    Ok((server, workers))
}

/// The adversary of an asynchronous run (its rule assumes lambda, as the server's).
pub(crate) fn adversary(cfg: &TrainConfig) -> Result<Adversary> {
    Adversary::new(
        cfg.attack,
        &cfg.rule,
        cfg.backend,
        ByzantineShare::Lambda(cfg.lambda),
        cfg.seed,
    )
}

/// What the adversary sees at the server now when Byzantine worker `sender` delivers
/// (`byz_updates` counts this update too).
pub(crate) fn honest_view<'a>(
    server: &'a Server,
    byzantine: &[bool],
    byz_updates: u64,
    sender: usize,
) -> HonestView<'a> {
    let f = byzantine.iter().filter(|b| **b).count();
    let mut view = HonestView {
        workers: (byzantine.len(), f),
        updates: (server.version() + 1, byz_updates),
        ..HonestView::default()
    };
    for (i, &c) in server.counts().iter().enumerate() {
        if !byzantine[i] {
            if let Some(row) = server.latest(i) {
                view.rows.push(row);
                view.weights.push(c as f64);
                view.ids.push(i);
            }
        } else if i == sender {
            view.byzantine_weights.push(c as f64 + 1.0);
        } else if c > 0 {
            view.byzantine_weights.push(c as f64);
        }
    }
    view
}

/// Accumulates arrivals between evaluations.
#[derive(Default)]
pub(crate) struct Window {
    max_staleness: u64,
    staleness_sum: u64,
    arrivals: u64,
    loss_sum: f64,
    losses: u64,
    pub(crate) byz_updates: u64,
    /// Vectors delivered per server update: 1 asynchronously, every worker in a synchronous
    /// round (0 is read as 1).
    pub(crate) per_update: u64,
}

impl Window {
    pub(crate) fn arrival(&mut self, staleness: u64, honest_loss: Option<f64>) {
        self.max_staleness = self.max_staleness.max(staleness);
        self.staleness_sum += staleness;
        self.arrivals += 1;
        if let Some(l) = honest_loss {
            self.loss_sum += l;
            self.losses += 1;
        }
    }

    /// Evaluates and starts a new window.
    pub(crate) fn record(&mut self, task: &dyn Task, server: &Server) -> Record {
        let eval = task.evaluate(server.query_point());
        let it = server.version();
        let r = Record {
            iteration: it,
            test_accuracy: eval.accuracy,
            test_loss: eval.loss,
            max_staleness: self.max_staleness,
            mean_staleness: self.staleness_sum as f64 / self.arrivals.max(1) as f64,
            byzantine_share: self.byz_updates as f64 / (it * self.per_update.max(1)).max(1) as f64,
            train_loss: if self.losses > 0 {
                self.loss_sum / self.losses as f64
            } else {
                f64::NAN
            },
            aggregation_seconds: server.aggregation_time().as_secs_f64(),
        };
        *self = Window {
            byz_updates: self.byz_updates,
            per_update: self.per_update,
            ..Window::default()
        };
        r
    }
}

/// Runs the seeded simulation; `on_step` is called after every update (for a progress bar).
///
/// # Examples
///
/// ```
/// use byzagg::train::{Attack, SyntheticTask, TrainConfig, simulate};
/// use byzagg::Backend;
///
/// let task = SyntheticTask::new(20, 400, 200, 0);
/// let cfg = TrainConfig { workers: 5, byzantine: 2, backend: Backend::Reference, lr: 0.5,
///     iterations: 40, eval_every: 20, attack: Attack::SignFlip, ..TrainConfig::default() };
/// let run = simulate(&task, &cfg, &mut |_| {})?;
/// assert_eq!(run.arrivals.len(), 40);
/// assert_eq!(run.counts.iter().sum::<u64>(), 40);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn simulate(task: &dyn Task, cfg: &TrainConfig, on_step: &mut dyn FnMut(u64)) -> Result<RunResult> {
    let (mut server, mut workers) = setup(task, cfg)?;
    let mut schedule = Schedule::new(
        cfg.workers,
        cfg.byzantine,
        cfg.speeds,
        cfg.byz_schedule,
        cfg.lambda,
        cfg.seed,
    )?;
    let byzantine: Vec<bool> = (0..cfg.workers).map(|i| schedule.is_byzantine(i)).collect();
    let mut held: Vec<(Vec<f32>, u64)> = vec![(server.query_point().to_vec(), 0); cfg.workers];
    let mut adversary = adversary(cfg)?;
    let mut window = Window::default();
    let mut records = vec![window.record(task, &server)];
    let mut arrivals = Vec::with_capacity(cfg.iterations as usize);
    for _ in 0..cfg.iterations {
        let i = schedule.next_arrival();
        let (x, version) = &held[i];
        let (vector, honest_loss) = if byzantine[i] {
            window.byz_updates += 1;
            let est = if cfg.attack.needs_estimate() {
                workers[i].estimate(task, x, cfg.attack.flips_labels())
            } else {
                Vec::new()
            };
            let view = honest_view(&server, &byzantine, window.byz_updates, i);
            let sent = adversary.send(vec![est], &view, task.dim())?;
            (sent.into_iter().next().unwrap_or_default(), None)
        } else {
            let v = workers[i].estimate(task, x, false);
            (v, Some(workers[i].last_loss()))
        };
        let arrival = server.submit(i, &vector, *version)?;
        window.arrival(arrival.staleness, honest_loss);
        arrivals.push(ArrivalLog {
            worker: i,
            byzantine: byzantine[i],
            staleness: arrival.staleness,
        });
        held[i].0.copy_from_slice(server.query_point());
        held[i].1 = arrival.version;
        on_step(arrival.version);
        if arrival.version % cfg.eval_every == 0 || arrival.version == cfg.iterations {
            records.push(window.record(task, &server));
        }
    }
    Ok(RunResult::from_server(records, arrivals, &server))
}
