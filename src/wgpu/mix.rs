//! Primitive 4, `mix` (SPEC section 5), on `shaders/mix.wgsl`.
//!
//! `out (k x d) = C (k x n) * rows [+ scale * base]`, chunk by chunk, one submission, nothing
//! read back; one invocation per output value (`classic`) or four values of one row per
//! invocation (`wide`, `wide_direct`), as [`MixVariant`] selects: the same bits every way. Each coefficient is sent as an f32 mantissa and an
//! exponent ([`split`]: relative error 6e-8, no underflow on subnormal-flushing GPUs) and the
//! sums over n terms accumulate in f32. Only the non-zero terms are sent ([`terms`]), and a
//! zero `scale` drops the base, so `0 * NaN` never appears whatever the shader compiler
//! assumes about non-finite values. An output row of one power-of-two term (Krum's selected
//! row) is scaled on the bits by integer arithmetic, so subnormal values survive GPUs that
//! flush them in float operations.

use super::device::{MIX, MIX_WIDE, MIX_WIDE_DIRECT, WORKGROUP};
use super::kernel_variant::MixVariant;
use super::{Wgpu, WgpuRows, same_chunks};
use crate::error::Result;

/// The `k x d` mix of the rows.
/// Shapes are checked by the caller (`kernels::shape`); the chunking here.
pub(super) fn mix(
    w: &Wgpu,
    rows: &WgpuRows,
    coeffs: &[f64],
    k: usize,
    base: Option<(&WgpuRows, f64)>,
) -> Result<WgpuRows> {
    let base = base.filter(|(_, scale)| *scale != 0.0);
    let device = match base {
        Some((b, _)) => w.gpu_for(&[rows, b])?,
        None => w.gpu_for(&[rows])?,
    };
    let gpu = &*device;
    let n = rows.k;
    if let Some((b, _)) = base {
        same_chunks(rows, b, "base")?;
    }
    let out = w.alloc(k, rows.d, rows.chunk, "mix")?;
    let (term_words, starts) = terms(coeffs, k, n);
    gpu.scoped("mix", || {
        let terms_buf = gpu.storage_init("mix terms", bytemuck::cast_slice(&term_words))?;
        let starts_buf = gpu.storage_init("mix starts", bytemuck::cast_slice(&starts))?;
        let mut enc = gpu.encoder("mix");
        for c in 0..rows.chunks() {
            let (_, len) = rows.range(c);
            let (base_buf, has_base, scale) = match base {
                Some((b, s)) => (&b.bufs[c], 1, s as f32),
                None => (&gpu.placeholder, 0, 0.0),
            };
            let params = gpu.uniform(
                "mix",
                &[len as u32, n as u32, k as u32, has_base, scale.to_bits(), 0, 0, 0],
            );
            let (entry, invocations) = launch(w.mix, k, len);
            let bind = gpu.bind(
                entry,
                0,
                &[
                    &rows.bufs[c],
                    &terms_buf,
                    &starts_buf,
                    base_buf,
                    &params,
                    &out.bufs[c],
                ],
            )?;
            gpu.dispatch(&mut enc, entry, &bind, invocations, w.params.max_groups_x)?;
        }
        gpu.submit(enc)
    })?;
    Ok(out)
}

/// Coordinates of one output row per workgroup of `mix_wide` and `mix_wide_direct`
/// (`WIDE_TILE` in mix.wgsl).
const WIDE_TILE: usize = 256;

/// The entry point of `variant` and the invocations it dispatches for `k` output rows of a
/// chunk of `len` coordinates: one per value, or one workgroup per row and tile.
fn launch(variant: MixVariant, k: usize, len: usize) -> (&'static str, u64) {
    match variant {
        MixVariant::Classic => (MIX, (k * len) as u64),
        MixVariant::Wide => (MIX_WIDE, wide_invocations(k, len)),
        MixVariant::WideDirect => (MIX_WIDE_DIRECT, wide_invocations(k, len)),
    }
}

/// One workgroup per output row and tile of [`WIDE_TILE`] coordinates.
fn wide_invocations(k: usize, len: usize) -> u64 {
    (k * len.div_ceil(WIDE_TILE)) as u64 * WORKGROUP
}

