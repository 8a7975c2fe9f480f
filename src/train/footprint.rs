//! The memory a training run will hold, checked before anything is built, and the seed list
//! checked for overflow, so that `--dim 1e12`, `--hidden 1e9`, `--iterations 1e15`,
//! `--seeds 1e12` or `--seed 18446744073709551615` are errors naming the flag instead of an
//! abort or a panic minutes into a run.
//!
//! The estimate is an upper bound of the large parts, each computed without overflow
//! ([`crate::budget::bytes`]): the parameter vectors (the server's latest vector per worker,
//! its aggregate and optimizer state; per worker the STORM state, the last gradients and the
//! model it holds), the synthetic task's labels and planted vector, and what every seed's
//! result keeps (its arrival log, its evaluations and its final parameters).

use crate::budget::{self, bytes};
use crate::error::{Error, Result};

use super::config::TrainConfig;
use super::simulate::{ArrivalLog, Record};
use super::task::mlp::Mlp;

/// d-vectors of f32 a run holds per worker (latest at the server, the model it holds, STORM's
/// direction and previous point, two gradients) and besides them (aggregate, scratch,
/// optimizer iterate, query point and momentum, initial model, the attack's statistics in f64).
const VECTORS_PER_WORKER: usize = 6;
const VECTORS_BESIDES: usize = 12;

/// The seeds `first, first + 1, ..., first + count - 1`; an error naming `seeds` if `count`
/// is 0 or the last would pass `u64::MAX`.
///
/// # Examples
///
/// ```
/// use byzagg::train::seed_list;
///
/// assert_eq!(seed_list(3, 2)?, vec![3, 4]);
/// assert_eq!(seed_list(u64::MAX, 1)?, vec![u64::MAX]);
/// assert!(seed_list(u64::MAX, 2).is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn seed_list(first: u64, count: u64) -> Result<Vec<u64>> {
    if count == 0 {
        return Err(Error::invalid("seeds", 0, "need at least one seed"));
    }
    let last = first.checked_add(count - 1).ok_or_else(|| {
        Error::invalid(
            "seeds",
            count,
            format!(
                "seed {first} plus {count} seeds passes the largest seed {}",
                u64::MAX
            ),
        )
    })?;
    let len = usize::try_from(count).unwrap_or(usize::MAX);
    budget::check("seeds", count, "the list of seeds", bytes(&[len], 8))?;
    Ok((first..=last).collect())
}

/// The number of parameters of the task a run trains: the MLP's for `mnist` (784 inputs,
/// `hidden` units, 10 classes), `dim` for `synthetic`. Errors name the flag whose value makes
/// the count overflow.
pub fn task_params(task: &str, dim: usize, hidden: usize) -> Result<usize> {
    match task {
        "mnist" => Mlp::checked_dim(28 * 28, hidden, 10)
            .ok_or_else(|| Error::invalid("hidden", hidden, "the MLP's parameter count overflows")),
        _ => Ok(dim),
    }
}

