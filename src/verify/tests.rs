//! The suite's own tests: the matrix, the poisoning, the comparison and the runner.

use super::runner::guarded;
use super::*;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::rule::{GmParams, Plan, Rule};

#[test]
fn ctma_cases_tied_at_the_mass_boundary_are_left_out() {
    // CTMA over the geometric median of two rows: both are equally far from the center.
    let tied = Case {
        rule: "ctma(gm,lambda=0.2)".parse().unwrap(),
        n: 2,
        d: 7,
        weights: Weights::Uniform,
        pattern: Pattern::Finite,
        poisoned: Vec::new(),
        magnitude: 1.0,
        seed: 0xc9b7_e6be_9522_d53d,
    };
    assert!(boundary_tie(&tied));
    assert!(
        !cases()
            .iter()
            .any(|c| c.rule == tied.rule && c.n == 2 && c.seed == tied.seed)
    );
    // Random rows around a common center are not tied, and other rules never are.
    let mut other = tied.clone();
    other.n = 9;
    assert!(!boundary_tie(&other));
    other.rule = Rule::CwMed;
    assert!(!boundary_tie(&other));
    // The matrix still holds CTMA over every base.
    let kept = cases()
        .iter()
        .filter(|c| matches!(c.rule, Rule::Ctma { .. }))
        .count();
    assert!(kept > 100, "{kept} CTMA cases");
}

#[test]
fn matrix_is_fixed_and_covers_every_rule_and_pattern() {
    let cases = cases();
    assert_eq!(cases, super::cases(), "the matrix must not change between calls");
    for rule in rules() {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.rule == rule).collect();
        assert!(!mine.is_empty(), "{rule:?} has no case");
        if rule != Rule::Mean {
            for pattern in [Pattern::Finite, Pattern::NanRow, Pattern::Outliers] {
                assert!(
                    mine.iter().any(|c| c.pattern == pattern),
                    "{rule:?} lacks {pattern:?}"
                );
            }
        }
        for d in DS {
            assert!(mine.iter().any(|c| c.d == d), "{rule:?} never meets d = {d}");
        }
    }
    // Shapes a rule rejects are left out, not failed.
    assert!(cases.iter().all(|c| c.plan().is_ok()));
    assert!(!cases.iter().any(|c| c.rule == Rule::krum(2) && c.n < 7));
    assert!(cases.iter().any(|c| c.rule == Rule::krum(2) && c.n == 7));
    // The mean never gets outliers, only the NaN row.
    assert!(
        cases
            .iter()
            .filter(|c| c.rule == Rule::Mean)
            .all(|c| c.pattern != Pattern::Outliers)
    );
    // Every poisoned case stays within its rule's budget.
    for c in cases
        .iter()
        .filter(|c| c.rule != Rule::Mean && !c.poisoned.is_empty())
    {
        let w = c.weight_values().unwrap_or_else(|| vec![1.0; c.n]);
        let mut bad = vec![false; c.n];
        for &(i, _) in &c.poisoned {
            bad[i] = true;
        }
        assert!(tolerates(&c.plan().unwrap(), &w, &bad), "{c:?}");
    }
}

#[test]
fn extreme_cases_are_huge_of_one_sign_or_subnormal() {
    let extreme: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.pattern == Pattern::HugeSameSign || c.magnitude == 1e-40)
        .collect();
    for rule in ["cwmed", "krum(f=2)", "gm", "ctma(cwmed,lambda=0.2)"] {
        let rule: Rule = rule.parse().expect("rule");
        assert!(
            extreme
                .iter()
                .any(|c| c.rule.to_string() == rule.to_string() && c.pattern == Pattern::HugeSameSign),
            "{rule} lacks a huge case"
        );
        assert!(
            extreme
                .iter()
                .any(|c| c.rule.to_string() == rule.to_string() && c.magnitude == 1e-40),
            "{rule} lacks a subnormal case"
        );
    }
    for c in &extreme {
        let rows = c.rows();
        if c.pattern == Pattern::HugeSameSign {
            let sign = c.magnitude.signum();
            assert!(
                rows.iter()
                    .all(|v| v.is_finite() && v.signum() == sign && v.abs() >= 2.8e38),
                "{c}"
            );
            assert!(
                rows.iter().any(|v| (v + v).is_infinite()),
                "{c}: sums must overflow"
            );
        } else {
            assert!(rows.iter().all(|v| v.abs() < f32::MIN_POSITIVE), "{c}: subnormal");
            assert!(rows.iter().filter(|v| **v != 0.0).count() > rows.len() / 2, "{c}");
        }
    }
}

