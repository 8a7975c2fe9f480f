//! Exact squared distances for the CPU's few near-tied ones, and the bound on the fast sums'
//! error that tells the rules which ones those are ([`Kernels::dist_error`],
//! [`Kernels::exact_pair_dist`], [`Kernels::exact_center_dist`]).
//!
//! ## Why
//!
//! The fast kernels (this module's parent, `center_dist.rs` and the fused ones) add squares
//! in f32 lanes whose grouping follows the coordinates, so two distances that are equal in
//! exact arithmetic (rows of +-s, as signSGD sends, or a row and a permutation of it) can
//! differ in their last bits, and a rule would then pick another row than the reference,
//! which breaks exact ties by row index. Summing every distance exactly (or in f64 lanes)
//! costs 1.7-2.3x on random rows. Instead the rules take the fast values, and where a
//! selection's boundary (Krum's best score, Multi-Krum's m-th, NNM's and CTMA's last kept
//! row) lies among values closer together than [`relative_bound`] allows, ask for the exact
//! distances of just those rows (`aggregate/exact_ties.rs`). Random rows almost never do.
//!
//! ## The exact value
//!
//! [`exact_pairs`] returns the reference's own distance: the terms `(f64(x) - f64(y))^2`, each
//! rounded to f64 as the reference rounds it, added exactly and rounded once. Eight f64 lanes
//! add the terms as double-doubles by error-free two-sums (each row read once for all the
//! pairs asked for); when a lane's low part could not
//! hold its errors exactly (terms spanning more than about 100 bits of magnitude), the pair
//! is summed again exactly in fixed point instead (`fixed_sum.rs`), rounded once as the
//! reference rounds. So equal multisets of squared
//! differences give bit-identical distances at every SIMD level, and every recomputed value
//! is bit for bit the reference's.
//!
//! [`Kernels::dist_error`]: crate::Kernels::dist_error
//! [`Kernels::exact_pair_dist`]: crate::Kernels::exact_pair_dist
//! [`Kernels::exact_center_dist`]: crate::Kernels::exact_center_dist

use rayon::prelude::*;

use super::super::SimdLevel;
use super::fixed_sum::FixedSum;
use crate::reference::exact_sum;

/// A rigorous bound on the relative error of the CPU's fast squared distance of two finite
/// rows of `d` coordinates (`pairwise_dist`, `center_dist`, the fused kernels) against the
/// exact real sum `S`, plus 2^-52 (two sums that the reference rounds to one f64 lie within
/// 2^-52 of each other).
///
/// The derivation: within a block of [`BLOCK`](super::BLOCK) coordinates all terms are `>= 0`
/// and each exact square reaches the f32 block sum through at most `k` roundings of relative
/// size `u = 2^-24` (the difference `x - y` counts twice in its square), so the block sum is
/// within `gamma_k = k u / (1 - k u)` of its exact value. `k` is 22 at AVX-512 (the tiled
/// kernels: 2 for the difference, 16 fused multiply-adds per lane, 4 tree levels) and 44
/// otherwise (`block_f32`: 2, the square, 8 lane additions, 32 sequential lane sums and the
/// tail's addition; a tail term passes at most 35; the AVX2 tiles of `pairwise_dist`: 2, 32
/// fused multiply-adds per lane, 3 tree levels, 37 in all). Squares that fall below f32's normal
/// range are off by at most 2^-150 each, at most 2^-142 per block, and a block kept in f32
/// sums to at least 2^-96 ([`TINY`](super::TINY)): 2^-44 relative more. A block recomputed in
/// f64 is within `259 * 2^-53 < 2^-44`. The block sums are then added in f64: at most 32 per
/// chunk, the chunk partials in order, so each passes fewer than `d / 8192 + 40` roundings of
/// `2^-53`.
pub(in crate::cpu) fn relative_bound(simd: SimdLevel, d: usize) -> f64 {
    let k = if simd == SimdLevel::Avx512 { 22.0 } else { 44.0 };
    let u32 = 2f64.powi(-24);
    let block = k * u32 / (1.0 - k * u32) + 2f64.powi(-44);
    let k64 = (d / super::CHUNK) as f64 + 40.0;
    let adds = k64 * 2f64.powi(-53) / (1.0 - k64 * 2f64.powi(-53));
    block + adds + block * adds + 2f64.powi(-52)
}

