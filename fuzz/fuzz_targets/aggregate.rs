//! The aggregation API on arbitrary batches, weights, rules and tolerances, on the CPU
//! backend and the reference: any input gives an `Err` or an output of length d, never a
//! panic. Values and weights are raw bit patterns, so NaN, infinities, subnormals and huge
//! numbers all occur; rules are compositions of up to three wrappers over a base rule.
#![no_main]

use arbitrary::Arbitrary;
use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Rule};
use libfuzzer_sys::fuzz_target;

/// The rules a base may be.
const BASES: [&str; 9] = [
    "mean",
    "cwmed",
    "cwtm",
    "krum",
    "multikrum",
    "multikrum(m=2)",
    "gm",
    "gm(preset=rfa)",
    "cclip(tau=1,iters=2)",
];

#[derive(Arbitrary, Debug)]
enum Wrapper {
    Ctma,
    Nnm,
    Bucketing { s: u8, seed: u64 },
    Cclip,
}

#[derive(Arbitrary, Debug)]
struct Input {
    n: u8,
    d: u8,
    values: Vec<u32>,
    weights: Option<Vec<u64>>,
    base: u8,
    wrappers: Vec<Wrapper>,
    lambda: Option<u64>,
    f: u8,
    strict: bool,
    reference: bool,
}

fuzz_target!(|input: Input| {
    let (n, d) = (usize::from(input.n % 16) + 1, usize::from(input.d % 16) + 1);
    if input.values.is_empty() {
        return;
    }
    // Bit patterns, cycled to fill the batch: every f32 (NaN payloads included) can occur.
    let data: Vec<f32> = (0..n * d)
        .map(|k| f32::from_bits(input.values[k % input.values.len()]))
        .collect();
    let mut text = BASES[usize::from(input.base) % BASES.len()].to_string();
    for w in input.wrappers.iter().take(3) {
        text = match w {
            Wrapper::Ctma => format!("ctma({text})"),
            Wrapper::Nnm => format!("nnm({text})"),
            Wrapper::Bucketing { s, seed } => format!("bucketing({text},s={},seed={seed})", s % 8),
            Wrapper::Cclip => format!("cclip({text},tau=0.5,iters=2)"),
        };
    }
    let rule: Rule = text.parse().expect("the composed rules are valid text");
    let tolerance = match input.lambda {
        Some(bits) => ByzantineShare::Lambda(f64::from_bits(bits)),
        None => ByzantineShare::F(usize::from(input.f)),
    };
    let backend = if input.reference {
        Backend::Reference
    } else {
        Backend::Cpu
    };
    let weights: Option<Vec<f64>> = input
        .weights
        .map(|w| w.iter().take(n).map(|b| f64::from_bits(*b)).collect());
    let Ok(mut batch) = Batch::from_contiguous(&data, n) else {
        return;
    };
    if let Some(w) = &weights {
        match batch.with_weights(w) {
            Ok(b) => batch = b,
            Err(_) => return,
        }
    }
    let Ok(aggregator) = Aggregator::new(rule, backend) else {
        return;
    };
    let aggregator = aggregator.with_byzantine_share(tolerance).strict(input.strict);
    if let Ok(out) = aggregator.aggregate(&batch) {
        assert_eq!(out.len(), d);
    }
});
