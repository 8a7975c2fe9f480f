//! The attacks on small cases checked by hand (the expected values are worked out in the
//! comments), their names, and every attack through the three drivers.

use byzagg::train::{
    ATTACKS, Adversary, Attack, HonestView, Rng, Sharding, SyntheticTask, Task, TrainConfig, run_threads,
    shards, simulate, simulate_sync,
};
use byzagg::{Backend, ByzantineShare, Rule};

/// A synchronous view: the honest rows with weight 1, f Byzantine rows.
fn view<'a>(rows: &[&'a [f32]], f: usize) -> HonestView<'a> {
    let n = rows.len() + f;
    HonestView {
        rows: rows.to_vec(),
        weights: vec![1.0; rows.len()],
        workers: (n, f),
        updates: (n as u64, f as u64),
        ids: (0..rows.len()).collect(),
        byzantine_weights: vec![1.0; f],
    }
}

fn adversary(attack: &str, rule: &str, f: usize) -> Adversary {
    let rule: Rule = rule.parse().unwrap();
    Adversary::new(
        attack.parse().unwrap(),
        &rule,
        Backend::Reference,
        ByzantineShare::F(f),
        7,
    )
    .unwrap()
}

fn send(adv: &mut Adversary, v: &HonestView<'_>, f: usize, d: usize) -> Vec<Vec<f32>> {
    adv.send(vec![Vec::new(); f], v, d).unwrap()
}

#[test]
fn every_listed_attack_parses_and_prints_back() {
    for (name, _) in ATTACKS {
        let plain = name.split(['[', ':']).next().unwrap();
        let a: Attack = plain.parse().unwrap_or_else(|e| panic!("{plain}: {e}"));
        let again: Attack = a.to_string().parse().unwrap();
        assert_eq!(a, again, "{name}");
    }
    assert_eq!(Attack::all().len(), ATTACKS.len() - 1); // all but the `none` control
    assert_eq!(
        "min-sum:std".parse::<Attack>().unwrap().to_string(),
        "min-sum:std"
    );
    assert_eq!(
        "mimic:30".parse::<Attack>().unwrap(),
        Attack::Mimic { warmup: 30 }
    );
    for bad in [
        "fang:1",
        "fang:-3",
        "mimic:x",
        "min-max:foo",
        "optimal",
        "minmax:",
    ] {
        let err = bad.parse::<Attack>().unwrap_err().to_string();
        assert!(err.contains("attack"), "{bad}: {err}");
    }
}

#[test]
fn optimal_ipm_grows_tau_while_the_mean_moves_and_stays_at_zero_against_a_median() {
    // Against the mean of two honest (1, 0) and one Byzantine -tau (1, 0), the distance to the
    // honest mean is (1 + tau) / 3: every step improves, so the 19 steps after tau = 0 double
    // all the way: tau = 10 (1 + 2 + ... + 2^18) = 10 (2^19 - 1) = 5242870.
    let rows: [&[f32]; 2] = [&[1.0, 0.0], &[1.0, 0.0]];
    let out = send(&mut adversary("optimal-ipm", "mean", 1), &view(&rows, 1), 1, 2);
    assert_eq!(out, vec![vec![-5_242_870.0, 0.0]]);
    // Against the median of three honest (1, 0) and one Byzantine row, the median is (1, 0)
    // whatever tau: nothing beats tau = 0, which sends -0 x mean.
    let rows: [&[f32]; 3] = [&[1.0, 0.0], &[1.0, 0.0], &[1.0, 0.0]];
    let out = send(&mut adversary("optimal-ipm", "cwmed", 1), &view(&rows, 1), 1, 2);
    assert_eq!(out, vec![vec![0.0, 0.0]]);
}

