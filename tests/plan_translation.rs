//! The rule-to-plan translation, checked against values derived by hand.
//!
//! `verify` and the conformance suite hand the same `Plan` to the reference and to the
//! backends, so a wrong translation (f to lambda, a default, bucketing's base share, gm's
//! parameters) would pass every comparison. These tests pin the translation itself: each
//! expected plan below is written out from the rule's definition (README, docs/SPEC.md), not
//! computed by the code under test.

use byzagg::{ByzantineShare, Error, GmInit, GmParams, Plan, Rule};

fn plan(text: &str, n: usize, default: Option<ByzantineShare>) -> Plan {
    let rule: Rule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    rule.plan(n, default)
        .unwrap_or_else(|e| panic!("{text} on {n} rows: {e}"))
}

/// The parameter an invalid plan names, and the bound's text.
fn refused(text: &str, n: usize, default: Option<ByzantineShare>) -> (&'static str, String) {
    let rule: Rule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    match rule.plan(n, default) {
        Err(Error::InvalidParameter { name, bound, .. }) => (name, bound),
        other => panic!("{text} on {n} rows: expected an invalid parameter, got {other:?}"),
    }
}

const F1: Option<ByzantineShare> = Some(ByzantineShare::F(1));
const F2: Option<ByzantineShare> = Some(ByzantineShare::F(2));
const F3: Option<ByzantineShare> = Some(ByzantineShare::F(3));

#[test]
fn f_becomes_f_over_n_and_lambda_stays_as_given() {
    // lambda = f / n: 2/8, 3/10, 1/4; a lambda in the text is kept as written.
    assert_eq!(plan("cwtm(f=2)", 8, None), Plan::TrimmedMean { lambda: 0.25 });
    assert_eq!(plan("cwtm", 10, F3), Plan::TrimmedMean { lambda: 0.3 });
    assert_eq!(plan("meamed(f=1)", 4, None), Plan::MeaMed { lambda: 0.25 });
    assert_eq!(plan("cge(lambda=0.125)", 9, None), Plan::Cge { lambda: 0.125 });
    assert_eq!(plan("mda(f=1)", 5, None), Plan::Mda { lambda: 0.2 });
    assert_eq!(plan("smea(f=2)", 10, None), Plan::Smea { lambda: 0.2 });
    assert_eq!(plan("caf(f=3)", 10, None), Plan::Caf { lambda: 0.3 });
    assert_eq!(
        plan("monna(f=1,pivot=3)", 4, None),
        Plan::Monna {
            lambda: 0.25,
            pivot: 3
        }
    );
    // monna's pivot defaults to row 0.
    assert_eq!(
        plan("monna(f=1)", 5, None),
        Plan::Monna {
            lambda: 0.2,
            pivot: 0
        }
    );
}

#[test]
fn the_rules_own_share_beats_the_callers_default() {
    // The default (--f/--lambda) fills only what the rule leaves out.
    assert_eq!(plan("cwtm(f=1)", 10, F3), Plan::TrimmedMean { lambda: 0.1 });
    assert_eq!(
        plan("cwtm(lambda=0.05)", 10, F3),
        Plan::TrimmedMean { lambda: 0.05 }
    );
    // No share anywhere: an error naming lambda, not a silent 0.
    let (name, bound) = refused("cwtm", 10, None);
    assert_eq!(name, "lambda");
    assert!(bound.contains("needs lambda or f"), "{bound}");
    // Rules with no share ignore the default.
    assert_eq!(plan("mean", 10, F3), Plan::Mean);
    assert_eq!(plan("cwmed", 10, F3), Plan::Median);
    assert_eq!(plan("fltrust", 10, F3), Plan::FlTrust);
}

#[test]
fn share_bounds_are_two_f_below_n_and_lambda_below_one_half() {
    // f < n / 2: n = 10 allows f <= 4, n = 9 allows f <= 4 too.
    assert_eq!(
        plan("cwtm(f=4)", 9, None),
        Plan::TrimmedMean { lambda: 4.0 / 9.0 }
    );
    assert_eq!(refused("cwtm(f=5)", 10, None).0, "f");
    assert_eq!(refused("cwtm(lambda=0.5)", 10, None).0, "lambda");
    assert_eq!(
        plan("cwtm(lambda=0)", 10, None),
        Plan::TrimmedMean { lambda: 0.0 }
    );
}

