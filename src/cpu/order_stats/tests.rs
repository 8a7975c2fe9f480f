//! The order statistics against SPEC 4.2/4.3 written out naively, on random batches with
//! ties, zeros of both signs and non-finite rows, at every SIMD level.

use super::*;
use crate::contract::MASS_EPS;

/// The primitive at the level the backend would run it at.
fn order_stats(rows: &[&[f32]], weights: &[f64], stat: OrderStat) -> Result<Vec<f32>> {
    super::order_stats(crate::cpu::simd_level().unwrap(), rows, weights, stat)
}

/// splitmix64: a tiny deterministic generator for test data.
/// Test data from the crate's SplitMix64.
struct Rng(crate::SplitMix64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        self.0.unit()
    }
}

/// SPEC 4.2/4.3 straight from the text, one coordinate at a time, in f64.
fn naive(rows: &[Vec<f32>], w: &[f64], stat: OrderStat) -> Vec<f32> {
    let total: f64 = w.iter().sum();
    let order = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap(),
    };
    (0..rows[0].len())
        .map(|j| {
            let mut p: Vec<(f64, f64, usize)> = (0..rows.len())
                .filter(|&i| w[i] > 0.0)
                .map(|i| (f64::from(rows[i][j]), w[i], i))
                .collect();
            p.sort_by(|a, b| order(a.0, b.0).then(a.2.cmp(&b.2)));
            let v = match stat {
                OrderStat::Median => {
                    let mut c = 0.0;
                    let mut out = p.last().unwrap().0;
                    for k in 0..p.len() {
                        c += p[k].1;
                        if 2.0 * c == total {
                            out = if k + 1 < p.len() {
                                (p[k].0 + p[k + 1].0) / 2.0
                            } else {
                                p[k].0
                            };
                            break;
                        }
                        if 2.0 * c > total {
                            out = p[k].0;
                            break;
                        }
                    }
                    out
                }
                OrderStat::TrimmedMean { lambda } => {
                    let (lo, hi) = (lambda * total, total - lambda * total);
                    let (mut below, mut s, mut kt) = (0.0, 0.0, 0.0);
                    for &(v, wi, _) in &p {
                        let above = below + wi;
                        let kept = (above.min(hi) - below.max(lo)).max(0.0);
                        below = above;
                        if kept >= MASS_EPS * total && kept > 0.0 {
                            s += kept * v;
                            kt += kept;
                        }
                    }
                    s / kt
                }
                // The definition is the reference's; the CPU walks a window instead of
                // sorting by distance.
                OrderStat::MeaMed { .. } => {
                    let col: Vec<Vec<f64>> = rows.iter().map(|r| vec![f64::from(r[j])]).collect();
                    crate::reference::order_stats(&col, w, stat)[0]
                }
            };
            v as f32
        })
        .collect()
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check(rows: &[Vec<f32>], w: &[f64], stat: OrderStat, what: &str) {
    let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let got = order_stats(&slices, w, stat).unwrap();
    let want = naive(rows, w, stat);
    for (j, (g, e)) in got.iter().zip(&want).enumerate() {
        let col: Vec<f32> = rows.iter().map(|r| r[j]).collect();
        assert!(
            same(*g, *e),
            "{what} {stat:?} coordinate {j}: got {g:?}, want {e:?}; w {w:?}, values {col:?}"
        );
    }
}

fn value_pool(rng: &mut Rng, kind: usize) -> f32 {
    match kind {
        // Many ties, zeros of both signs.
        0 => [-2.0, -1.0, -0.0, 0.0, 0.0, 1.0, 1.5, 2.0][rng.below(8)],
        // Magnitudes from 1e-30 to 1e30, either sign.
        1 => {
            let e = rng.unit() * 60.0 - 30.0;
            let s = if rng.below(2) == 0 { -1.0 } else { 1.0 };
            (s * 10f64.powf(e)) as f32
        }
        _ => (rng.unit() * 2.0 - 1.0) as f32,
    }
}

