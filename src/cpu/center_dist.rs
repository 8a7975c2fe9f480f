//! Primitive 3, `center_dist` (SPEC 4.5-4.7 and section 5): the `n` squared Euclidean
//! distances from each row to one `1 x d` center.
//!
//! ## Layout, chunking and accuracy
//!
//! rayon splits the coordinates into chunks (the `CHUNK` of `pairwise_dist.rs`); a task walks
//! each row's part of its chunk once, front to back, in blocks of 256 coordinates, the
//! center's part staying in L1/L2. A block's sum of squared differences is taken in f32 over
//! 32 lanes and added into an f64 partial; a block whose f32 sum overflows or falls below
//! 2^-96 is recomputed in f64 (the block functions of `pairwise_dist.rs`). The partials are
//! added in chunk order, so the result does not depend on the thread count. Relative error
//! about 1e-6 against an f64 loop.
//!
//! One read of each value: finiteness is not checked in a pass of its own. A non-finite
//! value makes its block's f32 sum non-finite, and only then is the block checked, to tell a
//! non-finite row from an overflow.
//!
//! ## Non-finite values
//!
//! A row holding NaN or an infinity is at `+inf`; a center holding one puts every row at
//! `+inf`. Never NaN.

use rayon::prelude::*;

use super::SimdLevel;
use crate::error::Result;

#[cfg(target_arch = "x86_64")]
mod avx512;

use super::pairwise_dist::{BLOCK, CHUNK, TINY, block_f32, block_f64, block_finite};

/// Squared distances from each of `rows` to `center` (all of one length).
pub(super) fn center_dist(simd: SimdLevel, rows: &[&[f32]], center: &[f32]) -> Vec<f64> {
    let n = rows.len();
    let d = center.len();
    let partials: Vec<Partial> = (0..d.div_ceil(CHUNK))
        .into_par_iter()
        .map(|ci| {
            let mut part = Partial::new(n);
            let range = ci * CHUNK..d.min((ci + 1) * CHUNK);
            add_span(simd, rows, &center[range.clone()], range.start, 0, &mut part);
            part
        })
        .collect();
    finish(n, partials)
}

