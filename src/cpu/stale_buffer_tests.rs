//! The kept output buffers (`buffer.rs`) hand out stale values: every rule must overwrite
//! all of them. Each rule runs at a `d` large enough to take kept buffers, once after the
//! buffers are freed and once with the free list full of garbage (NaN, infinities, 1e38,
//! f32::MAX, signed zeros) of the sizes the rule asks for; the two outputs must have the same
//! bits. A primitive that left one value of a reused buffer unwritten would pass that value
//! through.

use super::buffer::{MIN_LEN, give_back};
use crate::rng::SplitMix64;
use crate::{Aggregator, Backend, Batch, ByzantineShare, Rule};

/// Fills the free list with garbage buffers of capacity `len` (each hands out any length
/// from `len / 2` to `len`), patterns varying by position so no single value hides a bug.
fn fill_with_garbage(lens: &[usize]) {
    let patterns = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e38, -f32::MAX, -0.0];
    for (k, &len) in lens.iter().enumerate() {
        let buf: Vec<f32> = (0..len).map(|i| patterns[(i + k) % patterns.len()]).collect();
        give_back(buf);
    }
}

fn run(rule: &Rule, batch: &Batch<'_>) -> Vec<f32> {
    Aggregator::new(rule.clone(), Backend::Cpu)
        .expect("the cpu backend")
        .with_byzantine_share(ByzantineShare::F(1))
        .aggregate(batch)
        .unwrap_or_else(|e| panic!("{rule}: {e}"))
}

#[test]
fn garbage_in_kept_buffers_never_reaches_a_result() {
    let (n, d) = (7, MIN_LEN + 1001);
    let mut rng = SplitMix64(11);
    let rows: Vec<f32> = (0..n * d).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    let root: Vec<f32> = (0..d).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    let weights = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 2.0];
    // The buffers a rule asks for: d-vectors (outputs, centers), n x d and k x d matrices
    // (NNM's mixed rows, clipped rows, bucket means).
    let layouts = [vec![d; 4], vec![n * d; 4], vec![d, 2 * d, 4 * d, n * d]];
    // Every rule of the conformance suite, so a new rule is covered when the suite gains it.
    let rules = crate::verify::rules();
    let mut failures = Vec::new();
    for rule in &rules {
        let text = rule.to_string();
        for weighted in [false, true] {
            let mut batch = Batch::from_contiguous(&rows, n)
                .expect("batch")
                .with_root(&root)
                .expect("root");
            if weighted {
                // A rule whose tolerance these weights exceed (bucketing's depends on them)
                // runs unweighted only, as the conformance suite skips a shape its rule refuses.
                if rule.plan_weighted(&weights, Some(ByzantineShare::F(1))).is_err() {
                    continue;
                }
                batch = batch.with_weights(&weights).expect("weights");
            }
            super::release_buffers();
            let clean = run(rule, &batch);
            for lens in &layouts {
                fill_with_garbage(lens);
                let again = run(rule, &batch);
                let differ = clean
                    .iter()
                    .zip(&again)
                    .position(|(a, b)| a.to_bits() != b.to_bits());
                if let Some(j) = differ {
                    failures.push(format!(
                        "{text} (weighted: {weighted}, garbage of {lens:?}): value {j} is {} after garbage, {} before",
                        again[j], clean[j]
                    ));
                }
            }
        }
    }
    super::release_buffers();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
