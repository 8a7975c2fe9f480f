//! Golden values from docs/SPEC.md and the papers' code, on every available backend.

mod common;

use byzagg::{Aggregator, Backend, Batch, Rule, Step};
use common::backend_or_skip;

const ROWS: [[f32; 3]; 3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];

fn aggregate(text: &str, backend: Backend, rows: &[[f32; 3]]) -> Vec<f32> {
    let rule: Rule = text.parse().expect("rule");
    Aggregator::new(rule, backend)
        .and_then(|a| a.aggregate(&Batch::from_rows(rows)?))
        .expect("aggregate")
}

#[test]
fn median_of_three_rows() {
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_eq!(
            aggregate("cwmed", backend, &ROWS),
            vec![4.0, 5.0, 6.0],
            "{backend}"
        );
    }
}

#[test]
fn gm_rfa_preset_matches_the_papers_code() {
    let want = [3.787_887_6_f32, 4.787_887_6, 5.787_887_6];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let got = aggregate("gm(preset=rfa)", backend, &ROWS);
        for (g, w) in got.iter().zip(want) {
            assert!(
                approx::abs_diff_eq!(*g, w, epsilon = 1e-6 * w),
                "{backend}: {got:?}"
            );
        }
    }
}

#[test]
fn krum_with_equal_scores_picks_row_zero() {
    // Three corners of a simplex: every row is at squared distance 2 from the others.
    let rows = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_eq!(
            aggregate("krum(f=0)", backend, &rows),
            vec![1.0, 0.0, 0.0],
            "{backend}"
        );
    }
}

#[test]
fn numpy_median_for_even_n() {
    let rows = [
        [1.0f32, -5.0, 0.0],
        [2.0, 7.0, 0.0],
        [10.0, 1.0, 3.0],
        [4.0, 2.0, 3.0],
    ];
    // np.median(rows, axis=0) == [3.0, 1.5, 1.5]
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_eq!(
            aggregate("cwmed", backend, &rows),
            vec![3.0, 1.5, 1.5],
            "{backend}"
        );
    }
}

#[test]
fn reports_say_what_the_rule_did() {
    let rows = [[0.0f32, 0.0], [0.1, 0.0], [0.0, 0.1], [100.0, 100.0], [0.1, 0.1]];
    for backend in [Backend::Cpu].into_iter().filter_map(backend_or_skip) {
        let agg = Aggregator::new("ctma(krum(f=1),f=1)".parse().expect("rule"), backend).expect("aggregator");
        let mut out = [0.0f32; 2];
        let report = agg
            .aggregate_into(&Batch::from_rows(&rows).expect("batch"), &mut out)
            .expect("aggregate");
        let [Step::Krum { selected, .. }, Step::Ctma { kept, rejected }] = report.steps.as_slice() else {
            panic!("unexpected report {report:?}");
        };
        assert_eq!(selected.len(), 1);
        assert_eq!(kept.len(), 4);
        assert_eq!(rejected, &vec![3]);

        let gm = Aggregator::new("gm".parse().expect("rule"), backend).expect("aggregator");
        let report = gm
            .aggregate_into(&Batch::from_rows(&rows).expect("batch"), &mut out)
            .expect("aggregate");
        assert!(
            matches!(report.steps.as_slice(), [Step::Gm { converged: true, iterations }] if *iterations >= 1)
        );
    }
}

/// The default geometric median is the true one: the weighted sum of unit vectors from it
/// to the rows vanishes (SPEC 4.5).
#[test]
fn gm_default_meets_the_optimality_condition() {
    let mut rng = common::Rng(9);
    let (n, d) = (11, 5);
    let data = rng.rows(n, d);
    let w: Vec<f64> = (0..n).map(|_| rng.range(0.5, 2.0)).collect();
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let z = common::run(&"gm".parse().expect("rule"), backend, &data, n, Some(&w), None).expect("gm");
        let mut grad = vec![0.0f64; d];
        for i in 0..n {
            let diff: Vec<f64> = (0..d).map(|j| data[i * d + j] as f64 - z[j] as f64).collect();
            let norm = diff.iter().map(|v| v * v).sum::<f64>().sqrt();
            for j in 0..d {
                grad[j] += w[i] * diff[j] / norm;
            }
        }
        let total: f64 = w.iter().sum();
        let g = grad.iter().map(|v| v * v).sum::<f64>().sqrt() / total;
        assert!(g < 1e-4, "{backend}: |sum of unit vectors| / W = {g}");
    }
}

