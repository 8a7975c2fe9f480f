//! Each of the four primitives of SPEC section 5 against its f64 oracle in `reference.rs`, on
//! every available backend: edge lanes (d not a multiple of a SIMD width or workgroup), n = 1,
//! ties, rows of NaN and +inf, zero weights and coefficients, magnitudes from 1e-30 to 1e30.
//!
//! One generic check per primitive ([`Check`]), run on an engine's own [`Kernels`] and stamped
//! out per backend by `backend_tests!`.

#[macro_use]
mod common;

use byzagg::{Backend, Batch, Engine, Kernels, OrderStat, Result, reference};
use common::{Rng, backend_or_skip};

/// A check of one primitive, generic over the backend; returns its mismatches.
trait Check {
    /// Runs the check on one backend's kernels.
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>>;
}

/// One batch of the matrix: `n x d` values and weights, with what it is for messages.
struct Case {
    label: String,
    n: usize,
    d: usize,
    data: Vec<f32>,
    weights: Vec<f64>,
}

impl Case {
    fn rows64(&self) -> Vec<Vec<f64>> {
        self.data
            .chunks(self.d)
            .map(|r| r.iter().map(|v| f64::from(*v)).collect())
            .collect()
    }
}

/// The matrix: n in {1, 2, 5, 8}, d in {1, 7, 33, 1001}, magnitudes 1e-30, 1 and 1e30, and
/// per shape a finite batch, one with ties (values rounded to a few levels, duplicate rows),
/// and, for n >= 3, one with a NaN row and an +inf row (weight 0 for one of them).
fn cases() -> Vec<Case> {
    let mut rng = Rng(11);
    let mut cases = Vec::new();
    for n in [1, 2, 5, 8] {
        for d in [1, 7, 33, 1001] {
            for magnitude in [1e-30f32, 1.0, 1e30] {
                for pattern in ["finite", "ties", "poisoned"] {
                    if pattern == "poisoned" && n < 3 {
                        continue;
                    }
                    let mut data: Vec<f32> = rng.rows(n, d).iter().map(|v| v * magnitude).collect();
                    let mut weights: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
                    if pattern == "ties" {
                        for v in data.iter_mut() {
                            *v = (*v / magnitude).round() * magnitude;
                        }
                        let first = data[..d].to_vec();
                        data[(n - 1) * d..].copy_from_slice(&first);
                    }
                    if pattern == "poisoned" {
                        data[d..2 * d].fill(f32::NAN);
                        data[2 * d..3 * d].fill(f32::INFINITY);
                        weights[n - 1] = 0.0;
                    }
                    cases.push(Case {
                        label: format!("{pattern} n={n} d={d} magnitude={magnitude:e}"),
                        n,
                        d,
                        data,
                        weights,
                    });
                }
            }
        }
    }
    cases
}

/// Whether `got` (f32) meets `want` (f64): equal non-finite values, or within `tol` of it.
fn meets(got: f32, want: f64, tol: f64) -> bool {
    if !want.is_finite() || !got.is_finite() {
        return (want.is_nan() && got.is_nan()) || f64::from(got) == want;
    }
    approx::abs_diff_eq!(f64::from(got), want, epsilon = tol)
}

/// Primitive 1: the median exactly as the reference rounds it to f32, the trimmed mean and
/// MeaMed within 1e-5 of the largest finite value in the coordinate's column.
struct OrderStatsMatchesReference;

impl Check for OrderStatsMatchesReference {
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>> {
        let mut failures = Vec::new();
        for case in cases() {
            let rows = k.upload(&Batch::from_contiguous(&case.data, case.n)?)?;
            for stat in [
                OrderStat::Median,
                OrderStat::TrimmedMean { lambda: 0.2 },
                OrderStat::MeaMed { lambda: 0.2 },
            ] {
                let want = reference::order_stats(&case.rows64(), &case.weights, stat);
                let result = k.order_stats(&rows, &case.weights, stat)?;
                let mut got = vec![0.0f32; case.d];
                k.download(&result, &mut got)?;
                for j in 0..case.d {
                    let column = case.data.iter().skip(j).step_by(case.d);
                    let scale = column
                        .filter(|v| v.is_finite())
                        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
                    let ok = match stat {
                        OrderStat::Median => meets(got[j], f64::from(want[j] as f32), 0.0),
                        OrderStat::TrimmedMean { .. } | OrderStat::MeaMed { .. } => {
                            meets(got[j], want[j], 1e-5 * scale)
                        }
                    };
                    if !ok {
                        failures.push(format!(
                            "{} {stat:?} coordinate {j}: {} vs reference {}",
                            case.label, got[j], want[j]
                        ));
                        break;
                    }
                }
            }
        }
        Ok(failures)
    }
}