/// The relative bound of the refined distances ([`exact_pairs`] with `exact = false`): each
/// term `(f64(x) - f64(y))^2` passes 3 roundings of `2^-53` (the difference twice in its
/// square), then at most `d / 8` additions in its f64 lane within a segment; the segments'
/// lanes are added exactly and rounded once; plus 2^-52 (as [`relative_bound`]).
pub(in crate::cpu) fn refined_bound(d: usize) -> f64 {
    let k = (d / LANES) as f64 + 5.0;
    let u = 2f64.powi(-53);
    k * u / (1.0 - k * u) + 2f64.powi(-52)
}

/// The exact squared distances of `pairs` of `rows` (see the module doc), `+inf` for a pair
/// touching a row with a non-finite value. One pass over the coordinates for all the pairs:
/// rayon splits them into [`SEGMENTS`] per thread, each walks its segment in cache-sized
/// chunks and adds every pair's terms over a chunk into the pair's lanes, so each row is read
/// from memory once, whatever the number of pairs it is in. With `exact = false`, plain f64
/// lane sums instead of the double-doubles ([`refined_bound`]): a quarter of the arithmetic,
/// enough to separate every pair of distances that is not nearly tied.
pub(in crate::cpu) fn exact_pairs(
    simd: SimdLevel,
    rows: &[&[f32]],
    pairs: &[(usize, usize)],
    exact: bool,
) -> Vec<f64> {
    let pair_rows: Vec<(&[f32], &[f32])> = pairs.iter().map(|&(i, j)| (rows[i], rows[j])).collect();
    exact_many(simd, &pair_rows, exact)
}

/// The exact (or refined) squared distances of the rows `which` to `center`.
pub(in crate::cpu) fn exact_center(
    simd: SimdLevel,
    rows: &[&[f32]],
    center: &[f32],
    which: &[usize],
    exact: bool,
) -> Vec<f64> {
    let pair_rows: Vec<(&[f32], &[f32])> = which.iter().map(|&i| (rows[i], center)).collect();
    exact_many(simd, &pair_rows, exact)
}

/// Segments per rayon thread: enough for the work to balance.
const SEGMENTS: usize = 4;
/// Coordinates per chunk of a segment: the chunk of 64 rows (256 KiB) stays in L2 while
/// every pair reads it.
const EXACT_CHUNK: usize = 1024;
/// f64 lanes of the double-double sums.
const LANES: usize = 8;

/// One pair's double-double lanes over the coordinates seen so far.
#[derive(Clone, Copy)]
struct Lanes {
    hi: [f64; LANES],
    lo: [f64; LANES],
    /// Non-zero once an error of a low part was rounded away (the lanes are then not exact).
    lost: [f64; LANES],
}

impl Lanes {
    const ZERO: Lanes = Lanes {
        hi: [0.0; LANES],
        lo: [0.0; LANES],
        lost: [0.0; LANES],
    };
}

/// The exact squared distance of each pair of rows (all of one length): the pairs' lanes over
/// the segments, their exact sum rounded once. A pair whose lanes lost an error is summed
/// again from its terms; a pair whose sum is not finite holds a non-finite value (finite f32
/// squares cannot overflow f64's sums) and is `+inf`.
fn exact_many(simd: SimdLevel, pairs: &[(&[f32], &[f32])], exact: bool) -> Vec<f64> {
    let d = pairs.first().map_or(0, |p| p.0.len());
    let count = (rayon::current_num_threads() * SEGMENTS).max(1);
    let seg = d.div_ceil(count).next_multiple_of(EXACT_CHUNK).max(EXACT_CHUNK);
    let parts: Vec<Vec<Lanes>> = (0..d.div_ceil(seg))
        .into_par_iter()
        .map(|s| {
            let mut lanes = vec![Lanes::ZERO; pairs.len()];
            segment_at(simd, pairs, s * seg, d.min((s + 1) * seg), exact, &mut lanes);
            lanes
        })
        .collect();
    // The terms past the last whole group of LANES coordinates.
    let tail0 = d - d % LANES;
    (0..pairs.len())
        .into_par_iter()
        .map(|p| {
            let (x, y) = pairs[p];
            let lanes = parts
                .iter()
                .flat_map(|part| part[p].hi.into_iter().chain(part[p].lo));
            let tail = x[tail0..].iter().zip(&y[tail0..]).map(|(a, b)| term(*a, *b));
            if !lanes.clone().chain(tail.clone()).sum::<f64>().is_finite() {
                return f64::INFINITY;
            }
            if !exact || parts.iter().all(|part| part[p].lost.iter().all(|v| *v == 0.0)) {
                exact_sum(lanes.chain(tail))
            } else {
                let mut sum = FixedSum::new();
                for (a, b) in x.iter().zip(y) {
                    sum.add(term(*a, *b));
                }
                sum.round()
            }
        })
        .collect()
}

