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

/// `order_stats`, pruned variant: 1-D blocks of `threads`, a grid-stride loop over `len`
/// coordinates, and no more blocks than fit on the device at once (`per_sm` resident blocks
/// of the kernel per multiprocessor, from the driver's occupancy calculator): one wave.
pub(crate) fn one_wave_blocks(len: usize, sm_count: usize, threads: usize, per_sm: usize) -> usize {
    len.div_ceil(threads)
        .min(sm_count.saturating_mul(per_sm.max(1)))
        .clamp(1, i32::MAX as usize)
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

/// `pairwise_dist_tiled`: the sub-tile pairs of `n` rows (8-row sub-tiles, upper triangle)
/// dealt to blocks of at most `max_warps` warps, one pair per warp, as evenly as possible.
/// Returns (groups, warps per block): groups x warps >= pairs, each group at least one pair.
pub(crate) fn pairwise_tiled_shape(n: usize, max_warps: usize) -> (usize, usize) {
    let tiles = n.div_ceil(8).max(1);
    let pairs = tiles * (tiles + 1) / 2;
    let groups = pairs.div_ceil(max_warps);
    (groups, pairs.div_ceil(groups))
}

/// `pairwise_dist_tiled` on `n` rows with at most `splits` splits per chunk: their partial
/// sums (`splits x n^2` f64) and row maxima (`splits x n` f32), the sums, the row pointers.
pub(crate) fn pairwise_tiled_footprint(n: usize, splits: usize, staged: bool) -> Footprint {
    let splits = splits.clamp(1, MAX_GRID_YZ);
    let nn = n.saturating_mul(n);
    Footprint {
        fixed: 8usize
            .saturating_mul(nn)
            .saturating_mul(splits + 1)
            .saturating_add(4usize.saturating_mul(n).saturating_mul(splits))
            .saturating_add(8 * n),
        per_coord: if staged { 4 * n } else { 0 },
    }
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

/// `center_dist_wide` and `mix_k1_wide`: a one-wave persistent grid, `per_sm` resident blocks
/// (the occupancy the driver reports, at least 1) on each of `sm_count` multiprocessors,
/// shared among `groups` row groups (grid y), each block taking at least one step of
/// `threads * 4` coordinates. Returns the blocks per group (grid x).
pub(crate) fn wide_blocks(
    groups: usize,
    len: usize,
    sm_count: usize,
    per_sm: usize,
    threads: usize,
) -> usize {
    (per_sm.max(1) * sm_count)
        .div_ceil(groups.max(1))
        .min(len.div_ceil(threads * 4))
        .max(1)
}

/// `center_dist_wide`: [`wide_blocks`] x groups of `rows` rows. Returns (grid x, grid y).
pub(crate) fn center_wide_grid(
    n: usize,
    len: usize,
    sm_count: usize,
    per_sm: usize,
    rows: usize,
    threads: usize,
) -> (usize, usize) {
    let groups = n.div_ceil(rows);
    (wide_blocks(groups, len, sm_count, per_sm, threads), groups)
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

/// Most bytes of sort scratch the `order_stats` heap path allocates (it limits the threads in
/// flight), and at most a quarter of the budget: the rest is left to staged rows.
pub(crate) const HEAP_SCRATCH_MAX: usize = 256 << 20;

/// The heap path's scratch cap for a device budget of `budget` bytes.
pub(crate) fn heap_scratch_cap(budget: usize) -> usize {
    (budget / 4).min(HEAP_SCRATCH_MAX)
}

/// The device memory a primitive allocates while it walks its chunks, in bytes: `fixed`
/// whatever a chunk's length (sort scratch, partial sums, their reduction, pointer arrays),
/// plus `per_coord` for each coordinate of a chunk (host rows staged on the device, a host
/// output's staging). Buffers made before the chunks are planned (the resident batch, the
/// coefficients, the output) are not in it: the budget is the free memory measured after
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footprint {
    pub fixed: usize,
    pub per_coord: usize,
}

impl Footprint {
    /// Bytes for a chunk of `len` coordinates.
    #[cfg(test)]
    pub(crate) fn bytes(&self, len: usize) -> usize {
        self.fixed.saturating_add(self.per_coord.saturating_mul(len))
    }
}

/// `order_stats` on `d` coordinates of `m` rows of positive weight, `staged_rows` of them
/// copied from the host per chunk, the output staged too if `out_staged`; `heap_cap` is the
/// scratch cap of the heap path when it runs (its scratch is `m` keys of 8 bytes per launched
/// thread, the launch sized by [`order_stats_blocks`], largest for the longest chunk).
pub(crate) fn order_stats_footprint(
    d: usize,
    m: usize,
    sm_count: usize,
    threads: usize,
    heap_cap: Option<usize>,
    staged_rows: usize,
    out_staged: bool,
) -> Footprint {
    let scratch = match heap_cap {
        Some(cap) => {
            let blocks = order_stats_blocks(d, sm_count, threads, Some((m, cap)));
            8usize
                .saturating_mul(m)
                .saturating_mul(threads)
                .saturating_mul(blocks)
        }
        None => 8,
    };
    Footprint {
        // The scratch and the m row pointers.
        fixed: scratch.saturating_add(8 * m),
        per_coord: 4 * (staged_rows + usize::from(out_staged)),
    }
}

/// `pairwise_dist` on `n` rows (staged from the host if `staged`): per chunk the partial sums
/// of every split (`splits x n^2` f64; [`pairwise_grid`] asks for at most
/// `ceil(8 sm_count / sub-tile pairs)` splits, whatever the chunk's length), their sum (`n^2`
/// f64) and the `n` row pointers.
pub(crate) fn pairwise_footprint(n: usize, sm_count: usize, rows: usize, staged: bool) -> Footprint {
    let tiles = n.div_ceil(rows);
    let upper = (tiles * (tiles + 1) / 2).max(1);
    let splits = (sm_count * 8).div_ceil(upper).clamp(1, MAX_GRID_YZ);
    let nn = n.saturating_mul(n);
    Footprint {
        fixed: 8usize
            .saturating_mul(nn)
            .saturating_mul(splits + 1)
            .saturating_add(8 * n),
        per_coord: if staged { 4 * n } else { 0 },
    }
}

/// `center_dist` on `n` rows: per chunk `splits x n` f64 partial sums ([`center_grid`] asks
/// for at most `ceil(8 sm_count / row groups)` splits), their sum, the row pointers;
/// `staged_rows` rows (the batch's and the center's) come from the host.
pub(crate) fn center_footprint(n: usize, sm_count: usize, rows: usize, staged_rows: usize) -> Footprint {
    let groups = n.div_ceil(rows).max(1);
    let splits = (sm_count * 8).div_ceil(groups).clamp(1, MAX_GRID_YZ);
    Footprint {
        fixed: 8usize.saturating_mul(n).saturating_mul(splits + 2),
        per_coord: 4 * staged_rows,
    }
}

/// `center_dist_wide` on `n` rows: per chunk the partials of every block and the sums
/// (`(blocks + 1) x n` f64, blocks from [`wide_blocks`] with at most 32 resident blocks per
/// multiprocessor, the hardware's most), the groups' counters and the row pointers;
/// `staged_rows` rows come from the host.
pub(crate) fn center_wide_footprint(n: usize, sm_count: usize, rows: usize, staged_rows: usize) -> Footprint {
    let groups = n.div_ceil(rows).max(1);
    let blocks = (32 * sm_count).div_ceil(groups);
    Footprint {
        fixed: 8usize
            .saturating_mul(n)
            .saturating_mul(blocks + 2)
            .saturating_add(4 * groups),
        per_coord: 4 * staged_rows,
    }
}

/// `mix` of `n` rows into `k`: per chunk the pointer arrays of the rows, the base and the
/// output; `staged_rows` rows (inputs, base, output) staged per coordinate.
pub(crate) fn mix_footprint(n: usize, k: usize, staged_rows: usize) -> Footprint {
    Footprint {
        fixed: 8usize.saturating_mul(n.saturating_add(k.saturating_mul(2))),
        per_coord: 4usize.saturating_mul(staged_rows),
    }
}

/// Coordinates per chunk for a primitive of footprint `fp` on `d` coordinates with `budget`
/// bytes of device memory (the free memory, capped by `BYZAGG_CUDA_MEM_LIMIT`) and an optional
/// cap (`BYZAGG_CUDA_CHUNK`). With nothing staged one chunk covers `d` when the fixed scratch
/// fits the budget; with staging, scratch and staged chunk share half of the budget (the rest
/// is headroom for the driver and fragmentation). `Err` says what does not fit.
pub(crate) fn plan_chunk(
    d: usize,
    budget: usize,
    fp: Footprint,
    cap: Option<usize>,
) -> Result<usize, String> {
    let d = d.max(1);
    let cap = cap.unwrap_or(d).clamp(1, d);
    if fp.per_coord == 0 {
        if fp.fixed > budget {
            return Err(format!(
                "needs {} bytes of device scratch, more than the {budget} bytes available                  (free memory, capped by BYZAGG_CUDA_MEM_LIMIT)",
                fp.fixed
            ));
        }
        return Ok(cap);
    }
    let usable = budget / 2;
    let len = usable.saturating_sub(fp.fixed) / fp.per_coord;
    if len == 0 {
        return Err(format!(
            "needs {} bytes of device scratch and {} bytes per staged coordinate, more than              half of the {budget} bytes available (free memory, capped by              BYZAGG_CUDA_MEM_LIMIT)",
            fp.fixed, fp.per_coord
        ));
    }
    Ok(len.min(cap))
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
    fn one_wave_grids_fit_the_hardware() {
        for len in DS {
            for sm in SMS {
                for per_sm in [0, 1, 6, 16] {
                    let b = one_wave_blocks(len, sm, 128, per_sm);
                    assert!(b >= 1 && b <= i32::MAX as usize && b <= sm * per_sm.max(1));
                    assert!(
                        b * 128 >= len.min(sm * per_sm.max(1) * 128),
                        "{len} {sm} {per_sm}"
                    );
                }
            }
        }
    }

    #[test]
    fn tiled_pairwise_shapes_cover_every_sub_tile_pair_within_a_block() {
        for n in 1..=96usize {
            let tiles = n.div_ceil(8);
            let pairs = tiles * (tiles + 1) / 2;
            let (groups, warps) = pairwise_tiled_shape(n, 12);
            assert!((1..=12).contains(&warps), "n = {n}: {warps} warps");
            assert!(groups * warps >= pairs, "n = {n}: {groups} x {warps} < {pairs}");
            // No group without a pair of its own (its warps would all redo the last one).
            assert!((groups - 1) * warps < pairs, "n = {n}: an empty group");
            // At most 96 rows: two tiles of them in 48 KB of shared memory.
            assert!(2 * tiles * 8 * 64 * 4 <= 48 << 10, "n = {n}");
        }
        assert_eq!(pairwise_tiled_shape(16, 12), (1, 3));
        assert_eq!(pairwise_tiled_shape(32, 12), (1, 10));
        assert_eq!(pairwise_tiled_shape(64, 12), (3, 12));
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
    fn wide_grids_fit_the_hardware_and_their_footprint() {
        for n in NS.into_iter().chain([262_140]) {
            for len in DS {
                for sm in SMS {
                    for per_sm in [0, 1, 2, 8, 32] {
                        let (blocks, groups) = center_wide_grid(n, len, sm, per_sm, 16, 256);
                        assert!(blocks >= 1 && blocks <= i32::MAX as usize, "n = {n}: {blocks}");
                        assert!((1..=MAX_GRID_YZ).contains(&groups), "n = {n}: {groups}");
                        assert!(
                            blocks == 1 || (blocks - 1) * 1024 < len,
                            "a block with nothing to do"
                        );
                        let fp = center_wide_footprint(n, sm, 16, 0);
                        assert!(8 * n * (blocks + 1) + 4 * groups <= fp.fixed, "n = {n} sm = {sm}");
                        let k1 = wide_blocks(1, len, sm, per_sm, 256);
                        assert!(k1 >= 1 && k1 <= (per_sm.max(1) * sm).max(1));
                    }
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
    const BUDGETS: [usize; 4] = [1 << 20, 64 << 20, 8 << 30, 141 << 30];

    /// Every plan fits its budget, covers every chunk length up to d, and the footprint
    /// bounds what the launchers allocate for every chunk length they meet.
    fn check_plan(what: &str, d: usize, budget: usize, fp: Footprint, allocated: impl Fn(usize) -> usize) {
        match plan_chunk(d, budget, fp, None) {
            Ok(len) => {
                assert!((1..=d).contains(&len), "{what}: chunk {len} of {d}");
                let limit = if fp.per_coord == 0 { budget } else { budget / 2 };
                assert!(fp.bytes(len) <= limit, "{what}: {} > {limit}", fp.bytes(len));
                if fp.per_coord == 0 {
                    assert_eq!(len, d, "{what}: nothing staged, one chunk");
                }
                let last = d - (d - 1) / len * len;
                for l in [1, 2, 4_099, 65_537, len, last, d]
                    .into_iter()
                    .filter(|&l| l <= d)
                {
                    assert!(
                        allocated(l) <= fp.fixed,
                        "{what}: {} > {} at len {l}",
                        allocated(l),
                        fp.fixed
                    );
                }
            }
            Err(e) => {
                assert!(e.contains("bytes"), "{what}: {e}");
                assert!(
                    fp.fixed > budget / 2 || fp.bytes(1) > budget / 2,
                    "{what}: refused though it fits: {fp:?} in {budget}"
                );
            }
        }
    }

    #[test]
    fn chunk_plans_count_every_scratch_buffer() {
        for d in DS {
            for n in [1usize, 64, 65, 512] {
                for budget in BUDGETS {
                    for sm in [1, 132] {
                        for staged in [false, true] {
                            let fp = pairwise_footprint(n, sm, 8, staged);
                            check_plan(&format!("pairwise n={n} d={d} {budget}"), d, budget, fp, |len| {
                                let (_, s) = pairwise_grid(n, len, sm, 8, 2048);
                                8 * n * n * (s.splits + 1) + 8 * n
                            });
                            let rows = if staged { n + 1 } else { 0 };
                            let fp = center_footprint(n, sm, 4, rows);
                            check_plan(&format!("center n={n} d={d} {budget}"), d, budget, fp, |len| {
                                let (s, _) = center_grid(n, len, sm, 4, 256);
                                8 * n * (s.splits + 2)
                            });
                            let fp = mix_footprint(n, n, rows);
                            check_plan(&format!("mix n={n} d={d} {budget}"), d, budget, fp, |_| 8 * 3 * n);
                            for heap in [false, true] {
                                let cap = heap.then(|| heap_scratch_cap(budget));
                                let fp = order_stats_footprint(
                                    d,
                                    n,
                                    sm,
                                    128,
                                    cap,
                                    if staged { n } else { 0 },
                                    staged,
                                );
                                check_plan(
                                    &format!("order_stats n={n} d={d} {budget} heap {heap}"),
                                    d,
                                    budget,
                                    fp,
                                    |len| {
                                        let scratch = cap.map_or(8, |c| {
                                            8 * n * 128 * order_stats_blocks(len, sm, 128, Some((n, c)))
                                        });
                                        scratch + 8 * n
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sort_scratch_and_partials_shrink_the_staged_chunk() {
        // 65 rows staged from the host under a 64 MiB limit: the heap scratch (a quarter of
        // the budget at most) comes out of the staging's half.
        let budget = 64 << 20;
        let cap = heap_scratch_cap(budget);
        assert_eq!(cap, 16 << 20);
        let with = order_stats_footprint(100_000_000, 65, 132, 128, Some(cap), 65, true);
        let without = order_stats_footprint(100_000_000, 65, 132, 128, None, 65, true);
        assert!(with.fixed > 8 << 20, "{with:?}");
        let (a, b) = (
            plan_chunk(100_000_000, budget, with, None).expect("plan"),
            plan_chunk(100_000_000, budget, without, None).expect("plan"),
        );
        assert!(a < b && with.bytes(a) <= budget / 2, "{a} vs {b}");
        // 46,340 rows need 17 GB of partial sums per split: refused, with the numbers, on a
        // 64 MiB budget, whether the rows are resident or staged.
        for staged in [false, true] {
            let fp = pairwise_footprint(46_340, 132, 8, staged);
            let e = plan_chunk(1000, budget, fp, None).expect_err("too big");
            assert!(
                e.contains(&fp.fixed.to_string()) && e.contains("BYZAGG_CUDA_MEM_LIMIT"),
                "{e}"
            );
        }
        // The chunk cap still applies, and d = 1 is one chunk.
        let fp = mix_footprint(4, 4, 4);
        assert_eq!(plan_chunk(10_000, budget, fp, Some(4099)), Ok(4099));
        assert_eq!(plan_chunk(1, budget, fp, None), Ok(1));
    }
}
