//! Every rule on every available backend against the f64 reference (SPEC sections 4 and 5):
//! uniform, integer and real weights, n from 1 to 70 (odd and even), d from 1 to 10^5 (never a
//! multiple of a SIMD width), with and without Byzantine rows of NaN, infinities and 1e38.
//!
//! One generic function per property, stamped out per backend by `backend_tests!`; the
//! accuracies and the comparison are those of `byzagg::verify`, whose whole suite runs here too.

#[macro_use]
mod common;

use byzagg::{Backend, Batch, ByzantineShare, Rule, reference, verify};
use common::{Rng, Weights, backend_or_skip, run};

/// The rules of this matrix (more compositions than `byzagg verify` runs, and lambda given by
/// the caller). The error each may show is the suite's own, [`verify::accuracy`]: exact for
/// the rules that select input values or rows (median, Krum), 1e-5 of the scale otherwise,
/// and 1e-4 where the default geometric median stops at its own tolerance.
fn rules() -> Vec<Rule> {
    [
        "mean",
        "cwmed",
        "cwtm",
        "krum",
        "multikrum",
        "gm",
        "gm(preset=rfa)",
        "ctma(cwmed)",
        "ctma(krum)",
        "ctma(gm)",
        "nnm(cwmed)",
        "ctma(nnm(cwtm))",
        "bucketing(cwmed,s=2,seed=7)",
        "cclip(tau=1,iters=3)",
        "cclip(cwmed,tau=0.5,iters=2)",
        "clip(cwmed,tau=2)",
        "clip(mean,tau=5)",
        "arc(cwtm)",
        "arc(mean)",
        "ctma(arc(cwmed))",
    ]
    .into_iter()
    .map(|text| text.parse().expect("rule text of the test matrix"))
    .collect()
}

/// What became of one case.
#[derive(Debug)]
enum Checked {
    /// Compared with the reference: `Some` describes the failure.
    Compared(Option<String>),
    /// Left out by design: two rows equidistant from CTMA's center, a tie decided by
    /// rounding that SPEC 5 lets either row win.
    Tie,
    /// The rule refused to plan this shape (validation's business, not this suite's); every
    /// refusal must be one that [`refuses`] derives by hand, so no case drops out unseen.
    Refused(String),
}

/// Compares one case with the f64 reference by the suite's rule ([`verify::compare`]).
fn check(
    rule: &Rule,
    backend: Backend,
    data: &[f32],
    n: usize,
    w: Option<&[f64]>,
    t: ByzantineShare,
) -> Checked {
    if n == 2 && matches!(rule, Rule::Ctma { .. }) {
        return Checked::Tie;
    }
    let mut batch = Batch::from_contiguous(data, n).expect("a valid batch");
    if let Some(w) = w {
        batch = batch.with_weights(w).expect("valid weights");
    }
    // Planned for the weights, as the aggregator plans (bucketing's base depends on them).
    let plan = match rule.plan_weighted(batch.weights(), Some(t)) {
        Ok(plan) => plan,
        Err(e) => return Checked::Refused(e.to_string()),
    };
    let want = reference::aggregate(&plan, &batch).expect("reference");
    let got = match run(rule, backend, data, n, w, Some(t)) {
        Ok(v) => v,
        Err(e) => return Checked::Compared(Some(format!("{rule} n={n}: error {e}"))),
    };
    let outcome = verify::compare(
        verify::accuracy(&plan),
        &want,
        &got,
        false,
        verify::data_scale(data),
    );
    Checked::Compared(outcome.failure.map(|why| {
        format!(
            "{rule} on {backend}, n={n}, d={}, weights={w:?}: {why} (max error {:e})",
            got.len(),
            outcome.max_error
        )
    }))
}