super::super::simd::at_level!(
    /// [`segment_body`] at a SIMD level.
    fn segment_at(pairs: &[(&[f32], &[f32])], c0: usize, c1: usize, exact: bool, lanes: &mut [Lanes]) = segment_body
);

/// Adds the terms of coordinates `c0..c1` (whole groups of [`LANES`] only; `c0` is a multiple
/// of [`LANES`]) of every pair into its lanes, one cache-sized chunk at a time: as
/// double-doubles (`exact`) or into the high parts alone. Compiled into each SIMD level's
/// function by `at_level!`.
#[inline(always)]
fn segment_body(pairs: &[(&[f32], &[f32])], c0: usize, c1: usize, exact: bool, lanes: &mut [Lanes]) {
    let c1 = c1 - c1 % LANES;
    let mut b0 = c0;
    while b0 < c1 {
        let b1 = c1.min(b0 + EXACT_CHUNK);
        for (&(x, y), lanes) in pairs.iter().zip(lanes.iter_mut()) {
            if exact {
                add_terms(&x[b0..b1], &y[b0..b1], lanes);
            } else {
                add_terms_f64(&x[b0..b1], &y[b0..b1], &mut lanes.hi);
            }
        }
        b0 = b1;
    }
}

/// A term of the reference's sum: the f64 difference, squared, each rounded as the reference
/// rounds them.
#[inline(always)]
fn term(a: f32, b: f32) -> f64 {
    let t = f64::from(a) - f64::from(b);
    t * t
}

/// Adds the terms of `x` and `y` (a multiple of [`LANES`] long) into `lanes` by error-free
/// two-sums.
#[inline(always)]
fn add_terms(x: &[f32], y: &[f32], lanes: &mut Lanes) {
    let Lanes { hi, lo, lost } = lanes;
    for (a, b) in x.chunks_exact(LANES).zip(y.chunks_exact(LANES)) {
        for l in 0..LANES {
            let (s, e) = two_sum(hi[l], term(a[l], b[l]));
            hi[l] = s;
            let (s, e) = two_sum(lo[l], e);
            lo[l] = s;
            lost[l] += e.abs();
        }
    }
}

/// Adds the terms of `x` and `y` (a multiple of [`LANES`] long) into the f64 lanes `hi`.
#[inline(always)]
fn add_terms_f64(x: &[f32], y: &[f32], hi: &mut [f64; LANES]) {
    for (a, b) in x.chunks_exact(LANES).zip(y.chunks_exact(LANES)) {
        for l in 0..LANES {
            hi[l] += term(a[l], b[l]);
        }
    }
}