/// Whether distance `got` meets `want`: `+inf` exactly where the reference has it, else within
/// 1e-5 of it relatively (0 stays 0).
fn distance_meets(got: f64, want: f64) -> bool {
    if want.is_infinite() || got.is_infinite() || got.is_nan() {
        return got == want;
    }
    approx::relative_eq!(got, want, epsilon = 0.0, max_relative = 1e-5)
}

/// Primitive 2: the `n x n` squared distances.
struct PairwiseDistMatchesReference;

impl Check for PairwiseDistMatchesReference {
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>> {
        let mut failures = Vec::new();
        for case in cases() {
            let rows = k.upload(&Batch::from_contiguous(&case.data, case.n)?)?;
            let want = reference::pairwise_dist(&case.rows64());
            let got = k.pairwise_dist(&rows)?;
            if let Some(i) = (0..want.len()).find(|&i| !distance_meets(got[i], want[i])) {
                failures.push(format!(
                    "{} entry ({}, {}): {} vs reference {}",
                    case.label,
                    i / case.n,
                    i % case.n,
                    got[i],
                    want[i]
                ));
            }
        }
        Ok(failures)
    }
}

/// Primitive 3: the `n` squared distances to a center (the first row, shifted).
struct CenterDistMatchesReference;

impl Check for CenterDistMatchesReference {
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>> {
        let mut failures = Vec::new();
        for case in cases() {
            let rows = k.upload(&Batch::from_contiguous(&case.data, case.n)?)?;
            let center_values: Vec<f32> = case.data[..case.d].iter().map(|v| v * 0.5).collect();
            let center = k.upload(&Batch::from_contiguous(&center_values, 1)?)?;
            let center64: Vec<f64> = center_values.iter().map(|v| f64::from(*v)).collect();
            let want = reference::center_dist(&case.rows64(), &center64);
            let got = k.center_dist(&rows, &center)?;
            if let Some(i) = (0..want.len()).find(|&i| !distance_meets(got[i], want[i])) {
                failures.push(format!(
                    "{} row {i}: {} vs reference {}",
                    case.label, got[i], want[i]
                ));
            }
        }
        Ok(failures)
    }
}

/// Primitive 4: two mixes at once (`k = 2`), one of which gives the poisoned rows
/// coefficient 0; within 1e-5 of `sum |c_i| max |x_i|` per output row.
struct MixMatchesReference;

impl Check for MixMatchesReference {
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>> {
        let mut failures = Vec::new();
        for case in cases() {
            let n = case.n;
            let rows = k.upload(&Batch::from_contiguous(&case.data, n)?)?;
            let total: f64 = case.weights.iter().sum();
            let mut coeffs: Vec<f64> = case.weights.iter().map(|w| w / total).collect();
            coeffs.extend((0..n).map(|i| if (1..3).contains(&i) { 0.0 } else { 0.5 }));
            let want = reference::mix(&case.rows64(), &coeffs, 2);
            let result = k.mix(&rows, &coeffs, 2, None)?;
            let mut got = vec![0.0f32; 2 * case.d];
            k.download(&result, &mut got)?;
            let largest = case
                .data
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
            for r in 0..2 {
                let mass: f64 = coeffs[r * n..(r + 1) * n].iter().map(|c| c.abs()).sum();
                let tol = 1e-5 * mass * largest;
                let row = r * case.d..(r + 1) * case.d;
                if let Some(j) = row.clone().find(|&j| !meets(got[j], want[j], tol)) {
                    failures.push(format!(
                        "{} output row {r} coordinate {}: {} vs reference {}",
                        case.label,
                        j - r * case.d,
                        got[j],
                        want[j]
                    ));
                }
            }
        }
        Ok(failures)
    }
}

