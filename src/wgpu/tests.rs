//! The shaders against naga and the limits naga does not check, and each primitive against
//! `reference.rs`: edge lanes (d not a multiple of 64), n = 1, ties, NaN/inf rows, magnitudes
//! from 1e-30 to 1e38, and several coordinate chunks (a small forced chunk length).

use super::device::SHADERS;
use super::order_stats::FixedWeights;
use super::*;
use crate::kernels::{Kernels, OrderStat};
use crate::{Batch, reference};

/// The device, or `None` (printing why) unless `BYZAGG_REQUIRE` names wgpu.
fn gpu() -> Option<Wgpu> {
    match Wgpu::new() {
        Ok(g) => Some(g),
        Err(e) => {
            crate::verify::require_or_skip("wgpu", e);
            None
        }
    }
}

#[test]
fn shaders_validate_and_fit_the_webgpu_limits() {
    for (stem, source, entries) in SHADERS {
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{stem}: {e}"));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{stem}: {e:?}"));
        assert!(
            source.starts_with("// Primitive") || stem == "reduce",
            "{stem}: contract comment"
        );
        assert!(
            source.contains(&format!("src/wgpu/{stem}.rs")),
            "{stem}: names its launcher"
        );
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).expect("layout");
        for ep in &module.entry_points {
            assert!(
                entries.contains(&ep.name.as_str()),
                "{stem}: unlisted entry {}",
                ep.name
            );
            let size: u32 = ep.workgroup_size.iter().product();
            assert!(size <= 256, "{stem}::{}: workgroup size {size} > 256", ep.name);
            assert_eq!(u64::from(size), super::device::WORKGROUP, "{stem}::{}", ep.name);
        }
        for entry in entries {
            assert!(
                module.entry_points.iter().any(|ep| ep.name == *entry),
                "{stem}: no entry point {entry}"
            );
        }
        let shared: u32 = module
            .global_variables
            .iter()
            .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
            .map(|(_, g)| layouter[g.ty].size)
            .sum();
        assert!(
            shared <= 16 * 1024,
            "{stem}: {shared} bytes of workgroup memory > 16 KiB"
        );
    }
}

#[test]
fn fixed_weights_are_exact_for_integers_and_keep_tiny_ones() {
    let f = FixedWeights::new(&[1.0, 0.0, 3.0, 2.0]).expect("weights");
    assert_eq!(f.active.len(), 3);
    let unit = f.active[0].1;
    assert_eq!(f.active[1].1, 3 * unit);
    assert_eq!(f.active[2].1, 2 * unit);
    assert_eq!(f.total, 6 * unit);
    assert!(f.total <= 1 << 60);
    let f = FixedWeights::new(&[1e300, 1e-300]).expect("weights");
    assert_eq!(f.active[1].1, 1);
    let f = FixedWeights::new(&[2f64.powi(-1000), 3.0 * 2f64.powi(-1000)]).expect("weights");
    assert_eq!(f.active[1].1, 3 * f.active[0].1);
}

#[derive(Clone)]
struct Case {
    n: usize,
    d: usize,
    data: Vec<f32>,
}

impl Case {
    fn random(n: usize, d: usize, seed: u64) -> Self {
        let mut state = seed;
        let data = (0..n * d)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f64 / (1u64 << 31) as f64 * 8.0 - 4.0) as f32
            })
            .collect();
        Case { n, d, data }
    }

    fn rows64(&self) -> Vec<Vec<f64>> {
        self.data
            .chunks(self.d)
            .map(|r| r.iter().map(|v| f64::from(*v)).collect())
            .collect()
    }

    fn set_row(&mut self, i: usize, f: impl Fn(usize) -> f32) {
        for j in 0..self.d {
            self.data[i * self.d + j] = f(j);
        }
    }
}

fn download(g: &Wgpu, m: &WgpuRows) -> Vec<f32> {
    let (k, d) = m.shape();
    let mut out = vec![0.0; k * d];
    g.download(m, &mut out).expect("download");
    out
}

fn same_value(got: f32, want: f64) -> bool {
    got.to_bits() == (want as f32).to_bits() || (got.is_nan() && want.is_nan()) || (got == 0.0 && want == 0.0)
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    close_at(got, want, tol, want.abs().max(f64::MIN_POSITIVE))
}

/// Within `tol` of `scale` (the contract: relative to the scale of the data).
fn close_at(got: f64, want: f64, tol: f64, scale: f64) -> bool {
    if !want.is_finite() || !got.is_finite() {
        return got == want || (got.is_nan() && want.is_nan());
    }
    (got - want).abs() <= tol * scale
}

impl Case {
    fn scale(&self) -> f64 {
        self.data
            .iter()
            .filter(|v| v.is_finite())
            .fold(1.0, |m, v| m.max(f64::from(v.abs())))
    }
}

/// Chunkings to try: one chunk, and several odd-sized ones.
const CHUNKS: [Option<usize>; 3] = [None, Some(37), Some(64)];

fn with_chunks(g: &Wgpu, chunk: Option<usize>) -> Wgpu {
    // `g`'s launch tuning kept; the chunk length `chunk`, or the environment's.
    let env = WgpuParams::from_env().expect("the environment's wgpu tuning");
    Wgpu::with_params(WgpuParams {
        chunk_cols: chunk.or(env.chunk_cols),
        ..g.params()
    })
    .expect("device")
}

fn check_order_stats(g: &Wgpu, case: &Case, weights: &[f64], stat: OrderStat, what: &str) {
    let want = reference::order_stats(&case.rows64(), weights, stat);
    for chunk in CHUNKS {
        let g = with_chunks(g, chunk);
        let batch = Batch::from_contiguous(&case.data, case.n).expect("batch");
        let rows = g.upload(&batch).expect("upload");
        let got = download(&g, &g.order_stats(&rows, weights, stat).expect("order_stats"));
        for (j, (x, y)) in got.iter().zip(&want).enumerate() {
            let ok = match stat {
                OrderStat::Median => same_value(*x, *y),
                OrderStat::TrimmedMean { .. } | OrderStat::MeaMed { .. } => {
                    close_at(f64::from(*x), *y, 1e-5, case.scale()) || same_value(*x, *y)
                }
            };
            let column: Vec<f32> = (0..case.n).map(|i| case.data[i * case.d + j]).collect();
            assert!(
                ok,
                "{what} {stat:?} chunk {chunk:?} coordinate {j}: got {x}, want {y}, {column:?} {weights:?}"
            );
        }
    }
}

