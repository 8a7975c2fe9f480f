//! The case matrix of the conformance suite: the rules ([`rules`]), the shapes, weights and
//! Byzantine patterns ([`cases`]), the values of one case drawn from its seed, and the
//! CTMA cases whose answer rounding decides ([`boundary_tie`]), left out.

use std::fmt;

use super::poison::{Pattern, Poison, poison};
use crate::batch::Batch;
use crate::error::Result;
use crate::reference;
use crate::rng::SplitMix64;
use crate::rule::{ByzantineShare, Center, GmParams, Plan, Rule};

/// The numbers of rows the suite tries.
pub const NS: [usize; 7] = [1, 2, 3, 7, 8, 16, 33];

/// The dimensions the suite tries (4099: not a multiple of any SIMD width or workgroup).
pub const DS: [usize; 5] = [1, 7, 33, 1000, 4099];

/// How the weights of a case are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// No weights given (all ones).
    Uniform,
    /// Integers 1 to 5, to test weights as multiplicities (SPEC 2).
    Integer,
    /// Reals in [0.1, 3).
    Real,
}

/// One case of the suite: a rule on one seeded batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The rule, with its parameters given (the suite passes no default Byzantine share).
    pub rule: Rule,
    /// Number of rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// How the weights are drawn.
    pub weights: Weights,
    /// Which Byzantine rows were asked for.
    pub pattern: Pattern,
    /// The poisoned rows and what each holds, in row order.
    pub poisoned: Vec<(usize, Poison)>,
    /// Magnitude of the finite values.
    pub magnitude: f32,
    /// Seed of the weights and the values.
    pub seed: u64,
}

impl Case {
    /// The weights of the case (`None` for uniform: the batch is left unweighted).
    pub fn weight_values(&self) -> Option<Vec<f64>> {
        draw_weights(self.weights, self.n, self.seed)
    }

    /// The row-major `n x d` values of the case, poisoned rows included.
    pub fn rows(&self) -> Vec<f32> {
        let (n, d) = (self.n, self.d);
        let mut rng = SplitMix64(self.seed ^ 0x0DA7_A0DA_7A0D_A7A0);
        let center: Vec<f32> = (0..d).map(|_| symmetric(&mut rng) as f32).collect();
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            data.extend(center.iter().map(|c| {
                let v = c + symmetric(&mut rng) as f32;
                if self.pattern == Pattern::HugeSameSign {
                    // v in (-2, 2): within 1/16 of the magnitude, below f32::MAX.
                    self.magnitude * (1.0 + v / 32.0)
                } else {
                    v * self.magnitude
                }
            }));
        }
        for &(i, poison) in &self.poisoned {
            let row = &mut data[i * d..(i + 1) * d];
            match poison {
                Poison::Nan => row.fill(f32::NAN),
                Poison::PosInf => row.fill(f32::INFINITY),
                Poison::NegInf => row.fill(f32::NEG_INFINITY),
                Poison::Huge => row.fill(1e38),
                Poison::NanCoordinate => row[(self.seed % d as u64) as usize] = f32::NAN,
            }
        }
        data
    }

    /// The server's root update of the case: for FLTrust, the rows' common center plus noise
    /// of the case's magnitude (a finite row like an honest one, from its own seed); `None`
    /// for every other rule.
    pub fn root(&self) -> Option<Vec<f32>> {
        if self.rule != Rule::FlTrust {
            return None;
        }
        let mut rng = SplitMix64(self.seed ^ 0x0DA7_A0DA_7A0D_A7A0);
        let center: Vec<f32> = (0..self.d).map(|_| symmetric(&mut rng) as f32).collect();
        let mut rng = SplitMix64(self.seed ^ 0x0007_0007_0007_0007);
        Some(
            center
                .iter()
                .map(|c| (c + symmetric(&mut rng) as f32) * self.magnitude)
                .collect(),
        )
    }

    /// The magnitude its errors are measured against ([`data_scale`](super::data_scale)): the
    /// clean rows and the root update, the poisoned rows left out (a row of 1e38 would make any
    /// error small).
    pub fn data_scale(&self) -> f64 {
        let rows = self.rows();
        let root = self.root();
        let clean = rows
            .chunks(self.d)
            .enumerate()
            .filter(|(i, _)| !self.poisoned.iter().any(|(p, _)| p == i))
            .flat_map(|(_, row)| row);
        super::data_scale(clean.chain(root.iter().flatten()))
    }

    /// The plan the case runs (the rule carries all its parameters).
    pub fn plan(&self) -> Result<Plan> {
        self.rule.plan(self.n, None)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weights = match self.weights {
            Weights::Uniform => "uniform",
            Weights::Integer => "integer",
            Weights::Real => "real",
        };
        write!(
            f,
            "{} n={} d={} weights={weights} magnitude={:e} seed={:#x}",
            self.rule, self.n, self.d, self.magnitude, self.seed
        )?;
        if !self.poisoned.is_empty() {
            let rows: Vec<String> = self.poisoned.iter().map(|(i, p)| format!("{i}:{p}")).collect();
            write!(f, " poisoned=[{}]", rows.join(" "))?;
        }
        Ok(())
    }
}