#[test]
fn optimal_alie_adds_the_searched_multiple_of_the_sample_std() {
    // Honest 0 and 2: mean 1, sample std sqrt(2). Against the mean of three, the distance is
    // tau sqrt(2) / 3, increasing: tau = 5242870 as for IPM; both Byzantine rows get it.
    let rows: [&[f32]; 2] = [&[0.0], &[2.0]];
    let out = send(&mut adversary("optimal-alie", "mean", 2), &view(&rows, 2), 2, 1);
    let expect = 1.0 + 5_242_870.0 * 2f64.sqrt();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], out[1]);
    assert!((out[0][0] as f64 - expect).abs() / expect < 1e-6, "{out:?}");
}

#[test]
fn min_max_and_min_sum_stop_where_their_distance_bounds_bind() {
    // Honest 0, 0, 3: mean 1, p = mean / |mean| = 1, v = 1 - gamma.
    // Min-max: v^2 <= 9 and (v - 3)^2 <= 9 (the largest honest distance is 3), so v >= 0:
    // gamma = 1, v = 0. Min-sum: 2 v^2 + (v - 3)^2 <= max(9, 9, 18) = 18, i.e.
    // (v - 3)(v + 1) <= 0, so v >= -1: gamma = 2, v = -1.
    let rows: [&[f32]; 3] = [&[0.0], &[0.0], &[3.0]];
    let v = view(&rows, 1);
    let max = send(&mut adversary("min-max", "cwmed", 1), &v, 1, 1)[0][0];
    let sum = send(&mut adversary("min-sum", "cwmed", 1), &v, 1, 1)[0][0];
    assert!(max.abs() < 1e-4, "{max}");
    assert!((sum + 1.0).abs() < 1e-4, "{sum}");
    // The sign direction is the same here; the std direction is the sample std sqrt(3):
    // v = 1 - gamma sqrt(3) >= 0 for min-max, again v = 0.
    let sign = send(&mut adversary("min-max:sign", "cwmed", 1), &v, 1, 1)[0][0];
    let std = send(&mut adversary("min-max:std", "cwmed", 1), &v, 1, 1)[0][0];
    assert!(sign.abs() < 1e-4 && std.abs() < 1e-4, "{sign} {std}");
}

#[test]
fn fang_lands_past_the_honest_extremes_against_the_mean_direction() {
    // Coordinate 0: honest 1 and 3, mean 2 > 0, min 1 > 0: drawn from [1/2, 1].
    // Coordinate 1: honest -1 and -3, mean -2 <= 0, max -1 <= 0: drawn from [-1, -1/2].
    // Coordinate 2: honest -1 and 3, mean 1 > 0, min -1 <= 0: drawn from [-2, -1].
    let rows: [&[f32]; 2] = [&[1.0, -1.0, -1.0], &[3.0, -3.0, 3.0]];
    let out = send(&mut adversary("fang", "cwmed", 2), &view(&rows, 2), 2, 3);
    assert_ne!(out[0], out[1], "each Byzantine worker draws its own values");
    for v in &out {
        assert!((0.5..=1.0).contains(&v[0]), "{v:?}");
        assert!((-1.0..=-0.5).contains(&v[1]), "{v:?}");
        assert!((-2.0..=-1.0).contains(&v[2]), "{v:?}");
    }
}

#[test]
fn mimic_copies_an_extreme_worker_then_keeps_following_it() {
    // Honest 3, 1 and 2 on the first axis: centred +1, -1, 0, so the top direction is the
    // first axis (either sign) and the target is worker 0 or 1, never the centre, worker 2.
    let rows: [&[f32]; 3] = [&[3.0, 0.0], &[1.0, 0.0], &[2.0, 0.0]];
    let mut adv = adversary("mimic", "cwmed", 2);
    let out = send(&mut adv, &view(&rows, 2), 2, 2);
    assert_eq!(out[0], out[1], "every Byzantine worker sends the same copy");
    let target = rows.iter().position(|r| *r == out[0].as_slice()).unwrap();
    assert!(target < 2, "copied the centre: {out:?}");
    // After the warmup (1 attack), the same worker is copied whatever the others send.
    let moved: [&[f32]; 3] = [&[-7.0, 1.0], &[8.0, 1.0], &[0.5, 9.0]];
    let out = send(&mut adv, &view(&moved, 2), 2, 2);
    assert_eq!(out[0], moved[target]);
}

