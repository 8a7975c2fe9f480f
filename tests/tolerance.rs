//! Non-finite rows within and beyond what each rule tolerates (SPEC sections 3, 4.4, 4.7): a
//! finite output within, on every backend; the report names the rows and says when the
//! tolerance was exceeded.

#[macro_use]
mod common;

use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Plan, Report, Rule};
use common::{Rng, backend_or_skip};

/// Aggregates and returns the output with its report.
fn aggregate(
    text: &str,
    backend: Backend,
    data: &[f32],
    n: usize,
    w: Option<&[f64]>,
    share: ByzantineShare,
) -> (Vec<f32>, Report) {
    let rule: Rule = text.parse().expect("rule text");
    let mut batch = Batch::from_contiguous(data, n).expect("batch");
    if let Some(w) = w {
        batch = batch.with_weights(w).expect("weights");
    }
    let agg = Aggregator::new(rule, backend)
        .expect("available backend")
        .with_byzantine_share(share)
        .scan_non_finite(true);
    let mut out = vec![0.0; batch.d()];
    let report = agg
        .aggregate_into(&batch, &mut out)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    (out, report)
}

/// Bucketing with two NaN rows of eleven and f = 2: each poisons its bucket, and the base is
/// told to tolerate both buckets (4/11 of the weight, not 2/11).
fn bucketing_survives_poisoned_buckets(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let (n, d) = (11, 6);
    let mut data = Rng(5).rows(n, d);
    for row in [2, 7] {
        data[row * d..(row + 1) * d].fill(f32::NAN);
    }
    for text in [
        "bucketing(cwtm)",
        "bucketing(ctma(cwmed))",
        "bucketing(cwtm,s=2,seed=3)",
        "bucketing(nnm(cwmed),s=2,seed=1)",
    ] {
        let (out, report) = aggregate(text, backend, &data, n, None, ByzantineShare::F(2));
        assert!(out.iter().all(|v| v.is_finite()), "{text} on {backend}: {out:?}");
        assert_eq!(report.non_finite, Some(vec![2, 7]), "{text}");
        assert_eq!(report.tolerance_held, Some(true), "{text}");
    }
}

/// Weighted Multi-Krum whose default counts mass, not rows: five NaN rows of 4% of the weight
/// never enter the average.
fn multikrum_default_counts_mass(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let (n, d) = (15, 5);
    let mut data = Rng(6).rows(n, d);
    let mut w = vec![2.4; n];
    for row in [0, 3, 6, 9, 12] {
        data[row * d..(row + 1) * d].fill(f32::NAN);
        w[row] = 0.1;
    }
    let (out, report) = aggregate(
        "multikrum",
        backend,
        &data,
        n,
        Some(&w),
        ByzantineShare::Lambda(0.2),
    );
    assert!(out.iter().all(|v| v.is_finite()), "on {backend}: {out:?}");
    assert_eq!(report.tolerance_held, Some(true));
    // With an explicit m larger than the clean rows, the NaN rows still stay out.
    let (out, _) = aggregate(
        "multikrum(m=14)",
        backend,
        &data,
        n,
        Some(&w),
        ByzantineShare::Lambda(0.2),
    );
    assert!(out.iter().all(|v| v.is_finite()), "m = 14 on {backend}: {out:?}");
}

