//! Differential property test (SPEC sections 2, 3 and 5): random shapes, weights from 1e-300
//! to 1e300, random non-finite rows within and beyond each rule's tolerance, every rule, on
//! the reference, the CPU backend and wgpu (lavapipe in CI), and CUDA where present.
//!
//! For every case: all backends accept or refuse it alike; within the tolerance every output
//! is finite and within the suite's accuracy of the reference ([`verify::compare`]); beyond
//! it, every backend's report says the tolerance was exceeded (the CLI's warning).

mod common;

use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Engine, Report, Rule, tolerates, verify};
use common::backend_or_skip;
use proptest::prelude::*;

/// Every rule, alone and composed.
const RULES: [&str; 18] = [
    "mean",
    "cwmed",
    "cwtm",
    "krum",
    "multikrum",
    "multikrum(m=3)",
    "gm",
    "gm(preset=rfa)",
    "ctma(cwmed)",
    "ctma(krum)",
    "ctma(gm)",
    "nnm(cwmed)",
    "nnm(cwtm)",
    "ctma(nnm(cwtm))",
    "bucketing(cwmed,s=2)",
    "bucketing(cwtm,s=2,seed=5)",
    "cclip(tau=1,iters=3)",
    "cclip(cwmed,tau=1,iters=2)",
];

/// The poison a Byzantine row holds.
const POISONS: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

/// One random case.
#[derive(Clone, Debug)]
struct Case {
    rule: usize,
    n: usize,
    d: usize,
    /// Values in [-1, 1), multiplied by 10^`magnitude`.
    values: Vec<f32>,
    magnitude: i32,
    /// Per-row weights before the common scale (0 for some rows); `None`: unweighted.
    weights: Option<Vec<f64>>,
    /// The common scale of the weights, 10^`weight_exponent`.
    weight_exponent: i32,
    lambda: f64,
    /// Order in which rows are offered for poisoning, and how many beyond the tolerance.
    poison_order: Vec<usize>,
    beyond: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (0..RULES.len(), 1usize..20, 1usize..24)
        .prop_flat_map(|(rule, n, d)| {
            (
                Just(rule),
                Just(n),
                Just(d),
                prop::collection::vec(-1.0f32..1.0, n * d),
                prop::sample::select(vec![-15, 0, 3, 15]),
                prop::option::of(prop::collection::vec(
                    prop_oneof![1 => Just(0.0), 6 => 0.1f64..10.0],
                    n,
                )),
                -300i32..=300,
                prop::sample::select(vec![0.1, 0.2, 0.3]),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                prop_oneof![2 => Just(0usize), 1 => 1usize..3],
            )
        })
        .prop_map(
            |(rule, n, d, values, magnitude, weights, weight_exponent, lambda, poison_order, beyond)| Case {
                rule,
                n,
                d,
                values,
                magnitude,
                weights,
                weight_exponent,
                lambda,
                poison_order,
                beyond,
            },
        )
}

/// The backends compared with the reference: those available here, opened once (an absent
/// one is reported once, or fails the test if `BYZAGG_REQUIRE` names it).
fn engines() -> &'static [Engine] {
    static ENGINES: std::sync::OnceLock<Vec<Engine>> = std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        [Backend::Cpu, Backend::Wgpu, Backend::Cuda]
            .into_iter()
            .filter_map(backend_or_skip)
            .map(|b| Engine::open(b).expect("an available backend opens"))
            .collect()
    })
}