/// `mix_order_stats` (fused on the CPU) against `order_stats` of `mix`, bit for bit: NNM-like
/// coefficients (`k = n`, each row its nearest few, zeros on the poisoned rows for some
/// outputs) and bucket-like ones (`k < n`), every statistic, the cases' weights over the mixed
/// rows (a zero weight included).
fn mix_order_stats_failures<K: Kernels>(k: &K) -> Result<Vec<String>> {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut failures = Vec::new();
    for case in cases() {
        let n = case.n;
        let rows = k.upload(&Batch::from_contiguous(&case.data, n)?)?;
        for outputs in [n, n.div_ceil(2)] {
            let coeffs: Vec<f64> = (0..outputs * n)
                .map(|i| {
                    let (r, j) = (i / n, i % n);
                    if (j + n - r % n) % n < n.div_ceil(2) && !(r % 2 == 0 && (1..3).contains(&j)) {
                        1.0 / (1 + (i % 3)) as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let weights: Vec<f64> = (0..outputs).map(|r| case.weights[r % n]).collect();
            if weights.iter().all(|w| *w == 0.0) {
                continue;
            }
            for stat in [
                OrderStat::Median,
                OrderStat::TrimmedMean { lambda: 0.2 },
                OrderStat::MeaMed { lambda: 0.25 },
            ] {
                let mixed = k.mix(&rows, &coeffs, outputs, None)?;
                let (mut want, mut got) = (vec![0.0f32; case.d], vec![0.0f32; case.d]);
                k.download(&k.order_stats(&mixed, &weights, stat)?, &mut want)?;
                k.download(
                    &k.mix_order_stats(&rows, &coeffs, outputs, &weights, stat)?,
                    &mut got,
                )?;
                if bits(&got) != bits(&want) {
                    failures.push(format!(
                        "{} k={outputs} {stat:?}: {got:?} vs {want:?}",
                        case.label
                    ));
                }
            }
        }
    }
    Ok(failures)
}

/// [`mix_order_stats_failures`] on one backend.
struct MixOrderStatsIsTheComposition;

impl Check for MixOrderStatsIsTheComposition {
    fn run<K: Kernels>(self, k: &K) -> Result<Vec<String>> {
        mix_order_stats_failures(k)
    }
}

/// Through the engine's own `Kernels` impl (what `Aggregator` calls), unsharded and sharded.
#[test]
fn engines_forward_mix_order_stats() {
    let cpu = Engine::open(Backend::Cpu).unwrap();
    let sharded = Engine::open_list(&"cpu,cpu".parse().unwrap()).unwrap();
    for engine in [cpu, sharded] {
        let failures = mix_order_stats_failures(&engine).unwrap();
        assert!(failures.is_empty(), "{}: {}", engine.name(), failures.join("\n"));
    }
}

/// Runs `job` on `backend` if it is here, and fails with every mismatch it lists.
fn check<J: Check>(backend: Backend, job: J) {
    let Some(backend) = backend_or_skip(backend) else {
        return;
    };
    let engine = Engine::open(backend).expect("an available backend");
    let failures = job.run(&engine).expect("the primitive runs");
    assert!(
        failures.is_empty(),
        "{} mismatches on {backend}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// One function per check, so the shared `backend_tests!` can name them.
fn order_stats_matches_reference(b: Backend) {
    check(b, OrderStatsMatchesReference)
}
fn pairwise_dist_matches_reference(b: Backend) {
    check(b, PairwiseDistMatchesReference)
}
fn center_dist_matches_reference(b: Backend) {
    check(b, CenterDistMatchesReference)
}
fn mix_matches_reference(b: Backend) {
    check(b, MixMatchesReference)
}
fn mix_order_stats_is_the_composition(b: Backend) {
    check(b, MixOrderStatsIsTheComposition)
}

backend_tests!(
    [order_stats_matches_reference, pairwise_dist_matches_reference, center_dist_matches_reference, mix_matches_reference, mix_order_stats_is_the_composition];
    cpu => Backend::Cpu, wgpu => Backend::Wgpu, cuda => Backend::Cuda
);
