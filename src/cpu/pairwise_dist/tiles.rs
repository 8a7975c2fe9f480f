//! The tiles the register kernels (`avx512.rs`, `avx2.rs`) walk: blocks of `TI` rows `i` by
//! `TJ` rows `j` that together hold every pair `i < j` exactly once, which of a tile's pairs
//! count, and the block loop both kernels run over them ([`walk_tiles`]).

use super::{BLOCK, block_f64, block_finite};

/// One tile: rows `i0..i0 + TI` against rows `j0..j0 + TJ`.
pub(super) struct Tile {
    pub(super) i0: usize,
    pub(super) j0: usize,
    /// Bit `a * TJ + b` set where pair `(i0 + a, j0 + b)` is one to compute: `i < j < n`.
    pub(super) valid: u16,
}

/// Every tile holding at least one pair `i < j < n`, rows `i` outermost (a tile's `x` rows
/// stay in L1 while its `y` rows change). Rows past `n` are padding whose pairs never count.
pub(super) fn tile_pairs<const TI: usize, const TJ: usize>(n: usize) -> Vec<Tile> {
    const { assert!(TI * TJ <= 16) };
    let mut tiles = Vec::new();
    for i0 in (0..n).step_by(TI) {
        for j0 in (0..n).step_by(TJ) {
            let mut valid = 0u16;
            for a in 0..TI {
                for b in 0..TJ {
                    let (i, j) = (i0 + a, j0 + b);
                    if i < j && j < n {
                        valid |= 1 << (a * TJ + b);
                    }
                }
            }
            if valid != 0 {
                tiles.push(Tile { i0, j0, valid });
            }
        }
    }
    tiles
}

/// The pairs of the tile at `(i0, j0)` whose rows are both finite so far (bits as in
/// [`Tile::valid`]; rows past `bad.len()` count as bad).
pub(super) fn good_mask<const TI: usize, const TJ: usize>(bad: &[bool], i0: usize, j0: usize) -> u16 {
    let good = |r: usize| !bad.get(r).copied().unwrap_or(true);
    let mut mask = 0u16;
    for a in 0..TI {
        for b in 0..TJ {
            if good(i0 + a) && good(j0 + b) {
                mask |= 1 << (a * TJ + b);
            }
        }
    }
    mask
}

/// Spreads the prefetch of the next block (`b1..b2` of every row) over the tiles of the
/// current one.
///
/// ## Why
///
/// A block's rows come from memory: 64 rows are 64 streams of 1 KiB each, which the hardware
/// prefetchers do not run ahead of, so without this the first read of each block (the
/// finiteness check) waits on memory while the arithmetic units idle. Asking for the next
/// block a few cache lines per tile overlaps that wait with the current block's arithmetic
/// (at n = 64, d = 10^6, one thread: 97 ns per coordinate without, against 67 ns with the
/// batch in cache).
pub(super) struct Prefetch {
    /// Row starts.
    rows: Vec<*const f32>,
    /// Cache lines per row in a block.
    lines: usize,
    /// Lines asked for per tile.
    per_tile: usize,
}

/// Below this many rows a block's arithmetic is too short to hide its fetch behind, and the
/// hardware prefetchers keep up with the few streams (n = 5: 8% slower with the prefetch).
const PREFETCH_ROWS: usize = 8;

/// f32 values per 64-byte cache line.
const LINE: usize = 16;

impl Prefetch {
    /// For `rows` walked in blocks of `block` coordinates by `tiles` tiles per block. Below
    /// [`PREFETCH_ROWS`] rows it asks for nothing.
    pub(super) fn new(rows: &[&[f32]], block: usize, tiles: usize) -> Prefetch {
        let lines = block.div_ceil(LINE);
        let rows = if rows.len() < PREFETCH_ROWS { &[] } else { rows };
        Prefetch {
            rows: rows.iter().map(|r| r.as_ptr()).collect(),
            lines,
            per_tile: (rows.len() * lines).div_ceil(tiles.max(1)),
        }
    }