/// Knuth's two-sum: `s = fl(a + b)` and the rounding error `e`, with `s + e == a + b`
/// exactly (finite inputs whose sum does not overflow; squares of f32 differences stay far
/// below f64's overflow).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's squared distance.
    fn reference(x: &[f32], y: &[f32]) -> f64 {
        let a: Vec<Vec<f64>> = [x, y]
            .iter()
            .map(|r| r.iter().map(|v| f64::from(*v)).collect())
            .collect();
        crate::reference::pairwise_dist(&a)[1]
    }

    /// One pair through [`exact_pairs`].
    fn exact_dist(level: SimdLevel, x: &[f32], y: &[f32]) -> f64 {
        exact_pairs(level, &[x, y], &[(0, 1)], true)[0]
    }

    fn at_every_level(mut f: impl FnMut(SimdLevel)) {
        let top = crate::cpu::simd_level().unwrap();
        for level in SimdLevel::ALL.into_iter().filter(|l| *l <= top) {
            f(level);
        }
    }

    #[test]
    fn exact_distances_are_the_references() {
        let mut g = crate::SplitMix64(5);
        at_every_level(|level| {
            for d in [0, 1, 7, 8, 9, 300, 4099] {
                for scale in [1e-38f64, 1e-20, 1.0, 3e9, 1e30, 3e38] {
                    let row = |g: &mut crate::SplitMix64| -> Vec<f32> {
                        (0..d).map(|_| ((g.unit() * 2.0 - 1.0) * scale) as f32).collect()
                    };
                    let (x, y) = (row(&mut g), row(&mut g));
                    assert_eq!(
                        exact_dist(level, &x, &y).to_bits(),
                        reference(&x, &y).to_bits(),
                        "{level}, d = {d}, scale {scale:e}"
                    );
                }
                // Terms of wildly different magnitudes: the low parts cannot hold them all.
                let x: Vec<f32> = (0..d).map(|i| if i % 3 == 0 { 3e38 } else { 1e-40 }).collect();
                let y: Vec<f32> = (0..d).map(|i| if i % 5 == 0 { -1e-30 } else { 7.0 }).collect();
                assert_eq!(exact_dist(level, &x, &y).to_bits(), reference(&x, &y).to_bits());
            }
        });
    }

    #[test]
    fn equal_multisets_give_equal_bits_wherever_the_terms_sit() {
        at_every_level(|level| {
            for s in [1.0f32, 3e9, 1e19, 3e38, 1e-30] {
                let d = 1001;
                let x: Vec<f32> = (0..d).map(|i| if i * 7 % 11 < 5 { s } else { -s }).collect();
                let (mut y, mut z) = (x.clone(), x.clone());
                for k in [3, 100, 999] {
                    y[k] = -y[k];
                }
                for k in [0, 500, 1000] {
                    z[k] = -z[k];
                }
                assert_eq!(
                    exact_dist(level, &x, &y).to_bits(),
                    exact_dist(level, &x, &z).to_bits(),
                    "{level}, s = {s:e}"
                );
            }
        });
    }

    #[test]
    fn non_finite_rows_are_infinitely_far() {
        let (x, mut y) = (vec![1.0f32; 2000], vec![2.0f32; 2000]);
        y[1500] = f32::NAN;
        let rows = [x.as_slice(), y.as_slice()];
        at_every_level(|level| {
            for exact in [true, false] {
                let pairs = exact_pairs(level, &rows, &[(0, 1), (0, 0)], exact);
                assert_eq!(pairs, vec![f64::INFINITY, 0.0]);
                let center = exact_center(level, &rows, &x, &[1, 0], exact);
                assert_eq!(center, vec![f64::INFINITY, 0.0]);
            }
        });
    }

    /// The bound holds on the fast kernels' worst cases it was derived for: random rows at
    /// every scale (f32 overflow and underflow included), one huge term among small ones (its
    /// errors are not averaged away), and a tail.
    #[test]
    fn fast_distances_lie_within_the_bound() {
        let mut g = crate::SplitMix64(9);
        at_every_level(|level| {
            for d in [1, 31, 256, 1000, 9000] {
                for scale in [1e-30f64, 1.0, 1e19, 3e38] {
                    let rows: Vec<Vec<f32>> = (0..5)
                        .map(|r| {
                            (0..d)
                                .map(|c| {
                                    let big = if c == d / 2 && r == 0 && scale < 1e30 {
                                        1e3
                                    } else {
                                        1.0
                                    };
                                    ((g.unit() * 2.0 - 1.0) * scale * big) as f32
                                })
                                .collect()
                        })
                        .collect();
                    let s: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                    let fast = super::super::pairwise_dist(level, &s);
                    let center = super::super::super::center_dist::center_dist(level, &s, &rows[4]);
                    let e = relative_bound(level, d);
                    for i in 0..5 {
                        for j in 0..5 {
                            let x = reference(&rows[i], &rows[j]);
                            assert!((fast[i * 5 + j] - x).abs() <= e * x, "{level} d = {d} {scale:e}");
                        }
                        let x = reference(&rows[i], &rows[4]);
                        assert!((center[i] - x).abs() <= e * x, "{level} d = {d} {scale:e}");
                        let refined = exact_center(level, &s, &rows[4], &[i], false)[0];
                        let r = refined_bound(d);
                        assert!((refined - x).abs() <= r * x, "{level} d = {d} {scale:e}");
                    }
                }
            }
        });
    }
}
