//! Primitive 4, `mix` (SPEC section 5), on `shaders/mix.wgsl`.
//!
//! `out (k x d) = C (k x n) * rows [+ scale * base]`, chunk by chunk, one invocation per output
//! value, one submission, nothing read back. The coefficients are rounded to f32 (relative
//! error 6e-8) and the sums over n terms accumulate in f32. Only the non-zero terms are sent
//! ([`terms`]), and a zero `scale` drops the base, so `0 * NaN` never appears whatever the
//! shader compiler assumes about non-finite values.

use super::device::MIX;
use super::{GpuRows, Wgpu, same_chunks};
use crate::error::{Error, Result};

/// The `k x d` mix of the rows.
pub(super) fn run(
    w: &Wgpu,
    rows: &GpuRows,
    coeffs: &[f64],
    k: usize,
    base: Option<(&GpuRows, f64)>,
) -> Result<GpuRows> {
    let gpu = w.gpu();
    let n = rows.k;
    if k == 0 || coeffs.len() != k * n {
        return Err(Error::invalid(
            "coeffs",
            format!("{} values for k = {k}", coeffs.len()),
            format!("must hold k * n = {} values, k >= 1", k * n),
        ));
    }
    let base = base.filter(|(_, scale)| *scale != 0.0);
    if let Some((b, _)) = base {
        same_chunks(rows, b, "base")?;
        if b.k != k {
            return Err(Error::invalid(
                "base",
                format!("{} rows", b.k),
                format!("must have k = {k} rows"),
            ));
        }
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
            let bind = gpu.bind(
                MIX,
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
            gpu.dispatch(&mut enc, MIX, &bind, (k * len) as u64)?;
        }
        gpu.submit(enc)
    })?;
    Ok(out)
}

/// The non-zero terms of the `k x n` coefficients, output row by output row, as the shader
/// reads them: `(input row, f32 bits of the coefficient)` pairs flattened to words, and the
/// `k + 1` offsets where each output row's terms start. A coefficient that rounds to 0 in f32
/// is dropped like an exact 0.
fn terms(coeffs: &[f64], k: usize, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut words = Vec::new();
    let mut starts = Vec::with_capacity(k + 1);
    starts.push(0u32);
    for row in coeffs.chunks(n).take(k) {
        for (i, &c) in row.iter().enumerate() {
            let c = c as f32;
            if c != 0.0 {
                words.extend([i as u32, c.to_bits()]);
            }
        }
        starts.push((words.len() / 2) as u32);
    }
    if words.is_empty() {
        // A binding must not be empty; no start range points at this placeholder term.
        words.extend([0, 0]);
    }
    (words, starts)
}

#[cfg(test)]
mod term_tests {
    use super::terms;

    #[test]
    fn zero_coefficients_are_not_listed() {
        let (words, starts) = terms(&[0.0, 0.5, 0.0, 1e-50, 2.0, -1.0], 2, 3);
        assert_eq!(starts, [0, 1, 3]);
        assert_eq!(
            words,
            [1, 0.5f32.to_bits(), 1, 2.0f32.to_bits(), 2, (-1.0f32).to_bits()]
        );
        let (words, starts) = terms(&[0.0, 0.0], 1, 2);
        assert_eq!(starts, [0, 0]);
        assert_eq!(words.len(), 2);
    }
}