fn random_rows(rng: &mut Rng, n: usize, d: usize) -> Vec<Vec<f32>> {
    let kind = rng.below(3);
    let mut rows: Vec<Vec<f32>> = (0..n)
        .map(|_| (0..d).map(|_| value_pool(rng, kind)).collect())
        .collect();
    // Byzantine rows and scattered non-finite values.
    for r in rows.iter_mut() {
        match rng.below(6) {
            0 => r.fill(f32::NAN),
            1 => r.fill(f32::INFINITY),
            2 => r.fill(f32::NEG_INFINITY),
            3 => {
                for v in r.iter_mut() {
                    *v = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, *v, *v][rng.below(6)];
                }
            }
            _ => {}
        }
    }
    rows
}

fn random_weights(rng: &mut Rng, n: usize, kind: usize) -> Vec<f64> {
    let mut w: Vec<f64> = match kind {
        0 => vec![1.0; n],
        1 => vec![0.1; n],
        2 => (0..n).map(|_| rng.below(4) as f64).collect(),
        _ => (0..n)
            .map(|_| if rng.below(5) == 0 { 0.0 } else { rng.unit() * 3.0 })
            .collect(),
    };
    if w.iter().all(|x| *x == 0.0) {
        w[0] = 1.0;
    }
    w
}

#[test]
fn network_sorts_every_zero_one_input() {
    for m in 1..=12 {
        let net = network(m, None);
        for bits in 0u32..(1 << m) {
            let mut v: Vec<u32> = (0..m).map(|i| (bits >> i) & 1).collect();
            for &(a, b) in &net {
                let (a, b) = (a as usize, b as usize);
                if v[a] > v[b] {
                    v.swap(a, b);
                }
            }
            assert!(v.windows(2).all(|p| p[0] <= p[1]), "m = {m}, input {bits:b}");
        }
    }
}

