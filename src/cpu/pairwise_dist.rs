//! Primitive 2, `pairwise_dist` (SPEC 4.4, 4.7 and section 5): the `n x n` squared
//! Euclidean distances between rows, and the pair-sum engine that `center_dist.rs` shares.
//!
//! ## Layout and chunking
//!
//! rayon splits the coordinates into chunks of [`CHUNK`]; each task walks its chunk in
//! blocks of [`BLOCK`] coordinates (the rows' blocks stay in L1/L2 while every pair reads
//! them) and returns one f64 partial sum per pair. The partials are added in chunk order, so
//! the result does not depend on the thread count. At AVX-512 and AVX2 a chunk is walked by
//! register-tiled kernels (`avx512.rs`: 4 x 4 pairs per tile, `avx2.rs`: 2 x 4) that load
//! each value once for several pairs and fetch the next block while computing this one
//! (`tiles.rs`); the generic level walks the pairs one at a time ([`pair_sums`]).
//!
//! ## Accuracy and non-finite rows
//!
//! Within a block, a pair's sum of squared differences is taken in f32 over 32 independent
//! lanes (8 terms per lane), then added into an f64 partial: nothing is summed naively over
//! millions of coordinates. A block whose f32 sum is not finite (overflow: finite inputs near
//! 1e38 differ by up to 7e38) or below 2^-96 (where f32 squares lose bits to underflow, as
//! with values near 1e-30) is recomputed in f64, where neither can happen. The relative error
//! is then about 1e-6.
//!
//! Each block also checks every row for NaN and infinities (one multiply per value); a row
//! found non-finite is marked, its pairs are skipped from then on, and every entry touching it
//! is `+inf`, its diagonal included. A finite row's diagonal is exactly 0.

use rayon::prelude::*;

use super::SimdLevel;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(super) mod exact;
mod fixed_sum;
#[cfg(target_arch = "x86_64")]
mod tiles;

/// Coordinates per f32 block sum.
pub(super) const BLOCK: usize = 256;
/// Coordinates per rayon task.
pub(super) const CHUNK: usize = 32 * BLOCK;
/// f32 lanes of a block sum.
const ACC: usize = 32;
/// Below this, an f32 block sum may have lost bits to underflow: recompute it in f64.
pub(super) const TINY: f32 = 1.262_177_4e-29; // 2^-96

/// The `n x n` row-major matrix of squared distances between `rows`, all of one length.
pub(super) fn pairwise_dist(simd: SimdLevel, rows: &[&[f32]]) -> Vec<f64> {
    let n = rows.len();
    #[cfg(target_arch = "x86_64")]
    if n > 1 && simd >= SimdLevel::Avx2 {
        return tiled(simd, rows);
    }
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect();
    let sums = pair_sums(simd, rows, &pairs);
    let mut out = vec![0.0; n * n];
    for (i, bad) in sums.bad.iter().enumerate() {
        if *bad {
            out[i * n + i] = f64::INFINITY;
        }
    }
    for (&(i, j), s) in pairs.iter().zip(&sums.sums) {
        let v = if sums.bad[i] || sums.bad[j] {
            f64::INFINITY
        } else {
            *s
        };
        out[i * n + j] = v;
        out[j * n + i] = v;
    }
    out
}

/// [`pairwise_dist`] through the tiled register kernels (`avx512.rs`, `avx2.rs`): per chunk
/// an `n x n` partial (upper triangle), added in chunk order, then mirrored.
#[cfg(target_arch = "x86_64")]
fn tiled(simd: SimdLevel, rows: &[&[f32]]) -> Vec<f64> {
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    let partials: Vec<(Vec<f64>, Vec<bool>)> = (0..d.div_ceil(CHUNK))
        .into_par_iter()
        .map(|ci| {
            let (mut sums, mut bad) = (vec![0.0; n * n], vec![false; n]);
            let (c0, c1) = (ci * CHUNK, d.min((ci + 1) * CHUNK));
            // SAFETY: the level comes from `simd_level`, so the CPU has its features; every
            // row holds d values.
            unsafe {
                if simd == SimdLevel::Avx512 {
                    avx512::chunk_matrix(rows, c0, c1, &mut sums, &mut bad);
                } else {
                    avx2::chunk_matrix(rows, c0, c1, &mut sums, &mut bad);
                }
            }
            (sums, bad)
        })
        .collect();
    let (mut out, mut bad) = (vec![0.0; n * n], vec![false; n]);
    for (sums, b) in partials {
        for (t, s) in out.iter_mut().zip(sums) {
            *t += s;
        }
        for (t, b) in bad.iter_mut().zip(b) {
            *t |= b;
        }
    }
    for i in 0..n {
        for j in i..n {
            let v = if bad[i] || bad[j] {
                f64::INFINITY
            } else if i == j {
                0.0
            } else {
                out[i * n + j]
            };
            out[i * n + j] = v;
            out[j * n + i] = v;
        }
    }
    out
}