/// `rule` on `rows` is within 1e-6 of `want` (scaled as [`assert_near`]).
fn check(rule: &str, backend: Backend, rows: &[[f32; 3]], want: &[f64]) {
    let got = aggregate(rule, backend, rows);
    assert_near(&got, want, 1e-6, &format!("{backend} {rule} on {rows:?}"));
}

/// Asserts `got` within `tol` (relative to max(1, |want|)) of `want`, coordinate by coordinate.
fn assert_near(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (f64::from(*g) - w).abs() <= tol * w.abs().max(1.0),
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

/// Four rows whose coordinates exercise MeaMed's window: a midpoint median with a tie on
/// either side of it, a far outlier below, and a median of zeros.
const MEAMED_ROWS: [[f32; 3]; 4] = [
    [1.0, 10.0, 0.0],
    [2.0, 20.0, 0.0],
    [4.0, 40.0, 5.0],
    [100.0, -50.0, 0.0],
];

#[test]
fn meamed_by_hand() {
    // f = 1: the 3 values closest to the median. Coordinate 0: median 3, distances 2, 1, 1,
    // 97: 2 and 4 tie at 1, then 1; (2 + 4 + 1) / 3. Coordinate 1: median 15, 10 and 20 at
    // 5, then 40 at 25 (-50 is 65 away): 70 / 3. Coordinate 2: three zeros.
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        check(
            "meamed(f=1)",
            backend,
            &MEAMED_ROWS,
            &[7.0 / 3.0, 70.0 / 3.0, 0.0],
        );
        // Weights 1, 1, 2, 1 and lambda = 0.2 keep mass 4 of 5. Coordinate 0: cumulative
        // weights 1, 2, 4 reach half (2.5) at 4, the median; then 4 (mass 2, distance 0),
        // 2 (distance 2), 1 (distance 3): (8 + 2 + 1) / 4. Coordinate 1 (sorted -50, 10, 20,
        // 40 with weights 1, 1, 1, 2): the median is 20; 20, 10 (distance 10) and 40
        // (distance 20, mass 2): (20 + 10 + 80) / 4. Coordinate 2: the median 0 and the
        // three zeros' mass 3, then 1 of the 5 (mass 2): (0 + 5) / 4.
        let agg = Aggregator::new("meamed(lambda=0.2)".parse().unwrap(), backend).unwrap();
        let batch = Batch::from_rows(&MEAMED_ROWS)
            .and_then(|b| b.with_weights(&[1.0, 1.0, 2.0, 1.0]))
            .unwrap();
        let got = agg.aggregate(&batch).unwrap();
        assert_near(&got, &[2.75, 27.5, 1.25], 1e-6, &format!("{backend} weighted"));
    }
}

/// Four rows of norms 5, 1, 2 and 10.
const NORM_ROWS: [[f32; 3]; 4] = [
    [3.0, 4.0, 0.0],
    [1.0, 0.0, 0.0],
    [0.0, 2.0, 0.0],
    [0.0, 0.0, 10.0],
];

#[test]
fn cge_by_hand() {
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        // f = 1 drops the row of norm 10: the mean of the other three.
        check("cge(f=1)", backend, &NORM_ROWS, &[4.0 / 3.0, 2.0, 0.0]);
        // Weights 1, 1, 1, 2 and lambda = 0.2 keep mass 4: norms 1, 2, 5 whole, then 1 of
        // the 2 of the row of norm 10.
        let agg = Aggregator::new("cge(lambda=0.2)".parse().unwrap(), backend).unwrap();
        let batch = Batch::from_rows(&NORM_ROWS)
            .and_then(|b| b.with_weights(&[1.0, 1.0, 1.0, 2.0]))
            .unwrap();
        let got = agg.aggregate(&batch).unwrap();
        assert_near(&got, &[1.0, 1.5, 2.5], 1e-6, &format!("{backend} weighted"));
    }
}

