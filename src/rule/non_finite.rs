//! The non-finite tolerance: how much NaN or infinite input each rule survives (SPEC section 3),
//! and the Byzantine share that bucketing passes to its base (SPEC 4.7).
//!
//! Both are pure host functions of a plan, the weights and (for [`tolerates`]) which rows hold
//! NaN or an infinity. The rule layer uses them to fill [`Report`](crate::Report), the plan
//! uses [`bucket_share`] to fix the base rule of bucketing, and the conformance suite uses
//! [`tolerates`] to pick the poison patterns whose output must be finite.

use super::{GmInit, Plan, bucket_permutation};
use crate::contract::MASS_EPS;

/// Whether `plan` guarantees a finite output (SPEC 3) when the rows flagged in `bad` hold
/// arbitrary values, NaN and infinities included, and the others are finite.
///
/// The budgets: poisoned mass below W/2 for the median, the geometric median (started at the
/// median or at zero) and centered clipping; at most lambda W for the trimmed mean, Krum,
/// Multi-Krum, CTMA and NNM; bucketing applies its base's budget to the buckets, a bucket
/// being poisoned when one of its rows of positive weight is. Static clipping and FLTrust
/// tolerate any number (a non-finite row becomes the zero vector, or gets trust 0); ARC
/// tolerates mass up to `2 lambda (1 - lambda) W` whatever its base, and beyond that what its
/// base tolerates. The plain mean, and the geometric median started at the mean, tolerate
/// nothing. Rows of weight 0 never count.
///
/// # Examples
///
/// ```
/// use byzagg::{Plan, tolerates};
///
/// let w = [1.0; 5];
/// let one_bad = [true, false, false, false, false];
/// assert!(tolerates(&Plan::TrimmedMean { lambda: 0.2 }, &w, &one_bad));
/// assert!(!tolerates(&Plan::TrimmedMean { lambda: 0.1 }, &w, &one_bad));
/// assert!(!tolerates(&Plan::Mean, &w, &one_bad));
/// ```
pub fn tolerates(plan: &Plan, w: &[f64], bad: &[bool]) -> bool {
    let total: f64 = w.iter().sum();
    let bad_mass: f64 = w.iter().zip(bad).filter(|(_, b)| **b).map(|(w, _)| w).sum();
    // Equality is the edge case the rules handle with MASS_EPS: it is within the budget.
    let within = |lambda: f64| bad_mass <= lambda * total + MASS_EPS * total;
    let majority = 2.0 * bad_mass < total;
    if bad_mass == 0.0 {
        return true;
    }
    match plan {
        Plan::Mean => false,
        Plan::Gm(p) if p.init == GmInit::Mean => false,
        Plan::Median | Plan::Gm(_) => majority,
        Plan::TrimmedMean { lambda }
        | Plan::MeaMed { lambda }
        | Plan::Cge { lambda }
        | Plan::Krum { lambda, .. } => within(*lambda),
        // Krum picks finite rows while any is left, and the selection (mass (1 - 2 lambda) W)
        // fits in the clean mass.
        Plan::Bulyan { lambda } => within(*lambda),
        // The finite rows then weigh at least (1 - lambda) W: a subset of finite diameter
        // and covariance exists, and any holding a non-finite row scores +inf.
        Plan::Mda { lambda } | Plan::Smea { lambda } => within(*lambda),
        // The first round drops the non-finite rows and leaves mass (1 - lambda) W, above the
        // (1 - 2 lambda) W that ends the rounds, so a finite round follows (lambda > 0).
        Plan::Caf { lambda } => *lambda > 2.0 * MASS_EPS && within(*lambda),
        Plan::Monna { lambda, pivot } => within(*lambda) && !bad.get(*pivot).copied().unwrap_or(true),
        Plan::Ctma { base, lambda } | Plan::Nnm { base, lambda } => {
            within(*lambda) && tolerates(base, w, bad)
        }
        Plan::Bucketing { base, s, seed } => {
            let order = bucket_permutation(w.len(), *seed);
            let (masses, bads): (Vec<f64>, Vec<bool>) = order
                .chunks((*s).max(1))
                .map(|b| {
                    let mass = b.iter().map(|&i| w[i]).sum::<f64>();
                    (mass, b.iter().any(|&i| bad[i] && w[i] > 0.0))
                })
                .unzip();
            tolerates(base, &masses, &bads)
        }
        Plan::CenteredClipping { center, .. } => {
            majority && center.as_deref().is_none_or(|c| tolerates(c, w, bad))
        }
        // A non-finite row has an infinite norm: static clipping makes it the zero vector, so
        // the base sees finite rows only.
        Plan::Clip { .. } => true,
        // ARC zeroes the non-finite rows when they fit in the clipped mass (the threshold is
        // then a finite norm); beyond it the threshold is infinite, nothing is clipped, and the
        // base meets them as they are.
        Plan::Arc { base, lambda } => {
            bad_mass <= 2.0 * lambda * (1.0 - lambda) * total + MASS_EPS * total || tolerates(base, w, bad)
        }
        // Rows without a direction get trust 0 and leave no trace.
        Plan::FlTrust => true,
    }
}

/// The weights of one level of a composed rule: n equal weights (a batch without weights, or
/// a plan fixed before the weights are known), or the given ones (finite, >= 0, not all 0).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level<'a> {
    /// n rows of weight 1.
    Uniform(usize),
    /// One weight per row.
    Given(&'a [f64]),
}