#[test]
fn krum_and_multikrum() {
    // Krum picks one row (m = 1); Multi-Krum without m averages the best mass (1 - lambda) W.
    assert_eq!(
        plan("krum(f=2)", 7, None),
        Plan::Krum {
            lambda: 2.0 / 7.0,
            m: Some(1)
        }
    );
    assert_eq!(
        plan("multikrum(f=2)", 10, None),
        Plan::Krum { lambda: 0.2, m: None }
    );
    assert_eq!(
        plan("multikrum(f=2,m=3)", 10, None),
        Plan::Krum {
            lambda: 0.2,
            m: Some(3)
        }
    );
    // n >= 2f + 3: 7 rows allow f = 2, 6 rows do not.
    let (name, bound) = refused("krum(f=2)", 6, None);
    assert_eq!(name, "f");
    assert!(
        bound.contains("n >= 2f + 3") && bound.contains("f <= 1"),
        "{bound}"
    );
    // With lambda: n (1 - 2 lambda) >= 3, so lambda = 0.3 needs n >= 7.5.
    assert_eq!(refused("krum(lambda=0.3)", 7, None).0, "lambda");
    assert_eq!(
        plan("krum(lambda=0.3)", 8, None),
        Plan::Krum {
            lambda: 0.3,
            m: Some(1)
        }
    );
    // 1 <= m <= n.
    assert_eq!(refused("multikrum(f=1,m=0)", 5, None).0, "m");
    assert_eq!(refused("multikrum(f=1,m=6)", 5, None).0, "m");
}

#[test]
fn bulyan_needs_four_f_plus_three_rows() {
    assert_eq!(plan("bulyan(f=2)", 11, None), Plan::Bulyan { lambda: 2.0 / 11.0 });
    let (name, bound) = refused("bulyan(f=2)", 10, None);
    assert_eq!(name, "f");
    assert!(bound.contains("4f + 3"), "{bound}");
}

#[test]
fn meta_rules_pass_the_default_to_their_base() {
    // ctma's default base is cwmed; its lambda and the base's come from the same default.
    assert_eq!(
        plan("ctma", 10, F2),
        Plan::Ctma {
            base: Box::new(Plan::Median),
            lambda: 0.2
        }
    );
    assert_eq!(
        plan("ctma(krum)", 10, F2),
        Plan::Ctma {
            base: Box::new(Plan::Krum {
                lambda: 0.2,
                m: Some(1)
            }),
            lambda: 0.2
        }
    );
    // A share written on the outer rule stays there; the base takes the caller's default.
    assert_eq!(
        plan("ctma(cwtm,f=1)", 10, F3),
        Plan::Ctma {
            base: Box::new(Plan::TrimmedMean { lambda: 0.3 }),
            lambda: 0.1
        }
    );
    assert_eq!(
        plan("nnm(cwmed,f=1)", 4, None),
        Plan::Nnm {
            base: Box::new(Plan::Median),
            lambda: 0.25
        }
    );
    assert_eq!(
        plan("arc(mean,f=2)", 10, None),
        Plan::Arc {
            base: Box::new(Plan::Mean),
            lambda: 0.2
        }
    );
    assert_eq!(
        plan("clip(mean,tau=2)", 10, None),
        Plan::Clip {
            base: Box::new(Plan::Mean),
            tau: 2.0
        }
    );
    // cclip starts from zero unless given a rule; one step by default.
    assert_eq!(
        plan("cclip(tau=1.5)", 10, None),
        Plan::CenteredClipping {
            center: None,
            tau: 1.5,
            iterations: 1
        }
    );
    assert_eq!(
        plan("cclip(cwmed,tau=1,iters=3)", 10, None),
        Plan::CenteredClipping {
            center: Some(Box::new(Plan::Median)),
            tau: 1.0,
            iterations: 3
        }
    );
    assert_eq!(refused("clip(mean,tau=0)", 10, None).0, "tau");
    assert_eq!(refused("cclip(tau=1,iters=0)", 10, None).0, "iters");
}

