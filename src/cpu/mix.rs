//! Primitive 4, `mix` (SPEC section 5): `out (k x d) = C (k x n) * rows (n x d)`, plus
//! `scale * base (k x d)` when a base is given (centered clipping's update step).
//!
//! ## Layout and chunking
//!
//! rayon splits the coordinates into chunks of [`CHUNK`]; one task computes all `k` output
//! rows over its chunk, so the rows' chunk stays in cache while it is reused `k` times (NNM
//! mixes `k = n` rows). Within the chunk, tiles of 64 output coordinates are accumulated in
//! f64 registers over all the rows with a non-zero coefficient, then rounded to f32 once: the
//! rows are read once and nothing else touches memory. The AVX-512 path (`mix/avx512.rs`)
//! and the AVX2 path (`mix/avx2.rs`) instead take 16 rows at a time over an L1 block of f64
//! accumulators, in the same order, with fused multiply-adds: the two give the same bits.
//!
//! ## Accuracy and non-finite values
//!
//! The sum is `scale * base + sum_i c_i x_i` in f64, in row order: within one rounding of the
//! f64 result. A term with coefficient 0 (or a zero `scale`) is skipped entirely, so a NaN or
//! infinite row with coefficient 0 leaves no trace; a non-finite value with a non-zero
//! coefficient propagates as IEEE arithmetic says (the plain mean is not robust).

use rayon::prelude::*;

use super::SimdLevel;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(super) mod rows;
#[cfg(target_arch = "x86_64")]
mod rows256;
#[cfg(target_arch = "x86_64")]
mod rows512;

/// Coordinates per rayon task.
const CHUNK: usize = 2048;

/// `C * rows [+ scale * base]` as a row-major `k x d` vector; `coeffs` is `k x n` row-major,
/// `base` holds `k` rows of length `d`.
pub(super) fn mix(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    k: usize,
    base: Option<(&[&[f32]], f64)>,
    d: usize,
) -> Vec<f32> {
    let mut out = super::buffer::take(k * d);
    // Hand every task its chunk of each output row.
    let mut tasks: Vec<Vec<&mut [f32]>> = (0..d.div_ceil(CHUNK)).map(|_| Vec::with_capacity(k)).collect();
    for row in out.chunks_mut(d.max(1)) {
        for (task, part) in tasks.iter_mut().zip(row.chunks_mut(CHUNK)) {
            task.push(part);
        }
    }
    tasks.into_par_iter().enumerate().for_each(|(ci, mut outs)| {
        chunk(simd, rows, coeffs, base, ci * CHUNK, &mut outs);
    });
    out
}

