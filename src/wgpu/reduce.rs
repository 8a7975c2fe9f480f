//! Reductions for the distance primitives (`shaders/reduce.wgsl`): per-row statistics of a
//! matrix (non-finite or not, largest magnitude) and the tree that adds the exact integer
//! partial sums of squares (`shaders/wide_sum.wgsl`).
//!
//! Launch contract: both entry points reduce `count` segments of `len` values to
//! `ceil(len / 64)` values each, one invocation per output; the host repeats a level until one
//! value per segment is left. Only those `count` values per chunk are read back.

use super::WgpuRows;
use super::device::{Gpu, REDUCE_MAX_ABS_BITS, REDUCE_SUM, WORKGROUP};
use super::memory::{Buffer, Encoder};
use crate::error::Result;

/// Per chunk, per row: the largest `bits & 0x7fffffff` of the row's values in that chunk
/// (`>= 0x7f800000` when the row holds NaN or an infinity there). One submission per chunk,
/// `k` words per chunk read back, so the reduction's scratch is one chunk's (1/64 of it).
pub(super) fn row_stats(gpu: &Gpu, rows: &WgpuRows, cap: Option<u32>) -> Result<Vec<Vec<u32>>> {
    let k = rows.k as u64;
    (0..rows.chunks())
        .map(|c| {
            gpu.scoped("row statistics", || {
                let staging = gpu.staging(4 * k);
                let mut enc = gpu.encoder("row statistics");
                let (_, len) = rows.range(c);
                let mut input = rows.bufs[c].clone();
                let mut len = len as u64;
                loop {
                    let tiles = len.div_ceil(WORKGROUP);
                    let out = gpu.storage("row maxima", 4 * k * tiles)?;
                    let params = gpu.uniform("reduce", &[len as u32, tiles as u32, k as u32, 0]);
                    let bind = gpu.bind(REDUCE_MAX_ABS_BITS, 3, &[&input, &params, &out])?;
                    gpu.dispatch(&mut enc, REDUCE_MAX_ABS_BITS, &bind, k * tiles, cap)?;
                    input = out;
                    len = tiles;
                    if len == 1 {
                        break;
                    }
                }
                enc.copy(&input, 0, &staging, 0, 4 * k);
                gpu.submit_and_read(enc, &staging)
            })
        })
        .collect()
}

/// Records the reduction of `count` segments of `len` exact partial sums in `input` (128-bit
/// integers in units of 2^-10, `vec4<u32>`, see `shaders/wide_sum.wgsl`) to one sum per
/// segment; returns the buffer that will hold the `count` sums ([`wide_value`] reads them).
/// Each level's output is 1/64 of its input, so the whole tree adds under 1/63 of `input`.
pub(super) fn sum_segments(
    gpu: &Gpu,
    enc: &mut Encoder,
    input: Buffer,
    count: u64,
    len: u64,
    cap: Option<u32>,
) -> Result<Buffer> {
    let (mut input, mut len) = (input, len);
    while len > 1 {
        let tiles = len.div_ceil(WORKGROUP);
        let out = gpu.storage("partial sums", WIDE_BYTES * count * tiles)?;
        let params = gpu.uniform("reduce", &[len as u32, tiles as u32, count as u32, 0]);
        let bind = gpu.bind(REDUCE_SUM, 0, &[&input, &params, &out])?;
        gpu.dispatch(enc, REDUCE_SUM, &bind, count * tiles, cap)?;
        input = out;
        len = tiles;
    }
    Ok(input)
}

/// Bytes of one exact sum on the device: four u32 limbs.
pub(super) const WIDE_BYTES: u64 = 16;

/// Units of an exact sum: 2^-10 (`shaders/wide_sum.wgsl`).
const WIDE_UNIT: f64 = 1.0 / 1024.0;

/// An exact device sum (four u32 limbs, least significant first) as an integer; sums of
/// several chunks are added as integers, so the total does not depend on the chunking.
pub(super) fn wide_int(limbs: &[u32]) -> u128 {
    limbs
        .iter()
        .rev()
        .fold(0u128, |acc, &l| (acc << 32) | u128::from(l))
}

/// The value of an exact sum of squares scaled by 2^k: the integer in units of 2^-10, times
/// 2^-2k (a power of two, so only the conversion to f64 rounds, the same way for the same
/// integer; 2^-378 to 2^174 are normal f64 values).
pub(super) fn wide_value(total: u128, k: i32) -> f64 {
    total as f64 * WIDE_UNIT * 2f64.powi(-2 * k)
}

#[cfg(test)]
mod wide_tests {
    use super::*;

    #[test]
    fn limbs_read_least_significant_first() {
        assert_eq!(wide_int(&[1, 0, 0, 0]), 1);
        assert_eq!(wide_int(&[0, 1, 0, 0]), 1 << 32);
        assert_eq!(wide_int(&[5, 0, 0, 2]), (2u128 << 96) + 5);
        assert_eq!(wide_value(1024, 0), 1.0);
        assert_eq!(wide_value(1024, -1), 4.0);
        assert_eq!(wide_value(1024, 189), 2f64.powi(-378));
    }
}