#[test]
fn the_searched_attacks_send_zeros_before_any_honest_vector_arrived() {
    for a in [
        "optimal-ipm",
        "optimal-alie",
        "min-max",
        "min-sum",
        "mimic",
        "fang",
    ] {
        let out = send(&mut adversary(a, "cwtm", 1), &view(&[], 1), 1, 3);
        assert_eq!(out, vec![vec![0.0; 3]], "{a}");
    }
}

#[test]
fn every_attack_runs_in_the_sync_async_and_threads_drivers() {
    let task = SyntheticTask::new(12, 600, 200, 3);
    let base = TrainConfig {
        workers: 7,
        byzantine: 2,
        rule: "cwtm".parse().unwrap(),
        backend: Backend::Reference,
        lambda: 0.25,
        lr: 0.5,
        iterations: 40,
        eval_every: 20,
        seed: 2,
        ..TrainConfig::default()
    };
    for attack in Attack::all() {
        let cfg = TrainConfig {
            attack,
            ..base.clone()
        };
        let sync = simulate_sync(&task, &cfg, &mut |_| {}).unwrap_or_else(|e| panic!("{attack} sync: {e}"));
        let sim = simulate(&task, &cfg, &mut |_| {}).unwrap_or_else(|e| panic!("{attack} sim: {e}"));
        let threads =
            run_threads(&task, &cfg, &mut |_| {}).unwrap_or_else(|e| panic!("{attack} threads: {e}"));
        for run in [&sync, &sim, &threads] {
            assert!(run.final_accuracy().is_finite(), "{attack}");
        }
        // A seeded run repeats bit for bit with the attack's own state and random stream.
        let again = simulate(&task, &cfg, &mut |_| {}).unwrap();
        assert_eq!(sim.params, again.params, "{attack}");
    }
}

#[test]
fn dirichlet_shards_cover_the_set_and_skew_with_small_alpha() {
    let task = SyntheticTask::new(5, 2000, 100, 4);
    // Mean over workers of the share of their largest class.
    let skew = |alpha: f64| -> f64 {
        let s = shards(&task, 10, Sharding::Dirichlet { alpha }, 9);
        let mut all: Vec<usize> = s.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..2000).collect::<Vec<_>>(),
            "every example in exactly one shard"
        );
        assert!(s.iter().all(|w| !w.is_empty()));
        s.iter()
            .map(|w| {
                let ones = w.iter().filter(|&&i| task.train_label(i) == 1).count();
                ones.max(w.len() - ones) as f64 / w.len() as f64
            })
            .sum::<f64>()
            / 10.0
    };
    let (tight, loose) = (skew(0.05), skew(1000.0));
    assert!(tight > 0.9, "alpha 0.05: {tight}");
    assert!(loose < 0.6, "alpha 1000: {loose}");
    for bad in ["dirichlet(0)", "dirichlet(-1)", "dirichlet(x)", "dirichlet"] {
        assert!(bad.parse::<Sharding>().is_err(), "{bad}");
    }
    assert_eq!(
        "dirichlet(0.5)".parse::<Sharding>().unwrap().to_string(),
        "dirichlet(0.5)"
    );
}

#[test]
fn gamma_samples_have_the_right_mean() {
    for shape in [0.3, 1.0, 4.5] {
        let mut rng = Rng::new(1);
        let n = 40_000;
        let mean = (0..n).map(|_| rng.gamma(shape)).sum::<f64>() / n as f64;
        // Var = shape, so the standard error is sqrt(shape / n) < 0.011.
        assert!((mean - shape).abs() < 0.05, "shape {shape}: mean {mean}");
    }
}