/// Whether `rule` must refuse n rows of weights `w` (`None`: uniform) at lambda = 0.2,
/// derived from the rules' bounds: Krum needs n (1 - 2 lambda) >= 3, so n >= 5 (and CTMA over
/// Krum plans Krum). Bucketing needs s <= n, and its base must tolerate less than half of the
/// weight: the share that rows of mass lambda W can poison, a bucket costing the weight of its
/// lightest row and poisoning its whole mass, bounded by the fractional knapsack (buckets
/// taken by mass per cost, the last in part). Uniform weights give 2 lambda = 0.4 for n >= 2;
/// random weights often pass 1/2, so about half of the weighted bucketing cases are refused.
fn refuses(rule: &str, n: usize, w: Option<&[f64]>) -> bool {
    const LAMBDA: f64 = 0.2;
    match rule {
        "krum" | "multikrum" | "ctma(krum)" => n < 5,
        "bucketing(cwmed,s=2,seed=7)" => {
            let s = 2;
            if n < s {
                return true;
            }
            let ones = vec![1.0; n];
            let w = w.unwrap_or(&ones);
            let total: f64 = w.iter().sum();
            let mut buckets: Vec<(f64, f64)> = byzagg::bucket_permutation(n, 7)
                .chunks(s)
                .map(|b| {
                    let mass: f64 = b.iter().map(|&i| w[i]).sum();
                    let cost = b
                        .iter()
                        .map(|&i| w[i])
                        .filter(|&x| x > 0.0)
                        .fold(f64::INFINITY, f64::min);
                    (mass, cost)
                })
                .collect();
            buckets.sort_by(|a, b| (b.0 / b.1).total_cmp(&(a.0 / a.1)));
            let (mut budget, mut poisoned) = (LAMBDA * total, 0.0);
            for (mass, cost) in buckets {
                let part = (budget / cost).min(1.0);
                poisoned += part * mass;
                budget -= part * cost;
                if budget <= 0.0 {
                    break;
                }
            }
            poisoned / total >= 0.5
        }
        _ => false,
    }
}