/// The rules of the suite, built as values (not parsed), each with its parameters given.
pub fn rules() -> Vec<Rule> {
    let lambda = |l| Some(ByzantineShare::Lambda(l));
    vec![
        Rule::Mean,
        Rule::CwMed,
        Rule::CwTm { share: lambda(0.25) },
        Rule::MeaMed { share: lambda(0.25) },
        Rule::Bulyan {
            share: Some(ByzantineShare::F(1)),
        },
        Rule::Cge { share: lambda(0.2) },
        Rule::Monna {
            share: lambda(0.2),
            pivot: 1,
        },
        Rule::Mda { share: lambda(0.2) },
        Rule::Smea { share: lambda(0.2) },
        Rule::Caf { share: lambda(0.2) },
        Rule::krum(2),
        Rule::Krum {
            share: Some(ByzantineShare::F(2)),
            multi: true,
            m: None,
        },
        Rule::Gm(GmParams::DEFAULT),
        Rule::Gm(GmParams::RFA),
        Rule::ctma(Rule::CwMed, lambda(0.2)),
        Rule::ctma(Rule::krum(2), lambda(0.2)),
        Rule::ctma(Rule::Gm(GmParams::DEFAULT), lambda(0.2)),
        Rule::nnm(Rule::CwMed, lambda(0.2)),
        Rule::Bucketing {
            base: Box::new(Rule::CwMed),
            s: 2,
            seed: 7,
        },
        Rule::CenteredClipping {
            center: Center::Zero,
            tau: 1.0,
            iterations: 3,
        },
        Rule::clip(Rule::CwMed, 1.0),
        Rule::clip(Rule::Mean, 2.0),
        Rule::arc(Rule::CwTm { share: lambda(0.2) }, lambda(0.2)),
        Rule::arc(Rule::Mean, lambda(0.2)),
        Rule::FlTrust,
    ]
}

/// The whole matrix, in rule order; the same on every call and machine.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (ri, rule) in rules().into_iter().enumerate() {
        for (ni, &n) in NS.iter().enumerate() {
            let Ok(plan) = rule.plan(n, None) else {
                continue; // a shape this rule rejects (say Krum with n < 2f + 3)
            };
            for (wi, weights) in [Weights::Uniform, Weights::Integer, Weights::Real]
                .into_iter()
                .enumerate()
            {
                for (pi, pattern) in [Pattern::Finite, Pattern::NanRow, Pattern::Outliers]
                    .into_iter()
                    .enumerate()
                {
                    let seed = SplitMix64((ri * 10_000 + ni * 100 + wi * 10 + pi) as u64).next_u64();
                    let w = draw_weights(weights, n, seed).unwrap_or_else(|| vec![1.0; n]);
                    let Some(poisoned) = poison(&plan, &w, pattern, seed) else {
                        continue;
                    };
                    let case = Case {
                        rule: rule.clone(),
                        n,
                        d: DS[(ni + wi + pi) % DS.len()],
                        weights,
                        pattern,
                        poisoned,
                        magnitude: [1.0, 1e3, 1e-3][(seed >> 32) as usize % 3],
                        seed,
                    };
                    if !boundary_tie(&case) {
                        cases.push(case);
                    }
                }
            }
        }
    }
    cases.extend(extreme_cases());
    cases
}

