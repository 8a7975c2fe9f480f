//! The shard protocol across holders that each hold a range of the coordinates, driven step
//! by step through `shard::Session` as a host with its own transport would: the rounds per
//! rule are those of the protocol's table, no message grows with d (every one is n x n, n or
//! 1 doubles), and the holders' parts put together equal the unsharded aggregate.

use byzagg::shard::{Session, SessionStep, split, sum_in_order};
use byzagg::verify::{self, Accuracy};
use byzagg::{Aggregator, Backend, Batch, Report, Rule};

/// The rows, with row 1 NaN and row 4 huge (Byzantine rows are input, not errors).
fn rows(n: usize, d: usize) -> Vec<f32> {
    let mut data = byzagg::bench::gaussian_rows(n, d, 7);
    data[d..2 * d].fill(f32::NAN);
    data[4 * d..5 * d].fill(1e30);
    data
}

/// Runs `rule` over `holders` holders of `data` (n rows); returns the result put together,
/// the report of holder 0 and the length of every message of holder 0, round by round.
fn run_holders(rule: &Rule, data: &[f32], n: usize, holders: usize) -> (Vec<f32>, Report, Vec<usize>) {
    let d = data.len() / n;
    let ranges = split(&vec![1.0; holders], d);
    let mut sessions: Vec<Session> = ranges
        .iter()
        .map(|r| {
            let slice: Vec<f32> = data.chunks(d).flat_map(|row| row[r.clone()].to_vec()).collect();
            Session::start(rule.clone(), None, slice, n, None).unwrap()
        })
        .collect();
    let mut messages = Vec::new();
    loop {
        let steps: Vec<SessionStep> = sessions.iter_mut().map(|s| s.step().unwrap()).collect();
        if steps.iter().all(|s| matches!(s, SessionStep::Done(..))) {
            let mut result = Vec::with_capacity(d);
            let mut report = None;
            for step in steps {
                if let SessionStep::Done(part, r) = step {
                    result.extend(part);
                    report.get_or_insert(r);
                }
            }
            return (result, report.unwrap(), messages);
        }
        let partials: Vec<Vec<f64>> = steps
            .into_iter()
            .map(|s| match s {
                SessionStep::Partial(p) => p,
                other => panic!("holders disagree on the step: {other:?}"),
            })
            .collect();
        messages.push(partials[0].len());
        assert!(partials.iter().all(|p| p.len() == messages[messages.len() - 1]));
        let sum = sum_in_order(&partials).unwrap();
        for s in &mut sessions {
            s.deliver(sum.clone()).unwrap();
        }
    }
}

#[test]
fn rounds_per_rule_follow_the_protocol_table() {
    let n = 9;
    let data = rows(n, 500);
    let nn = n * n;
    for (text, want) in [
        ("mean", vec![]),
        ("cwmed", vec![]),
        ("cwtm(lambda=0.25)", vec![]),
        ("krum(f=2)", vec![nn]),
        ("multikrum(f=2,m=3)", vec![nn]),
        ("ctma(cwmed,lambda=0.25)", vec![n]),
        ("nnm(cwmed,lambda=0.25)", vec![nn]),
        ("ctma(krum(f=2),lambda=0.25)", vec![nn, n]),
        ("bucketing(cwmed,s=2,seed=1)", vec![]),
        ("cclip(tau=1,iters=3)", vec![n, n, n]),
        ("gm(tol=0,max_iter=4)", vec![n; 4]),
    ] {
        let rule: Rule = text.parse().unwrap();
        let (_, _, messages) = run_holders(&rule, &data, n, 3);
        assert_eq!(messages, want, "{text}");
    }
    // With a tolerance, each Weiszfeld iteration adds the one-double round of its step test
    // (the tolerance is relative to the data's scale, taken from the start's distances, so
    // no round for the iterate's norm).
    let (_, report, messages) = run_holders(&"gm".parse().unwrap(), &data, n, 3);
    let Some(byzagg::Step::Gm { iterations, .. }) = report.steps.first() else {
        panic!("{report:?}")
    };
    assert_eq!(messages.len(), 2 * iterations, "{messages:?}");
    assert!(messages.iter().all(|&m| m == n || m == 1), "{messages:?}");
}

