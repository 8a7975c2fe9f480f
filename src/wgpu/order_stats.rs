//! Primitive 1, `order_stats` (SPEC 4.2, 4.3, 4.8, section 3), on `shaders/order_stats.wgsl`.
//!
//! One invocation per coordinate, chunk by chunk, nothing read back; the result is a `1 x d`
//! matrix with the rows' chunking. The `recount` kernels (`BYZAGG_WGPU_KERNELS`, the default)
//! do O(m^2) work per invocation for m rows of positive weight; the `network` ones, generated
//! per m (`order_stats_network.rs`), a sorting network and one weight scan. A chunk is cut into dispatches of at most `ORDER_STATS_WORK` comparisons
//! (coordinates x m^2, [`dispatches`]), and dispatches are grouped into submissions of at most
//! that budget: no single submission runs long enough to trip an OS GPU watchdog.
//!
//! Exactness: the weights of the rows of positive weight become u64 fixed-point integers
//! `round(w_i * 2^s)`, with the power of two `2^s` that brings the total W to at most 2^60
//! (a weight that would round to 0 counts 1). Integer weights, and every dyadic weight with
//! enough bits, are represented exactly, so the shader's integer tests `2 C == T` (median) and
//! `kept >= MASS_EPS * T` (trimmed mean) decide as the reference's f64 tests do. Known
//! difference: with decimal weights (0.1, 0.2, ...) the reference's rounded f64 sums can make
//! `2 C == W` hold where the exact sums of the weights' binary values differ (or the reverse),
//! so such a median coordinate may get one value instead of a midpoint. The values are
//! ordered by integer keys (-inf < finite < +inf < NaN, -0 == +0, ties by row index), which no
//! fast-math setting can change. MeaMed's median is the f32 midpoint (the other backends keep
//! it in f64) and its distances are f32 differences, so a tie in distance that rounding
//! makes or breaks may pick the other value. The trimmed mean's sum runs in f32 over kept fractions in
//! [0, 1], so it cannot overflow for finite values.

use super::device::{ORDER_STATS_MEAMED, ORDER_STATS_MEDIAN, ORDER_STATS_TRIM, ORDER_STATS_WGSL};
use super::kernel_variant::OrderStatsVariant;
use super::order_stats_network::{self as network, Plan};
use super::{Wgpu, WgpuRows};
use crate::contract::MASS_EPS;
use crate::error::{Error, Result};
use crate::kernels::OrderStat;