#[test]
fn bucketing_gives_its_base_the_share_the_byzantine_buckets_can_hold() {
    // 12 rows in buckets of 2 (6 buckets of mass 2), f = 2: the two Byzantine rows poison at
    // most 2 buckets, 4 of 12 = 1/3 of the weight, and the base is planned for 6 rows.
    assert_eq!(
        plan("bucketing(cwtm,s=2)", 12, F2),
        Plan::Bucketing {
            base: Box::new(Plan::TrimmedMean { lambda: 4.0 / 12.0 }),
            s: 2,
            seed: 0
        }
    );
    // 11 rows: five buckets of 2 and one of 1. Two rows of weight 1 poison at most the mass
    // of two buckets of 2 (a bucket of 2 gives 2 of weight for 1 spent): 4/11.
    let Plan::Bucketing { base, s: 2, seed: 0 } = plan("bucketing(cwtm,s=2)", 11, F2) else {
        panic!("not a bucketing plan")
    };
    let Plan::TrimmedMean { lambda } = *base else {
        panic!("{base:?}")
    };
    assert!((lambda - 4.0 / 11.0).abs() < 1e-12, "{lambda}");
    // f = 1 of 10 with s = 5: one row poisons a bucket of 5, half of the weight. No base can
    // tolerate 1/2: an error naming s.
    let (name, bound) = refused("bucketing(cwtm,s=5)", 10, F1);
    assert_eq!(name, "s");
    assert!(bound.contains("1/2"), "{bound}");
    // s = 1 is no bucketing: the base keeps lambda = f / n.
    assert_eq!(
        plan("bucketing(cwtm,s=1,seed=7)", 10, F1),
        Plan::Bucketing {
            base: Box::new(Plan::TrimmedMean { lambda: 0.1 }),
            s: 1,
            seed: 7
        }
    );
    // A base with its own share keeps it (the default is what bucketing adjusts), and a rule
    // without a default leaves the base's share alone.
    assert_eq!(
        plan("bucketing(cwtm(f=1),s=2)", 12, None),
        Plan::Bucketing {
            base: Box::new(Plan::TrimmedMean { lambda: 1.0 / 6.0 }),
            s: 2,
            seed: 0
        }
    );
    assert_eq!(refused("bucketing(cwtm,s=13)", 12, F1).0, "s");
}

#[test]
fn bucketing_with_weights_counts_bucket_masses() {
    // Scaling every weight changes nothing (only ratios matter): 12 rows of weight 5 give the
    // plan of 12 unweighted rows.
    let rule: Rule = "bucketing(cwtm,s=2)".parse().unwrap();
    let weighted = rule.plan_weighted(&[5.0; 12], F2).unwrap();
    let Plan::Bucketing { base, .. } = weighted else {
        panic!("{weighted:?}")
    };
    let Plan::TrimmedMean { lambda } = *base else {
        panic!("{base:?}")
    };
    assert!((lambda - 1.0 / 3.0).abs() < 1e-12, "{lambda}");
    // Four rows, s = 4: one bucket holding everything. Any Byzantine row poisons all of it.
    assert_eq!(refused("bucketing(cwtm,s=4)", 4, F1).0, "s");
}

#[test]
fn gm_parameters() {
    // The default: start at the coordinate-wise median, a step of 1e-6 of the data's own
    // scale or 200 iterations, smoothing 1e-6 of that scale.
    let default = GmParams {
        init: GmInit::Median,
        max_iter: 200,
        tol: 1e-6,
        nu: 1e-6,
    };
    assert_eq!(plan("gm", 5, None), Plan::Gm(default));
    assert_eq!(GmParams::DEFAULT, default);
    // The papers' and ByzFL's: from zero, exactly 3 iterations (tol = 0), nu = 0.1.
    let rfa = GmParams {
        init: GmInit::Zero,
        max_iter: 3,
        tol: 0.0,
        nu: 0.1,
    };
    assert_eq!(plan("gm(preset=rfa)", 5, None), Plan::Gm(rfa));
    // Keys override the preset one by one.
    assert_eq!(
        plan("gm(preset=rfa,max_iter=5)", 5, None),
        Plan::Gm(GmParams { max_iter: 5, ..rfa })
    );
    assert_eq!(
        plan("gm(init=mean,tol=1e-3,nu=1e-4,max_iter=7)", 5, None),
        Plan::Gm(GmParams {
            init: GmInit::Mean,
            max_iter: 7,
            tol: 1e-3,
            nu: 1e-4
        })
    );
    assert_eq!(refused("gm(max_iter=0)", 5, None).0, "max_iter");
    assert_eq!(refused("gm(tol=-1)", 5, None).0, "tol");
    assert_eq!(refused("gm(nu=0)", 5, None).0, "nu");
}

#[test]
fn subset_rules_refuse_n_beyond_their_search_bounds() {
    for (rule, limit) in [
        ("mda(f=1)", byzagg::MDA_MAX_N),
        ("smea(f=1)", byzagg::SMEA_MAX_N),
        ("caf(f=1)", byzagg::CAF_MAX_N),
    ] {
        assert!(
            rule.parse::<Rule>().unwrap().plan(limit, None).is_ok(),
            "{rule} at {limit}"
        );
        assert_eq!(refused(rule, limit + 1, None).0, "n", "{rule}");
    }
}
