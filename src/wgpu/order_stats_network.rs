//! The `network` variant of `order_stats` (`BYZAGG_WGPU_KERNELS=order_stats=network`): WGSL
//! kernels generated per exact row count m (up to [`MAX_ROWS`]) with straight-line u32 min/max
//! networks instead of `order_stats.wgsl`'s O(m^2) recount of the weight below each value.
//! Each generated kernel is `order_stats.wgsl` (its helpers and fallbacks) followed by one
//! entry point, [`ENTRY`]; the device builds it on first use and caches it by [`Plan::name`].
//!
//! Two paths, chosen on the host from the fixed-point weights:
//! - **equal weights**: the ranks the rule reads are known on the host (the median's
//!   (m - 1) / 2 and m / 2; the trimmed mean's first and last positions that overlap the kept
//!   mass), so the network is Batcher's merge sort pruned to them (`sort_network.rs`) on the
//!   values' order keys alone. A key names its value's bits except for zero and NaN (several
//!   bit patterns each): those ranks walk the rows of that key in index order (`bits_at_rank`).
//!   The trimmed mean then visits the rows in index order: a row whose key lies strictly
//!   between the two boundary keys is kept whole, a row with a boundary key gets its position
//!   from the count of smaller keys plus the earlier rows of equal key.
//! - **weighted**: one full sort of 32-bit composite keys, the order key with its low
//!   ceil(log2 m) bits replaced by the row index, then one scan of the weights in that order.
//!   The composite order is the exact (key, row) order unless two values share a prefix but
//!   not a key: neighbours with equal prefixes are compared exactly (a gather), and a
//!   coordinate with such a collision falls back to the recount (`median_of`, `trim_recount`).
//!   The trimmed mean's scan finds the two boundary rows and the weight below them; its rows
//!   are then visited in index order as above, compared by composite key.
//!
//! MeaMed takes its median from one of those paths, then sorts 32-bit composite keys of the
//! distances: the distance bits (`distance_bits`) shifted left by one, their low
//! ceil(log2 m) + 1 bits replaced by a side bit (the value lies above the median's lower
//! value) and the row index. The recount's order is (distance, key, row); among equal
//! distances the lower value is on the lower side, so the side bit breaks the common tie (the
//! two values a midpoint is taken from, values symmetric around the median) without a gather.
//! Neighbours whose distance prefixes are equal are compared exactly (a gather); one out of
//! order sends the coordinate to the recount (`meamed_around`). The kept mass is a prefix of
//! that order: one scan finds its last row, and the rows are visited in index order as above.
//!
//! Results are those of the recount kernel bit for bit: the same selections, the same f32
//! sums in row index order (`keep` in the shader).

use std::fmt::Write;

use crate::kernels::OrderStat;
use crate::sort_network::{Op, pruned};

/// The largest row count with a generated kernel; more rows take the recount kernel.
pub(crate) const MAX_ROWS: usize = 64;

/// The entry point of every generated kernel.
pub(crate) const ENTRY: &str = "order_stats_network";

/// Which statistic a generated kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stat {
    Median,
    Trim,
    MeaMed,
}

/// One generated kernel: the statistic, the row count, and for equal weights the ranks its
/// network leaves in place (`None`: weighted, a full composite sort).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) stat: Stat,
    pub(crate) m: usize,
    pub(crate) ranks: Option<std::ops::Range<usize>>,
}

impl Plan {
    /// The generated kernel for `stat` on the fixed-point weights `weights` (rows of positive
    /// weight, in index order) with the trimmed mass `trim` (the trimmed mean's L), or `None`
    /// where the recount kernel runs: more than [`MAX_ROWS`] rows, or an equal-weight trimmed
    /// mean that keeps nothing (its NaN comes from the recount's own division).
    pub(crate) fn new(stat: OrderStat, weights: &[u64], trim: u64) -> Option<Plan> {
        let m = weights.len();
        if m == 0 || m > MAX_ROWS {
            return None;
        }
        let stat = match stat {
            OrderStat::Median => Stat::Median,
            OrderStat::TrimmedMean { .. } => Stat::Trim,
            OrderStat::MeaMed { .. } => Stat::MeaMed,
        };
        let equal = weights.iter().all(|&w| w == weights[0]);
        let ranks = match (equal, stat) {
            (false, _) => None,
            (true, Stat::Median | Stat::MeaMed) => Some((m - 1) / 2..m / 2 + 1),
            (true, Stat::Trim) => Some(trim_positions(m, weights[0], trim)?),
        };
        Some(Plan { stat, m, ranks })
    }