/// One task of [`mix`]: the output rows `outs` (one per row of C, all of one length) over
/// coordinates from `c0`, by the kernel of the SIMD level (`rows.rs` for several output rows).
/// The fused `mix_with_dist` runs it span by span.
pub(super) fn chunk(
    simd: SimdLevel,
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    if outs.len() > 1 {
        rows::chunk(simd, rows, coeffs, base, c0, outs);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx512 {
        // SAFETY: the Avx512 level means AVX-512 F was detected; every row and base row holds
        // `c0 + len` values (the callers' chunking).
        unsafe { avx512::chunk(rows, coeffs, base, c0, outs) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx2 {
        // SAFETY: the Avx2 level means AVX2 and FMA were detected; rows as above.
        unsafe { avx2::chunk(rows, coeffs, base, c0, outs) };
        return;
    }
    let mut acc = vec![0.0f64; outs.first().map_or(0, |o| o.len())];
    mix_chunk_at(simd, rows, coeffs, base, c0, outs, &mut acc);
}

/// One output row's share of a chunk: the rows with a non-zero coefficient in row `r` of C, in
/// row order, cut to coordinates `c0..c0 + len` (zero coefficients never enter, so a NaN row
/// with coefficient 0 leaves no trace), and the base row if its scale is not zero.
pub(super) type RowTerms<'a> = (Vec<(&'a [f32], f64)>, Option<(&'a [f32], f64)>);

/// The [`RowTerms`] of output row `r` (`coeffs` is `k x n` row-major, `base` as in [`mix`]).
pub(super) fn row_terms<'a>(
    rows: &[&'a [f32]],
    coeffs: &[f64],
    base: Option<(&[&'a [f32]], f64)>,
    r: usize,
    c0: usize,
    len: usize,
) -> RowTerms<'a> {
    let n = rows.len();
    let terms = rows
        .iter()
        .zip(&coeffs[r * n..(r + 1) * n])
        .filter(|(_, c)| **c != 0.0)
        .map(|(row, c)| (&row[c0..c0 + len], *c))
        .collect();
    let base = match base {
        Some((b, scale)) if scale != 0.0 => Some((&b[r][c0..c0 + len], scale)),
        _ => None,
    };
    (terms, base)
}

/// Coordinates accumulated in registers at once: eight f64 vectors of AVX-512.
const TILE: usize = 64;

super::simd::at_level!(
    /// [`mix_chunk`] at a SIMD level.
    fn mix_chunk_at(
        rows: &[&[f32]],
        coeffs: &[f64],
        base: Option<(&[&[f32]], f64)>,
        c0: usize,
        outs: &mut [&mut [f32]],
        acc: &mut [f64],
    ) = mix_chunk
);

/// The output rows `outs` (one per row of C) over coordinates from `c0`; `acc` is scratch for
/// the ragged tail.
///
/// Each tile of [`TILE`] coordinates is accumulated in registers over every row with a
/// non-zero coefficient, then rounded and stored once: no f64 scratch traffic per row. The
/// sum per coordinate is the same as a row-by-row pass (base first, then rows in order).
/// Compiled into each SIMD level's function by `at_level!`.
#[inline(always)]
fn mix_chunk(
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
    acc: &mut [f64],
) {
    for (r, out) in outs.iter_mut().enumerate() {
        let len = out.len();
        let (terms, base) = row_terms(rows, coeffs, base, r, c0, len);
        let full = len / TILE * TILE;
        for (t, out) in out[..full].chunks_exact_mut(TILE).enumerate() {
            let j = t * TILE;
            let mut tile = [0.0f64; TILE];
            if let Some((b, scale)) = base {
                for (a, v) in tile.iter_mut().zip(tile_of(b, j)) {
                    *a = scale * f64::from(*v);
                }
            }
            for &(row, c) in &terms {
                for (a, v) in tile.iter_mut().zip(tile_of(row, j)) {
                    *a += c * f64::from(*v);
                }
            }
            for (o, a) in out.iter_mut().zip(&tile) {
                *o = *a as f32;
            }
        }
        // The ragged tail, through the scratch row.
        let acc = &mut acc[..len - full];
        match base {
            Some((b, scale)) => {
                for (a, v) in acc.iter_mut().zip(&b[full..]) {
                    *a = scale * f64::from(*v);
                }
            }
            None => acc.fill(0.0),
        }
        for &(row, c) in &terms {
            for (a, v) in acc.iter_mut().zip(&row[full..]) {
                *a += c * f64::from(*v);
            }
        }
        for (o, a) in out[full..].iter_mut().zip(acc.iter()) {
            *o = *a as f32;
        }
    }
}

/// The [`TILE`] values of `x` from `j` as a fixed-size array (the caller keeps
/// `j + TILE <= x.len()`), so the tile loops compile to straight vector code.
#[inline(always)]
fn tile_of(x: &[f32], j: usize) -> &[f32; TILE] {
    match x.get(j..j + TILE).and_then(|s| <&[f32; TILE]>::try_from(s).ok()) {
        Some(t) => t,
        None => &ZERO_TILE,
    }
}

/// Never read in practice: [`tile_of`]'s answer to an out-of-range tile.
static ZERO_TILE: [f32; TILE] = [0.0; TILE];

#[cfg(test)]
mod tests {
    use super::*;

    /// The primitive at the level the backend would run it at.
    fn mix(rows: &[&[f32]], coeffs: &[f64], k: usize, base: Option<(&[&[f32]], f64)>, d: usize) -> Vec<f32> {
        super::mix(crate::cpu::simd_level().unwrap(), rows, coeffs, k, base, d)
    }

    fn naive(rows: &[Vec<f32>], coeffs: &[f64], k: usize, base: Option<(&[Vec<f32>], f64)>) -> Vec<f64> {
        let (n, d) = (rows.len(), rows[0].len());
        let mut out = vec![0.0; k * d];
        for r in 0..k {
            for j in 0..d {
                let mut s = match base {
                    Some((b, scale)) if scale != 0.0 => scale * f64::from(b[r][j]),
                    _ => 0.0,
                };
                for i in 0..n {
                    if coeffs[r * n + i] != 0.0 {
                        s += coeffs[r * n + i] * f64::from(rows[i][j]);
                    }
                }
                out[r * d + j] = s;
            }
        }
        out
    }

    #[test]
    fn matches_naive() {
        // Uniform in [-1, 1) from the crate's SplitMix64.
        let mut g = crate::SplitMix64(9);
        let mut next = || g.unit() * 2.0 - 1.0;
        for &n in &[1, 2, 5, 17] {
            for &d in &[1, 7, 33, 1001, 2 * CHUNK + 3] {
                for exp in [-30, 0, 30] {
                    let s = 10f64.powi(exp);
                    let rows: Vec<Vec<f32>> = (0..n)
                        .map(|_| (0..d).map(|_| (next() * s) as f32).collect())
                        .collect();
                    let k = 1 + n / 2;
                    let coeffs: Vec<f64> = (0..k * n)
                        .map(|_| if next() < -0.5 { 0.0 } else { next() })
                        .collect();
                    let base: Vec<Vec<f32>> = (0..k)
                        .map(|_| (0..d).map(|_| (next() * s) as f32).collect())
                        .collect();
                    let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                    let bslices: Vec<&[f32]> = base.iter().map(Vec::as_slice).collect();
                    for with_base in [None, Some(0.3)] {
                        let got = mix(
                            &slices,
                            &coeffs,
                            k,
                            with_base.map(|sc| (bslices.as_slice(), sc)),
                            d,
                        );
                        let want = naive(&rows, &coeffs, k, with_base.map(|sc| (base.as_slice(), sc)));
                        for (g, e) in got.iter().zip(&want) {
                            // Within one f32 rounding of the exact sum's magnitude.
                            assert!(
                                (f64::from(*g) - e).abs() <= 1e-6 * e.abs() + 1e-300,
                                "got {g}, want {e}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zero_coefficients_leave_no_trace() {
        let rows = [
            vec![1.0f32, 2.0, 3.0],
            vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY],
            vec![3.0, 4.0, 5.0],
        ];
        let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(mix(&slices, &[0.5, 0.0, 0.5], 1, None, 3), vec![2.0, 3.0, 4.0]);
        let nan_base = [f32::NAN; 3];
        let base: [&[f32]; 1] = [&nan_base];
        assert_eq!(
            mix(&slices, &[0.5, 0.0, 0.5], 1, Some((&base, 0.0)), 3),
            vec![2.0, 3.0, 4.0]
        );
        let got = mix(&slices, &[0.5, 0.5, 0.0], 1, None, 3);
        assert!(got[0].is_nan() && got[1] == f32::INFINITY && got[2] == f32::NEG_INFINITY);
        // Two outputs at once, with a base.
        let ones = [1.0f32; 3];
        let base: [&[f32]; 2] = [&ones, &ones];
        assert_eq!(
            mix(
                &slices,
                &[1.0, 0.0, 0.0, 0.0, 0.0, 2.0],
                2,
                Some((&base, -1.0)),
                3
            ),
            vec![0.0, 1.0, 2.0, 5.0, 7.0, 9.0]
        );
    }

    /// The AVX2 and AVX-512 kernels sum in the same order with the same fused multiply-adds:
    /// equal bits, ragged tails, bases, zero coefficients and huge values included.
    #[test]
    fn avx2_and_avx512_give_the_same_bits() {
        if !matches!(crate::cpu::simd_level(), Ok(SimdLevel::Avx512)) {
            eprintln!("skipped: this CPU (or BYZAGG_SIMD) does not run AVX-512");
            return;
        }
        // Uniform in [-1, 1) from the crate's SplitMix64.
        let mut g = crate::SplitMix64(5);
        let mut next = || g.unit() * 2.0 - 1.0;
        for &(n, d) in &[(3, 5), (17, 2 * CHUNK + 13), (40, 1001)] {
            let rows: Vec<Vec<f32>> = (0..n)
                .map(|i| {
                    (0..d)
                        .map(|_| (next() * 10f64.powi(i as i32 % 60 - 30)) as f32)
                        .collect()
                })
                .collect();
            let k = 2;
            let coeffs: Vec<f64> = (0..k * n)
                .map(|_| if next() < -0.3 { 0.0 } else { next() })
                .collect();
            let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let bases: Vec<&[f32]> = slices[..k].to_vec();
            for base in [None, Some((bases.as_slice(), 0.7))] {
                let wide = super::mix(SimdLevel::Avx512, &slices, &coeffs, k, base, d);
                let narrow = super::mix(SimdLevel::Avx2, &slices, &coeffs, k, base, d);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&wide), bits(&narrow), "n = {n}, d = {d}");
            }
        }
    }

    /// The same tests at the lower SIMD levels (AVX2, generic), which a CPU with AVX-512
    /// otherwise skips.
    #[test]
    fn lower_simd_levels_too() {
        crate::cpu::simd::each_lower_level(|| {
            matches_naive();
            zero_coefficients_leave_no_trace();
        });
    }
}