#[test]
fn monna_by_hand() {
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        // Squared distances from row 3, (0, 0, 10): 125, 101, 104, 0; f = 1 drops row 0.
        check(
            "monna(f=1,pivot=3)",
            backend,
            &NORM_ROWS,
            &[1.0 / 3.0, 2.0 / 3.0, 10.0 / 3.0],
        );
        // From row 1, (1, 0, 0): 20, 0, 5, 101; f = 1 drops row 3.
        check("monna(f=1,pivot=1)", backend, &NORM_ROWS, &[4.0 / 3.0, 2.0, 0.0]);
    }
}

#[test]
fn bulyan_by_hand() {
    // One-dimensional values 0, 1, 2, 3, 6, 10, 100 (rows 0..7), f = 1. Krum rounds, with
    // |R| - 3 neighbours: of 7 rows (4 neighbours) row 2 scores 1 + 1 + 4 + 16 = 22, the
    // least; of the 6 left (3) row 3 scores 4 + 9 + 9 = 22; of 5 (2) row 1 scores 1 + 25;
    // of 4 (1) rows 4 and 5 tie at 16 and the lower index wins; of 3 (still 1: the count
    // never drops under one) rows 0 and 5 tie at 100 and row 0 wins. MeaMed keeps 3 of the 5 chosen (0, 1, 2, 3, 6) around their median
    // 2: 2, then 1 and 3 at distance 1: mean 2.
    let rows: Vec<[f32; 3]> = [0.0f32, 1.0, 2.0, 3.0, 6.0, 10.0, 100.0]
        .iter()
        .map(|&v| [v, -v, 0.0])
        .collect();
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let agg = Aggregator::new("bulyan(f=1)".parse().unwrap(), backend).unwrap();
        let mut out = [0.0f32; 3];
        let report = agg
            .aggregate_into(&Batch::from_rows(&rows).unwrap(), &mut out)
            .unwrap();
        assert_near(&out, &[2.0, -2.0, 0.0], 1e-6, &format!("{backend}"));
        if backend != Backend::Reference {
            let [Step::Krum { selected, .. }] = report.steps.as_slice() else {
                panic!("{backend}: unexpected report {report:?}");
            };
            assert_eq!(selected, &vec![2, 3, 1, 4, 0], "{backend}");
        }
    }
    assert!(
        Rule::Bulyan { share: None }
            .plan(6, Some(byzagg::ByzantineShare::F(1)))
            .is_err()
    );
}

#[test]
fn bulyan_last_krum_pick_ranks_by_the_data() {
    // Values 30, 0, 1, 3, 7, 10, 12, f = 1: Krum picks rows 3, 4, 2 and 5 (scores 78, 70, 82,
    // then 4 tied with row 6), leaving 30, 0 and 12 (rows 0, 1, 6). |R| - f - 2 = 0 there;
    // with no neighbour every score would be 0 and row 0 (the outlier 30) would win on index.
    // One neighbour at least (Flower's clamp): row 0 scores 18^2 = 324, rows 1 and 6 tie at
    // 12^2 = 144 and row 1 wins. MeaMed over 3, 7, 1, 10, 0 keeps 3, 1, 0 (median 3): 4/3.
    let rows: Vec<[f32; 3]> = [30.0f32, 0.0, 1.0, 3.0, 7.0, 10.0, 12.0]
        .iter()
        .map(|&v| [v, -v, 0.0])
        .collect();
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let agg = Aggregator::new("bulyan(f=1)".parse().unwrap(), backend).unwrap();
        let mut out = [0.0f32; 3];
        let report = agg
            .aggregate_into(&Batch::from_rows(&rows).unwrap(), &mut out)
            .unwrap();
        assert_near(&out, &[4.0 / 3.0, -4.0 / 3.0, 0.0], 1e-6, &format!("{backend}"));
        if backend != Backend::Reference {
            let [Step::Krum { selected, .. }] = report.steps.as_slice() else {
                panic!("{backend}: unexpected report {report:?}");
            };
            assert_eq!(selected, &vec![3, 4, 2, 5, 1], "{backend}");
        }
    }
}