    /// The cache name of the kernel (one pipeline per name).
    pub(crate) fn name(&self) -> String {
        let stat = match self.stat {
            Stat::Median => "median",
            Stat::Trim => "trim",
            Stat::MeaMed => "meamed",
        };
        match &self.ranks {
            Some(r) => format!("{ENTRY}_{stat}_m{}_ranks{}_{}", self.m, r.start, r.end),
            None => format!("{ENTRY}_{stat}_m{}_weighted", self.m),
        }
    }

    /// The network this kernel runs.
    fn network(&self) -> Vec<Op> {
        pruned(self.m, self.ranks.clone().unwrap_or(0..self.m))
    }

    /// Work per coordinate in comparisons, for the dispatch budget (`order_stats.rs`): the
    /// network and the row passes, plus the worst case of the fallbacks a coordinate may take
    /// (the weighted path's recount, MeaMed's distance order).
    pub(crate) fn work_per_coordinate(&self) -> u64 {
        let m = self.m as u64;
        let mut work = self.network().len() as u64 + 4 * m;
        if self.ranks.is_none() {
            work += m * m;
        }
        if self.stat == Stat::MeaMed {
            // The distance sort and its passes, and the recount's distance order as fallback.
            work += pruned(self.m, 0..self.m).len() as u64 + 3 * m + 2 * m * m;
        }
        work
    }