/// The suite of `byzagg verify` (its case list, weights, poison patterns and accuracies),
/// run as a test on each backend.
fn verify_suite_passes(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let results = verify::run(backend).expect("an available backend");
    let failures: Vec<String> = results
        .iter()
        .flat_map(|r| r.failures.iter().map(|f| format!("{}: {}", f.case, f.message)))
        .collect();
    let cases: usize = results.iter().map(|r| r.cases).sum();
    // Every case of the list ran (a case that cannot plan is a failure there, not a skip).
    assert_eq!(cases, verify::cases().len(), "cases dropped unseen");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed on {backend}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn matches_reference(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(1);
    let mut failures = Vec::new();
    let (mut cases, mut compared, mut ties, mut refused) = (0, 0, 0, 0);
    let ns = [1, 2, 3, 4, 7, 8, 16, 33, 70];
    let ds = [1, 7, 33, 1001];
    for rule in rules() {
        let text = rule.to_string();
        for n in ns {
            for d in ds {
                for kind in Weights::ALL {
                    let data = rng.rows(n, d);
                    let w = kind.make(n, &mut rng);
                    cases += 1;
                    let lambda = ByzantineShare::Lambda(0.2);
                    match check(&rule, backend, &data, n, w.as_deref(), lambda) {
                        Checked::Compared(failure) => {
                            compared += 1;
                            failures.extend(failure);
                            if refuses(&text, n, w.as_deref()) {
                                failures.push(format!("{text} n={n}: planned where it must refuse"));
                            }
                        }
                        Checked::Tie => ties += 1,
                        Checked::Refused(_) if refuses(&text, n, w.as_deref()) => refused += 1,
                        Checked::Refused(why) => {
                            failures.push(format!("{text} n={n} {kind:?}: refused unexpectedly: {why}"))
                        }
                    }
                }
            }
        }
    }
    // Every case is accounted for: compared, a CTMA tie at n = 2, or refused where
    // `refuses` says it must be (any other refusal is a failure above).
    let rules = rules();
    let per_n = ds.len() * Weights::ALL.len();
    let krum_refused = 3 * 4 * per_n; // krum, multikrum, ctma(krum) at n = 1, 2, 3, 4
    assert!(refused >= krum_refused, "{refused} refusals");
    let ctmas = rules.iter().filter(|r| matches!(r, Rule::Ctma { .. })).count();
    assert_eq!(cases, rules.len() * ns.len() * per_n);
    assert_eq!(ties, ctmas * per_n);
    assert!(
        failures.is_empty(),
        "{} of {compared} compared cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared, cases - refused - ties, "cases dropped unseen");
}

fn matches_reference_at_large_d(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(2);
    let mut failures = Vec::new();
    for text in ["cwmed", "cwtm", "krum", "ctma(cwmed)", "gm(preset=rfa)"] {
        let rule: Rule = text.parse().expect("rule");
        for (n, kind) in [(9, Weights::Uniform), (16, Weights::Integer), (17, Weights::Real)] {
            let d = 100_003;
            let data = rng.rows(n, d);
            let w = kind.make(n, &mut rng);
            match check(&rule, backend, &data, n, w.as_deref(), ByzantineShare::F(2)) {
                Checked::Compared(failure) => failures.extend(failure),
                other => failures.push(format!("{text} n={n}: not compared: {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Byzantine rows (NaN, +inf, -inf, 1e38, -1e38) up to the weight each rule tolerates: every
/// robust rule stays finite and agrees with the reference.
fn survives_non_finite_rows(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(3);
    let mut failures = Vec::new();
    let mut cases = 0;
    let poisons = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e38, -1e38];
    for rule in rules() {
        if matches!(
            rule,
            Rule::Mean | Rule::Bucketing { .. } | Rule::CenteredClipping { .. }
        ) {
            continue; // not robust to arbitrary values: mean by design, the others by averaging buckets
        }
        for (n, bad) in [(9, 2), (16, 3), (33, 6)] {
            let d = 37;
            let mut data = rng.rows(n, d);
            // Byzantine rows at random positions, each a different poison, some mixed.
            for k in 0..bad {
                let row = (k * 7 + 3) % n;
                let poison = poisons[k % poisons.len()];
                for j in 0..d {
                    data[row * d + j] = if k % 3 == 2 && j % 2 == 0 {
                        rng.range(-1.0, 1.0) as f32
                    } else {
                        poison
                    };
                }
            }
            // Every rule of the matrix plans at n >= 9 with lambda = 0.25 (Krum needs
            // n (1 - 2 lambda) >= 3, n >= 6); a refusal here fails the test.
            let t = ByzantineShare::Lambda(0.25);
            cases += 1;
            let got = run(&rule, backend, &data, n, None, Some(t)).expect("aggregate");
            if got.iter().any(|v| !v.is_finite()) {
                failures.push(format!("{rule} n={n} bad={bad}: non-finite output"));
            }
            match check(&rule, backend, &data, n, None, t) {
                Checked::Compared(failure) => failures.extend(failure),
                other => failures.push(format!("{rule} n={n}: not compared: {other:?}")),
            }
        }
    }
    // The matrix less the four rules not robust by design (mean, bucketing, both cclips),
    // at three shapes each.
    assert_eq!(cases, (rules().len() - 4) * 3);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two all-NaN rows out of nine: every robust rule stays finite.
fn two_nan_rows_of_nine(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut data = Rng(4).rows(9, 50);
    data[50..150].fill(f32::NAN);
    for text in [
        "cwmed",
        "cwtm(lambda=0.25)",
        "krum(f=2)",
        "gm",
        "ctma(cwmed,lambda=0.25)",
    ] {
        let rule: Rule = text.parse().expect("rule");
        let out = run(&rule, backend, &data, 9, None, None).expect("aggregate");
        assert!(out.iter().all(|v| v.is_finite()), "{text}: {out:?}");
    }
}

backend_tests!(
    [matches_reference, matches_reference_at_large_d, survives_non_finite_rows, two_nan_rows_of_nine, verify_suite_passes];
    cpu => Backend::Cpu, wgpu => Backend::Wgpu, cuda => Backend::Cuda
);