#[test]
fn clip_by_hand() {
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        // ByzFL's `Clipping(2)` example: every row scaled to norm 2 (all norms exceed it):
        // [0.53452248, 1.06904497, 1.60356745], [0.91168461, 1.13960576, 1.36752692],
        // [1.00514142, 1.14873305, 1.29232469]; then their mean and their median.
        check(
            "clip(mean,tau=2)",
            backend,
            &ROWS,
            &[0.817_116_17, 1.119_127_93, 1.421_139_68],
        );
        check(
            "clip(cwmed,tau=2)",
            backend,
            &ROWS,
            &[0.911_684_61, 1.139_605_76, 1.367_526_92],
        );
        // Norms 5, 1, 2, 10 and tau = 2: factors 2/5, 1, 1, 1/5, so the rows become (1.2, 1.6,
        // 0), (1, 0, 0), (0, 2, 0), (0, 0, 2): mean (0.55, 0.9, 0.5).
        check("clip(mean,tau=2)", backend, &NORM_ROWS, &[0.55, 0.9, 0.5]);
        // A row of NaN has an infinite norm and becomes the zero vector: (1.2, 1.6, 0),
        // (1, 0, 0), (0, 2, 0), 0 has mean (0.55, 0.9, 0).
        let mut rows = NORM_ROWS;
        rows[3] = [f32::NAN; 3];
        check("clip(mean,tau=2)", backend, &rows, &[0.55, 0.9, 0.0]);
    }
}

#[test]
fn arc_by_hand() {
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        // ByzFL's `ARC(1)` example: n = 3, f = 1 clips floor(2 * 1/3 * 2) = 1 row, the largest
        // (norm sqrt(194)), to the next norm, sqrt(77): (4.41004009, 5.04004582, 5.67005155).
        // The mean of the clipped rows:
        check(
            "arc(mean,f=1)",
            backend,
            &ROWS,
            &[3.136_680_03, 4.013_348_61, 4.890_017_18],
        );
        // Norms 5, 1, 2, 10, f = 1: floor(2 * 1/4 * 3) = 1 row clipped, (0, 0, 10) to norm 5.
        check("arc(mean,f=1)", backend, &NORM_ROWS, &[1.0, 1.5, 1.25]);
        // f = 0 clips nothing: the mean.
        check("arc(mean,f=0)", backend, &NORM_ROWS, &[1.0, 1.5, 2.5]);
        // Weights 2, 1, 1, 1 (W = 5) and lambda = 0.2 clip the mass 2 * 0.2 * 0.8 * 5 = 1.6 of
        // largest norm: the norm-10 row (mass 1), and the norm-5 row (mass 2) reaches past
        // 1.6, so the threshold is 5. Weighted mean of (3, 4, 0) x 2, (1, 0, 0), (0, 2, 0),
        // (0, 0, 5): (1.4, 2, 1). The multiset (row 0 twice, f = 1 of 5) clips
        // floor(2 * 1/5 * 4) = 1 copy to the norm of the second largest, 5: the same.
        let agg = Aggregator::new("arc(mean,lambda=0.2)".parse().unwrap(), backend).unwrap();
        let batch = Batch::from_rows(&NORM_ROWS)
            .and_then(|b| b.with_weights(&[2.0, 1.0, 1.0, 1.0]))
            .unwrap();
        let got = agg.aggregate(&batch).unwrap();
        assert_near(&got, &[1.4, 2.0, 1.0], 1e-6, &format!("{backend} weighted"));
        // Over the median: the clipped rows (3, 4, 0), (1, 0, 0), (0, 2, 0), (0, 0, 5) have
        // coordinate medians 0.5, 1, 0.
        check("arc(cwmed,f=1)", backend, &NORM_ROWS, &[0.5, 1.0, 0.0]);
    }
}

