//! The asynchronous and synchronous drivers on the synthetic task (small and fast), the MNIST
//! loader, and the papers' CNN (gradient against finite differences, a short training run).

mod common;

use byzagg::train::{
    Attack, ByzSchedule, Cnn, MnistModel, MnistTask, OptimizerState, Schedule, Server, ServerOptimizer,
    SyntheticTask, Task, TrainConfig, Weighting, run_threads, simulate, simulate_sync,
};
use byzagg::{Aggregator, Backend, Rule};

fn small() -> (SyntheticTask, TrainConfig) {
    let task = SyntheticTask::new(40, 2000, 500, 11);
    let cfg = TrainConfig {
        workers: 7,
        byzantine: 3,
        rule: "ctma(cwmed)".parse().unwrap(),
        backend: Backend::Reference,
        lambda: 0.4,
        lr: 2.0,
        iterations: 300,
        eval_every: 50,
        seed: 5,
        ..TrainConfig::default()
    };
    (task, cfg)
}

#[test]
fn weights_equal_counts() {
    let (task, cfg) = small();
    let run = simulate(&task, &cfg, &mut |_| {}).unwrap();
    let mut counts = vec![0u64; cfg.workers];
    for a in &run.arrivals {
        counts[a.worker] += 1;
    }
    assert_eq!(run.counts, counts);

    // The server's weights are the counts (weighted) or 1 per delivering worker (uniform).
    for (weighting, expect) in [
        (Weighting::Counts, vec![3.0, 0.0, 1.0]),
        (Weighting::Uniform, vec![1.0, 0.0, 1.0]),
    ] {
        let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; 4]).unwrap();
        let mut s = Server::new(
            Aggregator::new(Rule::CwMed, Backend::Reference).unwrap(),
            weighting,
            opt,
        );
        for _ in 0..3 {
            s.register_worker();
        }
        for (w, v) in [(0, 0), (2, 0), (0, 1), (0, 3)] {
            s.submit(w, &[1.0; 4], v).unwrap();
        }
        assert_eq!(s.weights(), expect);
        assert_eq!(s.counts(), &[3, 0, 1]);
    }
}

#[test]
fn staleness_matches_the_schedule() {
    let (task, cfg) = small();
    for kind in [ByzSchedule::Periodic, ByzSchedule::Random, ByzSchedule::Free] {
        let cfg = TrainConfig {
            byz_schedule: kind,
            iterations: 120,
            ..cfg.clone()
        };
        let run = simulate(&task, &cfg, &mut |_| {}).unwrap();
        let mut schedule =
            Schedule::new(cfg.workers, cfg.byzantine, cfg.speeds, kind, cfg.lambda, cfg.seed).unwrap();
        // Worker i computes at the version it received at its previous arrival (0 at first).
        let mut held = vec![0u64; cfg.workers];
        for (t, a) in run.arrivals.iter().enumerate() {
            let i = schedule.next_arrival();
            assert_eq!(a.worker, i, "arrival {t}");
            assert_eq!(a.byzantine, schedule.is_byzantine(i));
            assert_eq!(a.staleness, t as u64 - held[i], "arrival {t}");
            held[i] = t as u64 + 1;
        }
        if kind == ByzSchedule::Periodic {
            // every ceil(1/0.4) = 3rd arrival is Byzantine
            for (t, a) in run.arrivals.iter().enumerate() {
                assert_eq!(a.byzantine, (t + 1) % 3 == 0);
            }
        }
        let max = run.arrivals.iter().map(|a| a.staleness).max().unwrap();
        assert_eq!(run.records.iter().map(|r| r.max_staleness).max().unwrap(), max);
    }
}

#[test]
fn a_seeded_run_is_reproducible_bit_for_bit() {
    let (task, cfg) = small();
    let cfg = TrainConfig {
        attack: "alie".parse().unwrap(),
        iterations: 150,
        ..cfg
    };
    let a = simulate(&task, &cfg, &mut |_| {}).unwrap();
    let b = simulate(&task, &cfg, &mut |_| {}).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.params), bits(&b.params));
    // Everything but the aggregator's wall time; Debug text, since the train loss at 0 is NaN.
    let logged = |r: &[byzagg::train::Record]| {
        let r: Vec<_> = r
            .iter()
            .map(|x| byzagg::train::Record {
                aggregation_seconds: 0.0,
                ..x.clone()
            })
            .collect();
        format!("{r:?}")
    };
    assert_eq!(logged(&a.records), logged(&b.records));
    let c = simulate(&task, &TrainConfig { seed: 6, ..cfg }, &mut |_| {}).unwrap();
    assert_ne!(bits(&a.params), bits(&c.params));
}

