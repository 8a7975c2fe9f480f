//! `mix` with several output rows over one coordinate chunk, with AVX-512 and fused
//! multiply-add: the `k = n` mix of NNM and the clipped rows of `clip`.
//!
//! ## Why
//!
//! The one-row kernel (`avx512.rs`) widens every input value to f64 on its way into the
//! accumulators. With `k` output rows over the same inputs that widening is repeated `k`
//! times, and it costs as much as the multiply-add itself. Here each tile of [`TILE`]
//! coordinates of every row in use is widened once into a small f64 scratch that stays in L1,
//! and each output row then accumulates its terms straight from there: one load and one
//! `vfmadd` per 8 values and term, and nothing for a zero coefficient.
//!
//! ## Same result as the one-row kernel
//!
//! Per output row and coordinate the arithmetic is `avx512.rs`'s, operation for operation:
//! `scale * base` first (a plain product, when the scale is non-zero), then `vfmadd` with the
//! rows of non-zero coefficient in row order, rounded to f32 once. Widening f32 to f64 is
//! exact, so reading the widened value back from the scratch changes nothing: the output is
//! bit-identical, whatever `k`.

use std::arch::x86_64::*;

use super::avx512::join_halves;

/// A term of a pair of output rows: the row's offset in the scratch, both coefficients, and
/// per output row a mask that is empty where its coefficient is zero.
type PairTerm = (usize, f64, f64, __mmask8, __mmask8);

/// Coordinates per register tile: 8 f64 vectors.
const TILE: usize = 64;
/// How far ahead of the tile each row is prefetched, in values.
const PREFETCH: usize = 1024;