#[test]
fn fltrust_by_hand() {
    let root = [1.0f32, 1.0, 0.0];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let agg = Aggregator::new(Rule::FlTrust, backend).unwrap();
        // Against g0 = (1, 1, 0), |g0| = sqrt 2, the rows of norms 5, 1, 2, 10 have cosines
        // 7 / (5 sqrt 2), 1 / sqrt 2, 1 / sqrt 2 and 0 (trust 0). Rescaled to sqrt 2 and
        // weighted by trust: 7/25 (3, 4, 0) + (1, 0, 0) + (0, 1, 0) = (1.84, 2.12, 0), over
        // the trust 3.4 / sqrt 2.
        let batch = Batch::from_rows(&NORM_ROWS)
            .and_then(|b| b.with_root(&root))
            .unwrap();
        let got = agg.aggregate(&batch).unwrap();
        let s = 2f64.sqrt() / 3.4;
        assert_near(&got, &[1.84 * s, 2.12 * s, 0.0], 1e-6, &format!("{backend}"));
        // Weight 2 on row 1 adds its term once more: (2.84, 2.12, 0) over 4.4 / sqrt 2.
        let weighted = batch.clone().with_weights(&[1.0, 2.0, 1.0, 1.0]).unwrap();
        let got = agg.aggregate(&weighted).unwrap();
        let s = 2f64.sqrt() / 4.4;
        assert_near(
            &got,
            &[2.84 * s, 2.12 * s, 0.0],
            1e-6,
            &format!("{backend} weighted"),
        );
        // Every row points away from (-1, -1, -1): all trust is 0, and the output is zero.
        let away = [-1.0f32, -1.0, -1.0];
        let batch = Batch::from_rows(&NORM_ROWS)
            .and_then(|b| b.with_root(&away))
            .unwrap();
        assert_eq!(agg.aggregate(&batch).unwrap(), vec![0.0; 3], "{backend} no trust");
    }
}

#[test]
fn clipping_and_trust_are_reported() {
    // The rule layer's backends report steps; the reference computes outputs only.
    let layered = [Backend::Cpu, Backend::Wgpu, Backend::Cuda];
    for backend in layered.into_iter().filter_map(backend_or_skip) {
        // ARC(1) on the three rows: row 2 clipped to sqrt(77), the norm of row 1.
        let agg = Aggregator::new("arc(mean,f=1)".parse().unwrap(), backend).unwrap();
        let mut out = [0.0f32; 3];
        let report = agg
            .aggregate_into(&Batch::from_rows(&ROWS).unwrap(), &mut out)
            .unwrap();
        let Some(Step::Clip { threshold, clipped }) = report.steps.first() else {
            panic!("{backend}: {:?}", report.steps)
        };
        assert!((threshold - 77f64.sqrt()).abs() < 1e-5, "{backend}: {threshold}");
        assert_eq!(clipped, &[2], "{backend}");
        // FLTrust's trust against (1, 1, 0): 7 / (5 sqrt 2), 1 / sqrt 2, 1 / sqrt 2, 0.
        let agg = Aggregator::new(Rule::FlTrust, backend).unwrap();
        let batch = Batch::from_rows(&NORM_ROWS)
            .and_then(|b| b.with_root(&[1.0, 1.0, 0.0]))
            .unwrap();
        let report = agg.aggregate_into(&batch, &mut out).unwrap();
        let Some(Step::FlTrust { trust }) = report.steps.first() else {
            panic!("{backend}: {:?}", report.steps)
        };
        let s = 0.5f64.sqrt();
        for (t, want) in trust.iter().zip([1.4 * s, s, s, 0.0]) {
            assert!((t - want).abs() < 1e-6, "{backend}: {trust:?}");
        }
    }
}

/// One-dimensional values as rows `[v, 2v, 0]` (distances and variances scale by 5).
fn on_a_line(values: &[f32]) -> Vec<[f32; 3]> {
    values.iter().map(|&v| [v, 2.0 * v, 0.0]).collect()
}

fn aggregate_weighted(text: &str, backend: Backend, rows: &[[f32; 3]], w: &[f64]) -> Vec<f32> {
    let rule: Rule = text.parse().expect("rule");
    Aggregator::new(rule, backend)
        .and_then(|a| a.aggregate(&Batch::from_rows(rows)?.with_weights(w)?))
        .expect("aggregate")
}