/// Cases at the ends of the f32 range, where a backend's arithmetic (not the rule) breaks:
/// rows of huge values of one sign (+-3e38, [`Pattern::HugeSameSign`]: medians, means and
/// distances must not overflow) and rows of subnormal values about 1e-40 apart (magnitude
/// 1e-40: squared distances underflow f32, and hardware that flushes subnormals loses them).
/// The median and Krum must still pick the reference's values exactly; the geometric median
/// and CTMA over the median stay within their usual tolerance of the scale.
fn extreme_cases() -> Vec<Case> {
    let lambda = Some(ByzantineShare::Lambda(0.2));
    let rules = [
        Rule::CwMed,
        Rule::krum(2),
        Rule::Gm(GmParams::DEFAULT),
        Rule::ctma(Rule::CwMed, lambda),
    ];
    let mut cases = Vec::new();
    for (ri, rule) in rules.into_iter().enumerate() {
        for (ni, n) in [3usize, 7, 8].into_iter().enumerate() {
            if rule.plan(n, None).is_err() {
                continue;
            }
            for (mi, (pattern, magnitude)) in [
                (Pattern::HugeSameSign, 3e38f32),
                (Pattern::HugeSameSign, -3e38),
                (Pattern::Finite, 1e-40),
            ]
            .into_iter()
            .enumerate()
            {
                let weights = [Weights::Uniform, Weights::Integer][(ni + mi) % 2];
                let case = Case {
                    rule: rule.clone(),
                    n,
                    d: [33, 4099][(ri + ni + mi) % 2],
                    weights,
                    pattern,
                    poisoned: Vec::new(),
                    magnitude,
                    seed: SplitMix64(0xE7_0000 + (ri * 100 + ni * 10 + mi) as u64).next_u64(),
                };
                if !boundary_tie(&case) {
                    cases.push(case);
                }
            }
        }
    }
    cases
}

/// Relative gap under which two distances count as tied (an f32 backend's distances carry
/// relative errors near 1e-7; its center, rounded to f32, moves them further).
const TIE_REL: f64 = 1e-5;

/// Whether the case's expected output is decided by rounding: a CTMA whose mass boundary falls
/// between rows whose distances to the reference's center differ by less than `TIE_REL` (1e-5) of
/// their size. SPEC 5 lets such a tie go either way (as it does for Krum), and the two ways give
/// answers far apart (CTMA over the geometric median of two rows: both rows are equally far
/// from their midpoint), so such a case would test rounding, not the rule. The matrix leaves it
/// out.
pub fn boundary_tie(case: &Case) -> bool {
    let Ok(Plan::Ctma { base, lambda }) = case.plan() else {
        return false;
    };
    let rows = case.rows();
    let weights = case.weight_values().unwrap_or_else(|| vec![1.0; case.n]);
    let Ok(batch) = Batch::from_contiguous(&rows, case.n).and_then(|b| b.with_weights(&weights)) else {
        return false;
    };
    let Ok(center) = reference::aggregate(&base, &batch) else {
        return false;
    };
    let rows64: Vec<Vec<f64>> = rows
        .chunks(case.d)
        .map(|r| r.iter().map(|v| f64::from(*v)).collect())
        .collect();
    let dist = reference::center_dist(&rows64, &center);
    let mut order: Vec<usize> = (0..case.n).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)));
    let keep = (1.0 - lambda) * weights.iter().sum::<f64>();
    // The first row that the kept mass does not hold whole, and its neighbours in the order.
    let mut mass = 0.0;
    let Some(at) = order.iter().position(|&i| {
        mass += weights[i];
        mass > keep
    }) else {
        return false;
    };
    let tied = |a: usize, b: usize| {
        let (x, y) = (dist[order[a]], dist[order[b]]);
        x.is_finite() && y.is_finite() && (x - y).abs() <= TIE_REL * x.max(y)
    };
    (at > 0 && tied(at - 1, at)) || (at + 1 < order.len() && tied(at, at + 1))
}

/// The weights of a case, drawn from its seed.
fn draw_weights(kind: Weights, n: usize, seed: u64) -> Option<Vec<f64>> {
    let mut rng = SplitMix64(seed ^ 0x3E16_4753_3E16_4753);
    match kind {
        Weights::Uniform => None,
        Weights::Integer => Some((0..n).map(|_| (1 + rng.below(5)) as f64).collect()),
        Weights::Real => Some((0..n).map(|_| 0.1 + 2.9 * rng.unit()).collect()),
    }
}

/// Uniform in [-1, 1).
fn symmetric(rng: &mut SplitMix64) -> f64 {
    2.0 * rng.unit() - 1.0
}
