//! Real-threads mode: each worker computes on its own thread and the server takes arrivals in
//! the order they come, through the same [`Server`](super::Server) API as the simulation.
//!
//! A worker sends (id, vector, model version) on a shared channel and waits for the server's
//! reply: the new query point and its version. So a vector is computed at the model the worker
//! received at its previous arrival, as in the simulation, but who arrives when is up to the
//! OS scheduler (and the optional per-worker delay), so runs are not reproducible bit for bit.
//! The Byzantine schedule still holds: when it says the next update is Byzantine (or honest),
//! the server takes the earliest waiting message of that kind and keeps the others waiting, so
//! the Byzantine share is the schedule's, not whatever the threads' speeds make it.
//! Omniscient attacks are applied at the server when a Byzantine worker's message arrives,
//! since only the server sees the honest workers' latest vectors.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

use super::config::TrainConfig;
use super::schedule::Schedule;
use super::simulate::{ArrivalLog, RunResult, Window, adversary, honest_view, setup};
use super::task::Task;

/// Stack of a worker thread (Rust's default for spawned threads).
const WORKER_STACK: usize = 2 << 20;
/// Address space a thread takes beyond its stack (guard page, thread-local data, its share of
/// the allocator's arenas), counted generously.
const THREAD_OVERHEAD: usize = 2 << 20;

struct Message {
    worker: usize,
    vector: Vec<f32>,
    version: u64,
    loss: f64,
}

/// Runs `cfg.iterations` updates with one thread per worker (the last `cfg.byzantine` are
/// Byzantine). `cfg.byz_schedule` decides which updates are Byzantine, as in the simulation
/// (`free`: whoever arrives first); within a kind, the first to arrive goes first.
/// `on_step` is called after every update.
///
/// # Examples
///
/// ```
/// use byzagg::train::{SyntheticTask, TrainConfig, run_threads};
/// use byzagg::Backend;
///
/// let task = SyntheticTask::new(20, 400, 200, 0);
/// let cfg = TrainConfig { workers: 4, byzantine: 1, backend: Backend::Reference, lr: 0.5,
///     iterations: 30, eval_every: 10, ..TrainConfig::default() };
/// let run = run_threads(&task, &cfg, &mut |_| {})?;
/// assert_eq!(run.counts.iter().sum::<u64>(), 30);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn run_threads(task: &dyn Task, cfg: &TrainConfig, on_step: &mut dyn FnMut(u64)) -> Result<RunResult> {
    let m = cfg.workers;
    // Thread stacks are address space: thousands of workers under `ulimit -v` would exhaust
    // it and leave no room for the allocations that follow, which abort. Refuse first.
    crate::budget::check(
        "workers",
        m,
        "one thread per worker",
        crate::budget::bytes(&[m], WORKER_STACK + THREAD_OVERHEAD),
    )?;
    let (mut server, workers) = setup(task, cfg)?;
    let mut schedule = Schedule::new(
        m,
        cfg.byzantine,
        cfg.speeds,
        cfg.byz_schedule,
        cfg.lambda,
        cfg.seed,
    )?;
    // Messages received but not yet taken, honest ([0]) and Byzantine ([1]), oldest first.
    let mut waiting: [VecDeque<Message>; 2] = [VecDeque::new(), VecDeque::new()];
    let byzantine: Vec<bool> = (0..m).map(|i| i >= m - cfg.byzantine).collect();
    let speeds = cfg.speeds.weights(m);
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    let start = Arc::new((server.query_point().to_vec(), 0u64));
    let mut adversary = adversary(cfg)?;
    let mut window = Window::default();
    let mut records = vec![window.record(task, &server)];
    let mut arrivals = Vec::with_capacity(cfg.iterations as usize);
    let (to_server, inbox) = mpsc::channel::<Message>();
    std::thread::scope(|scope| -> Result<()> {
        let mut replies = Vec::with_capacity(m);
        for (i, mut worker) in workers.into_iter().enumerate() {
            let (reply, mailbox) = mpsc::channel::<Arc<(Vec<f32>, u64)>>();
            replies.push(reply);
            let to_server = to_server.clone();
            let mut model = Arc::clone(&start);
            let delay = Duration::from_micros((cfg.thread_delay_us as f64 * fastest / speeds[i]) as u64);
            let (attack, byz) = (cfg.attack, byzantine[i]);
            // A thread the OS refuses (a memory or process limit) is an error, not a panic;
            // the threads already started end when `replies` is dropped on the way out.
            let spawned = std::thread::Builder::new()
                .name(format!("worker {i}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, move || {
                    loop {
                        let (x, version) = &*model;
                        let vector = if byz && !attack.needs_estimate() {
                            Vec::new()
                        } else {
                            worker.estimate(task, x, byz && attack.flips_labels())
                        };
                        if !delay.is_zero() {
                            std::thread::sleep(delay);
                        }
                        let msg = Message {
                            worker: i,
                            vector,
                            version: *version,
                            loss: worker.last_loss(),
                        };
                        if to_server.send(msg).is_err() {
                            return;
                        }
                        match mailbox.recv() {
                            Ok(next) => model = next,
                            Err(_) => return, // the server is done
                        }
                    }
                });
            if let Err(e) = spawned {
                return Err(Error::invalid(
                    "workers",
                    m,
                    format!("the OS refused a thread for worker {i}: {e}"),
                ));
            }
        }
        drop(to_server);
        let result = (|| -> Result<()> {
            for _ in 0..cfg.iterations {
                let msg = match schedule.next_kind() {
                    Some(byz) => loop {
                        if let Some(msg) = waiting[byz as usize].pop_front() {
                            break Some(msg);
                        }
                        let Ok(msg) = inbox.recv() else { break None };
                        waiting[byzantine[msg.worker] as usize].push_back(msg);
                    },
                    // Free: whoever comes next (nothing ever waits under this schedule).
                    None => inbox.recv().ok(),
                };
                let Some(msg) = msg else { break };
                let i = msg.worker;
                let vector = if byzantine[i] {
                    window.byz_updates += 1;
                    let view = honest_view(&server, &byzantine, window.byz_updates, i);
                    let sent = adversary.send(vec![msg.vector], &view, task.dim())?;
                    sent.into_iter().next().unwrap_or_default()
                } else {
                    msg.vector
                };
                let arrival = server.submit(i, &vector, msg.version)?;
                window.arrival(arrival.staleness, (!byzantine[i]).then_some(msg.loss));
                arrivals.push(ArrivalLog {
                    worker: i,
                    byzantine: byzantine[i],
                    staleness: arrival.staleness,
                });
                // A worker that has gone away is not an error of the run.
                let _ = replies[i].send(Arc::new((server.query_point().to_vec(), arrival.version)));
                on_step(arrival.version);
                if arrival.version % cfg.eval_every == 0 || arrival.version == cfg.iterations {
                    records.push(window.record(task, &server));
                }
            }
            Ok(())
        })();
        drop(replies); // every worker's recv now fails and its thread ends
        result
    })?;
    Ok(RunResult::from_server(records, arrivals, &server))
}