impl Level<'_> {
    /// Rows at this level.
    pub(crate) fn n(&self) -> usize {
        match self {
            Level::Uniform(n) => *n,
            Level::Given(w) => w.len(),
        }
    }
}

/// The share of the total weight held by the buckets that Byzantine rows of total mass
/// `lambda W` can touch: what the base rule of bucketing must tolerate (SPEC 4.7).
///
/// Touching a bucket costs the weight of its lightest row of positive weight and poisons the
/// bucket's whole mass. The largest poisoned mass within the budget is a knapsack problem; this
/// returns its fractional (linear programming) bound, which is never below the true maximum
/// and equals `s * lambda` for uniform weights when every bucket holds s rows.
pub(crate) fn bucket_share(level: Level<'_>, s: usize, seed: u64, lambda: f64) -> f64 {
    let s = s.max(1);
    match level {
        Level::Uniform(n) => {
            // Buckets of s rows, the last of r; every one costs one row.
            let nb = n.div_ceil(s);
            let r = n - (nb - 1) * s;
            let mut left = lambda * n as f64;
            let eps = MASS_EPS * n as f64;
            let full = (nb - 1) as f64;
            let whole = (left + eps).floor().min(full);
            left = (left - whole).max(0.0);
            let mut gain = whole * s as f64;
            if left > eps {
                gain += if whole < full {
                    left.min(1.0) * s as f64
                } else {
                    left.min(1.0) * r as f64
                };
            }
            (gain / n as f64).min(1.0)
        }
        Level::Given(w) => {
            let total: f64 = w.iter().sum();
            let order = bucket_permutation(w.len(), seed);
            // (mass, cost) of every bucket with mass.
            let mut items: Vec<(f64, f64)> = order
                .chunks(s)
                .filter_map(|b| {
                    let mass: f64 = b.iter().map(|&i| w[i]).sum();
                    let cost = b
                        .iter()
                        .map(|&i| w[i])
                        .filter(|wi| *wi > 0.0)
                        .fold(f64::INFINITY, f64::min);
                    (mass > 0.0).then_some((mass, cost))
                })
                .collect();
            // Best mass per unit of cost first (ratios of finite positive numbers).
            items.sort_by(|a, b| (b.0 / b.1).total_cmp(&(a.0 / a.1)));
            let eps = MASS_EPS * total;
            let mut left = lambda * total;
            let mut gain = 0.0;
            for (mass, cost) in items {
                if left <= eps {
                    break;
                }
                if cost <= left + eps {
                    gain += mass;
                    left -= cost;
                } else {
                    gain += mass * left / cost;
                    break;
                }
            }
            (gain / total).min(1.0)
        }
    }
}

/// The masses of the buckets of one level, in bucket order: the weights of the base rule.
pub(crate) fn bucket_masses(level: Level<'_>, s: usize, seed: u64) -> Vec<f64> {
    let s = s.max(1);
    match level {
        Level::Uniform(n) => {
            let nb = n.div_ceil(s);
            (0..nb)
                .map(|b| if b + 1 < nb { s } else { n - (nb - 1) * s } as f64)
                .collect()
        }
        Level::Given(w) => bucket_permutation(w.len(), seed)
            .chunks(s)
            .map(|b| b.iter().map(|&i| w[i]).sum())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_bucket_share_is_s_lambda() {
        // 11 rows, f = 2, s = 2: two buckets of 2 rows, 4/11 of the weight.
        let lambda = 2.0 / 11.0;
        assert!((bucket_share(Level::Uniform(11), 2, 0, lambda) - 4.0 / 11.0).abs() < 1e-12);
        assert!((bucket_share(Level::Given(&[1.0; 11]), 2, 0, lambda) - 4.0 / 11.0).abs() < 1e-12);
        // lambda = 0.1 on 20 rows, s = 3: 2 rows, 6/20.
        let got = bucket_share(Level::Uniform(20), 3, 0, 0.1);
        assert!((got - 0.3).abs() < 1e-12, "{got}");
        assert!((bucket_share(Level::Given(&[2.0; 20]), 3, 5, 0.1) - 0.3).abs() < 1e-12);
        // A fractional budget takes part of the next bucket: s * lambda.
        let got = bucket_share(Level::Uniform(100), 4, 0, 0.105);
        assert!((got - 0.42).abs() < 1e-12, "{got}");
    }

    #[test]
    fn weighted_bucket_share_bounds_the_worst_choice() {
        // Row 0 is light and shares a bucket with a heavy row: touching it costs 0.1 and
        // poisons the heavy bucket.
        let w = [0.1, 5.0, 1.0, 1.0, 1.0, 1.0];
        let order = bucket_permutation(6, 3);
        let total: f64 = w.iter().sum();
        let lambda = 0.1 / total;
        let share = bucket_share(Level::Given(&w), 2, 3, lambda);
        let bucket_of_0 = order.chunks(2).find(|b| b.contains(&0)).unwrap();
        let mass: f64 = bucket_of_0.iter().map(|&i| w[i]).sum();
        assert!(share >= mass / total - 1e-12, "{share} vs {}", mass / total);
    }

    #[test]
    fn weight_zero_rows_poison_nothing() {
        let plan = Plan::Bucketing {
            base: Box::new(Plan::Median),
            s: 2,
            seed: 0,
        };
        let w = [0.0, 1.0, 1.0, 1.0];
        assert!(tolerates(&plan, &w, &[true, false, false, false]));
        assert!(tolerates(&Plan::Mean, &w, &[true, false, false, false]));
    }
}