#[test]
fn order_stats_match_the_reference() {
    let Some(g) = gpu() else { return };
    for (n, d) in [(1, 5), (2, 70), (3, 65), (8, 129), (9, 100), (33, 40)] {
        let mut case = Case::random(n, d, (n * 1000 + d) as u64);
        // Ties: copy row 0 into the last row; a -0 / +0 pair.
        if n > 2 {
            let r0: Vec<f32> = case.data[..d].to_vec();
            case.set_row(n - 1, |j| r0[j]);
            case.data[d] = -0.0;
            case.data[0] = 0.0;
        }
        let uniform = vec![1.0; n];
        let integer: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
        // Real weights that make no exact tie (decimal ties such as 0.47 + 0.84 + 1.21 + 0.84 = 6.72 / 2
        // hold in f64 only by luck of rounding, which fixed point does not reproduce).
        let real: Vec<f64> = (0..n)
            .map(|i| 0.1 + (i as f64 * 0.7548776662466927).fract() * 2.9)
            .collect();
        let mut zero = integer.clone();
        zero[0] = 0.0;
        if n == 1 {
            zero[0] = 2.0;
        }
        for (name, w) in [
            ("uniform", &uniform),
            ("integer", &integer),
            ("real", &real),
            ("zero", &zero),
        ] {
            check_order_stats(&g, &case, w, OrderStat::Median, &format!("{name} n={n} d={d}"));
            for lambda in [0.0, 0.2, 0.25, 0.49] {
                check_order_stats(
                    &g,
                    &case,
                    w,
                    OrderStat::TrimmedMean { lambda },
                    &format!("{name} n={n} d={d}"),
                );
                check_order_stats(
                    &g,
                    &case,
                    w,
                    OrderStat::MeaMed { lambda },
                    &format!("{name} n={n} d={d}"),
                );
            }
        }
    }
}

#[test]
fn order_stats_order_non_finite_values() {
    let Some(g) = gpu() else { return };
    let poisons = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3e38,
        -3e38,
        f32::MAX,
    ];
    for n in [2, 4, 7, 10] {
        let d = 71;
        let mut case = Case::random(n, d, n as u64);
        for i in 0..n / 2 {
            case.set_row(i * 2, |j| poisons[(i + j) % poisons.len()]);
        }
        let w: Vec<f64> = (0..n).map(|i| (1 + i % 2) as f64).collect();
        for weights in [vec![1.0; n], w] {
            check_order_stats(&g, &case, &weights, OrderStat::Median, &format!("poisoned n={n}"));
            for lambda in [0.0, 0.25, 0.4] {
                check_order_stats(&g, &case, &weights, OrderStat::TrimmedMean { lambda }, "poisoned");
                check_order_stats(&g, &case, &weights, OrderStat::MeaMed { lambda }, "poisoned");
            }
        }
    }
}

/// Large same-sign middle values: their midpoint is finite although their f32 sum is not.
/// A shader compiler may rewrite `a*0.5 + b*0.5` as `(a + b)*0.5`, so the shader must halve
/// in a way no float rewriting can undo.
#[test]
fn medians_of_huge_same_sign_values_do_not_overflow() {
    let Some(g) = gpu() else { return };
    let pairs = [
        (2e38f32, 2e38f32),
        (-3e38, -3.2e38),
        (f32::MAX, f32::MAX),
        (-f32::MAX, -f32::MAX),
        (3e38, 1.0),
        (f32::MAX, -f32::MAX),
        (1e-45, 3e-45),
        (1.5e-38, 1e-39),
    ];
    let d = pairs.len();
    let mut data = vec![0.0f32; 2 * d];
    for (j, &(a, b)) in pairs.iter().enumerate() {
        data[j] = a;
        data[d + j] = b;
    }
    let case = Case { n: 2, d, data };
    check_order_stats(&g, &case, &[1.0, 1.0], OrderStat::Median, "huge pairs");
    check_order_stats(&g, &case, &[2.0, 2.0], OrderStat::Median, "huge pairs, weighted");
}

/// Rows near +-3e38: `x*s - y*s` must not be factored into `(x - y)*s`, which overflows.
#[test]
fn distances_between_opposite_huge_rows_are_finite() {
    let Some(g) = gpu() else { return };
    let d = 100;
    let mut case = Case::random(4, d, 5);
    case.set_row(0, |_| 3e38);
    case.set_row(1, |_| -3e38);
    case.set_row(2, |j| if j % 2 == 0 { f32::MAX } else { -f32::MAX });
    check_distances(&g, &case, "opposite huge rows");
}

