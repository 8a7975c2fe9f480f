//! Byzantine SGD (SPEC section 6): a server that aggregates the workers' latest vectors
//! weighted by their update counts, honest estimators (STORM, momentum, gradient), attacks,
//! arrival schedules, tasks (synthetic logistic regression of any d, MNIST with an MLP or the
//! papers' CNN), a seeded asynchronous discrete-event simulation, a real-threads mode and the
//! synchronous trainer of the ICML setting; the `byzagg train` command
//! (`src/bin/byzagg/train.rs`) drives them.
//!
//! The pieces are usable alone: [`Server`] is the embeddable server state (register workers,
//! submit updates, read the query point), [`WorkerState`] an honest worker, [`Attack`] a
//! Byzantine one, [`Schedule`] the arrival process; [`simulate`], [`run_threads`] and
//! [`simulate_sync`] wire them.
//!
//! ```
//! use byzagg::train::{Attack, SyntheticTask, TrainConfig, simulate};
//! use byzagg::{Backend, Rule};
//!
//! let task = SyntheticTask::new(50, 2000, 500, 1);
//! let cfg = TrainConfig {
//!     workers: 7, byzantine: 3, rule: "ctma(cwmed)".parse()?, backend: Backend::Reference,
//!     attack: Attack::SignFlip, lr: 2.0, iterations: 300, eval_every: 100,
//!     ..TrainConfig::default()
//! };
//! let run = simulate(&task, &cfg, &mut |_| {})?;
//! assert!(run.final_accuracy() > 0.75, "{}", run.final_accuracy());
//! # Ok::<(), byzagg::Error>(())
//! ```
//!
//! Layout: `server.rs` (state and weights), `optimizer.rs` (SGD, momentum, AnyTime),
//! `worker.rs` (estimators), `attack.rs` (the attacks as data), `adversary.rs` (what the
//! Byzantine workers send), `schedule.rs` (arrivals), `task/` (tasks, IDX reader, MLP, the
//! papers' CNN, the ICML code's simple CNN, dense kernels), `simulate.rs`, `threads.rs`,
//! `sync.rs`, `deal.rs` (sync rounds' minibatches), `config.rs`,
//! `footprint.rs` (the memory a run needs, checked before it starts), `presets.rs` (the named
//! setups, as data), `grid.rs` (the rules x attacks x heterogeneity benchmark grid), `plot.rs`
//! (SVG curves and heat maps, feature `plot`).

mod adversary;
mod attack;
mod config;
mod deal;
mod footprint;
mod grid;
mod optimizer;
#[cfg(feature = "plot")]
mod plot;
mod presets;
mod rng;
mod schedule;
mod server;
mod simulate;
mod sync;
pub mod task;
mod threads;
mod worker;

pub use adversary::Adversary;
pub use attack::{ATTACKS, AlieForm, Attack, Deviation, HonestView};
pub use config::{StormOrder, TrainConfig};
pub use deal::{EpochDealer, Sampling};
pub use footprint::{check_run, seed_list, task_params};
pub use grid::{
    Cell, CellResult, GRID_HEADER, GridProgress, GridRow, GridSpec, HeatMap, MAX_GRID_SEEDS, heat_maps,
    read_grid_csv, run_grid,
};
pub use optimizer::{Gamma, Method, OptimizerState, ServerOptimizer};
#[cfg(feature = "plot")]
pub use plot::{Curve, plot_accuracy, plot_heat_maps};
pub use presets::PRESETS;
pub use rng::{Rng, normal_quantile};
pub use schedule::{ByzSchedule, Schedule, Speeds};
pub use server::{Arrival, Server, Transfers, Weighting};
pub use simulate::{ArrivalLog, Record, RunResult, simulate};
pub use sync::simulate_sync;
pub use task::cnn::{BnStats, Cnn};
pub use task::idx::Idx;
pub use task::mlp::Mlp;
pub use task::mnist::{MnistModel, MnistTask};
pub use task::simple_cnn::SimpleCnn;
pub use task::synthetic::SyntheticTask;
pub use task::{Eval, Sharding, Task, shards};
pub use threads::run_threads;
pub use worker::{Beta, Estimator, MomentumStart, WorkerState};