#[test]
fn keys_follow_the_spec_order() {
    let vals = [
        f32::NEG_INFINITY,
        -1e30,
        -1.0,
        -1e-40,
        0.0,
        1e-40,
        1.0,
        3e38,
        f32::INFINITY,
    ];
    for p in vals.windows(2) {
        assert!(key(p[0]) < key(p[1]), "{p:?}");
    }
    assert_eq!(key(-0.0), key(0.0));
    assert_eq!(key(f32::NAN), key(-f32::NAN));
    assert!(key(f32::NAN) > key(f32::INFINITY));
    for v in vals {
        assert_eq!(value(key(v)).to_bits(), v.to_bits());
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn slot_bits_hold_every_slot() {
    for n in 1..=64usize {
        let b = slot_bits(n);
        assert!(n <= 1 << b, "n = {n}");
        assert!(b == 0 || n > 1 << (b - 1), "n = {n}");
    }
}

#[test]
fn small_cases() {
    let rows = [vec![3.0f32], vec![1.0], vec![2.0], vec![4.0]];
    let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    assert_eq!(order_stats(&s, &[1.0; 4], OrderStat::Median).unwrap(), vec![2.5]);
    assert_eq!(
        order_stats(&s, &[1.0, 1.0, 1.0, 0.0], OrderStat::Median).unwrap(),
        vec![2.0]
    );
    let tm = OrderStat::TrimmedMean { lambda: 0.25 };
    assert_eq!(order_stats(&s, &[1.0; 4], tm).unwrap(), vec![2.5]);
    // Weight 4 of 7 on the value 1 is more than half: the weighted median is 1.
    assert_eq!(
        order_stats(&s, &[1.0, 4.0, 1.0, 1.0], OrderStat::Median).unwrap(),
        vec![1.0]
    );
    // Exactly half at or below 1: the midpoint with the next value.
    assert_eq!(
        order_stats(&s, &[1.0, 3.0, 1.0, 1.0], OrderStat::Median).unwrap(),
        vec![1.5]
    );
    // MeaMed, f = 1 of 4: the median 2.5, then the three values closest to it: 2, 3 and
    // the tie between 1 and 4 goes to the lower value, 1.
    let mm = OrderStat::MeaMed { lambda: 0.25 };
    assert_eq!(order_stats(&s, &[1.0; 4], mm).unwrap(), vec![2.0]);
    // Weights 1, 4, 1, 1 (values 3, 1, 2, 4): the median is 1; mass 5.25 closest to it is
    // the 4 of 1, the 1 of 2 and 0.25 of 3: (4 + 2 + 0.75) / 5.25.
    assert_eq!(
        order_stats(&s, &[1.0, 4.0, 1.0, 1.0], mm).unwrap(),
        vec![(6.75f64 / 5.25) as f32]
    );
    assert!(order_stats(&s, &[0.0; 4], OrderStat::Median).is_err());
    assert!(order_stats(&s, &[1.0; 4], OrderStat::TrimmedMean { lambda: 0.5 }).is_err());
}

#[test]
fn nan_rows_do_not_poison() {
    let rows = [
        vec![1.0f32; 33],
        vec![f32::NAN; 33],
        vec![2.0; 33],
        vec![f32::INFINITY; 33],
        vec![3.0; 33],
    ];
    let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    assert_eq!(
        order_stats(&s, &[1.0; 5], OrderStat::Median).unwrap(),
        vec![3.0; 33]
    );
    let tm = OrderStat::TrimmedMean { lambda: 0.4 };
    assert_eq!(order_stats(&s, &[1.0; 5], tm).unwrap(), vec![3.0; 33]);
    let tm = OrderStat::TrimmedMean { lambda: 0.2 };
    assert_eq!(order_stats(&s, &[1.0; 5], tm).unwrap(), vec![f32::INFINITY; 33]);
}

#[test]
fn zero_sign_follows_row_order() {
    let rows = [vec![0.0f32, -0.0], vec![-0.0, 0.0], vec![-0.0, 0.0]];
    let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let got = order_stats(&s, &[1.0; 3], OrderStat::Median).unwrap();
    assert_eq!(
        (got[0].to_bits(), got[1].to_bits()),
        ((-0.0f32).to_bits(), 0.0f32.to_bits())
    );
}

#[test]
fn matches_naive_on_random_batches() {
    let mut rng = Rng(crate::SplitMix64(7));
    for &n in &[1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 70] {
        for &d in &[1, 7, 33, 1001] {
            for wk in 0..4 {
                let rows = random_rows(&mut rng, n, d);
                let w = random_weights(&mut rng, n, wk);
                let what = format!("n = {n}, d = {d}");
                check(&rows, &w, OrderStat::Median, &what);
                for lambda in [0.0, 0.1, 0.2, 0.25, 1.0 / 3.0, 0.49] {
                    check(&rows, &w, OrderStat::TrimmedMean { lambda }, &what);
                    check(&rows, &w, OrderStat::MeaMed { lambda }, &what);
                }
            }
        }
    }
}

#[test]
fn chunk_boundaries_and_large_n() {
    let mut rng = Rng(crate::SplitMix64(11));
    // Several rayon chunks with a ragged tail.
    let rows = random_rows(&mut rng, 6, 3 * CHUNK + 5);
    check(&rows, &[1.0; 6], OrderStat::Median, "chunks");
    check(
        &rows,
        &random_weights(&mut rng, 6, 3),
        OrderStat::Median,
        "chunks",
    );
    // Past the network: the per-coordinate sort.
    let n = NETWORK_MAX + 3;
    let rows = random_rows(&mut rng, n, 3);
    for wk in [0, 3] {
        let w = random_weights(&mut rng, n, wk);
        check(&rows, &w, OrderStat::Median, "large n");
        check(&rows, &w, OrderStat::TrimmedMean { lambda: 0.3 }, "large n");
        check(&rows, &w, OrderStat::MeaMed { lambda: 0.3 }, "large n");
    }
}

/// Values whose keys differ only in their lowest bits, which the weighted AVX-512 path's
/// composite keys (slot in the low ceil(log2 n) bits) cannot tell apart: in row order
/// descending (every such block is a real collision and falls back), at random offsets (some
/// exact duplicates, some near), exact duplicates of a few values, and NaN (payloads and
/// sign), +-inf among them; every other block of 16 coordinates plain random values, so
/// blocks on both paths meet in one call. Checked with non-uniform weights at the row
/// counts of the register kernels and around them.
#[test]
fn weighted_near_ties_duplicates_and_non_finite() {
    let mut rng = Rng(crate::SplitMix64(29));
    let bases = [1.5f32, -2.25, 1e-40, -7e20, 3e38, 0.0, 1.0, -1e-3];
    let specials = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7FC0_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let d = 5 * 16 + 7;
    for &n in &[2, 3, 5, 16, 17, 31, 32, 33, 63, 64] {
        for kind in 0..4 {
            let rows: Vec<Vec<f32>> = (0..n)
                .map(|s| {
                    (0..d)
                        .map(|j| {
                            let base = bases[(j / 2) % bases.len()];
                            let near = |off: u32| f32::from_bits(base.to_bits().wrapping_add(off));
                            if (j / 16) % 2 == 1 {
                                return (rng.unit() * 2.0 - 1.0) as f32;
                            }
                            match kind {
                                0 => near((n - s) as u32),
                                1 => near(rng.below(64) as u32),
                                2 => [base, near(1), specials[rng.below(5)]][rng.below(3)],
                                _ => match rng.below(4) {
                                    0 => specials[rng.below(5)],
                                    1 => base,
                                    _ => near(rng.below(3) as u32),
                                },
                            }
                        })
                        .collect()
                })
                .collect();
            let ramp: Vec<f64> = (0..n).map(|i| (i % 4 + 1) as f64).collect();
            for w in [
                ramp,
                random_weights(&mut rng, n, 2),
                random_weights(&mut rng, n, 3),
            ] {
                let what = format!("near ties, kind {kind}, n = {n}");
                check(&rows, &w, OrderStat::Median, &what);
                for lambda in [0.1, 0.25] {
                    check(&rows, &w, OrderStat::TrimmedMean { lambda }, &what);
                }
                check(&rows, &w, OrderStat::MeaMed { lambda: 0.2 }, &what);
            }
        }
    }
}

/// Blocks whose 16 coordinates share one row order, so that the weighted trimmed mean passes
/// the ranks trimmed off at both ends in every lane at once (by their weights alone below the
/// kept range, not at all above it), and a block whose two halves of 8 lanes have opposite row
/// orders (one half could pass a rank that the other keeps).
#[test]
fn weighted_trim_passes_ranks_trimmed_in_every_lane() {
    let mut rng = Rng(crate::SplitMix64(41));
    for &n in &[2, 5, 16, 17, 31, 32, 64] {
        let order: Vec<f32> = (0..n).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
        let d = 3 * 16 + 5;
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|s| {
                (0..d)
                    .map(|j| {
                        let flip = j / 16 == 1 && j % 16 >= 8;
                        (if flip { -order[s] } else { order[s] }) + j as f32
                    })
                    .collect()
            })
            .collect();
        let ramp: Vec<f64> = (0..n).map(|i| (i % 4 + 1) as f64).collect();
        for w in [ramp, random_weights(&mut rng, n, 3)] {
            for lambda in [0.05, 0.2, 0.45] {
                check(
                    &rows,
                    &w,
                    OrderStat::TrimmedMean { lambda },
                    &format!("one order, n = {n}"),
                );
            }
        }
    }
}

/// The same tests at the lower SIMD levels (AVX2, generic), which a CPU with AVX-512
/// otherwise skips.
#[test]
fn lower_simd_levels_too() {
    crate::cpu::simd::each_lower_level(|| {
        small_cases();
        nan_rows_do_not_poison();
        zero_sign_follows_row_order();
        matches_naive_on_random_batches();
        chunk_boundaries_and_large_n();
        weighted_near_ties_duplicates_and_non_finite();
        weighted_trim_passes_ranks_trimmed_in_every_lane();
    });
}
