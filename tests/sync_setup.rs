//! The ICML synchronous code's setup, piece by piece on tiny settings: the simple CNN's
//! gradient against finite differences, epoch-dealt rounds, STORM's after-step order, which
//! workers keep an estimator under each attack, gradient clipping, ALIE's sample std, and the
//! `icml-sync-mnist` preset end to end.

mod common;

use std::sync::Mutex;

use byzagg::train::{
    Adversary, AlieForm, Attack, Eval, HonestView, Method, MnistModel, MnistTask, Rng, Sampling, Sharding,
    SimpleCnn, StormOrder, SyntheticTask, Task, TrainConfig, simulate, simulate_sync,
};
use byzagg::{Backend, ByzantineShare, Rule};

/// A synthetic task that records every gradient call: its examples and whether labels flipped.
struct Recording {
    inner: SyntheticTask,
    calls: Mutex<Vec<(Vec<usize>, bool)>>,
}

impl Recording {
    fn new() -> Self {
        Recording {
            inner: SyntheticTask::new(12, 240, 60, 4),
            calls: Mutex::new(Vec::new()),
        }
    }
    fn take(&self) -> Vec<(Vec<usize>, bool)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl Task for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn classes(&self) -> usize {
        self.inner.classes()
    }
    fn init(&self, seed: u64) -> Vec<f32> {
        self.inner.init(seed)
    }
    fn train_len(&self) -> usize {
        self.inner.train_len()
    }
    fn train_label(&self, i: usize) -> usize {
        self.inner.train_label(i)
    }
    fn gradient(&self, params: &[f32], examples: &[usize], flip: bool, grad: &mut [f32]) -> f64 {
        self.calls.lock().unwrap().push((examples.to_vec(), flip));
        self.inner.gradient(params, examples, flip, grad)
    }
    fn evaluate(&self, params: &[f32]) -> Eval {
        self.inner.evaluate(params)
    }
}

/// 5 workers of which 2 Byzantine, batch 4, mu2-SGD in the authors' order, dealt rounds.
fn tiny() -> TrainConfig {
    TrainConfig {
        workers: 5,
        byzantine: 2,
        rule: Rule::ctma(Rule::CwMed, None),
        backend: Backend::Reference,
        method: Method::Mu2,
        lr: 0.5,
        batch: 4,
        beta: None,
        gamma: None,
        round_schedules: true,
        storm_order: StormOrder::AfterStep,
        sampling: Sampling::Epochs,
        clip: Some(2.0),
        attack: Attack::SignFlip,
        iterations: 3,
        eval_every: 3,
        seed: 1,
        ..TrainConfig::default()
    }
}