#[test]
fn messages_do_not_grow_with_d() {
    let n = 8;
    // FLTrust's root update comes with a batch; a session holds rows only.
    for rule in verify::rules().into_iter().filter(|r| !r.needs_root()) {
        let mut seen: Option<Vec<usize>> = None;
        for d in [16, 1_000, 100_000] {
            let (_, _, messages) = run_holders(&rule, &rows(n, d), n, 2);
            assert!(messages.iter().all(|&m| m <= n * n), "{rule} d={d}: {messages:?}");
            // The geometric median to a tolerance stops after a data-dependent number of
            // rounds; every other rule takes the same rounds whatever d.
            if !rule.to_string().starts_with("gm") && !rule.to_string().contains("(gm") {
                match &seen {
                    None => seen = Some(messages),
                    Some(first) => assert_eq!(&messages, first, "{rule} d={d}"),
                }
            }
        }
    }
}

/// The rows each Krum and CTMA step chose.
fn selections(report: &Report) -> Vec<Vec<usize>> {
    report
        .steps
        .iter()
        .filter_map(|s| match s {
            byzagg::Step::Krum { selected, .. } => Some(selected.clone()),
            byzagg::Step::Ctma { kept, .. } => Some(kept.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn holders_put_together_equal_the_unsharded_aggregate() {
    let (n, d) = (11, 3_001);
    let data = rows(n, d);
    let batch = Batch::from_contiguous(&data, n).unwrap();
    // FLTrust's root update comes with a batch; a session holds rows only.
    for rule in verify::rules().into_iter().filter(|r| !r.needs_root()) {
        let plan = rule.plan(n, None).unwrap();
        let agg = Aggregator::new(rule.clone(), Backend::Cpu).unwrap();
        let mut want = vec![0.0f32; d];
        let want_report = agg.aggregate_into(&batch, &mut want).unwrap();
        for holders in [1, 2, 5] {
            let (got, report, _) = run_holders(&rule, &data, n, holders);
            if verify::accuracy(&plan) == Accuracy::Exact {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{rule} on {holders} holders");
            }
            let expected: Vec<f64> = want.iter().map(|v| f64::from(*v)).collect();
            // A finite output is owed only where the rule tolerates rows 1 (NaN) and 4 (1e30):
            // not by the mean, nor by MoNNA whose trusted pivot is the NaN row.
            let bad: Vec<bool> = (0..n).map(|i| i == 1 || i == 4).collect();
            let robust = verify::tolerates(&plan, &vec![1.0; n], &bad);
            let clean = data
                .chunks(d)
                .enumerate()
                .filter(|(i, _)| !bad[*i])
                .flat_map(|(_, r)| r);
            let ok = verify::compare(
                verify::accuracy(&plan),
                &expected,
                &got,
                robust,
                verify::data_scale(clean),
            );
            assert!(ok.failure.is_none(), "{rule} on {holders} holders: {ok:?}");
            // The same decisions (scores differ in their last bits: the CPU sums each
            // range's distances in f32 lanes before adding ranges in f64).
            assert_eq!(
                selections(&report),
                selections(&want_report),
                "{rule} on {holders} holders"
            );
        }
    }
}

#[test]
fn a_session_refuses_steps_out_of_order_and_bad_sums() {
    let data = rows(5, 10);
    let rule: Rule = "krum(f=1)".parse().unwrap();
    let mut s = Session::start(rule.clone(), None, data.clone(), 5, None).unwrap();
    assert!(s.deliver(vec![0.0; 25]).is_err(), "no round is open yet");
    let SessionStep::Partial(p) = s.step().unwrap() else {
        panic!("krum has a round")
    };
    assert_eq!(p.len(), 25);
    assert!(s.step().is_err(), "the round is open");
    let err = s.deliver(vec![0.0; 24]).unwrap_err().to_string();
    assert!(err.contains("sum") && err.contains("25"), "{err}");
    s.deliver(p).unwrap();
    assert!(matches!(s.step().unwrap(), SessionStep::Done(..)));
    assert!(s.step().is_err(), "finished");
    // Bad input is an error at the start, naming the parameter.
    let err = Session::start(rule.clone(), None, data.clone(), 3, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("data"), "{err}");
    let err = Session::start(rule, None, data, 5, Some(vec![1.0; 4]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("weights"), "{err}");
    // A session dropped in the middle of a round ends its thread.
    let mut s = Session::start("gm".parse().unwrap(), None, rows(5, 10), 5, None).unwrap();
    assert!(matches!(s.step().unwrap(), SessionStep::Partial(_)));
    drop(s);
}