#[test]
fn mda_by_hand() {
    // Values 0, 1, 3, 4, 20. Three rows (f = 2): {0, 1, 3} and {1, 3, 4} tie at diameter
    // 3^2, and the first combination wins: mean 4/3. Four rows (f = 1): {0, 1, 3, 4}, mean 2.
    let rows = on_a_line(&[0.0, 1.0, 3.0, 4.0, 20.0]);
    let line = |v: f64| [v, 2.0 * v, 0.0];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_near(
            &aggregate("mda(f=2)", backend, &rows),
            &line(4.0 / 3.0),
            1e-6,
            &format!("{backend}"),
        );
        assert_near(
            &aggregate("mda(f=1)", backend, &rows),
            &line(2.0),
            1e-6,
            &format!("{backend}"),
        );
        // Weights 1, 1, 1, 3, 1 and lambda = 2/7 keep mass 5: {1, 3, 4} weighs exactly 5 at
        // diameter 3^2 (as the copies 1, 3, 4, 4, 4 do); anything holding 0 and 4 is wider.
        let got = aggregate_weighted(
            "mda(lambda=0.2857142857142857)",
            backend,
            &rows,
            &[1.0, 1.0, 1.0, 3.0, 1.0],
        );
        assert_near(&got, &line(16.0 / 5.0), 1e-6, &format!("{backend} weighted"));
        // A NaN row in place of 20 is infinitely far from the rest.
        let poisoned = [rows[0], rows[1], rows[2], rows[3], [f32::NAN, 0.0, 0.0]];
        assert_near(
            &aggregate("mda(f=1)", backend, &poisoned),
            &line(2.0),
            1e-6,
            &format!("{backend} NaN"),
        );
    }
    let err = "mda(f=1)"
        .parse::<Rule>()
        .unwrap()
        .plan(65, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("n = 65") && err.contains("64"), "{err}");
}

#[test]
fn smea_by_hand() {
    // Values 0, 1, 3, 5, 20, f = 2: variances of the triples {0, 1, 3} 42/27, {1, 3, 5} 8/3,
    // {0, 1, 5} 14/3, {0, 3, 5} 114/27, any with 20 far more: the first wins, mean 4/3.
    let rows = on_a_line(&[0.0, 1.0, 3.0, 5.0, 20.0]);
    let line = |v: f64| [v, 2.0 * v, 0.0];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_near(
            &aggregate("smea(f=2)", backend, &rows),
            &line(4.0 / 3.0),
            1e-6,
            &format!("{backend}"),
        );
        // Weights 2, 1, 1, 1, 1 and lambda = 1/3 keep mass 4: masses (2, 1, 1, 0, 0) have
        // mean 1 and variance 6/4, less than (1, 1, 1, 1, 0) (3.69) or (2, 1, 0, 1, 0) (4.25).
        let got = aggregate_weighted(
            "smea(lambda=0.3333333333333333)",
            backend,
            &rows,
            &[2.0, 1.0, 1.0, 1.0, 1.0],
        );
        assert_near(&got, &line(1.0), 1e-6, &format!("{backend} weighted"));
    }
    let err = "smea(f=1)"
        .parse::<Rule>()
        .unwrap()
        .plan(25, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("n = 25") && err.contains("24"), "{err}");
}