/// Squared distances of some pairs of rows, and which rows hold a non-finite value.
pub(super) struct PairSums {
    /// One sum per pair, in the order given (meaningless for pairs touching a bad row).
    pub(super) sums: Vec<f64>,
    /// Per row: holds NaN or an infinity.
    pub(super) bad: Vec<bool>,
}

/// The squared distance of every pair `(i, j)` of `rows` (all of one length), in f64.
pub(super) fn pair_sums(simd: SimdLevel, rows: &[&[f32]], pairs: &[(usize, usize)]) -> PairSums {
    let d = rows.first().map_or(0, |r| r.len());
    let partials: Vec<PairSums> = (0..d.div_ceil(CHUNK))
        .into_par_iter()
        .map(|ci| {
            let mut part = PairSums {
                sums: vec![0.0; pairs.len()],
                bad: vec![false; rows.len()],
            };
            let range = ci * CHUNK..d.min((ci + 1) * CHUNK);
            chunk_sums_at(
                simd,
                rows,
                pairs,
                range.start,
                range.end,
                &mut part.sums,
                &mut part.bad,
            );
            part
        })
        .collect();
    let mut total = PairSums {
        sums: vec![0.0; pairs.len()],
        bad: vec![false; rows.len()],
    };
    for part in partials {
        for (t, s) in total.sums.iter_mut().zip(part.sums) {
            *t += s;
        }
        for (t, b) in total.bad.iter_mut().zip(part.bad) {
            *t |= b;
        }
    }
    total
}

super::simd::at_level!(
    /// [`chunk_sums`] at a SIMD level.
    fn chunk_sums_at(
        rows: &[&[f32]],
        pairs: &[(usize, usize)],
        c0: usize,
        c1: usize,
        sums: &mut [f64],
        bad: &mut [bool],
    ) = chunk_sums
);

/// Adds the pair sums over coordinates `c0..c1` into `sums` and marks non-finite rows.
/// Compiled into each SIMD level's function by `at_level!`.
#[inline(always)]
fn chunk_sums(
    rows: &[&[f32]],
    pairs: &[(usize, usize)],
    c0: usize,
    c1: usize,
    sums: &mut [f64],
    bad: &mut [bool],
) {
    let mut b0 = c0;
    while b0 < c1 {
        let b1 = c1.min(b0 + BLOCK);
        for (r, bad) in rows.iter().zip(bad.iter_mut()) {
            if !*bad && !block_finite(&r[b0..b1]) {
                *bad = true;
            }
        }
        for (&(i, j), s) in pairs.iter().zip(sums.iter_mut()) {
            if bad[i] || bad[j] {
                continue;
            }
            let (x, y) = (&rows[i][b0..b1], &rows[j][b0..b1]);
            let fast = block_f32(x, y);
            *s += if fast.is_finite() && fast >= TINY {
                f64::from(fast)
            } else {
                block_f64(x, y)
            };
        }
        b0 = b1;
    }
}