/// Checks, before anything is built, that a run of `cfg` on `task` (`mnist` with `hidden`
/// units, or `synthetic` of dimension `dim` with `train_size` examples), repeated for `seeds`
/// seeds, fits the memory budget. The error names the setting behind the largest part of
/// the need, with its value.
///
/// # Examples
///
/// ```
/// use byzagg::train::{TrainConfig, check_run};
///
/// let cfg = TrainConfig::default();
/// assert!(check_run(&cfg, "synthetic", 1000, 0, 4000, 3).is_ok());
/// let err = check_run(&cfg, "synthetic", 1_000_000_000_000, 0, 4000, 1).unwrap_err();
/// assert!(err.to_string().starts_with("invalid dim = 1000000000000"), "{err}");
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn check_run(
    cfg: &TrainConfig,
    task: &str,
    dim: usize,
    hidden: usize,
    train_size: usize,
    seeds: u64,
) -> Result<()> {
    let params = task_params(task, dim, hidden)?;
    let (size_name, size_value) = match task {
        "mnist" => ("hidden", hidden),
        _ => ("dim", dim),
    };
    // The synthetic task keeps one label per example (training and test) and a planted
    // vector; MNIST's data comes from files whose reader checks its own size.
    let examples = if task == "mnist" { 0 } else { train_size };
    let seeds = usize::try_from(seeds).unwrap_or(usize::MAX);
    let iterations = usize::try_from(cfg.iterations).unwrap_or(usize::MAX);
    let evaluations =
        (iterations / usize::try_from(cfg.eval_every.max(1)).unwrap_or(usize::MAX)).saturating_add(2);
    let worker_vectors = cfg.workers.saturating_mul(VECTORS_PER_WORKER);
    let state = bytes(&[worker_vectors.saturating_add(VECTORS_BESIDES), params], 4);
    let data = bytes(&[examples], 2).saturating_add(bytes(&[params], 4));
    let log = bytes(&[iterations], size_of::<ArrivalLog>());
    let per_seed = log
        .saturating_add(bytes(&[evaluations], size_of::<Record>()))
        .saturating_add(bytes(&[params], 4));
    let one_seed = state.saturating_add(data).saturating_add(per_seed);
    // One seed first, naming the setting behind its largest part; then all the seeds.
    let state_by = if worker_vectors > params {
        ("workers", cfg.workers.to_string())
    } else {
        (size_name, size_value.to_string())
    };
    let parts = [
        (state, state_by),
        (data, ("train_size", examples.to_string())),
        (per_seed, ("iterations", cfg.iterations.to_string())),
    ];
    let (_, (name, value)) = parts
        .into_iter()
        .max_by_key(|p| p.0)
        .unwrap_or((0, ("dim", String::new())));
    budget::check(name, value, "the training run", one_seed)?;
    let all_seeds = one_seed.saturating_add(per_seed.saturating_mul(seeds.saturating_sub(1) as u128));
    budget::check("seeds", seeds, "the training run", all_seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(result: Result<()>, name: &str) {
        match result {
            Err(Error::InvalidParameter { name: got, bound, .. }) => {
                assert_eq!(got, name, "{bound}");
                assert!(bound.contains("the training run would need"), "{bound}");
            }
            other => panic!("expected an invalid {name}, got {other:?}"),
        }
    }

    #[test]
    fn seeds_never_wrap() {
        assert_eq!(seed_list(u64::MAX - 1, 2).unwrap(), vec![u64::MAX - 1, u64::MAX]);
        for (first, count) in [(u64::MAX, 2), (1, u64::MAX), (u64::MAX, u64::MAX)] {
            let err = seed_list(first, count).unwrap_err().to_string();
            assert!(err.contains("invalid seeds"), "{err}");
        }
        assert!(seed_list(0, 0).is_err());
        let err = seed_list(0, 1_000_000_000_000_000).unwrap_err().to_string();
        assert!(err.contains("would need"), "{err}");
    }

    #[test]
    fn absurd_sizes_name_their_flag() {
        let cfg = TrainConfig::default();
        assert!(check_run(&cfg, "synthetic", 1000, 0, 4000, 3).is_ok());
        assert!(check_run(&cfg, "mnist", 0, 64, 8000, 3).is_ok());
        rejects(check_run(&cfg, "synthetic", 1_000_000_000_000, 0, 4000, 1), "dim");
        rejects(check_run(&cfg, "mnist", 0, 1_000_000_000, 8000, 1), "hidden");
        assert!(task_params("mnist", 0, usize::MAX / 100).is_err());
        rejects(
            check_run(&cfg, "synthetic", 10, 0, 1_000_000_000_000_000, 1),
            "train_size",
        );
        let long = TrainConfig {
            iterations: 1_000_000_000_000_000,
            ..TrainConfig::default()
        };
        rejects(check_run(&long, "synthetic", 10, 0, 4000, 1), "iterations");
        rejects(
            check_run(&cfg, "synthetic", 10, 0, 4000, 1_000_000_000_000),
            "seeds",
        );
        let many = TrainConfig {
            workers: usize::MAX / 2,
            ..TrainConfig::default()
        };
        rejects(check_run(&many, "synthetic", 10, 0, 4000, 1), "workers");
    }
}