#[test]
fn plain_mean_fails_under_attack_while_ctma_cwmed_converges() {
    let (task, cfg) = small();
    for attack in [Attack::Nan, Attack::Gaussian { sigma: 100.0 }] {
        let mean = simulate(
            &task,
            &TrainConfig {
                rule: Rule::Mean,
                attack,
                ..cfg.clone()
            },
            &mut |_| {},
        )
        .unwrap();
        let robust = simulate(
            &task,
            &TrainConfig {
                attack,
                ..cfg.clone()
            },
            &mut |_| {},
        )
        .unwrap();
        assert!(
            mean.final_accuracy() < 0.65,
            "{attack}: mean reached {}",
            mean.final_accuracy()
        );
        assert!(
            robust.final_accuracy() > 0.8,
            "{attack}: ctma(cwmed) reached {}",
            robust.final_accuracy()
        );
        assert!(robust.params.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn malformed_updates_are_rejected_and_leave_the_state_unchanged() {
    let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; 3]).unwrap();
    let mut s = Server::new(
        Aggregator::new(Rule::CwMed, Backend::Reference).unwrap(),
        Weighting::Counts,
        opt,
    );
    for _ in 0..3 {
        s.register_worker();
    }
    s.submit(0, &[1.0, 2.0, 3.0], 0).unwrap();
    s.submit(2, &[1.0, 2.0, 3.0], 1).unwrap();
    let before = (
        s.query_point().to_vec(),
        s.counts().to_vec(),
        s.version(),
        s.last_aggregate().to_vec(),
    );
    assert!(s.submit(3, &[1.0, 2.0, 3.0], 0).is_err()); // unknown worker
    assert!(s.submit(1, &[1.0, 2.0], 0).is_err()); // wrong length
    assert!(s.submit(1, &[1.0, 2.0, 3.0], 5).is_err()); // a version from the future
    let after = (
        s.query_point().to_vec(),
        s.counts().to_vec(),
        s.version(),
        s.last_aggregate().to_vec(),
    );
    assert_eq!(before, after);
    // Non-finite data is accepted, and the median ignores it.
    s.submit(1, &[f32::NAN, f32::INFINITY, 1.0], 1).unwrap();
    assert!(s.query_point().iter().all(|v| v.is_finite()));
}

#[test]
fn threads_mode_uses_the_same_server() {
    let (task, cfg) = small();
    let cfg = TrainConfig {
        iterations: 200,
        thread_delay_us: 50,
        byzantine: 2,
        speeds: byzagg::train::Speeds::Uniform,
        ..cfg
    };
    let run = run_threads(&task, &cfg, &mut |_| {}).unwrap();
    assert_eq!(run.arrivals.len(), 200);
    assert_eq!(run.counts.iter().sum::<u64>(), 200);
    let share = run.arrivals.iter().filter(|a| a.byzantine).count() as f64 / 200.0;
    assert!(
        run.final_accuracy() > 0.7,
        "{} (Byzantine share {share})",
        run.final_accuracy()
    );
}

#[test]
fn threads_mode_follows_the_byzantine_schedule() {
    // Byzantine workers with no delay would win most races; the periodic schedule still makes
    // exactly every ceil(1/lambda) = 3rd update Byzantine, and the free one does not force it.
    let (task, cfg) = small();
    let cfg = TrainConfig {
        iterations: 90,
        thread_delay_us: 200,
        byz_schedule: ByzSchedule::Periodic,
        ..cfg
    };
    let run = run_threads(&task, &cfg, &mut |_| {}).unwrap();
    for (t, a) in run.arrivals.iter().enumerate() {
        assert_eq!(a.byzantine, (t + 1) % 3 == 0, "update {}", t + 1);
        assert_eq!(a.byzantine, a.worker >= cfg.workers - cfg.byzantine);
    }
    assert!((run.records.last().unwrap().byzantine_share - 1.0 / 3.0).abs() < 1e-12);
    let random = run_threads(
        &task,
        &TrainConfig {
            byz_schedule: ByzSchedule::Random,
            lambda: 0.0,
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap();
    assert!(
        random.arrivals.iter().all(|a| !a.byzantine),
        "lambda 0 allows no Byzantine update"
    );
}

#[test]
fn synchronous_rounds_aggregate_every_worker_and_survive_attacks() {
    let (task, cfg) = small();
    let cfg = TrainConfig {
        iterations: 100,
        eval_every: 25,
        beta: None,
        gamma: None,
        ..cfg
    };
    for attack in [
        Attack::Nan,
        Attack::SignFlip,
        Attack::Alie {
            form: byzagg::train::AlieForm::Sync,
        },
    ] {
        let cfg = TrainConfig {
            attack,
            ..cfg.clone()
        };
        let robust = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
        assert_eq!(robust.counts, vec![100; cfg.workers]);
        assert!(robust.arrivals.iter().all(|a| a.staleness == 0));
        assert!(
            robust
                .records
                .iter()
                .skip(1)
                .all(|r| (r.byzantine_share - 3.0 / 7.0).abs() < 1e-12)
        );
        assert!(
            robust.final_accuracy() > 0.8,
            "{attack}: ctma(cwmed) reached {}",
            robust.final_accuracy()
        );
        let again = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
        assert_eq!(
            robust.params.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            again.params.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    let mean = simulate_sync(
        &task,
        &TrainConfig {
            rule: Rule::Mean,
            attack: Attack::Nan,
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap();
    assert!(
        mean.final_accuracy() < 0.65,
        "mean reached {}",
        mean.final_accuracy()
    );
    let err = simulate_sync(&task, &TrainConfig { byzantine: 7, ..cfg }, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("byzantine"), "{err}");
}

#[test]
fn shipped_mnist_loads_and_splits() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let task = MnistTask::load(&dir, 16, 8000, 0).unwrap();
    assert_eq!((task.train_len(), task.test_len()), (8000, 2000));
    assert_eq!(task.dim(), 784 * 16 + 16 + 16 * 10 + 10);
    let mut seen = [0usize; 10];
    for i in 0..task.train_len() {
        seen[task.train_label(i)] += 1;
    }
    assert!(seen.iter().all(|&c| c > 600), "{seen:?}");
    let eval = task.evaluate(&task.init(0));
    assert!(
        eval.accuracy < 0.3 && (eval.loss - 10f64.ln()).abs() < 0.5,
        "{eval:?}"
    );
}

#[test]
fn a_full_mnist_folder_uses_its_train_split() {
    // Stand-in for the full MNIST: the shipped test files also named as train-*, one unzipped.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let dir = std::env::temp_dir().join(format!("byzagg-mnist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        src.join("t10k-images-idx3-ubyte.gz"),
        dir.join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let mut raw = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(std::fs::File::open(src.join("t10k-labels-idx1-ubyte.gz")).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &raw).unwrap();
    let task = MnistTask::load(&dir, 8, 8000, 0).unwrap();
    assert_eq!((task.train_len(), task.test_len()), (10000, 10000));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cnn_gradient_matches_finite_differences() {
    let cnn = Cnn;
    let owned = common::mnist_batch();
    let batch: Vec<(&[f32], usize)> = owned.iter().map(|(x, y)| (&x[..], *y)).collect();
    let params = cnn.init(3);
    let mut g = vec![0.0; cnn.dim()];
    cnn.gradient(&params, &batch, &mut g).unwrap();
    let loss_at = |p: &[f32]| {
        let mut scratch = vec![0.0; cnn.dim()];
        cnn.gradient(p, &batch, &mut scratch).unwrap().0
    };
    // Every block: conv1 w/b, conv2 w/b, fc1 w/b, bn scale/shift, fc2 w/b; in each, the entries
    // with the largest gradients and a seeded draw of others.
    let blocks = [
        (0, 500),
        (500, 520),
        (520, 25_520),
        (25_520, 25_570),
        (25_570, 65_570),
        (65_570, 65_620),
        (65_620, 65_670),
        (65_670, 65_720),
        (65_720, 66_220),
        (66_220, 66_230),
    ];
    let mut rng = byzagg::train::Rng::new(17);
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (lo, hi) in blocks {
        let mut idx: Vec<usize> = (lo..hi).collect();
        idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        let mut pick: Vec<usize> = idx.iter().take(4).copied().collect();
        pick.extend((0..6).map(|_| lo + rng.below(hi - lo)));
        for i in pick {
            // Central and one-sided differences: ReLU and max pooling have kinks, and where one
            // lies within eps of the point the exact gradient is the one-sided slope of the side
            // the point is on; a wrong gradient matches none of the three.
            let eps = 1e-3f32;
            let at = |e: f32| {
                let mut q = params.clone();
                q[i] += e;
                loss_at(&q)
            };
            let (l0, up, down) = (loss_at(&params), at(eps), at(-eps));
            let e = eps as f64;
            let slopes = [(up - down) / (2.0 * e), (up - l0) / e, (l0 - down) / e];
            let err = slopes
                .iter()
                .map(|s| (s - g[i] as f64).abs())
                .fold(f64::INFINITY, f64::min);
            worst = worst.max(err / (1e-4 + (g[i] as f64).abs()));
            assert!(
                err <= 1e-4 + 2e-2 * (g[i] as f64).abs(),
                "param {i} (block {lo}..{hi}): gradient {}, differences {slopes:?}",
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 100);
    println!("worst relative error {worst:.2e}");
}

#[test]
fn a_short_cnn_run_learns_mnist_under_attack() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let task = MnistTask::load_model(&dir, MnistModel::Cnn, 8000, 0).unwrap();
    assert_eq!(task.dim(), Cnn.dim());
    let cfg = TrainConfig {
        workers: 7,
        byzantine: 3,
        backend: Backend::Cpu,
        iterations: 120,
        eval_every: 120,
        seed: 2,
        ..TrainConfig::default() // the NeurIPS setting: mu2-SGD, lr 0.01, batch 16, w-CTMA(w-CWMed), sign flip
    };
    let run = simulate(&task, &cfg, &mut |_| {}).unwrap();
    let (first, last) = (&run.records[0], run.records.last().unwrap());
    assert!(first.test_accuracy < 0.3, "{first:?}");
    assert!(last.test_accuracy > 0.6, "{last:?}");
    // Evaluation reads the BatchNorm running statistics that training moved.
    let stats = task.bn_stats();
    assert!(stats.mean.iter().any(|m| *m != 0.0) && stats.var.iter().all(|v| v.is_finite() && *v > 0.0));
    // BatchNorm needs two examples per minibatch: one is refused, naming the parameter.
    let err = simulate(&task, &TrainConfig { batch: 1, ..cfg }, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
}