/// Whether every value is finite: `v * 0` is 0 for finite `v` and NaN otherwise.
#[inline(always)]
pub(super) fn block_finite(x: &[f32]) -> bool {
    let mut acc = [0.0f32; ACC];
    let mut chunks = x.chunks_exact(ACC);
    for c in &mut chunks {
        for l in 0..ACC {
            acc[l] += c[l] * 0.0;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|v| v * 0.0).sum();
    acc.iter().sum::<f32>() + tail == 0.0
}

/// Sum of squared differences in f32, 32 lanes.
#[inline(always)]
pub(super) fn block_f32(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; ACC];
    let (mut cx, mut cy) = (x.chunks_exact(ACC), y.chunks_exact(ACC));
    for (a, b) in (&mut cx).zip(&mut cy) {
        for l in 0..ACC {
            let t = a[l] - b[l];
            acc[l] += t * t;
        }
    }
    let tail: f32 = cx
        .remainder()
        .iter()
        .zip(cy.remainder())
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Sum of squared differences in f64: no overflow or underflow for finite f32 inputs.
#[inline(always)]
pub(super) fn block_f64(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| {
            let t = f64::from(*a) - f64::from(*b);
            t * t
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The primitive at the level the backend would run it at.
    fn pairwise_dist(rows: &[&[f32]]) -> Vec<f64> {
        super::pairwise_dist(crate::cpu::simd_level().unwrap(), rows)
    }

    /// Uniform test data in [0, 1) from the crate's SplitMix64, whose state is `state`.
    fn rng(state: &mut u64) -> f64 {
        let mut g = crate::SplitMix64(*state);
        let value = g.unit();
        *state = g.0;
        value
    }

    /// The fast distances against the reference's (exactly rounded, `+inf` for a pair
    /// touching a non-finite row): within the fast sums' error, symmetric, never NaN.
    fn check(rows: &[Vec<f32>]) {
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let got = pairwise_dist(&s);
        let wide: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let want = crate::reference::pairwise_dist(&wide);
        let n = rows.len();
        for i in 0..n {
            for j in 0..n {
                let (g, e) = (got[i * n + j], want[i * n + j]);
                assert!(!g.is_nan() && g == got[j * n + i], "({i}, {j}): {g}");
                if e.is_infinite() {
                    assert_eq!(g, f64::INFINITY, "({i}, {j})");
                } else {
                    assert!((g - e).abs() <= 2e-6 * e, "({i}, {j}): got {g}, want {e}");
                }
            }
        }
    }

    #[test]
    fn matches_reference() {
        let mut st = 3;
        for &n in &[1, 2, 3, 5, 8, 17, 32] {
            for &d in &[1, 7, 33, 255, 257, 1001, CHUNK + 300] {
                for scale_exp in [-30, -20, 0, 20, 30, 38] {
                    let scale = 10f64.powi(scale_exp);
                    let rows: Vec<Vec<f32>> = (0..n)
                        .map(|_| {
                            (0..d)
                                .map(|_| ((rng(&mut st) * 2.0 - 1.0) * scale) as f32)
                                .collect()
                        })
                        .collect();
                    check(&rows);
                }
            }
        }
    }

    #[test]
    fn non_finite_rows_are_infinitely_far() {
        let mut rows = vec![
            vec![1.0f32; 1001],
            vec![2.0; 1001],
            vec![3.0; 1001],
            vec![0.5; 1001],
        ];
        rows[1][1000] = f32::NAN;
        rows[2][3] = f32::NEG_INFINITY;
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let got = pairwise_dist(&s);
        assert_eq!(got[0], 0.0);
        assert_eq!(got[5], f64::INFINITY);
        assert_eq!(got[10], f64::INFINITY);
        assert_eq!(got[3], 0.25 * 1001.0);
        assert!(got.iter().all(|v| !v.is_nan()));
        check(&rows);
        let one = [f32::INFINITY];
        assert_eq!(pairwise_dist(&[&one]), vec![f64::INFINITY]);
        assert_eq!(pairwise_dist(&[&[1.0, 2.0]]), vec![0.0]);
    }

    /// Non-finite values turning up mid-chunk, in a later chunk and in the last (padded)
    /// tile, among enough rows for several tiles: every pair touching them is `+inf`, the
    /// rest still match the reference.
    #[test]
    fn non_finite_rows_among_many_tiles() {
        let mut st = 11;
        let (n, d) = (19, CHUNK + 700);
        let mut rows: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..d).map(|_| (rng(&mut st) * 2.0 - 1.0) as f32).collect())
            .collect();
        rows[5][CHUNK + 300] = f32::NAN;
        rows[12][10] = f32::INFINITY;
        rows[18][d - 1] = f32::NEG_INFINITY;
        check(&rows);
        let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let got = pairwise_dist(&s);
        for bad in [5, 12, 18] {
            assert!((0..n).all(|j| got[bad * n + j] == f64::INFINITY));
        }
        assert!(got[n + 2].is_finite() && got[n + 2] > 0.0);
    }

    #[test]
    fn huge_finite_values_do_not_overflow() {
        let a = vec![3e38f32; 300];
        let b = vec![-3e38f32; 300];
        let got = pairwise_dist(&[&a, &b]);
        let want = 300.0 * 6e38f64 * 6e38;
        assert!((got[1] - want).abs() <= 1e-6 * want, "{}", got[1]);
    }

    /// The same tests at the lower SIMD levels (AVX2, generic), which a CPU with AVX-512
    /// otherwise skips.
    #[test]
    fn lower_simd_levels_too() {
        crate::cpu::simd::each_lower_level(|| {
            matches_reference();
            non_finite_rows_are_infinitely_far();
            non_finite_rows_among_many_tiles();
            huge_finite_values_do_not_overflow();
        });
    }
}
