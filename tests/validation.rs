//! Every validation error: an `Err` that names the parameter and its bound, never a panic and
//! never a silently clamped parameter (SPEC section 1).

use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Error, GmParams, Rule};

/// Asserts that `result` is an invalid-parameter error naming `name`, with `needle` in its text.
fn names<T: std::fmt::Debug>(result: byzagg::Result<T>, name: &str, needle: &str) {
    match result {
        Err(e @ Error::InvalidParameter { name: n, .. }) => {
            assert_eq!(n, name, "{e}");
            assert!(e.to_string().contains(needle), "{e:?} should mention {needle:?}");
        }
        other => panic!("expected an error naming {name}, got {other:?}"),
    }
}

const DATA: [f32; 12] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0];

#[test]
fn batch_shapes() {
    names(Batch::from_contiguous(&DATA, 0), "n", "at least one row");
    names(Batch::from_contiguous(&DATA, 5), "data", "multiple of n = 5");
    names(Batch::from_contiguous(&[], 1), "data", "multiple");
    names(Batch::from_rows::<Vec<f32>>(&[]), "n", "at least one row");
    names(Batch::from_rows(&[vec![], vec![]]), "d", "at least one value");
    names(
        Batch::from_rows(&[vec![1.0], vec![1.0, 2.0]]),
        "rows",
        "row 1 of length 2",
    );
}

#[test]
fn weights() {
    let batch = || Batch::from_contiguous(&DATA, 4).expect("batch");
    names(batch().with_weights(&[1.0; 3]), "weights", "n = 4");
    names(
        batch().with_weights(&[1.0, -1.0, 1.0, 1.0]),
        "weights",
        "weights[1] = -1",
    );
    names(
        batch().with_weights(&[1.0, f64::NAN, 1.0, 1.0]),
        "weights",
        "finite",
    );
    names(
        batch().with_weights(&[1.0, f64::INFINITY, 1.0, 1.0]),
        "weights",
        "finite",
    );
    names(
        batch().with_weights(&[0.0; 4]),
        "weights",
        "at least one weight must be > 0",
    );
    assert!(batch().with_weights(&[0.0, 0.0, 1.0, 0.0]).is_ok());
}

#[test]
fn tolerances() {
    names(
        "cwtm(lambda=0.5)".parse::<Rule>().unwrap().plan(8, None),
        "lambda",
        "[0, 0.5)",
    );
    names(
        "cwtm(lambda=-0.1)".parse::<Rule>().unwrap().plan(8, None),
        "lambda",
        "[0, 0.5)",
    );
    names(
        "ctma(cwmed,f=4)".parse::<Rule>().unwrap().plan(8, None),
        "f",
        "f <= 3",
    );
    names(
        "cwtm".parse::<Rule>().unwrap().plan(8, None),
        "lambda",
        "--lambda/--f",
    );
    names(
        "nnm(cwtm,lambda=0.1)".parse::<Rule>().unwrap().plan(8, None),
        "lambda",
        "--lambda/--f",
    );
    // A default fills what the rule leaves out, and is checked like the rule's own.
    names(
        "cwtm"
            .parse::<Rule>()
            .unwrap()
            .plan(8, Some(ByzantineShare::F(4))),
        "f",
        "f <= 3",
    );
    assert!(
        "cwtm"
            .parse::<Rule>()
            .unwrap()
            .plan(8, Some(ByzantineShare::F(3)))
            .is_ok()
    );
}

#[test]
fn krum_needs_2f_plus_3_rows() {
    names(Rule::krum(5).plan(7, None), "f", "n >= 2f + 3");
    names(Rule::krum(3).plan(8, None), "f", "f <= 2");
    assert!(Rule::krum(2).plan(7, None).is_ok());
    names(
        "krum(lambda=0.3)".parse::<Rule>().unwrap().plan(7, None),
        "lambda",
        "n (1 - 2 lambda) >= 3",
    );
    names(
        "multikrum(f=1,m=0)".parse::<Rule>().unwrap().plan(7, None),
        "m",
        "1 <= m <= n = 7",
    );
    names(
        "multikrum(f=1,m=8)".parse::<Rule>().unwrap().plan(7, None),
        "m",
        "1 <= m <= n = 7",
    );
}

#[test]
fn gm_bucketing_and_clipping_parameters() {
    let gm = |p: GmParams| Rule::Gm(p).plan(4, None);
    names(
        gm(GmParams {
            max_iter: 0,
            ..GmParams::DEFAULT
        }),
        "max_iter",
        ">= 1",
    );
    names(
        gm(GmParams {
            nu: 0.0,
            ..GmParams::DEFAULT
        }),
        "nu",
        "> 0",
    );
    names(
        gm(GmParams {
            tol: -1.0,
            ..GmParams::DEFAULT
        }),
        "tol",
        ">= 0",
    );
    names(
        gm(GmParams {
            tol: f64::NAN,
            ..GmParams::DEFAULT
        }),
        "tol",
        ">= 0",
    );
    names(
        "bucketing(cwmed,s=0)".parse::<Rule>().unwrap().plan(4, None),
        "s",
        "1 <= s <= n = 4",
    );
    names(
        "bucketing(cwmed,s=5)".parse::<Rule>().unwrap().plan(4, None),
        "s",
        "1 <= s <= n = 4",
    );
    // The base of bucketing sees ceil(n / s) rows: krum(f=1) needs 5 buckets.
    names(
        "bucketing(krum(f=1),s=2)".parse::<Rule>().unwrap().plan(8, None),
        "f",
        "n = 4",
    );
    names(
        "cclip(tau=0)".parse::<Rule>().unwrap().plan(4, None),
        "tau",
        "> 0",
    );
    names(
        "cclip(tau=1,iters=0)".parse::<Rule>().unwrap().plan(4, None),
        "iters",
        ">= 1",
    );
}

#[test]
fn aggregator_errors() {
    let batch = Batch::from_contiguous(&DATA, 4).expect("batch");
    let agg = Aggregator::new(Rule::CwMed, Backend::Cpu).expect("cpu");
    names(agg.aggregate_into(&batch, &mut [0.0; 2]), "out", "length d = 3");

    let mut poisoned = DATA;
    poisoned[7] = f32::NAN;
    let batch = Batch::from_contiguous(&poisoned, 4).expect("batch");
    let strict = agg.clone().strict(true);
    assert!(matches!(
        strict.aggregate(&batch),
        Err(Error::NonFinite {
            row: 2,
            coordinate: 1
        })
    ));
    assert!(
        agg.aggregate(&batch).is_ok(),
        "without strict mode NaN is Byzantine input"
    );

    for backend in [Backend::Wgpu, Backend::Cuda] {
        if let Err(e) = backend.available() {
            assert!(
                matches!(
                    Aggregator::new(Rule::CwMed, backend),
                    Err(Error::Unavailable { .. })
                ),
                "{e}"
            );
        }
    }
    names("gpu".parse::<Backend>(), "backend", "cpu");
}