/// The non-zero terms of the `k x n` coefficients, output row by output row, as the shader
/// reads them: `(input row, mantissa bits, exponent bits, 0)` flattened to words (see
/// [`split`]), and the `k + 1` offsets where each output row's terms start.
fn terms(coeffs: &[f64], k: usize, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut words = Vec::new();
    let mut starts = Vec::with_capacity(k + 1);
    starts.push(0u32);
    for row in coeffs.chunks(n).take(k) {
        for (i, &c) in row.iter().enumerate() {
            if c != 0.0 {
                let (m, e) = split(c);
                words.extend([i as u32, m.to_bits(), e as u32, 0]);
            }
        }
        starts.push((words.len() / 4) as u32);
    }
    if words.is_empty() {
        // A binding must not be empty; no start range points at this placeholder term.
        words.extend([0, 0, 0, 0]);
    }
    (words, starts)
}

/// `c = m 2^e` with `|m|` in [0.5, 1) rounded to f32 (frexp), so that the shader's
/// `ldexp(m * x, e)` never forms a subnormal coefficient (flushed to 0 on many GPUs) and
/// `m * x` never overflows; a power of two gets `|m| = 1`, so that it scales x exactly (a
/// selected row is copied bit for bit, subnormal values included). Zero, infinities and NaN
/// pass through with `e = 0`.
fn split(c: f64) -> (f32, i32) {
    if c == 0.0 || !c.is_finite() {
        return (c as f32, 0);
    }
    // Normalise an f64 subnormal first (exact: a power-of-two scaling).
    let (v, shift) = if c.abs() < f64::MIN_POSITIVE {
        (c * 2f64.powi(64), 64)
    } else {
        (c, 0)
    };
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    // The same sign and mantissa with the exponent of [0.5, 1).
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    if m.abs() == 0.5 {
        // A power of two (Krum's 1 among them) as 1 * 2^(e - 1): `m * x` is then x itself,
        // exact even for a subnormal x, whose halving would round off its last bit.
        return (m.signum() as f32, biased - 1023 - shift);
    }
    (m as f32, biased - 1022 - shift)
}

#[cfg(test)]
mod term_tests {
    use super::terms;

    use super::split;

    /// The launcher's tile is the shader's: lanes per workgroup times coordinates per lane.
    #[test]
    fn the_wide_tile_is_the_shaders() {
        let source = include_str!("../../shaders/mix.wgsl");
        assert!(source.contains("const WIDE_PER_LANE: u32 = 4u;"));
        assert!(source.contains("const WIDE_LANES: u32 = 64u;"));
        assert_eq!(super::WIDE_TILE as u64, 4 * super::WORKGROUP);
    }

    #[test]
    fn zero_coefficients_are_not_listed() {
        let (words, starts) = terms(&[0.0, 0.5, 0.0, 1e-50, 2.0, -1.0], 2, 3);
        assert_eq!(starts, [0, 1, 4]);
        let listed: Vec<u32> = words.chunks(4).map(|t| t[0]).collect();
        assert_eq!(listed, [1, 0, 1, 2]);
        let (words, starts) = terms(&[0.0, 0.0], 1, 2);
        assert_eq!(starts, [0, 0]);
        assert_eq!(words.len(), 4);
    }

    #[test]
    fn coefficients_split_into_a_normal_mantissa_and_an_exponent() {
        for c in [
            1.0, 0.5, 0.75, -0.3, 2.0, 1e-40, -1e-45, 3e-39, 1e-300, 5e-324, 1e300, 123.456,
        ] {
            let (m, e) = split(c);
            assert!(
                (0.5..1.0).contains(&m.abs()) || m.abs() == 1.0,
                "{c}: mantissa {m}"
            );
            // 2^e in two halves: 2^-1073 alone is not an f64.
            let back = f64::from(m) * 2f64.powi(e / 2) * 2f64.powi(e - e / 2);
            assert!(((back - c) / c).abs() <= 6e-8, "{c}: {m} * 2^{e} = {back}");
        }
        assert_eq!(split(0.0), (0.0, 0));
        // Powers of two are exact multipliers: 1 * 2^(e).
        assert_eq!(split(1.0), (1.0, 0));
        assert_eq!(split(-0.25), (-1.0, -2));
        assert_eq!(split(2f64.powi(-140)), (1.0, -140));
        assert!(split(f64::NAN).0.is_nan());
        assert_eq!(split(f64::INFINITY), (f32::INFINITY, 0));
    }
}