#[test]
fn caf_by_hand() {
    // Values 0, 1, 2, 9. Each round scales the weights by 1 - tau_i / max tau, the maximum
    // over every row, the one already filtered out included (ByzFL's CAF).
    // lambda = 0.17875 (stop once the weight left is <= 2.57): round 1 (mean 3, variance
    // 12.5, tau = 9, 4, 1, 36) leaves 27/36, 32/36, 35/36, 0 (sum 2.61). Round 2 (mean
    // mu2 = 51/47, variance 0.652) scores the row at 9 too: its tau (9 - mu2)^2 is the
    // maximum, so the others lose little (sum 2.58 > 2.57) and round 3 runs, with variance
    // 0.649 < 0.652: its mean is the output, and its step leaves 2.557, which stops the rounds.
    let rows = on_a_line(&[0.0, 1.0, 2.0, 9.0]);
    let line = |v: f64| [v, 2.0 * v, 0.0];
    let xs = [0.0, 1.0, 2.0];
    let c1 = [27.0 / 36.0, 32.0 / 36.0, 35.0 / 36.0];
    let mu2 = 51.0 / 47.0;
    let c2: Vec<f64> = (0..3)
        .map(|i| c1[i] * (1.0 - (xs[i] - mu2) * (xs[i] - mu2) / ((9.0 - mu2) * (9.0 - mu2))))
        .collect();
    let mu3 = (c2[1] + 2.0 * c2[2]) / (c2[0] + c2[1] + c2[2]);
    // f = 1 (stop at 2): the same steps, on to round 29, by the plain one-dimensional loop.
    let one_dimension = |stop: f64| {
        let all = [0.0, 1.0, 2.0, 9.0];
        let mut c = [1.0f64; 4];
        let mut best = (f64::INFINITY, 0.0);
        loop {
            let sum: f64 = c.iter().sum();
            let mu = c.iter().zip(all).map(|(ci, x)| ci * x).sum::<f64>() / sum;
            let var = c
                .iter()
                .zip(all)
                .map(|(ci, x)| ci * (x - mu) * (x - mu))
                .sum::<f64>()
                / sum;
            if var < best.0 {
                best = (var, mu);
            }
            let max = all.iter().map(|x| (x - mu) * (x - mu)).fold(0.0, f64::max);
            for (ci, x) in c.iter_mut().zip(all) {
                *ci *= 1.0 - (x - mu) * (x - mu) / max;
            }
            if c.iter().sum::<f64>() <= stop {
                return best.1;
            }
        }
    };
    assert!((one_dimension(2.57) - mu3).abs() < 1e-12);
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        assert_near(
            &aggregate("caf(lambda=0.17875)", backend, &rows),
            &line(mu3),
            1e-6,
            &format!("{backend} three rounds"),
        );
        assert_near(
            &aggregate("caf(f=1)", backend, &rows),
            &line(one_dimension(2.0)),
            1e-6,
            &format!("{backend}"),
        );
        // A NaN row in place of 9: round 1 scores +inf and drops it; round 2 (mean 1,
        // variance 2/3) zeroes the rows at 0 and 2 and the rounds stop: output 1.
        let poisoned = [rows[0], rows[1], rows[2], [f32::NAN; 3]];
        assert_near(
            &aggregate("caf(f=1)", backend, &poisoned),
            &line(1.0),
            1e-6,
            &format!("{backend} NaN"),
        );
        // f = 0: the first round alone, the mean.
        assert_near(
            &aggregate("caf(f=0)", backend, &rows),
            &line(3.0),
            1e-6,
            &format!("{backend} f=0"),
        );
    }
}

#[test]
fn gm_leaves_a_starting_row_that_is_not_the_median() {
    // The coordinate-wise median of these rows is row 0, (0, 0, 0), where Weiszfeld starts;
    // the other rows' unit vectors sum to about (-0.49, 0.93, 0), longer than row 0's weight
    // 1, so row 0 is not the geometric median. A smoothed step alone stays on it.
    let rows = [
        [0.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0],
        [1.0, 5.0, 0.0],
        [2.0, 6.0, 0.0],
        [0.0, -1.0, 0.0],
    ];
    for backend in Backend::ALL.into_iter().filter_map(backend_or_skip) {
        let z = aggregate("gm", backend, &rows);
        assert!(z[0] != 0.0 || z[1] != 0.0, "{backend}: stayed on row 0");
        // Optimality: the unit vectors towards the rows sum to ~0 (no row sits at z).
        let mut g = [0.0f64; 2];
        for x in &rows {
            let (dx, dy) = (f64::from(x[0] - z[0]), f64::from(x[1] - z[1]));
            let r = (dx * dx + dy * dy).sqrt();
            g[0] += dx / r;
            g[1] += dy / r;
        }
        assert!(g[0].hypot(g[1]) < 1e-3, "{backend}: gradient {g:?} at {z:?}");
    }
}
