//! The launch arithmetic of every CUDA primitive, as pure functions of the sizes: grid and
//! block shapes, coordinate splits and spans. Kept apart from the launchers so that it is tested
//! without a GPU for every size a user can ask for (d up to 10^10, n up to the largest each
//! primitive accepts), against the hardware's limits: at most 1,024 threads a block, grid x up
//! to 2^31 - 1, grid y and z up to 65,535, and splits that cover the coordinates exactly.

/// Grid y and z limit.
pub(crate) const MAX_GRID_YZ: usize = 65_535;

/// `order_stats`: 1-D blocks of `threads`, a grid-stride loop over `len` coordinates; about 16
/// blocks per multiprocessor, fewer for the heap path, whose scratch (`m` keys of 8 bytes per
/// launched thread) must stay within `scratch_bytes`. Returns the number of blocks.
pub(crate) fn order_stats_blocks(
    len: usize,
    sm_count: usize,
    threads: usize,
    heap: Option<(usize, usize)>,
) -> usize {
    let mut blocks = len.div_ceil(threads).min(sm_count * 16).max(1);
    if let Some((m, scratch_bytes)) = heap {
        blocks = blocks.min((scratch_bytes / (8 * m.max(1) * threads)).max(1));
    }
    blocks
}

/// A coordinate range cut into `splits` spans of `span` coordinates (the last may be shorter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Splits {
    /// Number of spans (a grid dimension).
    pub splits: usize,
    /// Coordinates per span, a multiple of the step the kernel reads at once.
    pub span: usize,
}

/// Cuts `len` coordinates into about `wanted` spans, each a multiple of `step`, at most
/// `MAX_GRID_YZ` of them, none empty.
pub(crate) fn split(len: usize, step: usize, wanted: usize) -> Splits {
    let steps = len.div_ceil(step).max(1);
    let splits = wanted.clamp(1, steps.min(MAX_GRID_YZ));
    let span = steps.div_ceil(splits) * step;
    Splits {
        splits: len.div_ceil(span).max(1),
        span,
    }
}

/// `pairwise_dist`: blocks over (pairs of `rows`-row sub-tiles of the upper triangle) x
/// coordinate splits of `step` coordinates, about eight blocks per multiprocessor. Returns the
/// number of sub-tile pairs (grid x) and the splits (grid z).
pub(crate) fn pairwise_grid(
    n: usize,
    len: usize,
    sm_count: usize,
    rows: usize,
    step: usize,
) -> (usize, Splits) {
    let tiles = n.div_ceil(rows);
    let upper = tiles * (tiles + 1) / 2;
    (upper, split(len, step, (sm_count * 8).div_ceil(upper)))
}

/// `center_dist`: blocks over coordinate splits (grid x) x groups of `rows` rows (grid y),
/// about eight blocks per multiprocessor, spans a multiple of `threads`.
pub(crate) fn center_grid(
    n: usize,
    len: usize,
    sm_count: usize,
    rows: usize,
    threads: usize,
) -> (Splits, usize) {
    let groups = n.div_ceil(rows);
    let wanted = (sm_count * 8)
        .div_ceil(groups)
        .min(len.div_ceil(threads * 4).max(1));
    (split(len, threads, wanted), groups)
}

/// `mix`: blocks along the coordinates (grid x, a grid-stride loop covers the rest) x groups
/// of `kt` output rows (grid y), about 32 blocks per multiprocessor in all.
pub(crate) fn mix_grid(k: usize, len: usize, sm_count: usize, kt: usize, threads: usize) -> (usize, usize) {
    let groups = k.div_ceil(kt);
    let blocks = len
        .div_ceil(threads)
        .min((sm_count * 32).div_ceil(groups.max(1)))
        .max(1);
    (blocks, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DS: [usize; 8] = [
        1,
        37,
        4_099,
        65_536,
        1_000_000,
        100_000_000,
        4_294_967_297,
        10_000_000_000,
    ];
    const NS: [usize; 6] = [1, 4, 5, 64, 65, 46_340];
    const SMS: [usize; 3] = [1, 108, 132];

    fn covers(len: usize, s: Splits, step: usize) {
        assert!(s.splits >= 1 && s.splits <= MAX_GRID_YZ, "{s:?} for len {len}");
        assert_eq!(s.span % step, 0, "{s:?}");
        assert!(s.splits * s.span >= len, "{s:?} leaves coordinates of {len} out");
        assert!(
            (s.splits - 1) * s.span < len.max(1),
            "{s:?}: an empty split for {len}"
        );
    }

    #[test]
    fn order_stats_grids_fit_the_hardware() {
        for len in DS {
            for sm in SMS {
                for heap in [None, Some((65, 256 << 20)), Some((46_340, 256 << 20))] {
                    let b = order_stats_blocks(len, sm, 128, heap);
                    assert!(b >= 1 && b <= i32::MAX as usize, "{len} {sm} {heap:?}: {b}");
                    if let Some((m, bytes)) = heap {
                        assert!(b == 1 || 8 * m * 128 * b <= bytes, "scratch of {m} rows");
                    }
                }
            }
        }
    }

    #[test]
    fn pairwise_grids_fit_the_hardware_and_cover_the_coordinates() {
        for n in NS {
            for len in DS {
                for sm in SMS {
                    let (upper, s) = pairwise_grid(n, len, sm, 8, 2048);
                    assert!(upper >= 1 && upper <= i32::MAX as usize, "n = {n}: {upper}");
                    covers(len, s, 2048);
                    // The kernel indexes partial[z][i][j] in u64: splits * n * n fits.
                    assert!((s.splits as u128) * (n as u128) * (n as u128) < u64::MAX as u128);
                }
            }
        }
    }

    #[test]
    fn center_grids_fit_the_hardware_and_cover_the_coordinates() {
        for n in NS.into_iter().chain([262_140]) {
            for len in DS {
                for sm in SMS {
                    let (s, groups) = center_grid(n, len, sm, 4, 256);
                    assert!((1..=MAX_GRID_YZ).contains(&groups), "n = {n}: {groups} groups");
                    covers(len, s, 256);
                }
            }
        }
    }

    #[test]
    fn mix_grids_fit_the_hardware() {
        for k in [1, 4, 5, 64, 65, 46_340, 524_280] {
            for len in DS {
                for sm in SMS {
                    let kt = if k == 1 { 1 } else { 8 };
                    let (blocks, groups) = mix_grid(k, len, sm, kt, 256);
                    assert!(blocks >= 1 && blocks <= i32::MAX as usize);
                    assert!((1..=MAX_GRID_YZ).contains(&groups), "k = {k}: {groups}");
                }
            }
        }
    }
}