#[test]
fn rows_and_weights_are_seeded_and_poisoned_as_listed() {
    let case = cases()
        .into_iter()
        .find(|c| c.pattern == Pattern::Outliers && c.poisoned.len() >= 3)
        .unwrap();
    let rows = case.rows();
    assert_eq!(rows.len(), case.n * case.d);
    assert_eq!(
        rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        case.rows().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    for i in 0..case.n {
        let row = &rows[i * case.d..(i + 1) * case.d];
        match case.poisoned.iter().find(|(r, _)| *r == i).map(|(_, p)| *p) {
            None => assert!(
                row.iter()
                    .all(|v| v.is_finite() && v.abs() <= 2.0 * case.magnitude)
            ),
            Some(Poison::Huge) => assert!(row.iter().all(|&v| v == 1e38)),
            Some(Poison::PosInf) => assert!(row.iter().all(|&v| v == f32::INFINITY)),
            Some(Poison::NegInf) => assert!(row.iter().all(|&v| v == f32::NEG_INFINITY)),
            Some(Poison::Nan) => assert!(row.iter().all(|v| v.is_nan())),
            Some(Poison::NanCoordinate) => assert_eq!(row.iter().filter(|v| v.is_nan()).count(), 1),
        }
    }
    for c in cases().iter().take(200) {
        match (c.weights, c.weight_values()) {
            (Weights::Uniform, None) => {}
            (Weights::Integer, Some(w)) => {
                assert!(w.iter().all(|&x| x.fract() == 0.0 && (1.0..=5.0).contains(&x)))
            }
            (Weights::Real, Some(w)) => assert!(w.iter().all(|&x| (0.1..3.0).contains(&x))),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn budgets() {
    let median = Plan::Median;
    assert!(tolerates(&median, &[1.0; 3], &[true, false, false]));
    assert!(!tolerates(&median, &[1.0; 4], &[true, true, false, false]));
    assert!(!tolerates(&Plan::Mean, &[1.0; 4], &[true, false, false, false]));
    let trim = Plan::TrimmedMean { lambda: 0.25 };
    assert!(tolerates(
        &trim,
        &[1.0; 8],
        &[true, true, false, false, false, false, false, false]
    ));
    assert!(!tolerates(
        &trim,
        &[1.0; 8],
        &[true, true, true, false, false, false, false, false]
    ));
    // A heavy row is over budget on its own.
    assert!(!tolerates(
        &trim,
        &[5.0, 1.0, 1.0, 1.0],
        &[true, false, false, false]
    ));
    let multikrum = Plan::Krum {
        lambda: 0.3,
        m: Some(9),
    };
    let w = [0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    let bad = [true, true, true, false, false, false, false, false, false, false];
    assert!(
        tolerates(&multikrum, &w, &bad),
        "rows of infinite score are never averaged, whatever m says"
    );
    assert!(tolerates(
        &Plan::Krum {
            lambda: 0.3,
            m: Some(1)
        },
        &w,
        &bad
    ));
    // Bucketing: one poisoned row poisons its bucket's whole mass.
    let bucketing = Plan::Bucketing {
        base: Box::new(Plan::Median),
        s: 2,
        seed: 7,
    };
    let mut bad = [false; 4];
    bad[0] = true;
    assert!(
        !tolerates(&bucketing, &[1.0; 4], &bad),
        "one of two buckets is not a minority"
    );
    assert!(tolerates(
        &bucketing,
        &[1.0; 6],
        &[true, false, false, false, false, false]
    ));
}

impl Outcome {
    fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
    fn is_err(&self) -> bool {
        self.failure.is_some()
    }
    fn unwrap_err(self) -> String {
        self.failure.expect("a failure")
    }
}

#[test]
fn failed_coordinates_count_towards_the_error() {
    let out = compare(
        Accuracy::Relative(1e-5),
        &[0.0, 10.0, 0.0],
        &[1e-3, 10.0, 0.5],
        true,
        1.0,
    );
    assert!(out.failure.as_deref().unwrap().contains("coordinate 0"));
    assert_eq!(out.max_error, f64::from(0.5f32) / 10.0);
    let out = compare(Accuracy::Exact, &[1.0], &[f32::INFINITY], true, 1.0);
    assert_eq!(out.max_error, f64::INFINITY);
}

#[test]
fn comparison() {
    let exact = Accuracy::Exact;
    assert_eq!(
        compare(exact, &[1.0, 2.5], &[1.0, 2.5], true, 1.0),
        Outcome {
            max_error: 0.0,
            failure: None
        }
    );
    assert!(compare(exact, &[0.1], &[0.1f64 as f32], true, 1.0).is_ok());
    assert!(
        compare(exact, &[1.0], &[1.0 + f32::EPSILON], true, 1.0)
            .unwrap_err()
            .contains("exact")
    );
    let rel = Accuracy::Relative(1e-5);
    // Data of magnitude 1: an absolute 1e-5 near zero, relative for large values.
    assert!(compare(rel, &[0.0], &[9e-6], true, 1.0).is_ok());
    assert!(compare(rel, &[0.0], &[2e-5], true, 1.0).is_err());
    assert!(compare(rel, &[1000.0, 0.0], &[1000.0, 9e-3], true, 1.0).is_ok());
    assert!(
        compare(rel, &[1.0], &[f32::NAN], true, 1.0)
            .unwrap_err()
            .contains("finite")
    );
    assert!(
        compare(rel, &[f64::NAN], &[f32::NAN], true, 1.0).is_err(),
        "a robust rule must be finite"
    );
    // The mean with a NaN row: NaN must stay NaN, infinities keep their sign.
    assert!(
        compare(
            rel,
            &[f64::NAN, f64::INFINITY],
            &[f32::NAN, f32::INFINITY],
            false,
            1.0
        )
        .is_ok()
    );
    assert!(compare(rel, &[f64::NAN], &[1.0], false, 1.0).is_err());
    assert!(compare(rel, &[f64::INFINITY], &[f32::NEG_INFINITY], false, 1.0).is_err());
    assert!(
        compare(rel, &[1.0], &[1.0, 2.0], true, 1.0)
            .unwrap_err()
            .contains("2 values")
    );
}

/// The scale comes from the data, not from 1: a wrong output of small data fails. With
/// the floor of 1 the suite had (a data scale of 1 below), all zeros passed for an answer
/// of 1e-40, and a 0.5% error at 1e-3.
#[test]
fn small_data_is_held_to_its_own_scale() {
    let rel = Accuracy::Relative(1e-5);
    let data = [1e-40f32, -2e-40, 3e-40];
    let want = [1e-40, -2e-40, 3e-40];
    assert!(compare(rel, &want, &[0.0; 3], true, data_scale(&data)).is_err());
    assert!(
        compare(rel, &want, &[0.0; 3], true, 1.0).is_ok(),
        "the old floor of 1"
    );
    // Subnormal rounding (a few steps of 1.4e-45) stays within the floor at f32::MIN_POSITIVE.
    let near: Vec<f32> = want.iter().map(|&v| (v as f32) + 4.0 * 1.4e-45).collect();
    assert!(compare(rel, &want, &near, true, data_scale(&data)).is_ok());
    // At 1e-3: 0.5% is far off, 1e-6 relative is not.
    assert!(compare(rel, &[1e-3], &[1.005e-3], true, data_scale(&[1e-3])).is_err());
    assert!(compare(rel, &[1e-3], &[1e-3 * (1.0 + 1e-6)], true, data_scale(&[1e-3])).is_ok());
    assert!(
        compare(rel, &[1e-3], &[1.005e-3], true, 1.0).is_ok(),
        "the old floor of 1"
    );
    // Poisoned values are the caller's to leave out; non-finite ones never count.
    assert_eq!(data_scale(&[f32::INFINITY, f32::NAN, 2.0]), 2.0);
}

#[test]
fn accuracy_by_plan() {
    assert_eq!(accuracy(&Plan::Median), Accuracy::Exact);
    assert_eq!(
        accuracy(&Plan::Krum {
            lambda: 0.2,
            m: Some(1)
        }),
        Accuracy::Exact
    );
    assert_eq!(
        accuracy(&Plan::Krum {
            lambda: 0.2,
            m: Some(3)
        }),
        Accuracy::Relative(1e-5)
    );
    assert_eq!(accuracy(&Plan::Gm(GmParams::RFA)), Accuracy::Relative(1e-5));
    let ctma_gm = Plan::Ctma {
        base: Box::new(Plan::Gm(GmParams::DEFAULT)),
        lambda: 0.2,
    };
    assert_eq!(accuracy(&ctma_gm), Accuracy::Relative(1e-4));
    let ctma_med = Plan::Ctma {
        base: Box::new(Plan::Median),
        lambda: 0.2,
    };
    assert_eq!(accuracy(&ctma_med), Accuracy::Relative(1e-5));
}

#[test]
fn reference_meets_its_own_suite() {
    // Every seventh case, through the Aggregator (the reference cast to f32): exercises the
    // comparison and the finite-output guarantees of SPEC 3 on the oracle itself.
    let some: Vec<Case> = cases().into_iter().step_by(7).collect();
    let results = run_cases(Backend::Reference, &some).unwrap();
    assert_eq!(results.iter().map(|r| r.cases).sum::<usize>(), some.len());
    for r in &results {
        assert!(r.pass(), "{}: {:?}", r.rule, r.failures);
        assert!(r.max_error < 1e-7, "{}: {}", r.rule, r.max_error);
    }
}

#[test]
fn a_panicking_or_failing_engine_fails_the_case_only() {
    assert!(
        guarded("x", || -> Result<()> { panic!("boom") })
            .unwrap_err()
            .contains("x panicked: boom")
    );
    let err = guarded("y", || -> Result<()> { Err(Error::invalid("f", 5, "too big")) }).unwrap_err();
    assert!(err.contains("y returned an error") && err.contains("f = 5"));
}
