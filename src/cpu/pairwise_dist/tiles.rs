//! The tiles the register kernels (`avx512.rs`, `avx2.rs`) walk: blocks of `TI` rows `i` by
//! `TJ` rows `j` that together hold every pair `i < j` exactly once, and which of a tile's
//! pairs count.

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