/// Beyond the tolerance the report says so (and names the rows); within it, it does not.
fn report_says_when_tolerance_is_exceeded(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let (n, d) = (8, 4);
    let mut data = Rng(7).rows(n, d);
    for row in [1, 4, 5] {
        data[row * d..(row + 1) * d].fill(f32::INFINITY);
    }
    let share = ByzantineShare::F(2);
    for (text, held) in [
        ("cwmed", true),
        ("gm", true),
        ("cwtm", false),
        ("ctma(cwmed)", false),
        ("krum", false),
        ("mean", false),
    ] {
        let (_, report) = aggregate(text, backend, &data, n, None, share);
        assert_eq!(report.non_finite, Some(vec![1, 4, 5]), "{text}");
        assert_eq!(report.tolerance_held, Some(held), "{text} on {backend}");
    }
    // The scan can be turned off.
    let batch = Batch::from_contiguous(&data, n).expect("batch");
    let agg = Aggregator::new(Rule::CwMed, backend)
        .expect("backend")
        .scan_non_finite(false);
    let report = agg.aggregate_into(&batch, &mut [0.0; 4]).expect("aggregate");
    assert_eq!((report.non_finite, report.tolerance_held), (None, None));
    // By default the rows are scanned when the output is not finite, and only then.
    for (rule, scanned) in [(Rule::CwMed, false), (Rule::Mean, true)] {
        let agg = Aggregator::new(rule, backend).expect("backend");
        let report = agg.aggregate_into(&batch, &mut [0.0; 4]).expect("aggregate");
        assert_eq!(report.non_finite.is_some(), scanned, "{report:?}");
        assert_eq!(report.tolerance_held, scanned.then_some(false));
    }
}

/// A plan built by hand deeper than the parser allows is an error, not a stack overflow.
fn deep_plans_are_refused(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut plan = Plan::Median;
    for _ in 0..20_000 {
        plan = Plan::Ctma {
            base: Box::new(plan),
            lambda: 0.1,
        };
    }
    let data = [1.0f32, 2.0, 3.0];
    let batch = Batch::from_contiguous(&data, 3).expect("batch");
    let result = match backend {
        Backend::Reference => byzagg::reference::aggregate(&plan, &batch).map(|_| ()),
        _ => {
            let engine = byzagg::Engine::open(backend).expect("backend");
            let agg = Aggregator::with_engine(Rule::CwMed, engine);
            let mut out = vec![0.0; batch.d()];
            byzagg::execute(agg.engine(), &plan, &batch, &mut out, &mut Report::default())
        }
    };
    let err = result.expect_err("a plan 20,001 levels deep");
    assert!(err.to_string().contains("at most 32"), "{err}");
    // Dropping a chain that deep recurses too: unwind it one level at a time.
    while let Plan::Ctma { base, .. } = plan {
        plan = *base;
    }
}

/// ARC zeroes non-finite rows up to its clipped mass 2 lambda (1 - lambda) W (3.2 rows of 10
/// at lambda = 0.2), whatever its base; past it the base's own tolerance decides. Static
/// clipping zeroes them all.
fn clipping_tolerates_what_it_zeroes(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let (n, d) = (10, 17);
    let share = ByzantineShare::Lambda(0.2);
    for (bad, text, held) in [
        (3, "arc(mean)", true),
        (4, "arc(mean)", false),
        (4, "arc(cwtm)", false),
        (4, "arc(cwmed)", true),
        (9, "clip(mean,tau=1)", true),
        (9, "clip(cwtm,tau=1)", true),
    ] {
        let mut data = Rng(21).rows(n, d);
        for (k, row) in data.chunks_mut(d).take(bad).enumerate() {
            row.fill([f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k % 3]);
        }
        let (out, report) = aggregate(text, backend, &data, n, None, share);
        assert_eq!(report.non_finite, Some((0..bad).collect()), "{text} on {backend}");
        assert_eq!(
            report.tolerance_held,
            Some(held),
            "{text}, {bad} bad rows, on {backend}"
        );
        if held {
            assert!(
                out.iter().all(|v| v.is_finite()),
                "{text}, {bad} bad rows, on {backend}: {out:?}"
            );
        }
    }
}

backend_tests!(
    [bucketing_survives_poisoned_buckets, multikrum_default_counts_mass, report_says_when_tolerance_is_exceeded, deep_plans_are_refused, clipping_tolerates_what_it_zeroes];
    reference => Backend::Reference, cpu => Backend::Cpu, wgpu => Backend::Wgpu, cuda => Backend::Cuda
);