    /// Asks for tile `t`'s share of the block `b1..b2` (nothing when it is empty).
    #[inline(always)]
    pub(super) fn tile(&self, t: usize, b1: usize, b2: usize) {
        if b1 >= b2 {
            return;
        }
        let total = self.rows.len() * self.lines;
        for k in t * self.per_tile..total.min((t + 1) * self.per_tile) {
            let (r, l) = (k / self.lines, k % self.lines);
            let off = b1 + l * LINE;
            if off < b2 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a prefetch reads nothing and cannot fault; the address lies within
                // the row (`off < b2 <= its length`).
                unsafe {
                    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                    _mm_prefetch::<_MM_HINT_T0>(self.rows[r].add(off).cast::<i8>());
                }
            }
        }
    }
}

/// The block loop of a register kernel: per block of [`BLOCK`] coordinates of `c0..c1`, the
/// rows' finiteness (non-finite rows marked in `bad`), the next block's prefetch, then per
/// tile with a pair to compute `tile_block(x, y, b0, b1, valid, acc64)`. That closure sums
/// the tile's pairs over `b0..b1` in f32 (rows `x[a]` and `y[b]`), adds the sums it trusts into
/// the tile's `P` f64 partials (lane `a * TJ + b` for pair `(i0 + a, j0 + b)`) and returns the
/// lanes of `valid` it did not trust (not finite, or below `TINY`), whose block sums are then
/// recomputed here in f64. At the end every valid partial is added into `sums` (`n x n`,
/// row-major, entries `i < j`). Inlined into each kernel, so the closure's intrinsics compile
/// with the kernel's target features.
#[inline(always)]
pub(super) fn walk_tiles<const TI: usize, const TJ: usize, const P: usize>(
    rows: &[&[f32]],
    (c0, c1): (usize, usize),
    sums: &mut [f64],
    bad: &mut [bool],
    mut tile_block: impl FnMut([*const f32; TI], [*const f32; TJ], (usize, usize), u16, &mut [f64; P]) -> u16,
) {
    const { assert!(P == TI * TJ) };
    let n = rows.len();
    assert!(sums.len() == n * n && bad.len() == n && rows.iter().all(|r| r.len() >= c1));
    let tiles = tile_pairs::<TI, TJ>(n);
    // Row pointers padded to whole tiles with the last row (its results are discarded).
    let ptrs: Vec<*const f32> = (0..(n.div_ceil(TI) * TI).max(n.div_ceil(TJ) * TJ))
        .map(|i| rows[i.min(n - 1)].as_ptr())
        .collect();
    let mut acc64 = vec![[0.0f64; P]; tiles.len()];
    let mut any_bad = bad.iter().any(|&b| b);
    let prefetch = Prefetch::new(rows, BLOCK, tiles.len());
    let mut b0 = c0;
    while b0 < c1 {
        let b1 = c1.min(b0 + BLOCK);
        for (r, bad) in rows.iter().zip(bad.iter_mut()) {
            if !*bad && !block_finite(&r[b0..b1]) {
                *bad = true;
                any_bad = true;
            }
        }
        let b2 = c1.min(b1 + BLOCK);
        for (t, (tile, acc64)) in tiles.iter().zip(acc64.iter_mut()).enumerate() {
            prefetch.tile(t, b1, b2);
            let (i0, j0) = (tile.i0, tile.j0);
            let valid = if any_bad {
                tile.valid & good_mask::<TI, TJ>(bad, i0, j0)
            } else {
                tile.valid
            };
            if valid == 0 {
                continue;
            }
            let x: [*const f32; TI] = std::array::from_fn(|a| ptrs[i0 + a]);
            let y: [*const f32; TJ] = std::array::from_fn(|b| ptrs[j0 + b]);
            let slow = tile_block(x, y, (b0, b1), valid, acc64);
            if slow != 0 {
                for (l, acc) in acc64.iter_mut().enumerate() {
                    if slow & (1 << l) != 0 {
                        let (i, j) = (i0 + l / TJ, j0 + l % TJ);
                        *acc += block_f64(&rows[i][b0..b1], &rows[j][b0..b1]);
                    }
                }
            }
        }
        b0 = b1;
    }
    for (tile, acc64) in tiles.iter().zip(&acc64) {
        for (l, v) in acc64.iter().enumerate() {
            if tile.valid & (1 << l) != 0 {
                let (i, j) = (tile.i0 + l / TJ, tile.j0 + l % TJ);
                sums[i * n + j] += v;
            }
        }
    }
}