/// Weighted median, trimmed mean or MeaMed of every coordinate of the rows.
/// Shapes are checked by the caller (`kernels::shape`).
pub(super) fn order_stats(w: &Wgpu, rows: &WgpuRows, weights: &[f64], stat: OrderStat) -> Result<WgpuRows> {
    let device = w.gpu_for(&[rows])?;
    let gpu = &*device;
    let fixed = FixedWeights::new(weights)?;
    let (entry, trim) = match stat {
        OrderStat::Median => (ORDER_STATS_MEDIAN, 0),
        OrderStat::TrimmedMean { lambda } => (ORDER_STATS_TRIM, (lambda * fixed.total as f64).round() as u64),
        // The mass kept around the median travels in the trimmed mass's field.
        OrderStat::MeaMed { lambda } => (
            ORDER_STATS_MEAMED,
            ((1.0 - lambda) * fixed.total as f64).round() as u64,
        ),
    };
    let eps = (MASS_EPS * fixed.total as f64).ceil() as u64;
    let inv_total = (1.0 / fixed.total as f64) as f32;
    let out = w.alloc(1, rows.d, rows.chunk, "order_stats")?;
    let words: Vec<u32> = fixed
        .active
        .iter()
        .flat_map(|&(row, wf)| [row as u32, wf as u32, (wf >> 32) as u32, 0])
        .collect();
    let m = fixed.active.len() as u64;
    let budget = w.params.order_stats_budget();
    // The `network` variant's kernel for this row count and these weights, where it has one.
    let plan = match w.order_stats {
        OrderStatsVariant::Network => {
            let fixed_weights: Vec<u64> = fixed.active.iter().map(|&(_, wf)| wf).collect();
            Plan::new(stat, &fixed_weights, trim)
        }
        OrderStatsVariant::Recount => None,
    };
    let cost = plan
        .as_ref()
        .map_or_else(|| work_per_coordinate(stat, m), Plan::work_per_coordinate);
    gpu.scoped("order_stats", || {
        let (pipeline, entry) = match &plan {
            Some(plan) => (
                gpu.generated_pipeline(&plan.name(), network::ENTRY, || plan.source(ORDER_STATS_WGSL))?,
                network::ENTRY,
            ),
            None => (gpu.pipeline(entry)?.clone(), entry),
        };
        let active = gpu.storage_init("active rows", bytemuck::cast_slice(&words))?;
        let mut enc = gpu.encoder("order_stats");
        let mut recorded = 0u64;
        for c in 0..rows.chunks() {
            let (_, len) = rows.range(c);
            for (first, count) in dispatches(len as u64, cost, budget) {
                // A submission holds at most the budget, so no single one runs for long.
                let work = count.saturating_mul(cost);
                if recorded > 0 && recorded.saturating_add(work) > budget {
                    gpu.submit(std::mem::replace(&mut enc, gpu.encoder("order_stats")))?;
                    recorded = 0;
                }
                recorded = recorded.saturating_add(work);
                let params = gpu.uniform(
                    "order_stats",
                    &[
                        len as u32,
                        m as u32,
                        fixed.total as u32,
                        (fixed.total >> 32) as u32,
                        trim as u32,
                        (trim >> 32) as u32,
                        eps as u32,
                        (eps >> 32) as u32,
                        inv_total.to_bits(),
                        first as u32,
                        count as u32,
                        0,
                    ],
                );
                let bind = gpu.bind_on(
                    &pipeline,
                    entry,
                    0,
                    &[&rows.bufs[c], &active, &params, &out.bufs[c]],
                )?;
                gpu.dispatch_on(&mut enc, &pipeline, entry, &bind, count, w.params.max_groups_x)?;
            }
        }
        gpu.submit(enc)
    })?;
    Ok(out)
}

/// The work of one coordinate of the `recount` kernels for `m` rows, in comparisons: each value counts the weight
/// below it over all `m` values (m^2); MeaMed does that for the median and again for the
/// distances to it (about 3 m^2 with the median's midpoint search).
pub(super) fn work_per_coordinate(stat: OrderStat, m: u64) -> u64 {
    let pairs = m.saturating_mul(m).max(1);
    match stat {
        OrderStat::Median | OrderStat::TrimmedMean { .. } => pairs,
        OrderStat::MeaMed { .. } => pairs.saturating_mul(3),
    }
}

/// The dispatches `(first coordinate, coordinates)` that cover `len` coordinates with at most
/// `budget` work each at `cost` work per coordinate: whole workgroups of 64 coordinates where
/// the budget allows, else fewer (one coordinate at least, whatever its cost).
pub(super) fn dispatches(len: u64, cost: u64, budget: u64) -> impl Iterator<Item = (u64, u64)> {
    let fit = (budget / cost.max(1)).max(1);
    let per = if fit >= 64 { fit / 64 * 64 } else { fit };
    (0..len)
        .step_by(per as usize)
        .map(move |first| (first, per.min(len - first)))
}

/// The rows of positive weight with their weights in u64 fixed point, and their exact total.
#[derive(Debug, PartialEq)]
pub(super) struct FixedWeights {
    /// (row, fixed-point weight), in row order.
    pub(super) active: Vec<(usize, u64)>,
    /// The sum of the fixed-point weights (at most 2^60 + n).
    pub(super) total: u64,
}

impl FixedWeights {
    pub(super) fn new(weights: &[f64]) -> Result<Self> {
        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(Error::invalid(
                "weights",
                format!("total {total}"),
                "must be finite and > 0",
            ));
        }
        // The power of two 2^s with total * 2^s <= 2^60; multiplying by it is exact.
        let s = 60 - total.log2().ceil() as i32;
        // In two factors, so that neither overflows f64 for extreme totals.
        let (s1, s2) = (2f64.powi(s / 2), 2f64.powi(s - s / 2));
        let active: Vec<(usize, u64)> = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, w)| (i, ((w * s1 * s2).round() as u64).max(1)))
            .collect();
        let total = active.iter().map(|(_, w)| w).sum();
        Ok(FixedWeights { active, total })
    }
}