    /// The WGSL source: `base` (order_stats.wgsl) with this kernel's functions and entry point.
    pub(crate) fn source(&self, base: &str) -> String {
        let mut s = String::with_capacity(base.len() + 64 * 1024);
        s.push_str(base);
        let _ = writeln!(
            s,
            "\n// Generated by src/wgpu/order_stats_network.rs: {}.",
            self.name()
        );
        match (&self.ranks, self.stat) {
            (Some(r), Stat::Median | Stat::MeaMed) => self.equal_median(&mut s, r.start, r.end - 1),
            (Some(r), Stat::Trim) => self.equal_trim(&mut s, r.start, r.end - 1),
            (None, Stat::Median | Stat::MeaMed) => self.weighted_median(&mut s),
            (None, Stat::Trim) => self.weighted_trim(&mut s),
        }
        if self.stat == Stat::MeaMed {
            self.meamed(&mut s);
        }
        let result = match self.stat {
            Stat::Median => "median_net(c).bits",
            Stat::Trim => "trim_net(c)",
            Stat::MeaMed => "meamed_net(c)",
        };
        let _ = write!(
            s,
            "
@compute @workgroup_size(64)
fn {ENTRY}(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {{
    let c = coordinate(wid, nwg, lid);
    if (c >= p.len) {{
        return;
    }}
    out[c] = {result};
}}
"
        );
        s
    }

    /// Loads of the m values `v0..` and their keys `k0..` (the network's variables).
    fn load_keys(&self, s: &mut String) {
        for i in 0..self.m {
            let _ = writeln!(s, "    let v{i} = value_of(c, {i}u);");
        }
        for i in 0..self.m {
            let _ = writeln!(s, "    var k{i} = key(v{i});");
        }
    }

    /// This kernel's network on the variables `k0..` (min to the lower index).
    fn apply_network(&self, s: &mut String) {
        apply(s, &self.network());
    }

    /// MeaMed around the median `median_net` found: the composite distance keys sorted, one
    /// scan for the last row of the kept mass K, the kept shares added in row index order.
    fn meamed(&self, s: &mut String) {
        let m = self.m;
        let (low, _) = self.composite_masks();
        let row_bits = usize::BITS - (m - 1).leading_zeros();
        // The distance bits above the side bit and the row index; the side bit just below.
        let distance = !((2u32 << row_bits) - 1);
        let side = 1u32 << row_bits;
        s.push_str(
            "fn meamed_net(c: u32) -> u32 {
    let med = median_net(c);
    if ((med.bits & 0x7f800000u) == 0x7f800000u) {
        return med.bits;
    }
    let lower = key(med.lo);
",
        );
        for i in 0..m {
            let _ = writeln!(s, "    let v{i} = value_of(c, {i}u);");
        }
        for i in 0..m {
            let _ = writeln!(
                s,
                "    let q{i} = ((distance_bits(v{i}, med) << 1u) & {distance:#x}u) | select(0u, {side:#x}u, key(v{i}) > lower) | {i}u;"
            );
        }
        for i in 0..m {
            let _ = writeln!(s, "    var k{i} = q{i};");
        }
        apply(s, &pruned(m, 0..m));
        s.push_str("    var clash = false;\n");
        for i in 1..m {
            let j = i - 1;
            let _ = writeln!(
                s,
                "    clash = clash || (((k{j} ^ k{i}) & {distance:#x}u) == 0u && !distance_before(c, med, k{j} & {low:#x}u, k{i} & {low:#x}u));"
            );
        }
        s.push_str(
            "    if (clash) {
        return meamed_around(c, med);
    }
    let keep_mass = vec2<u32>(p.trim_lo, p.trim_hi);
    let eps = vec2<u32>(p.eps_lo, p.eps_hi);
    var before = vec2<u32>(0u, 0u);
    var found = false;
    var last = 0u;
    var left = vec2<u32>(0u, 0u);
",
        );
        for i in 0..m {
            // A row keeps mass while K - before > E; before only grows, so the kept rows are
            // a prefix of the order and all but its last keep their whole weight.
            let _ = write!(
                s,
                "    if (lt64(before, keep_mass) && lt64(eps, sub64(keep_mass, before))) {{
        found = true;
        last = k{i};
        left = sub64(keep_mass, before);
    }}
    before = add64(before, members[k{i} & {low:#x}u].yz);
"
            );
        }
        s.push_str("    var acc = Kept(0.0, 0.0);\n");
        for i in 0..m {
            let _ = write!(
                s,
                "    {{
        var kept = vec2<u32>(0u, 0u);
        if (found && q{i} <= last) {{
            kept = members[{i}u].yz;
            if (q{i} == last && lt64(left, kept)) {{
                kept = left;
            }}
        }}
        acc = keep(acc, kept, v{i});
    }}
"
            );
        }
        s.push_str("    return mean_bits(acc);\n}\n");
    }

    /// Equal weights: the median from ranks `lo` and `hi` of the keys.
    fn equal_median(&self, s: &mut String, lo: usize, hi: usize) {
        s.push_str("fn median_net(c: u32) -> Median {\n");
        self.load_keys(s);
        self.apply_network(s);
        let _ = writeln!(s, "    let lo = bits_at_rank(c, k{lo}, {lo}u);");
        if self.m.is_multiple_of(2) {
            // Exactly half the weight at or below rank lo: the midpoint with rank hi.
            let _ = writeln!(s, "    let hi = bits_at_rank(c, k{hi}, {hi}u);");
            s.push_str("    return Median(midpoint(lo, hi), lo, hi);\n}\n");
        } else {
            s.push_str("    return Median(lo, lo, lo);\n}\n");
        }
    }

    /// Equal weights: the trimmed mean, positions `first..=last` overlapping the kept mass.
    fn equal_trim(&self, s: &mut String, first: usize, last: usize) {
        let m = self.m;
        s.push_str("fn trim_net(c: u32) -> u32 {\n");
        self.load_keys(s);
        self.apply_network(s);
        let _ = writeln!(s, "    let ka = k{first};\n    let kb = k{last};");
        s.push_str("    let w = members[0].yz;\n    var less_a = 0u;\n    var less_b = 0u;\n");
        for i in 0..m {
            let _ = writeln!(
                s,
                "    less_a = less_a + select(0u, 1u, key(v{i}) < ka);\n    less_b = less_b + select(0u, 1u, key(v{i}) < kb);"
            );
        }
        s.push_str("    var tie_a = 0u;\n    var tie_b = 0u;\n    var acc = Kept(0.0, 0.0);\n");
        for i in 0..m {
            let _ = write!(
                s,
                "    {{
        let q = key(v{i});
        var kept = vec2<u32>(0u, 0u);
        if (q == ka) {{
            kept = trim_kept(mul64(w, less_a + tie_a), w);
            tie_a = tie_a + 1u;
        }} else if (q == kb) {{
            kept = trim_kept(mul64(w, less_b + tie_b), w);
            tie_b = tie_b + 1u;
        }} else if (ka < q && q < kb) {{
            kept = kept_or_zero(w);
        }}
        acc = keep(acc, kept, v{i});
    }}
"
            );
        }
        s.push_str("    return mean_bits(acc);\n}\n");
    }

    /// Bits of the row index in a composite key, and the mask of the order key's prefix.
    fn composite_masks(&self) -> (u32, u32) {
        let bits = usize::BITS - (self.m - 1).leading_zeros();
        let low = if bits == 0 { 0 } else { u32::MAX >> (32 - bits) };
        (low, !low)
    }

    /// Weighted: the composite keys `k0..` sorted, and `true` returned through `clash` where
    /// two neighbours share a prefix but not a key.
    fn composite_sort(&self, s: &mut String) {
        let (low, prefix) = self.composite_masks();
        for i in 0..self.m {
            let _ = writeln!(s, "    let v{i} = value_of(c, {i}u);");
        }
        for i in 0..self.m {
            let _ = writeln!(s, "    var k{i} = (key(v{i}) & {prefix:#x}u) | {i}u;");
        }
        self.apply_network(s);
        s.push_str("    var clash = false;\n");
        for i in 1..self.m {
            let j = i - 1;
            let _ = writeln!(
                s,
                "    clash = clash || (((k{j} ^ k{i}) & {prefix:#x}u) == 0u && key(value_of(c, k{j} & {low:#x}u)) != key(value_of(c, k{i} & {low:#x}u)));"
            );
        }
    }

    /// Weighted: the median, by a scan of the weights in composite order.
    fn weighted_median(&self, s: &mut String) {
        let (low, _) = self.composite_masks();
        s.push_str("fn median_net(c: u32) -> Median {\n");
        self.composite_sort(s);
        s.push_str(
            "    if (clash) {
        return median_of(c);
    }
    let total = vec2<u32>(p.total_lo, p.total_hi);
    var below = vec2<u32>(0u, 0u);
    var chosen = 0xffffffffu;
    var next = 0xffffffffu;
    var half = false;
",
        );
        for i in 0..self.m {
            // The value where the cumulative weight first reaches half: 2 C_below < T <= 2 C_above.
            let next = if i + 1 < self.m {
                format!("k{} & {low:#x}u", i + 1)
            } else {
                "0xffffffffu".to_string()
            };
            let _ = write!(
                s,
                "    {{
        let r = k{i} & {low:#x}u;
        let above = add64(below, members[r].yz);
        if (chosen == 0xffffffffu && lt64(twice64(below), total) && !lt64(twice64(above), total)) {{
            chosen = r;
            half = eq64(twice64(above), total);
            next = {next};
        }}
        below = above;
    }}
"
            );
        }
        s.push_str(
            "    if (chosen == 0xffffffffu) {
        return Median(NAN_BITS, 0u, 0u);
    }
    let va = value_of(c, chosen);
    if (half && next != 0xffffffffu) {
        let vn = value_of(c, next);
        return Median(midpoint(va, vn), va, vn);
    }
    return Median(va, va, va);
}
",
        );
    }

    /// Weighted: the trimmed mean; the scan finds the first and last composite keys whose
    /// weight overlaps [L, T - L] and the weight below each.
    fn weighted_trim(&self, s: &mut String) {
        let (low, prefix) = self.composite_masks();
        s.push_str("fn trim_net(c: u32) -> u32 {\n");
        self.composite_sort(s);
        s.push_str(
            "    if (clash) {
        return trim_recount(c);
    }
    let lo = vec2<u32>(p.trim_lo, p.trim_hi);
    let hi = sub64(vec2<u32>(p.total_lo, p.total_hi), lo);
    var below = vec2<u32>(0u, 0u);
    var found_a = false;
    var found_b = false;
    var ka = 0u;
    var kb = 0u;
    var below_a = vec2<u32>(0u, 0u);
    var below_b = vec2<u32>(0u, 0u);
",
        );
        for i in 0..self.m {
            let _ = write!(
                s,
                "    {{
        let above = add64(below, members[k{i} & {low:#x}u].yz);
        if (!found_a && lt64(lo, above)) {{
            found_a = true;
            ka = k{i};
            below_a = below;
        }}
        if (lt64(below, hi)) {{
            found_b = true;
            kb = k{i};
            below_b = below;
        }}
        below = above;
    }}
"
            );
        }
        s.push_str("    var acc = Kept(0.0, 0.0);\n");
        for i in 0..self.m {
            let _ = write!(
                s,
                "    {{
        let q = (key(v{i}) & {prefix:#x}u) | {i}u;
        let w = members[{i}u].yz;
        var kept = vec2<u32>(0u, 0u);
        if (found_a && q == ka) {{
            kept = trim_kept(below_a, w);
        }} else if (found_b && q == kb) {{
            kept = trim_kept(below_b, w);
        }} else if (found_a && found_b && ka < q && q < kb) {{
            kept = kept_or_zero(w);
        }}
        acc = keep(acc, kept, v{i});
    }}
"
            );
        }
        s.push_str("    return mean_bits(acc);\n}\n");
    }
}

