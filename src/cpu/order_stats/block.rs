//! Reading a block of [`LANES`] consecutive coordinates of a row, and writing a block of
//! results, with the ragged tail kept out of the hot path.

use super::LANES;

/// `len <= LANES` values of `r` from `c`, zero-padded. A full block is one fixed-size copy
/// (one vector load); the ragged tail goes through a cold function, so that the compiler does
/// not merge both into one `memcpy` call of run-time length (a call per row and block).
#[inline(always)]
pub(super) fn load(r: &[f32], c: usize, len: usize) -> [f32; LANES] {
    if len == LANES
        && let Some(full) = r
            .get(c..c + LANES)
            .and_then(|s| <&[f32; LANES]>::try_from(s).ok())
    {
        return *full;
    }
    load_partial(r, c, len)
}

/// The ragged tail of [`load`].
#[cold]
#[inline(never)]
fn load_partial(r: &[f32], c: usize, len: usize) -> [f32; LANES] {
    let mut src = [0.0f32; LANES];
    for (s, v) in src.iter_mut().zip(&r[c..c + len]) {
        *s = *v;
    }
    src
}

/// Writes the first `out.len() <= LANES` results (a full block as one vector store).
#[inline(always)]
pub(super) fn store(out: &mut [f32], res: &[f32; LANES]) {
    if let Ok(full) = <&mut [f32; LANES]>::try_from(&mut *out) {
        *full = *res;
    } else {
        store_partial(out, res);
    }
}

/// The ragged tail of [`store`].
#[cold]
#[inline(never)]
fn store_partial(out: &mut [f32], res: &[f32; LANES]) {
    for (o, v) in out.iter_mut().zip(res) {
        *o = *v;
    }
}