/// Runs one case on the reference and every engine; `Err` describes a failed property.
fn check(case: &Case, engines: &[Engine]) -> Result<(), String> {
    let rule: Rule = RULES[case.rule].parse().expect("rule text");
    let (n, d) = (case.n, case.d);
    let scale = 10f32.powi(case.magnitude);
    let mut data: Vec<f32> = case.values.iter().map(|v| v * scale).collect();
    let weights: Option<Vec<f64>> = case.weights.as_ref().map(|w| {
        let c = 10f64.powi(case.weight_exponent);
        let mut w: Vec<f64> = w.iter().map(|x| x * c).collect();
        if w.iter().all(|x| *x == 0.0) {
            w[0] = c;
        }
        w
    });
    // The weights as the batch keeps them (normalized): what the aggregator plans with.
    let w_plan: Vec<f64> = {
        let batch = Batch::from_contiguous(&data, n).expect("a valid batch");
        match &weights {
            Some(w) => batch.with_weights(w).expect("valid weights").weights().to_vec(),
            None => batch.weights().to_vec(),
        }
    };
    let w_plan = &w_plan[..];
    let share = ByzantineShare::Lambda(case.lambda);
    // Poison rows in the drawn order while the rule tolerates them, then `beyond` more.
    let plan = rule.plan_weighted(w_plan, Some(share));
    let mut bad = vec![false; n];
    if let Ok(plan) = &plan {
        let mut extra = case.beyond;
        for &i in &case.poison_order {
            bad[i] = true;
            if !tolerates(plan, w_plan, &bad) {
                if extra == 0 {
                    bad[i] = false;
                    continue;
                }
                extra -= 1;
            }
        }
    }
    for (k, i) in (0..n).filter(|&i| bad[i]).enumerate() {
        let row = &mut data[i * d..(i + 1) * d];
        if k % 2 == 1 {
            // Some rows hold a single non-finite coordinate.
            row[k % d] = POISONS[k % POISONS.len()];
        } else {
            row.fill(POISONS[k % POISONS.len()]);
        }
    }
    let mut batch = Batch::from_contiguous(&data, n).expect("a valid batch");
    if let Some(w) = &weights {
        batch = batch.with_weights(w).expect("valid weights");
    }
    let aggregate = |engine: Engine| -> byzagg::Result<(Vec<f32>, Report)> {
        let agg = Aggregator::with_engine(rule.clone(), engine)
            .with_byzantine_share(share)
            .scan_non_finite(true);
        let mut out = vec![0.0; d];
        let report = agg.aggregate_into(&batch, &mut out)?;
        Ok((out, report))
    };
    let want = aggregate(Engine::Reference);
    let plan = match (&want, plan) {
        (Ok(_), Ok(plan)) => plan,
        (Err(_), Err(_)) => {
            // Refused alike everywhere.
            for engine in engines {
                if aggregate(engine.clone()).is_ok() {
                    return Err(format!("{} accepts what the reference refuses", engine.backend()));
                }
            }
            return Ok(());
        }
        (want, plan) => return Err(format!("reference {want:?} but plan {plan:?}")),
    };
    let (want_out, want_report) = want.expect("checked above");
    let held = tolerates(&plan, batch.weights(), &bad);
    let expect_held = Some(held || !bad.iter().any(|b| *b));
    let exact: Vec<f64> = {
        // The reference's f64 output, for the suite's comparison.
        let plan = rule
            .plan_weighted(batch.weights(), Some(share))
            .expect("planned above");
        byzagg::reference::aggregate(&plan, &batch).map_err(|e| e.to_string())?
    };
    // Errors relative to the inputs' own magnitude (the poisoned values are not finite and
    // do not count): an output that cancels to 0 from inputs near 1e3 carries their rounding,
    // and one of inputs near 1e-15 is held to 1e-15, not to 1.
    let scale = verify::data_scale(&data);
    let mut outputs = vec![(Backend::Reference, want_out, want_report)];
    for engine in engines {
        let (out, report) = aggregate(engine.clone()).map_err(|e| format!("{}: {e}", engine.backend()))?;
        outputs.push((engine.backend(), out, report));
    }
    // CTMA over exactly two rows: both lie equally far from their median, and which one is
    // trimmed is decided by rounding, a tie within float error that SPEC 5 lets either win.
    let live = (0..n).filter(|&i| batch.weights()[i] > 0.0 && !bad[i]).count();
    let tied = live == 2 && RULES[case.rule].contains("ctma");
    for (backend, out, report) in &outputs {
        let named: Vec<usize> = (0..n).filter(|&i| bad[i]).collect();
        if report.non_finite.as_ref() != Some(&named) {
            return Err(format!(
                "{backend}: report names {:?}, poisoned {named:?}",
                report.non_finite
            ));
        }
        if report.tolerance_held != expect_held {
            return Err(format!(
                "{backend}: report says tolerance held = {:?}, expected {expect_held:?}",
                report.tolerance_held
            ));
        }
        if held && tied && out.iter().any(|v| !v.is_finite()) {
            return Err(format!("{backend}: non-finite output within the tolerance"));
        }
        if held && !tied {
            let outcome = verify::compare(verify::accuracy(&plan), &exact, out, true, scale);
            if let Some(why) = outcome.failure {
                return Err(format!("{backend}: {why} (max error {:e})", outcome.max_error));
            }
        }
    }
    COMPARED.fetch_add(usize::from(held && !tied), std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Cases compared with the reference within the tolerance (printed, so a run that compares
/// nothing shows it).
static COMPARED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn backends_agree_and_stay_finite_within_tolerance() {
    let config = ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        check(&case, engines())
            .map_err(|why| TestCaseError::fail(format!("{} on {case:?}: {why}", RULES[case.rule])))
    });
    let compared = COMPARED.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{compared} cases within the tolerance compared with the reference");
    if let Err(e) = result {
        panic!("{e}");
    }
    // Most cases plan and stay within the tolerance: a run that compares few is broken.
    assert!(compared >= 80, "only {compared} cases compared");
}