/// The network `ops` on the WGSL variables `k0..` (min to the lower index).
fn apply(s: &mut String, ops: &[Op]) {
    for &op in ops {
        let _ = match op {
            Op::Exchange(a, b) => writeln!(
                s,
                "    {{ let t = min(k{a}, k{b}); k{b} = max(k{a}, k{b}); k{a} = t; }}"
            ),
            Op::Min(a, b) => writeln!(s, "    k{a} = min(k{a}, k{b});"),
            Op::Max(a, b) => writeln!(s, "    k{b} = max(k{a}, k{b});"),
        };
    }
}

/// The positions `first..last + 1` of `m` values of equal weight `w` whose weight overlaps the
/// kept mass [L, T - L] of the trimmed mean (T = m w): the first whose cumulative weight above
/// exceeds L, the last whose weight below is under T - L; `None` when none overlaps.
fn trim_positions(m: usize, w: u64, trim: u64) -> Option<std::ops::Range<usize>> {
    let (w, trim, total) = (u128::from(w), u128::from(trim), m as u128 * u128::from(w));
    let hi = total.checked_sub(trim)?;
    let first = (0..m).find(|&i| (i as u128 + 1) * w > trim)?;
    let last = (0..m).rev().find(|&i| (i as u128) * w < hi)?;
    (first <= last).then_some(first..last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_pick_the_ranks_and_the_paths() {
        let p = Plan::new(OrderStat::Median, &[5; 7], 0).unwrap();
        assert_eq!(p.ranks, Some(3..4));
        let p = Plan::new(OrderStat::Median, &[5; 8], 0).unwrap();
        assert_eq!(p.ranks, Some(3..5));
        assert_eq!(Plan::new(OrderStat::Median, &[5, 6, 5], 0).unwrap().ranks, None);
        assert!(Plan::new(OrderStat::Median, &[1; MAX_ROWS + 1], 0).is_none());
        // Ten values of weight 10, L = 25: positions 2 (20..30) to 7 (70..80).
        let p = Plan::new(OrderStat::TrimmedMean { lambda: 0.25 }, &[10; 10], 25).unwrap();
        assert_eq!(p.ranks, Some(2..8));
        // L = 20: position 1 ends at 20, so 2 is the first; 8 starts at 80 = T - L.
        assert_eq!(trim_positions(10, 10, 20), Some(2..8));
        // Half trimmed from each end: nothing kept, the recount runs.
        assert_eq!(trim_positions(4, 10, 20), None);
        assert!(Plan::new(OrderStat::TrimmedMean { lambda: 0.5 }, &[10; 4], 20).is_none());
    }

    #[test]
    fn names_differ_where_the_kernels_do() {
        let a = Plan::new(OrderStat::TrimmedMean { lambda: 0.1 }, &[10; 10], 10).unwrap();
        let b = Plan::new(OrderStat::TrimmedMean { lambda: 0.2 }, &[10; 10], 20).unwrap();
        let c = Plan::new(
            OrderStat::TrimmedMean { lambda: 0.2 },
            &[10, 11, 10, 10, 10, 10, 10, 10, 10, 10],
            20,
        )
        .unwrap();
        assert_ne!(a.name(), b.name());
        assert_ne!(b.name(), c.name());
        assert!(c.name().ends_with("weighted"));
    }

    /// Every generated kernel is valid WGSL (naga parses and validates it), for every row count.
    #[test]
    fn generated_kernels_validate() {
        let base = super::super::device::ORDER_STATS_WGSL;
        for m in 1..=MAX_ROWS {
            let equal = vec![3u64; m];
            let mut weighted = equal.clone();
            weighted[0] = 4;
            let trim = (m as u64 * 3) / 5;
            for stat in [
                OrderStat::Median,
                OrderStat::TrimmedMean { lambda: 0.2 },
                OrderStat::MeaMed { lambda: 0.2 },
            ] {
                for w in [&equal, &weighted] {
                    let Some(plan) = Plan::new(stat, w, trim) else {
                        continue;
                    };
                    let source = plan.source(base);
                    let module = naga::front::wgsl::parse_str(&source)
                        .unwrap_or_else(|e| panic!("{}: {}", plan.name(), e.emit_to_string(&source)));
                    naga::valid::Validator::new(
                        naga::valid::ValidationFlags::all(),
                        naga::valid::Capabilities::empty(),
                    )
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", plan.name()));
                }
            }
        }
    }
}
