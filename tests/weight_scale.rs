//! Scale invariance is exact (SPEC section 2): weights whose sum overflows (each finite) and
//! weights in the subnormal range give, on every backend, the result that the same ratios
//! near 1 give.

#[macro_use]
mod common;

use byzagg::{Backend, ByzantineShare, Rule};
use common::{Rng, backend_or_skip, run};

/// The rules whose outputs depend on weight sums: every mass boundary and every mean.
const RULES: [&str; 11] = [
    "mean",
    "cwmed",
    "cwtm",
    "krum",
    "multikrum",
    "gm",
    "ctma(cwmed)",
    "ctma(gm)",
    "nnm(cwmed)",
    "bucketing(cwtm,s=2)",
    "cclip(cwmed,tau=1,iters=3)",
];

fn scaled_weights_give_the_same_output(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(9);
    let (n, d) = (9, 13);
    let data = rng.rows(n, d);
    // Irregular ratios: no mass boundary falls exactly on a row, so the rounding of the
    // rescaled weights (SPEC 2 allows it) cannot flip a tie.
    let base: Vec<f64> = (0..n)
        .map(|i| 0.37 + 1.618 * ((i * 7) % 11) as f64 / 11.0)
        .collect();
    let share = Some(ByzantineShare::Lambda(0.1));
    let mut failures = Vec::new();
    for text in RULES {
        let rule: Rule = text.parse().expect("rule text");
        let want = run(&rule, backend, &data, n, Some(&base), share).expect("weights near 1");
        // 0.85e308 x 9 overflows any sum; 1e-310 is subnormal; 2^-1040 is a subnormal power
        // of two; 3e-300 is not a power of two.
        for scale in [
            0.85e308,
            1e-310,
            2f64.powi(-520).powi(2),
            3e-300,
            1e300,
            2f64.powi(1000),
        ] {
            let w: Vec<f64> = base.iter().map(|b| b * scale).collect();
            match run(&rule, backend, &data, n, Some(&w), share) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    // Only a scale that is not a power of two rounds the weights themselves.
                    if scale.log2().fract() == 0.0 || worst > 1e-5 || got.iter().any(|v| !v.is_finite()) {
                        failures.push(format!(
                            "{text} x {scale:e}: off by {worst:e}: {got:?} vs {want:?}"
                        ));
                    }
                }
                Err(e) => failures.push(format!("{text} x {scale:e}: error {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "on {backend}:\n{}", failures.join("\n"));
}

/// Integer weight ratios put mass boundaries exactly on rows (here the median's half of
/// W = 14 ends exactly after rows of weight 1, 2, 1, 2 and 1): scaled by a factor that is not a
/// power of two, and whose sum overflows, they must still give the output of the integers, to
/// the bit, since the weights as scaled hold exactly the same ratios.
fn integer_ratios_scaled_past_overflow_give_the_same_output(backend: Backend) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let mut rng = Rng(22);
    let (n, d) = (9, 257);
    let data = rng.rows(n, d);
    let base = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0];
    let share = Some(ByzantineShare::Lambda(1.0 / 7.0));
    let mut failures = Vec::new();
    for text in RULES {
        let rule: Rule = text.parse().expect("rule text");
        let want = run(&rule, backend, &data, n, Some(&base), share).expect("integer weights");
        for scale in [0.85e308, 0.3e308, 1e-310, 3e-300, 0.1] {
            let w: Vec<f64> = base.iter().map(|b| b * scale).collect();
            match run(&rule, backend, &data, n, Some(&w), share) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    failures.push(format!("{text} x {scale:e}: off by up to {worst:e}"));
                }
                Err(e) => failures.push(format!("{text} x {scale:e}: error {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "on {backend}:\n{}", failures.join("\n"));
}

backend_tests!(
    [scaled_weights_give_the_same_output, integer_ratios_scaled_past_overflow_give_the_same_output];
    reference => byzagg::Backend::Reference, cpu => byzagg::Backend::Cpu, wgpu => byzagg::Backend::Wgpu, cuda => byzagg::Backend::Cuda
);