/// The output rows `outs` (one per row of C, each of the chunk's length) over coordinates
/// from `c0`; `coeffs` is `outs.len() x n` row-major; `base` as in the parent.
///
/// # Safety
///
/// The CPU must support AVX-512 F; every row (and base row) must hold `c0 + out.len()`
/// values, and every output row must have the same length.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chunk(
    rows: &[&[f32]],
    coeffs: &[f64],
    base: Option<(&[&[f32]], f64)>,
    c0: usize,
    outs: &mut [&mut [f32]],
) {
    let n = rows.len();
    let Some(len) = outs.first().map(|o| o.len()) else {
        return;
    };
    debug_assert!(outs.iter().all(|o| o.len() == len));
    // The rows some output uses, each with its slot in the scratch.
    let used: Vec<usize> = (0..n)
        .filter(|&i| (0..outs.len()).any(|r| coeffs[r * n + i] != 0.0))
        .collect();
    let mut slot = vec![0; n];
    for (s, &i) in used.iter().enumerate() {
        slot[i] = s;
    }
    let inputs: Vec<*const f32> = used.iter().map(|&i| rows[i][c0..c0 + len].as_ptr()).collect();
    // Per output row: (offset of the term's row in the scratch, coefficient), in row order.
    let terms: Vec<Vec<(usize, f64)>> = (0..outs.len())
        .map(|r| {
            (0..n)
                .filter(|&i| coeffs[r * n + i] != 0.0)
                .map(|i| (slot[i] * TILE, coeffs[r * n + i]))
                .collect()
        })
        .collect();
    // Per pair of output rows (2p, 2p + 1): the rows either uses, in row order, with both
    // coefficients and a mask per row that is empty where its coefficient is zero.
    let pairs: Vec<Vec<PairTerm>> = (0..outs.len() / 2)
        .map(|p| {
            let (r0, r1) = (2 * p, 2 * p + 1);
            (0..n)
                .filter(|&i| coeffs[r0 * n + i] != 0.0 || coeffs[r1 * n + i] != 0.0)
                .map(|i| {
                    let (c0, c1) = (coeffs[r0 * n + i], coeffs[r1 * n + i]);
                    let mask = |c: f64| if c != 0.0 { 0xFF } else { 0 };
                    (slot[i] * TILE, c0, c1, mask(c0), mask(c1))
                })
                .collect()
        })
        .collect();
    let bases: Vec<Option<(*const f32, f64)>> = (0..outs.len())
        .map(|r| match base {
            Some((b, scale)) if scale != 0.0 => Some((b[r][c0..c0 + len].as_ptr(), scale)),
            _ => None,
        })
        .collect();
    let mut wide = vec![0.0f64; used.len() * TILE];
    let wide = wide.as_mut_ptr();

    let mut j = 0;
    while j < len {
        let left = len - j;
        // Per 16 values: a load mask (the ragged tail is masked, never read past `len`).
        let masks: [__mmask16; 4] = std::array::from_fn(|q| {
            let have = left.saturating_sub(q * 16).min(16);
            if have == 16 {
                0xFFFF
            } else {
                ((1u32 << have) - 1) as __mmask16
            }
        });
        // SAFETY: masked-off lanes are not read; the rest lie within `len` values of `p`.
        let load = |p: *const f32, q: usize| unsafe {
            let v = _mm512_maskz_loadu_ps(masks[q], p.wrapping_add(j + q * 16));
            (
                _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))),
            )
        };
        // Widen the tile of every row in use once (masked-off lanes become zeros, which no
        // output lane reads back).
        for (s, &p) in inputs.iter().enumerate() {
            for q in 0..4 {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(j + PREFETCH + q * 16).cast());
            }
            for q in 0..4 {
                let (lo, hi) = load(p, q);
                // SAFETY: slot `s` of the scratch holds TILE values.
                unsafe {
                    _mm512_storeu_pd(wide.add(s * TILE + 16 * q), lo);
                    _mm512_storeu_pd(wide.add(s * TILE + 16 * q + 8), hi);
                }
            }
        }
        // `scale * base` or zeros: the accumulators' start.
        let start = |b: Option<(*const f32, f64)>| {
            let mut acc = [_mm512_setzero_pd(); 8];
            if let Some((b, scale)) = b {
                let s = _mm512_set1_pd(scale);
                for q in 0..4 {
                    let (lo, hi) = load(b, q);
                    acc[2 * q] = _mm512_mul_pd(s, lo);
                    acc[2 * q + 1] = _mm512_mul_pd(s, hi);
                }
            }
            acc
        };
        let store = |acc: [__m512d; 8], out: &mut [f32]| {
            for q in 0..4 {
                let v = join_halves(_mm512_cvtpd_ps(acc[2 * q]), _mm512_cvtpd_ps(acc[2 * q + 1]));
                // SAFETY: masked-off lanes are not written; the rest lie within `out`.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(j + q * 16), masks[q], v) };
            }
        };
        let mut r = 0;
        // Two output rows at a time: each scratch vector loaded serves both, and a row whose
        // coefficient is zero leaves its accumulators untouched (masked off), so each row
        // still sees exactly its own terms, in row order.
        for pair in &pairs {
            let (mut a0, mut a1) = (start(bases[r]), start(bases[r + 1]));
            for &(at, c0, c1, m0, m1) in pair {
                let (c0, c1) = (_mm512_set1_pd(c0), _mm512_set1_pd(c1));
                for v in 0..8 {
                    // SAFETY: `at` is a slot of the scratch, which holds TILE values.
                    let x = unsafe { _mm512_loadu_pd(wide.add(at + 8 * v)) };
                    a0[v] = _mm512_mask3_fmadd_pd(c0, x, a0[v], m0);
                    a1[v] = _mm512_mask3_fmadd_pd(c1, x, a1[v], m1);
                }
            }
            store(a0, outs[r]);
            store(a1, outs[r + 1]);
            r += 2;
        }
        if r < outs.len() {
            let mut acc = start(bases[r]);
            for &(at, c) in &terms[r] {
                let c = _mm512_set1_pd(c);
                for (v, a) in acc.iter_mut().enumerate() {
                    // SAFETY: `at` is a slot of the scratch, which holds TILE values.
                    let x = unsafe { _mm512_loadu_pd(wide.add(at + 8 * v)) };
                    *a = _mm512_fmadd_pd(c, x, *a);
                }
            }
            store(acc, outs[r]);
        }
        j += TILE;
    }
}
