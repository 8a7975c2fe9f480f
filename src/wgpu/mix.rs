//! Primitive 4, `mix` (SPEC section 5), on `shaders/mix.wgsl`.
//!
//! `out (k x d) = C (k x n) * rows [+ scale * base]`, chunk by chunk, one invocation per output
//! value, one submission, nothing read back. The coefficients are rounded to f32 (relative
//! error 6e-8) and the sums over n terms accumulate in f32; zero coefficients, and a zero
//! `scale`, are skipped so that `0 * NaN` never appears.

use super::device::MIX;
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
    let gpu = w.gpu();
    let n = rows.k;
    let base = base.filter(|(_, scale)| *scale != 0.0);
    if let Some((b, _)) = base {
        same_chunks(rows, b, "base")?;
    }
    let out = w.alloc(k, rows.d, rows.chunk, "mix")?;
    let c32: Vec<f32> = coeffs.iter().map(|&c| c as f32).collect();
    gpu.scoped("mix", || {
        let coeff_buf = gpu.storage_init("coeffs", bytemuck::cast_slice(&c32))?;
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
                &[&rows.bufs[c], &coeff_buf, base_buf, &params, &out.bufs[c]],
            )?;
            gpu.dispatch(&mut enc, MIX, &bind, (k * len) as u64)?;
        }
        gpu.submit(enc)
    })?;
    Ok(out)
}