fn check_distances(g: &Wgpu, case: &Case, what: &str) {
    let rows64 = case.rows64();
    let want = reference::pairwise_dist(&rows64);
    let (n, d) = (case.n, case.d);
    let center: Vec<f32> = (0..d)
        .map(|j| case.data[j] * 0.5 + case.data[(n - 1) * d + j] * 0.25)
        .collect();
    let center64: Vec<f64> = center.iter().map(|v| f64::from(*v)).collect();
    let want_c = reference::center_dist(&rows64, &center64);
    for chunk in CHUNKS {
        let g = with_chunks(g, chunk);
        let rows = g
            .upload(&Batch::from_contiguous(&case.data, case.n).expect("batch"))
            .expect("upload");
        let crow = [center.clone()];
        let cm = g
            .upload(&Batch::from_rows(&crow).expect("center"))
            .expect("center upload");
        let got = g.pairwise_dist(&rows).expect("pairwise");
        for (k, (x, y)) in got.iter().zip(&want).enumerate() {
            assert!(
                close(*x, *y, 1e-5),
                "{what} pairwise chunk {chunk:?} entry {k}: {x} vs {y}"
            );
        }
        let got = g.center_dist(&rows, &cm).expect("center");
        for (k, (x, y)) in got.iter().zip(&want_c).enumerate() {
            assert!(
                close(*x, *y, 1e-5),
                "{what} center chunk {chunk:?} row {k}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn distances_match_the_reference_at_every_magnitude() {
    let Some(g) = gpu() else { return };
    // 1e-40 and 1e-44: subnormal rows, whose scale exceeds f32's exponent range.
    for scale in [1e-44f32, 1e-40, 1e-30, 1e-10, 1.0, 1e10, 1e30] {
        for (n, d) in [(1, 3), (2, 64), (5, 1001), (7, 130)] {
            let mut case = Case::random(n, d, d as u64);
            for v in &mut case.data {
                *v *= scale;
            }
            check_distances(&g, &case, &format!("scale {scale} n={n} d={d}"));
        }
    }
    // Finite rows near f32::MAX: squares overflow f32, never the result.
    let mut case = Case::random(4, 300, 5);
    case.set_row(1, |j| if j % 2 == 0 { 1e38 } else { -3e38 });
    case.set_row(2, |j| if j % 3 == 0 { -f32::MAX } else { 2e38 });
    check_distances(&g, &case, "huge");
}

#[test]
fn distances_are_infinite_exactly_for_non_finite_rows() {
    let Some(g) = gpu() else { return };
    let mut case = Case::random(6, 200, 9);
    case.data[2 * 200 + 150] = f32::NAN;
    case.data[4 * 200 + 3] = f32::NEG_INFINITY;
    check_distances(&g, &case, "non-finite");
    let rows = g
        .upload(&Batch::from_contiguous(&case.data, 6).expect("batch"))
        .expect("upload");
    let dist = g.pairwise_dist(&rows).expect("pairwise");
    for i in 0..6 {
        let bad = i == 2 || i == 4;
        assert_eq!(
            dist[i * 6 + i],
            if bad { f64::INFINITY } else { 0.0 },
            "diagonal {i}"
        );
    }
    let nan_center = g
        .upload(&Batch::from_rows(&[vec![f32::NAN; 200]]).expect("c"))
        .expect("upload");
    assert!(
        g.center_dist(&rows, &nan_center)
            .expect("center")
            .iter()
            .all(|v| *v == f64::INFINITY)
    );
}

#[test]
fn mix_matches_the_reference_and_skips_zero_coefficients() {
    let Some(g) = gpu() else { return };
    let (n, d) = (5, 333);
    let mut case = Case::random(n, d, 11);
    case.set_row(3, |_| f32::NAN);
    let k = 3;
    let coeffs: Vec<f64> = (0..k * n)
        .map(|i| {
            if i % n == 3 {
                0.0
            } else {
                0.1 + (i % 4) as f64 * 0.3
            }
        })
        .collect();
    let want = reference::mix(&case.rows64(), &coeffs, k);
    for chunk in CHUNKS {
        let g = with_chunks(&g, chunk);
        let rows = g
            .upload(&Batch::from_contiguous(&case.data, n).expect("batch"))
            .expect("upload");
        let mixed = g.mix(&rows, &coeffs, k, None).expect("mix");
        let got = download(&g, &mixed);
        for (j, (x, y)) in got.iter().zip(&want).enumerate() {
            assert!(
                close_at(f64::from(*x), *y, 1e-5, case.scale()),
                "mix chunk {chunk:?} value {j}: {x} vs {y}"
            );
        }
        // With a base: out = C rows + 0.5 * mixed.
        let again = download(
            &g,
            &g.mix(&rows, &coeffs, k, Some((&mixed, 0.5))).expect("mix base"),
        );
        for (j, (x, y)) in again.iter().zip(&want).enumerate() {
            assert!(
                close_at(f64::from(*x), 1.5 * y, 1e-5, case.scale()),
                "mix+base chunk {chunk:?} value {j}: {x}"
            );
        }
        // A NaN with a non-zero coefficient propagates.
        let mut c2 = coeffs[..n].to_vec();
        c2[3] = 0.5;
        assert!(
            download(&g, &g.mix(&rows, &c2, 1, None).expect("mix"))
                .iter()
                .all(|v| v.is_nan())
        );
        let z = g.zeros(1, d).expect("zeros");
        assert!(download(&g, &z).iter().all(|v| *v == 0.0));
    }
}

#[test]
fn errors_are_values() {
    let Some(g) = gpu() else { return };
    let rows = g
        .upload(&Batch::from_contiguous(&[1.0; 12], 3).expect("batch"))
        .expect("upload");
    assert!(g.mix(&rows, &[1.0; 2], 1, None).is_err());
    assert!(g.order_stats(&rows, &[1.0; 2], OrderStat::Median).is_err());
    let other = g.zeros(1, 5).expect("zeros");
    assert!(g.center_dist(&rows, &other).is_err());
    let mut out = [0.0; 3];
    assert!(g.download(&rows, &mut out).is_err());
    assert!(!adapters().is_empty());
}

/// A center and a base planned in other chunks than the rows (as `zeros` plans a 1-row
/// matrix for itself) are copied into the rows' plan where they meet: the results equal the
/// reference as with one chunking.
#[test]
fn matrices_of_other_chunk_plans_meet() {
    let Some(g) = gpu() else { return };
    let (n, d) = (5, 301);
    let data: Vec<f32> = (0..n * d).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
    let center: Vec<f32> = (0..d).map(|j| (j % 7) as f32).collect();
    let rows64: Vec<Vec<f64>> = data
        .chunks(d)
        .map(|r| r.iter().map(|v| f64::from(*v)).collect())
        .collect();
    let center64: Vec<f64> = center.iter().map(|v| f64::from(*v)).collect();
    let chunked = g.clone().with_chunk_cols(64);
    let rows = chunked
        .upload(&Batch::from_contiguous(&data, n).expect("batch"))
        .expect("upload");
    let whole = g.clone().with_chunk_cols(d);
    let c = whole
        .upload(&Batch::from_contiguous(&center, 1).expect("center"))
        .expect("upload");
    assert_ne!(rows.chunk, c.chunk, "the test needs two plans");
    let got = chunked.center_dist(&rows, &c).expect("center_dist");
    let want = reference::center_dist(&rows64, &center64);
    for (x, y) in got.iter().zip(&want) {
        assert!(close(*x, *y, 1e-5), "{got:?} vs {want:?}");
    }
    let coeffs = [0.25, 0.0, 0.25, 0.0, 0.0];
    let mixed = chunked.mix(&rows, &coeffs, 1, Some((&c, 0.5))).expect("mix");
    let got = download(&chunked, &mixed);
    let want = reference::mix(&rows64, &coeffs, 1);
    for (j, x) in got.iter().enumerate() {
        let y = want[j] + 0.5 * center64[j];
        assert!(
            close_at(f64::from(*x), y, 1e-5, 50.0),
            "coordinate {j}: {x} vs {y}"
        );
    }
}

/// Tighter launch limits cut the same work into other grids, dispatches and submissions: with
/// one or three workgroups per grid row every shader runs with `workgroup_id.y > 0` (70 rows
/// make every launch, the reductions included, span several workgroups), and small
/// `order_stats` budgets split chunks into dispatches of 1, 12 or 37 coordinates. Every
/// primitive still matches the reference, under every chunking.
#[test]
fn launch_limits_change_no_result() {
    if gpu().is_none() {
        return;
    }
    let (n, d) = (70, 301);
    let mut case = Case::random(n, d, 70);
    let r0: Vec<f32> = case.data[..d].to_vec();
    case.set_row(n - 1, |j| r0[j]);
    let weights: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
    let m2 = (n * n) as u64;
    let coeffs: Vec<f64> = (0..2 * n).map(|i| ((i % 5) as f64 - 1.0) * 0.25).collect();
    let want_mix = reference::mix(&case.rows64(), &coeffs, 2);
    for limits in [
        WgpuParams {
            max_groups_x: Some(1),
            ..WgpuParams::default()
        },
        WgpuParams {
            max_groups_x: Some(3),
            order_stats_work: Some(37 * m2),
            ..WgpuParams::default()
        },
        WgpuParams {
            order_stats_work: Some(1),
            ..WgpuParams::default()
        },
    ] {
        let g = Wgpu::with_params(limits).expect("the device opened above");
        {
            let what = format!("{limits:?}");
            check_order_stats(&g, &case, &weights, OrderStat::Median, &what);
            check_order_stats(&g, &case, &weights, OrderStat::TrimmedMean { lambda: 0.2 }, &what);
            check_order_stats(&g, &case, &weights, OrderStat::MeaMed { lambda: 0.2 }, &what);
            check_distances(&g, &case, &what);
            for chunk in CHUNKS {
                let g = with_chunks(&g, chunk);
                let rows = g
                    .upload(&Batch::from_contiguous(&case.data, n).expect("batch"))
                    .expect("upload");
                let got = download(&g, &g.mix(&rows, &coeffs, 2, None).expect("mix"));
                for (j, (x, y)) in got.iter().zip(&want_mix).enumerate() {
                    assert!(
                        close_at(f64::from(*x), *y, 1e-5, case.scale()),
                        "{what} mix chunk {chunk:?} value {j}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn grids_respect_the_row_cap_and_cover_the_groups() {
    use super::device::grid;
    for groups in [1u64, 2, 63, 64, 65, 1000, 65_535, 65_536, 10_000_000] {
        for (max, cap) in [
            (65_535, None),
            (65_535, Some(1)),
            (65_535, Some(3)),
            (16, Some(100)),
        ] {
            let (x, y) = grid(groups, max, cap);
            let row = cap.map_or(max, |c| u64::from(c).min(max));
            assert!(x >= 1 && x <= row, "{groups} {max} {cap:?}: x = {x}");
            assert!(x * y >= groups && x * (y - 1) < groups, "{groups}: {x} x {y}");
        }
    }
}

#[test]
fn order_stats_dispatches_cover_the_chunk_within_the_budget() {
    use super::order_stats::{dispatches, work_per_coordinate};
    for len in [1u64, 63, 64, 65, 1000, 1 << 20] {
        for m in [1u64, 2, 64, 65, 512, 46_340, 1 << 20] {
            for stat in [OrderStat::Median, OrderStat::MeaMed { lambda: 0.2 }] {
                let cost = work_per_coordinate(stat, m);
                for budget in [1u64, 4096, 1 << 30] {
                    let parts: Vec<(u64, u64)> = dispatches(len, cost, budget).collect();
                    let mut next = 0;
                    for &(first, count) in &parts {
                        assert_eq!(first, next, "{len} {m} {budget}: gap");
                        assert!(count >= 1);
                        assert!(
                            count * cost <= budget || count == 1,
                            "{len} {m} {budget}: {count}"
                        );
                        next = first + count;
                    }
                    assert_eq!(next, len, "{len} {m} {budget}: not covered");
                }
            }
        }
    }
}

/// A coefficient of 1 (Krum's selected row) copies the row bit for bit, subnormal values
/// included; so does any power of two within range.
#[test]
fn power_of_two_coefficients_copy_subnormal_rows_exactly() {
    let Some(g) = gpu() else { return };
    let (n, d) = (3, 130);
    let mut case = Case::random(n, d, 40);
    for v in &mut case.data {
        *v *= 1e-40;
    }
    let rows = g
        .upload(&Batch::from_contiguous(&case.data, n).expect("batch"))
        .expect("upload");
    for (coeffs, factor) in [([0.0, 1.0, 0.0], 1.0f32), ([0.0, 4.0, 0.0], 4.0)] {
        let got = download(&g, &g.mix(&rows, &coeffs, 1, None).expect("mix"));
        for (j, x) in got.iter().enumerate() {
            let want = case.data[d + j] * factor;
            assert_eq!(x.to_bits(), want.to_bits(), "coordinate {j}: {x:e} vs {want:e}");
        }
    }
}

/// The median's midpoint of two subnormal or tiny values is the reference's, bit for bit: the
/// shader decodes them through integer bits (`units` in order_stats.wgsl), so a GPU that
/// flushes subnormals (NVIDIA) gives what lavapipe gives here. Pairs at 1e-40 and random bit
/// patterns across the integer path (exponents 0..=26) and just past it, where f64 sums exact.
#[test]
fn midpoints_of_subnormal_values_are_exact() {
    let Some(g) = gpu() else { return };
    let mut rng = crate::rng::SplitMix64(5);
    let d = 4099;
    let mut data = vec![0f32; 2 * d];
    for (j, pair) in (0..d).map(|j| (j, j + d)).enumerate() {
        let (a, b) = match j % 3 {
            0 => (
                (rng.unit() * 2.0 - 1.0) as f32 * 1e-40,
                (rng.unit() * 2.0 - 1.0) as f32 * 1e-40,
            ),
            _ => {
                let top = if j % 3 == 1 { 26 } else { 40 };
                let mut bits = || {
                    let r = rng.next_u64();
                    let e = (r >> 40) as u32 % (top + 1);
                    f32::from_bits((r as u32 & 0x807f_ffff) | (e << 23))
                };
                (bits(), bits())
            }
        };
        data[pair.0] = a;
        data[pair.1] = b;
    }
    let rows = g
        .upload(&Batch::from_contiguous(&data, 2).expect("batch"))
        .expect("upload");
    let got = download(
        &g,
        &g.order_stats(&rows, &[1.0, 1.0], OrderStat::Median)
            .expect("median"),
    );
    for (j, x) in got.iter().enumerate() {
        let (a, b) = (f64::from(data[j]), f64::from(data[j + d]));
        let want = (0.5 * (a + b)) as f32;
        assert!(
            x.to_bits() == want.to_bits() || (*x == 0.0 && want == 0.0),
            "coordinate {j}: midpoint({a:e}, {b:e}) = {x:e}, the reference gives {want:e}"
        );
    }
}

/// Krum's selected row through `mix` (one term, coefficient 1) and a median that is one input
/// value keep subnormal values bit for bit: both are copied as bits, never through a float op.
#[test]
fn selected_subnormal_values_are_copied_by_bits() {
    let Some(g) = gpu() else { return };
    let (n, d) = (7, 133);
    let mut case = Case::random(n, d, 41);
    for v in &mut case.data {
        *v *= 1e-40;
    }
    let rows = g
        .upload(&Batch::from_contiguous(&case.data, n).expect("batch"))
        .expect("upload");
    let mut coeffs = vec![0.0; n];
    coeffs[3] = -1.0;
    let got = download(&g, &g.mix(&rows, &coeffs, 1, None).expect("mix"));
    for (j, x) in got.iter().enumerate() {
        assert_eq!(
            x.to_bits(),
            (-case.data[3 * d + j]).to_bits(),
            "mix coordinate {j}"
        );
    }
    // Odd total weight: the median is one of the values.
    check_order_stats(&g, &case, &[1.0; 7], OrderStat::Median, "subnormal median");
    check_order_stats(
        &g,
        &case,
        &[1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
        OrderStat::Median,
        "subnormal weighted median",
    );
}

/// Every exact-sum distance kernel variant gives the serial kernels' distances bit for bit (both add the
/// same squares as exact integers), at edge lengths around the tiles of 64 and 1024
/// coordinates, over several chunkings and magnitudes, subnormal rows included.
#[test]
fn distance_kernel_variants_agree_to_the_bit() {
    let Some(_) = gpu() else { return };
    for scale in [1e-40f32, 1.0, 1e30] {
        for (n, d) in [(1, 3), (2, 64), (3, 1023), (5, 1025), (6, 2049), (9, 130)] {
            let mut case = Case::random(n, d, 7 * d as u64);
            for v in &mut case.data {
                *v *= scale;
            }
            let center: Vec<f32> = (0..d).map(|j| case.data[j] * 0.75).collect();
            let mut seen: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
            for chunk in CHUNKS {
                for kernels in KernelVariant::ALL.into_iter().filter(|v| v.is_exact_sum()) {
                    let g = with_chunks(&Wgpu::new().expect("device"), chunk).with_kernels(kernels);
                    assert_eq!(g.kernels(), kernels);
                    let rows = g
                        .upload(&Batch::from_contiguous(&case.data, n).expect("batch"))
                        .expect("upload");
                    let cm = g
                        .upload(&Batch::from_rows(std::slice::from_ref(&center)).expect("center"))
                        .expect("center upload");
                    let got = (
                        g.pairwise_dist(&rows).expect("pairwise"),
                        g.center_dist(&rows, &cm).expect("center"),
                    );
                    if let Some(first) = seen.first() {
                        assert!(
                            first
                                .0
                                .iter()
                                .zip(&got.0)
                                .all(|(a, b)| a.to_bits() == b.to_bits())
                                && first
                                    .1
                                    .iter()
                                    .zip(&got.1)
                                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                            "scale {scale} n={n} d={d} chunk {chunk:?} {kernels:?}: {first:?} vs {got:?}"
                        );
                    }
                    seen.push(got);
                }
            }
        }
    }
}

/// Columns that reach every branch of the `order_stats` kernels for `n` rows: small integers
/// (exact duplicates, ties by row), zeros of both signs, NaN payloads and infinities (keys
/// shared by several bit patterns), values a few ulps apart (composite keys that share a
/// prefix but not a value: the network's fallback), random values, and huge and subnormal
/// magnitudes.
fn adversarial_columns(n: usize, d: usize, seed: u64) -> Case {
    let mut rng = crate::SplitMix64(seed);
    let pool = [
        0.0f32,
        -0.0,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0,
        -1.0,
    ];
    let extremes = [3e38f32, -3e38, f32::MAX, 1e-45, -1e-45, 1.5e-38, 2.0, -2.0];
    let mut data = vec![0.0f32; n * d];
    for j in 0..d {
        for i in 0..n {
            data[i * d + j] = match j % 5 {
                0 => rng.below(7) as f32 - 3.0,
                1 => pool[rng.below(pool.len() as u64) as usize],
                2 => f32::from_bits(1.0f32.to_bits() + rng.below(9) as u32),
                3 => (rng.unit() * 8.0 - 4.0) as f32,
                _ => extremes[rng.below(extremes.len() as u64) as usize],
            };
        }
    }
    Case { n, d, data }
}

/// Columns whose distances to the median tie (MeaMed's order): small steps around 1 (equal
/// distances on both sides, exact duplicates) mixed with values near 2^25, whose f32
/// differences to a median near 1 round together on one side (the network's exact check and
/// its fallback to the recount), and infinities and NaN (all at the largest distance).
fn distance_tie_columns(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = crate::SplitMix64(seed);
    (0..d)
        .map(|j| {
            (0..n)
                .map(|_| match (j % 3, rng.below(8)) {
                    (0, _) | (_, 0..=4) => 1.0 + (rng.below(5) as f32 - 2.0) * 2f32.powi(-20),
                    (1, _) => 33_554_432.0 + 4.0 * rng.below(3) as f32,
                    _ => [f32::INFINITY, f32::NAN, f32::NEG_INFINITY][rng.below(3) as usize],
                })
                .collect()
        })
        .collect()
}

/// The `network` order statistics give the `recount` kernels' results bit for bit (the same
/// selections, the same f32 sums in row order), for every row count a generated kernel
/// handles and one past it, equal and unequal weights, on columns built to reach every branch
/// (MeaMed's distance ties among them).
/// The recount kernels are checked against the reference by the tests above.
#[test]
fn order_stats_variants_agree_to_the_bit() {
    let Some(g) = gpu() else { return };
    let d = 210;
    for n in [1usize, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 33, 64, 65] {
        let mut case = adversarial_columns(n, 150, 31 * n as u64);
        // Rows of 150 adversarial coordinates, then 60 of distance ties.
        let ties = distance_tie_columns(n, d - 150, 7 * n as u64);
        case.data = (0..n)
            .flat_map(|i| {
                let row = case.data[i * 150..(i + 1) * 150].to_vec();
                row.into_iter().chain(ties.iter().map(move |column| column[i]))
            })
            .collect();
        case.d = d;
        let batch = Batch::from_contiguous(&case.data, n).expect("batch");
        let integer: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
        let mut zero = vec![1.0; n];
        zero[n / 2] = if n > 1 { 0.0 } else { 1.0 };
        for (name, weights) in [("equal", vec![1.0; n]), ("integer", integer), ("zero", zero)] {
            for stat in [
                OrderStat::Median,
                OrderStat::TrimmedMean { lambda: 0.0 },
                OrderStat::TrimmedMean { lambda: 0.2 },
                OrderStat::MeaMed { lambda: 0.0 },
                OrderStat::MeaMed { lambda: 0.3 },
                OrderStat::MeaMed { lambda: 0.45 },
            ] {
                let run = |variant: OrderStatsVariant| {
                    let g = g.clone().with_order_stats(variant);
                    let rows = g.upload(&batch).expect("upload");
                    download(&g, &g.order_stats(&rows, &weights, stat).expect("order_stats"))
                };
                let (old, new) = (run(OrderStatsVariant::Recount), run(OrderStatsVariant::Network));
                for j in 0..d {
                    let column: Vec<f32> = (0..n).map(|i| case.data[i * d + j]).collect();
                    assert_eq!(
                        old[j].to_bits(),
                        new[j].to_bits(),
                        "{name} n={n} {stat:?} coordinate {j}: recount {} network {}, {column:?}",
                        old[j],
                        new[j]
                    );
                }
            }
        }
    }
}

/// Cases for the `fast` distance kernels: random rows, rows of +-s (exact ties) with identical
/// rows among them, identical Byzantine rows, rows near 1e38 and near f32::MAX, subnormal rows,
/// and rows that differ from another in one coordinate by one ulp (small totals, which the
/// primitive recomputes exactly).
fn fast_cases() -> Vec<(String, Case)> {
    let mut out = Vec::new();
    for (n, d) in [(7, 1025), (10, 2100)] {
        let random = Case::random(n, d, 3 * d as u64);
        out.push((format!("random n={n} d={d}"), random.clone()));
        for s in [1e-30f32, 1.0, 1e38] {
            let mut signs = random.clone();
            for v in &mut signs.data {
                *v = if *v >= 0.0 { s } else { -s };
            }
            signs.data.copy_within(0..d, 3 * d);
            out.push((format!("+-{s} n={n} d={d}"), signs));
        }
        let mut byzantine = random.clone();
        for i in n - 3..n {
            byzantine.set_row(i, |j| 50.0 + (j % 7) as f32);
        }
        out.push((format!("identical byzantine n={n} d={d}"), byzantine));
        let mut huge = random.clone();
        for v in &mut huge.data {
            *v = (*v * 0.7e38).clamp(-3e38, 3e38);
        }
        huge.set_row(1, |j| if j % 2 == 0 { f32::MAX } else { -3e38 });
        out.push((format!("near 1e38 n={n} d={d}"), huge));
        let mut tiny = random.clone();
        for v in &mut tiny.data {
            *v *= 1e-40;
        }
        out.push((format!("subnormal n={n} d={d}"), tiny));
        let mut near = random.clone();
        let row0: Vec<f32> = near.data[..d].to_vec();
        near.set_row(2, |j| {
            if j == 5 {
                f32::from_bits(row0[j].to_bits() + 1)
            } else {
                row0[j]
            }
        });
        near.set_row(4, |j| {
            if j % 100 == 0 {
                row0[j] * (1.0 + 1e-6)
            } else {
                row0[j]
            }
        });
        out.push((format!("one ulp apart n={n} d={d}"), near));
        let mut tiny = Case::random(n, d, 5 * d as u64);
        for v in &mut tiny.data {
            *v *= 1e-12;
        }
        for i in 0..n {
            tiny.data[i * d] = 4.0;
        }
        out.push((format!("{TINY} n={n} d={d}"), tiny));
        out.push((format!("{PERMUTED} n={n} d={d}"), permuted_rows(n, d, d as u64)));
    }
    out
}

/// Rows equal in their one large coordinate and apart by about 1e-12 of it elsewhere: every
/// distance's total lies below `fast_dist::recompute_below`, where the primitive recomputes it
/// exactly (the f32 lane sums keep the fractions of a unit that the exact sums truncate).
const TINY: &str = "tiny differences";

/// The name of [`permuted_rows`]' cases.
const PERMUTED: &str = "permuted";

/// Rows that are shuffles of one random vector, and two zero rows: the shuffles' norms and
/// their distances to the zero rows tie exactly as sums of equal multisets of squares, while
/// the fast kernels' f32 lane sums of them differ in their last bits; so the rules must
/// recompute those ties to pick the rows the exact sums pick.
fn permuted_rows(n: usize, d: usize, seed: u64) -> Case {
    let mut rng = crate::SplitMix64(seed);
    let base: Vec<f32> = (0..d).map(|_| (rng.unit() * 8.0 - 4.0) as f32).collect();
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        let mut row = base.clone();
        if i >= n - 2 {
            row.fill(0.0);
        } else {
            for j in (1..d).rev() {
                row.swap(j, rng.below(j as u64 + 1) as usize);
            }
        }
        data.extend(row);
    }
    Case { n, d, data }
}

/// The `fast` distances lie within `dist_error` of the exact-sum (`coalesced`) ones, over
/// several chunkings; zeros (identical rows) are exact, and the small totals the bound does
/// not cover (rows one ulp apart) come back recomputed, bit-identical to `coalesced`.
#[test]
fn fast_distances_lie_within_the_bound_of_the_exact_sums() {
    let Some(g) = gpu() else { return };
    let fast = g.clone().with_kernels(KernelVariant::Fast);
    let rel = fast.dist_error(100).expect("fast has a bound");
    assert_eq!(fast.refined_dist_error(100), Some(0.0));
    for v in KernelVariant::ALL.into_iter().filter(|v| v.is_exact_sum()) {
        assert_eq!(g.clone().with_kernels(v).dist_error(100), None, "{v:?}");
    }
    for (what, case) in fast_cases() {
        let center: Vec<f32> = (0..case.d).map(|j| case.data[j] * 0.5).collect();
        for chunk in [None, Some(1000)] {
            let mut got = Vec::new();
            for v in [KernelVariant::Coalesced, KernelVariant::Fast] {
                let g = with_chunks(&g, chunk).with_kernels(v);
                let rows = g
                    .upload(&Batch::from_contiguous(&case.data, case.n).expect("batch"))
                    .expect("upload");
                let cm = g
                    .upload(&Batch::from_rows(std::slice::from_ref(&center)).expect("center"))
                    .expect("center upload");
                let mut dist = g.pairwise_dist(&rows).expect("pairwise");
                dist.extend(g.center_dist(&rows, &cm).expect("center"));
                got.push(dist);
            }
            let (exact, fast) = (&got[0], &got[1]);
            for (k, (e, f)) in exact.iter().zip(fast).enumerate() {
                let ok = if *e == 0.0 || !e.is_finite() {
                    e.to_bits() == f.to_bits()
                } else {
                    (f - e).abs() <= rel * e
                };
                assert!(ok, "{what} chunk {chunk:?} entry {k}: fast {f} vs exact {e}");
            }
            if what.starts_with(TINY) {
                // Every total is small: recomputed exactly, so the fast values are the exact
                // ones; the center (half of row 0) is far from the rows (not small).
                let n = case.n;
                for at in (0..n * n).filter(|at| at / n != at % n) {
                    assert!(exact[at] > 0.0, "{what}: entry {at} is {}", exact[at]);
                    assert_eq!(exact[at].to_bits(), fast[at].to_bits(), "{what} entry {at}");
                }
            }
        }
    }
}

/// `exact_pair_dist` and `exact_center_dist` give the exact-sum (`coalesced`) distances of
/// the pairs and rows they are asked for, `exact` or not, under every variant; bad indices
/// are errors naming the parameter.
#[test]
fn exact_distances_are_the_exact_sums_of_the_listed_pairs_and_rows() {
    let Some(g) = gpu() else { return };
    let mut case = Case::random(6, 1500, 11);
    case.set_row(3, |j| if j == 7 { f32::NAN } else { 1.0 });
    let center: Vec<f32> = (0..case.d).map(|j| case.data[j] * 0.25).collect();
    let coalesced = g.clone().with_kernels(KernelVariant::Coalesced);
    let rows = coalesced
        .upload(&Batch::from_contiguous(&case.data, case.n).expect("batch"))
        .expect("upload");
    let cm = coalesced
        .upload(&Batch::from_rows(std::slice::from_ref(&center)).expect("center"))
        .expect("center upload");
    let all = coalesced.pairwise_dist(&rows).expect("pairwise");
    let to_center = coalesced.center_dist(&rows, &cm).expect("center");
    let pairs = [(0, 5), (1, 2), (3, 4), (2, 2), (4, 1)];
    let which = [5, 3, 0, 0];
    for v in KernelVariant::ALL {
        let g = g.clone().with_kernels(v);
        for exact in [false, true] {
            let got = g.exact_pair_dist(&rows, &pairs, exact).expect("pairs");
            for (&(i, j), x) in pairs.iter().zip(&got) {
                assert_eq!(x.to_bits(), all[i * case.n + j].to_bits(), "{v:?} ({i}, {j})");
            }
            let got = g.exact_center_dist(&rows, &cm, &which, exact).expect("rows");
            for (&i, x) in which.iter().zip(&got) {
                assert_eq!(x.to_bits(), to_center[i].to_bits(), "{v:?} row {i}");
            }
        }
        let name = |r: crate::error::Result<Vec<f64>>| match r {
            Err(crate::Error::InvalidParameter { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(g.exact_pair_dist(&rows, &[(0, 6)], true)), "pairs");
        assert_eq!(name(g.exact_center_dist(&rows, &cm, &[6], true)), "which");
    }
}

/// The rules that select rows by distance pick the same rows with the `fast` kernels as with
/// `coalesced` (the same output, bit for bit), on every case of [`fast_cases`]; the rules that
/// only weigh rows by distance (clipping, the geometric median) agree within SPEC 5's 1e-5.
#[test]
fn fast_distances_select_the_rows_coalesced_selects() {
    let Some(g) = gpu() else { return };
    let selecting = [
        "krum",
        "multikrum",
        "multikrum(m=3)",
        "ctma(cwmed)",
        "nnm(cwmed)",
        "nnm(krum)",
        "cge",
        "monna",
    ];
    let weighing = ["cclip(tau=1)", "gm"];
    for (what, case) in fast_cases() {
        let weights: Vec<f64> = (0..case.n).map(|i| 1.0 + (i % 3) as f64).collect();
        for rule in selecting.iter().chain(&weighing) {
            let parsed: crate::Rule = rule.parse().expect("rule");
            let agg = crate::Aggregator::new(parsed, crate::Backend::Wgpu)
                .expect("aggregator")
                .with_byzantine_share(crate::ByzantineShare::F(2));
            for w in [None, Some(&weights[..])] {
                let mut outs = Vec::new();
                for v in [KernelVariant::Coalesced, KernelVariant::Fast] {
                    let g = g.clone().with_kernels(v);
                    let rows = g
                        .upload(&Batch::from_contiguous(&case.data, case.n).expect("batch"))
                        .expect("upload");
                    let (out, _) = agg.aggregate_resident(&g, &rows, w).expect(rule);
                    outs.push(download(&g, &out));
                }
                let label = format!("{what} {rule} weighted {}", w.is_some());
                if what.starts_with(PERMUTED) && *rule == "cge" && w.is_none() {
                    // The case reaches the exact recomputation: the fast norms of the
                    // shuffles differ from the exact sums, which tie.
                    let g = g.clone().with_kernels(KernelVariant::Fast);
                    let rows = g
                        .upload(&Batch::from_contiguous(&case.data, case.n).expect("batch"))
                        .expect("upload");
                    let zero = g.zeros(1, case.d).expect("zeros");
                    let norms = g.center_dist(&rows, &zero).expect("norms");
                    let exact = g
                        .exact_center_dist(&rows, &zero, &[0, 1, 2], true)
                        .expect("exact");
                    assert!(exact.iter().all(|e| e.to_bits() == exact[0].to_bits()), "{label}");
                    assert!(
                        norms[..3].iter().any(|f| f.to_bits() != exact[0].to_bits()),
                        "{label}"
                    );
                }
                if selecting.contains(rule) {
                    let same = outs[0]
                        .iter()
                        .zip(&outs[1])
                        .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                    assert!(same, "{label}: fast selects other rows");
                } else {
                    let scale = case.scale();
                    for (a, b) in outs[0].iter().zip(&outs[1]) {
                        assert!(
                            close_at(f64::from(*b), f64::from(*a), 1e-5, scale),
                            "{label}: {b} vs {a}"
                        );
                    }
                }
            }
        }
    }
}

/// Coefficients for `k` output rows of `n` inputs that reach every path of both `mix` kernels:
/// row 0 all zero (no term), row 1 a single power of two (the bit-scaling fast path), row 2 a
/// single other coefficient, the rest random with zeros, powers of two, and coefficients from
/// 1e-40 (subnormal in f32: mantissa and exponent) to 1e30.
fn mix_test_coeffs(n: usize, k: usize, seed: u64) -> Vec<f64> {
    let mut rng = crate::SplitMix64(seed);
    let mut coeffs = vec![0.0; k * n];
    for (r, row) in coeffs.chunks_mut(n).enumerate() {
        let pick = rng.below(n as u64) as usize;
        match (r, k) {
            (_, 1) | (3.., _) => {
                for c in row.iter_mut() {
                    *c = match rng.below(6) {
                        0 => 0.0,
                        1 => [1.0, -0.5, 4.0, 2f64.powi(-130)][rng.below(4) as usize],
                        2 => (rng.unit() - 0.5) * [1e-40, 1e-20, 1e30][rng.below(3) as usize],
                        _ => rng.unit() * 2.0 - 1.0,
                    };
                }
            }
            (0, _) => {}
            (1, _) => row[pick] = -8.0,
            _ => row[pick] = 0.3,
        }
    }
    coeffs
}

/// The `wide` and `wide_direct` mix give the `classic` kernel's values bit for bit, NaN
/// payloads aside (each value by the same f32 operations in the same order), for k = 1 and k = n, with and without a base, at lengths
/// around the wide kernel's tile of 256 coordinates, row counts past one staged piece of 64
/// terms, several chunkings, and data with NaN, infinities, huge and subnormal values.
/// The classic kernel is checked against the reference by the tests above.
#[test]
fn mix_variants_agree_to_the_bit() {
    let Some(g) = gpu() else { return };
    for (n, d) in [
        (1, 3),
        (2, 255),
        (3, 256),
        (5, 257),
        (16, 700),
        (33, 513),
        (64, 300),
        (130, 290),
    ] {
        let mut case = adversarial_columns(n, d, 17 * n as u64 + d as u64);
        // Half of the rows random at scales 1e-40 (subnormal), 1 and 1e38.
        for i in (0..n).step_by(2) {
            let scale = [1e-40f32, 1.0, 1e38][i % 3];
            let random = Case::random(1, d, (n * d + i) as u64);
            case.set_row(i, |j| random.data[j] * scale);
        }
        let batch = Batch::from_contiguous(&case.data, n).expect("batch");
        for k in [1, n] {
            let coeffs = mix_test_coeffs(n, k, (n * k + d) as u64);
            let base_data = adversarial_columns(k, d, 5 * d as u64).data;
            let base_batch = Batch::from_contiguous(&base_data, k).expect("base");
            for chunk in [None, Some(37), Some(300)] {
                for scale in [None, Some(0.5), Some(-0.3)] {
                    let run = |variant: MixVariant| {
                        let g = with_chunks(&g, chunk).with_mix(variant);
                        assert_eq!(g.mix_variant(), variant);
                        let rows = g.upload(&batch).expect("upload");
                        let base = g.upload(&base_batch).expect("base upload");
                        let mixed = g.mix(&rows, &coeffs, k, scale.map(|s| (&base, s))).expect("mix");
                        download(&g, &mixed)
                    };
                    let old = run(MixVariant::Classic);
                    for variant in [MixVariant::Wide, MixVariant::WideDirect] {
                        let new = run(variant);
                        for (j, (a, b)) in old.iter().zip(&new).enumerate() {
                            // A NaN made here (inf - inf) has the sign of whichever
                            // instruction the shader compiler chose (x86's default NaN is
                            // negative, a constant-folded one positive): WGSL promises no
                            // NaN bit pattern, and neither does SPEC section 3.
                            if a.is_nan() && b.is_nan() {
                                continue;
                            }
                            assert_eq!(
                                a.to_bits(),
                                b.to_bits(),
                                "n={n} d={d} k={k} chunk {chunk:?} base {scale:?} value {j} (row \
                                 {}, coordinate {}): classic {a:e} {variant:?} {b:e}",
                                j / d,
                                j % d
                            );
                        }
                    }
                }
            }
        }
    }
}