#[test]
fn after_step_order_and_kept_estimators_follow_the_authors_code() {
    let task = Recording::new();
    // Sign flip: all 5 workers keep an estimator: a priming pass, then two passes a round.
    simulate_sync(&task, &tiny(), &mut |_| {}).unwrap();
    let calls = task.take();
    assert_eq!(calls.len(), 5 * (1 + 2 * 3));
    // Each round: first passes of workers 0..5 on the round's minibatches, then second passes
    // on the same minibatches in the same order.
    for r in 0..3 {
        let first = &calls[5 + 10 * r..10 + 10 * r];
        let second = &calls[10 + 10 * r..15 + 10 * r];
        assert_eq!(first, second, "round {r}");
    }
    // Empire: only the 3 honest workers compute; label flip: all, the last 2 on flipped labels.
    simulate_sync(
        &task,
        &TrainConfig {
            attack: Attack::Empire { epsilon: 0.5 },
            ..tiny()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(task.take().len(), 3 * 7);
    simulate_sync(
        &task,
        &TrainConfig {
            attack: Attack::LabelFlip,
            ..tiny()
        },
        &mut |_| {},
    )
    .unwrap();
    let calls = task.take();
    assert_eq!(calls.len(), 5 * 7);
    assert!(
        calls[..5]
            .iter()
            .enumerate()
            .all(|(i, (_, flip))| *flip == (i >= 3))
    );
    // The fresh-sample order: one pass in the first round, two in every later one.
    let fresh = TrainConfig {
        storm_order: StormOrder::FreshSample,
        ..tiny()
    };
    simulate_sync(&task, &fresh, &mut |_| {}).unwrap();
    assert_eq!(task.take().len(), 5 * (1 + 2 + 2));
    // Momentum has no second pass in either order.
    let momentum = TrainConfig {
        method: Method::Momentum,
        ..tiny()
    };
    simulate_sync(&task, &momentum, &mut |_| {}).unwrap();
    assert_eq!(task.take().len(), 5 * 3);
}

#[test]
fn epoch_dealing_covers_the_training_set_without_repeats_honest_rows_first() {
    let task = Recording::new();
    // 240 examples, rounds of 5 x 4 = 20: 12 rounds make one epoch.
    let cfg = TrainConfig {
        iterations: 12,
        eval_every: 12,
        method: Method::Momentum,
        ..tiny()
    };
    simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
    let calls = task.take();
    assert_eq!(calls.len(), 60);
    let mut seen: Vec<usize> = calls.iter().flat_map(|(e, _)| e.clone()).collect();
    assert!(calls.iter().all(|(e, _)| e.len() == 4));
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..240).collect::<Vec<_>>(),
        "one epoch: every example once"
    );
    // The same seed deals the same rounds; sharded sampling draws other minibatches.
    simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
    assert_eq!(task.take(), calls);
    simulate_sync(
        &task,
        &TrainConfig {
            sampling: Sampling::Shards,
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(task.take(), calls);
    // A round larger than the training set, and dealing or the after-step order in the
    // asynchronous simulation, are errors naming the setting.
    let err = simulate_sync(
        &task,
        &TrainConfig {
            batch: 60,
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
    let err = simulate(&task, &cfg, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("sampling"), "{err}");
    let shards = TrainConfig {
        sampling: Sampling::Shards,
        ..tiny()
    };
    let err = simulate(&task, &shards, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("storm_order"), "{err}");
    // Shards with dealt rounds: the dealer would ignore them, so a non-iid label would be false.
    for sharding in [Sharding::LabelSkew, Sharding::Dirichlet { alpha: 0.5 }] {
        let err = simulate_sync(
            &task,
            &TrainConfig {
                sharding,
                ..cfg.clone()
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("sharding"), "{err}");
        assert!(err.to_string().contains("sampling=shards"), "{err}");
    }
}

#[test]
fn the_sync_code_settings_train_and_reproduce() {
    let task = SyntheticTask::new(40, 2000, 500, 11);
    let cfg = TrainConfig {
        workers: 7,
        byzantine: 3,
        lr: 1.0,
        batch: 8,
        iterations: 150,
        eval_every: 50,
        ..tiny()
    };
    for attack in [
        Attack::SignFlip,
        Attack::LabelFlip,
        Attack::Alie { form: AlieForm::Sync },
    ] {
        let cfg = TrainConfig {
            attack,
            ..cfg.clone()
        };
        let run = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
        assert!(run.final_accuracy() > 0.8, "{attack}: {}", run.final_accuracy());
        let again = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
        assert_eq!(run.params, again.params, "{attack}: a seeded run is reproducible");
    }
    // The clip changes the run; a bound of 0 is refused, naming the setting.
    let a = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
    let b = simulate_sync(
        &task,
        &TrainConfig {
            clip: Some(0.01),
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(a.params, b.params);
    let err = simulate_sync(
        &task,
        &TrainConfig {
            clip: Some(0.0),
            ..cfg
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("clip"), "{err}");
}

#[test]
fn alie_sync_uses_the_sample_standard_deviation() {
    // n = 7, f = 2: s = floor(4.5) - 2 = 2, z = Phi^-1((7 - 2 - 2) / 5) = Phi^-1(0.6) = 0.253347.
    // Honest rows 0 and 2: mean 1, sample std sqrt(2) (population std 1).
    let rows: [&[f32]; 2] = [&[0.0], &[2.0]];
    let view = HonestView {
        rows: rows.to_vec(),
        weights: vec![1.0; 2],
        workers: (7, 2),
        updates: (7, 2),
        ids: vec![0, 1],
        byzantine_weights: vec![1.0; 2],
    };
    let z = 0.253_347_1f64;
    let mut adversary = Adversary::new(
        Attack::Alie { form: AlieForm::Sync },
        &Rule::CwMed,
        Backend::Reference,
        ByzantineShare::F(2),
        0,
    )
    .unwrap();
    let sent = &adversary.send(vec![vec![]], &view, 1).unwrap()[0];
    assert!(
        (sent[0] as f64 - (1.0 - z * 2f64.sqrt())).abs() < 1e-5,
        "{sent:?}"
    );
}

/// The simple CNN's training-mode loss in f64, written out plainly from the architecture
/// (padded convolutions as sums over the kernel, BatchNorm2d with the biased variance over
/// minibatch and plane, ReLU, 2 x 2 max pooling, linear layer, mean cross-entropy): an
/// independent reference, smooth enough away from kinks for differences of step 1e-6.
fn reference_loss(p: &[f64], batch: &[(Vec<f32>, usize)]) -> f64 {
    let mut at = 0;
    let mut take = |n: usize| {
        at += n;
        &p[at - n..at]
    };
    let (w1, b1, g1, h1) = (take(400), take(16), take(16), take(16));
    let (w2, b2, g2, h2) = (take(12_800), take(32), take(32), take(32));
    let (fw, fb) = (take(15_680), take(10));
    // One layer on every example: conv (pad 2) - BatchNorm2d - ReLU - max pool 2.
    let layer = |input: &[Vec<f64>], cin: usize, side: usize, w: &[f64], b: &[f64], g: &[f64], h: &[f64]| {
        let cout = b.len();
        let plane = side * side;
        let z: Vec<Vec<f64>> = input
            .iter()
            .map(|a| {
                let mut z = vec![0.0; cout * plane];
                for o in 0..cout {
                    for yy in 0..side {
                        for xx in 0..side {
                            let mut s = b[o];
                            for c in 0..cin {
                                for ky in 0..5 {
                                    for kx in 0..5 {
                                        let (iy, ix) = (yy + ky, xx + kx);
                                        if (2..side + 2).contains(&iy) && (2..side + 2).contains(&ix) {
                                            s += w[((o * cin + c) * 5 + ky) * 5 + kx]
                                                * a[c * plane + (iy - 2) * side + ix - 2];
                                        }
                                    }
                                }
                            }
                            z[o * plane + yy * side + xx] = s;
                        }
                    }
                }
                z
            })
            .collect();
        let n = (z.len() * plane) as f64;
        (0..z.len())
            .map(|e| {
                let half = side / 2;
                let mut out = vec![0.0; cout * half * half];
                for o in 0..cout {
                    let vals = z.iter().flat_map(|ze| ze[o * plane..(o + 1) * plane].iter());
                    let mean = vals.clone().sum::<f64>() / n;
                    let var = vals.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    let y = |k: usize| {
                        (g[o] * (z[e][o * plane + k] - mean) / (var + 1e-5).sqrt() + h[o]).max(0.0)
                    };
                    for py in 0..half {
                        for px in 0..half {
                            let k = 2 * py * side + 2 * px;
                            out[o * half * half + py * half + px] =
                                y(k).max(y(k + 1)).max(y(k + side)).max(y(k + side + 1));
                        }
                    }
                }
                out
            })
            .collect::<Vec<_>>()
    };
    let input: Vec<Vec<f64>> = batch
        .iter()
        .map(|(x, _)| x.iter().map(|v| *v as f64).collect())
        .collect();
    let a1 = layer(&input, 1, 28, w1, b1, g1, h1);
    let a2 = layer(&a1, 16, 14, w2, b2, g2, h2);
    let mut loss = 0.0;
    for (a, (_, y)) in a2.iter().zip(batch) {
        let z: Vec<f64> = (0..10)
            .map(|k| fb[k] + (0..1568).map(|j| fw[k * 1568 + j] * a[j]).sum::<f64>())
            .collect();
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        loss += max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - z[*y];
    }
    loss / batch.len() as f64
}

#[test]
fn simple_cnn_gradient_matches_finite_differences() {
    let net = SimpleCnn;
    let batch = common::mnist_batch();
    let pairs: Vec<(&[f32], usize)> = batch.iter().map(|(x, y)| (&x[..], *y)).collect();
    let params = net.init(3);
    let mut g = vec![0.0; net.dim()];
    let (loss, _) = net.gradient(&params, &pairs, &mut g).unwrap();
    let p64: Vec<f64> = params.iter().map(|v| *v as f64).collect();
    // The forward passes agree, which checks the reference as much as the model.
    let reference = reference_loss(&p64, &batch);
    assert!((loss - reference).abs() < 1e-5, "{loss} vs {reference}");
    // A convolution's bias before a training-mode BatchNorm cancels: its gradient is 0.
    assert!(
        g[400..416]
            .iter()
            .chain(&g[13_248..13_280])
            .all(|v| v.abs() < 1e-5)
    );
    // Every block: conv1 w/b, bn1 scale/shift, conv2 w/b, bn2 scale/shift, linear w/b; in
    // each the entries of largest gradient and a seeded draw of others. Central differences
    // of the f64 reference (step 1e-6: f32 steps cross the pooling's kinks, where the
    // difference averages two slopes).
    let blocks = [
        (0, 400),
        (400, 416),
        (416, 432),
        (432, 448),
        (448, 13_248),
        (13_248, 13_280),
        (13_280, 13_312),
        (13_312, 13_344),
        (13_344, 29_024),
        (29_024, 29_034),
    ];
    let mut rng = Rng::new(17);
    let (mut checked, mut worst) = (0, 0.0f64);
    for (lo, hi) in blocks {
        let mut idx: Vec<usize> = (lo..hi).collect();
        idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        let mut pick: Vec<usize> = idx.iter().take(3).copied().collect();
        pick.extend((0..3).map(|_| lo + rng.below(hi - lo)));
        for i in pick {
            let e = 1e-6;
            let mut q = p64.clone();
            q[i] += e;
            let up = reference_loss(&q, &batch);
            q[i] -= 2.0 * e;
            let slope = (up - reference_loss(&q, &batch)) / (2.0 * e);
            let err = (slope - g[i] as f64).abs();
            if slope.abs() > 1e-4 {
                worst = worst.max(err / slope.abs());
            }
            assert!(
                err <= 1e-5 + 1e-3 * slope.abs(),
                "param {i} (block {lo}..{hi}): gradient {}, difference {slope}",
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 60);
    println!("worst relative error {worst:.2e}");
}

#[test]
fn a_short_simple_cnn_run_learns_mnist_in_the_sync_setup() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let task = MnistTask::load_model(&dir, MnistModel::SimpleCnn, 8000, 0).unwrap();
    assert_eq!((task.dim(), task.min_batch()), (29_034, 1));
    let cfg = TrainConfig {
        workers: 7,
        byzantine: 3,
        backend: Backend::Cpu,
        lr: 0.1,
        iterations: 60,
        eval_every: 60,
        seed: 2,
        ..tiny()
    };
    let run = simulate_sync(&task, &cfg, &mut |_| {}).unwrap();
    let (first, last) = (&run.records[0], run.records.last().unwrap());
    assert!(first.test_accuracy < 0.3, "{first:?}");
    assert!(last.test_accuracy > 0.6, "{last:?}");
    // Evaluation reads the 48 channels' running statistics that training moved.
    let stats = task.bn_stats();
    assert_eq!(stats.mean.len(), 48);
    assert!(stats.mean.iter().any(|m| *m != 0.0) && stats.var.iter().all(|v| v.is_finite() && *v > 0.0));
}

#[test]
fn the_icml_preset_runs_the_simple_cnn_with_the_sync_code_settings() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args([
            "train",
            "--preset",
            "icml-sync-mnist",
            "--iterations",
            "2",
            "--eval-every",
            "2",
        ])
        .args(["--backend", "cpu", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("simple CNN") && text.contains("29034 parameters"),
        "{text}"
    );
    assert!(text.contains("after 2 updates"), "{text}");
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args(["train", "--list-presets"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for setting in [
        "model=simple-cnn",
        "clip=2",
        "sampling=epochs",
        "storm-order=after-step",
        "round-schedules=true",
    ] {
        assert!(listed.contains(setting), "{setting} missing from {listed}");
    }
}