/// The walk of the fused kernels (`mix_dist.rs`, `order_stats_dist.rs`): `out` (one value per
/// coordinate of `rows`) in this module's chunks, one rayon task each, and each chunk in spans
/// of `span` coordinates (a multiple of [`BLOCK`]); `fill(s0, values)` writes the span from
/// coordinate `s0`, then its distance partials are added while the rows' span is still in
/// cache ([`add_span`], fetching `ahead` values on). Returns the squared distances of the rows
/// to `out`, bit for bit [`center_dist`]'s.
pub(super) fn fill_with_dist(
    simd: SimdLevel,
    rows: &[&[f32]],
    out: &mut [f32],
    span: usize,
    ahead: usize,
    fill: impl Fn(usize, &mut [f32]) -> Result<()> + Sync,
) -> Result<Vec<f64>> {
    debug_assert!(span.is_multiple_of(BLOCK) && span <= CHUNK);
    let n = rows.len();
    let partials = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(ci, chunk)| -> Result<Partial> {
            let mut part = Partial::new(n);
            for (si, values) in chunk.chunks_mut(span).enumerate() {
                let s0 = ci * CHUNK + si * span;
                fill(s0, values)?;
                add_span(simd, rows, values, s0, ahead, &mut part);
            }
            Ok(part)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(finish(n, partials))
}

/// Adds the sums over the coordinates `c0..c0 + center.len()` into `part`, `center` holding
/// the center's values there: the work of one chunk, or of a part of one. A chunk's partial
/// is the same whether it is added at once or in consecutive spans that start on a multiple of
/// [`BLOCK`] from the chunk's start (each row's blocks go into its f64 partial in coordinate
/// order either way), which is what lets the fused kernels (`order_stats_dist.rs`,
/// `mix_dist.rs`) add the distances to a center while they compute it. `ahead > 0` also
/// fetches each row's values `ahead` coordinates on into L2 (at the AVX-512 level), for the
/// fused kernel's next span; the sums do not change.
fn add_span(simd: SimdLevel, rows: &[&[f32]], center: &[f32], c0: usize, ahead: usize, part: &mut Partial) {
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx512 {
        // SAFETY: AVX-512 F checked; every row holds the span's values (the kernel asserts it).
        unsafe { avx512::chunk(rows, center, c0, ahead, part) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ahead; // the prefetch is the AVX-512 kernel's
    chunk_sums_at(simd, rows, center, c0, part);
}

/// Bytes of the rows' span that a fused kernel keeps in cache between computing a center's
/// span and adding its distances: half of a typical 1 MiB L2.
const SPAN_BYTES: usize = 512 * 1024;

/// The span a fused kernel over `n` rows works in: the largest power of two of coordinates
/// whose `n` rows fit in [`SPAN_BYTES`], at most `max` (a power of two up to [`CHUNK`]: the
/// fused primitive's own chunk) and at least [`BLOCK`], so that spans tile the chunks.
pub(super) fn span_for(n: usize, max: usize) -> usize {
    debug_assert!(max.is_power_of_two() && (BLOCK..=CHUNK).contains(&max));
    let fit = SPAN_BYTES / (4 * n.max(1));
    let fit = if fit == 0 { 0 } else { 1 << fit.ilog2() };
    fit.clamp(BLOCK, max)
}

/// Adds the chunks' partials in chunk order: the squared distances, `+inf` for a row (or a
/// center) with a non-finite value.
fn finish(n: usize, partials: impl IntoIterator<Item = Partial>) -> Vec<f64> {
    let mut sums = vec![0.0; n];
    let mut bad = vec![false; n];
    let mut center_bad = false;
    for part in partials {
        for (t, s) in sums.iter_mut().zip(part.sums) {
            *t += s;
        }
        for (t, b) in bad.iter_mut().zip(part.bad) {
            *t |= b;
        }
        center_bad |= part.center_bad;
    }
    sums.iter()
        .zip(&bad)
        .map(|(s, b)| if *b || center_bad { f64::INFINITY } else { *s })
        .collect()
}

super::simd::at_level!(
    /// [`chunk_sums`] at a SIMD level.
    fn chunk_sums_at(rows: &[&[f32]], center: &[f32], c0: usize, part: &mut Partial) = chunk_sums
);

/// One chunk's f64 partial sums, and which rows (or the center) hold a non-finite value there.
struct Partial {
    sums: Vec<f64>,
    bad: Vec<bool>,
    center_bad: bool,
}

impl Partial {
    /// The empty partial of `n` rows.
    fn new(n: usize) -> Self {
        Partial {
            sums: vec![0.0; n],
            bad: vec![false; n],
            center_bad: false,
        }
    }
}

/// Adds the sums over coordinates `c0..c0 + center.len()` into `part`, one row at a time;
/// `center` holds the center's values over that span. Rows already found non-finite are
/// skipped. Compiled into each SIMD level's function by `at_level!`.
#[inline(always)]
fn chunk_sums(rows: &[&[f32]], c: &[f32], c0: usize, part: &mut Partial) {
    if part.center_bad || !c.chunks(BLOCK).all(block_finite) {
        part.center_bad = true;
        return;
    }
    let c1 = c0 + c.len();
    for ((row, s), bad) in rows.iter().zip(part.sums.iter_mut()).zip(part.bad.iter_mut()) {
        if *bad {
            continue;
        }
        let x = &row[c0..c1];
        for (xb, cb) in x.chunks(BLOCK).zip(c.chunks(BLOCK)) {
            let fast = block_f32(xb, cb);
            if fast.is_finite() && fast >= TINY {
                *s += f64::from(fast);
            } else if !block_finite(xb) {
                *bad = true;
                break;
            } else {
                *s += block_f64(xb, cb);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The primitive at the level the backend would run it at.
    fn center_dist(rows: &[&[f32]], center: &[f32]) -> Vec<f64> {
        super::center_dist(crate::cpu::simd_level().unwrap(), rows, center)
    }

    /// The reference's distance of `row` to `center`: exactly rounded, `+inf` if either holds
    /// a non-finite value.
    fn reference(row: &[f32], center: &[f32]) -> f64 {
        let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        crate::reference::center_dist(&[wide(row)], &wide(center))[0]
    }

    #[test]
    fn matches_reference() {
        // Uniform in [-1, 1) from the crate's SplitMix64.
        let mut g = crate::SplitMix64(5);
        let mut next = || g.unit() * 2.0 - 1.0;
        for &n in &[1, 2, 7, 70] {
            for &d in &[1, 7, 33, 1001, 9000] {
                for exp in [-30, 0, 30, 38] {
                    let s = 10f64.powi(exp);
                    let rows: Vec<Vec<f32>> = (0..n)
                        .map(|_| (0..d).map(|_| (next() * s) as f32).collect())
                        .collect();
                    let center: Vec<f32> = (0..d).map(|_| (next() * s) as f32).collect();
                    let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                    let got = center_dist(&slices, &center);
                    for (i, g) in got.iter().enumerate() {
                        let e = reference(&rows[i], &center);
                        assert!(
                            (g - e).abs() <= 2e-6 * e,
                            "n {n} d {d} row {i}: got {g}, want {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn non_finite_rows_and_centers() {
        let rows = [
            vec![1.0f32, 2.0, 3.0],
            vec![f32::NAN, 0.0, 0.0],
            vec![0.0, f32::INFINITY, 0.0],
        ];
        let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(
            center_dist(&slices, &[1.0, 2.0, 4.0]),
            vec![1.0, f64::INFINITY, f64::INFINITY]
        );
        assert_eq!(
            center_dist(&slices, &[1.0, f32::NEG_INFINITY, 4.0]),
            vec![f64::INFINITY; 3]
        );
        // A center equal to a row is at distance 0 exactly.
        assert_eq!(center_dist(&slices[..1], &rows[0]), vec![0.0]);
    }

    #[test]
    fn spans_fit_half_an_l2_and_tile_the_chunks() {
        use super::{BLOCK, CHUNK, span_for};
        assert_eq!(span_for(16, 4096), 4096);
        assert_eq!(span_for(32, 4096), 4096);
        assert_eq!(span_for(33, 4096), 2048);
        assert_eq!(span_for(64, 2048), 2048);
        assert_eq!(span_for(100, 2048), 1024);
        assert_eq!(span_for(0, CHUNK), CHUNK);
        assert_eq!(span_for(1, 256), 256);
        assert_eq!(span_for(1_000_000, 2048), BLOCK);
    }

    /// The same tests at the lower SIMD levels (AVX2, generic), which a CPU with AVX-512
    /// otherwise skips.
    #[test]
    fn lower_simd_levels_too() {
        crate::cpu::simd::each_lower_level(|| {
            matches_reference();
            non_finite_rows_and_centers();
        });
    }
}
