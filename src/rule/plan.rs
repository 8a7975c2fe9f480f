//! [`Plan`]: a rule with every parameter fixed for one batch size, what the rule layer and the
//! reference compute; its order statistic, depth and working memory; and bucketing's row
//! order ([`bucket_permutation`]), part of the contract.

use super::{GmParams, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::kernels::OrderStat;

/// A rule with every parameter fixed for one batch size: what the rule layer and the
/// reference compute. Build it with [`Rule::plan`](super::Rule::plan), which checks every bound.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Weighted mean (SPEC 4.1).
    Mean,
    /// Weighted coordinate-wise median (SPEC 4.2).
    Median,
    /// Weighted coordinate-wise trimmed mean, mass `lambda * W` off each side (SPEC 4.3).
    TrimmedMean {
        /// Trimmed share of the weight on each side, in [0, 1/2).
        lambda: f64,
    },
    /// Weighted mean around the median (SPEC 4.8, [`Rule::MeaMed`](super::Rule::MeaMed)).
    MeaMed {
        /// Share of the weight left out, in [0, 1/2).
        lambda: f64,
    },
    /// Bulyan (SPEC 4.8, [`Rule::Bulyan`](super::Rule::Bulyan)).
    Bulyan {
        /// Byzantine share of the weight, in [0, 1/4).
        lambda: f64,
    },
    /// CGE (SPEC 4.8, [`Rule::Cge`](super::Rule::Cge)).
    Cge {
        /// Share of the weight dropped, in [0, 1/2).
        lambda: f64,
    },
    /// MoNNA (SPEC 4.8, [`Rule::Monna`](super::Rule::Monna)).
    Monna {
        /// Share of the weight left out, in [0, 1/2).
        lambda: f64,
        /// The trusted row.
        pivot: usize,
    },
    /// MDA (SPEC 4.8, [`Rule::Mda`](super::Rule::Mda)).
    Mda {
        /// Share of the weight left out, in [0, 1/2).
        lambda: f64,
    },
    /// SMEA (SPEC 4.8, [`Rule::Smea`](super::Rule::Smea)).
    Smea {
        /// Share of the weight left out, in [0, 1/2).
        lambda: f64,
    },
    /// CAF (SPEC 4.8, [`Rule::Caf`](super::Rule::Caf)).
    Caf {
        /// Byzantine share of the weight, in [0, 1/2).
        lambda: f64,
    },
    /// Weighted (Multi-)Krum (SPEC 4.4); `m == Some(1)` outputs the best row itself.
    Krum {
        /// Byzantine share of the weight, in [0, 1/2).
        lambda: f64,
        /// Rows averaged, 1..=n; `None`: the rows of least score up to a mass of
        /// `(1 - lambda) W`, the last one in part. Rows of score `+inf` (a non-finite value,
        /// weight 0) are never averaged, whatever `m` says.
        m: Option<usize>,
    },
    /// Geometric median by smoothed Weiszfeld (SPEC 4.5).
    Gm(GmParams),
    /// Centered trimmed meta-aggregator (SPEC 4.6).
    Ctma {
        /// The center's rule.
        base: Box<Plan>,
        /// Trimmed share, in [0, 1/2).
        lambda: f64,
    },
    /// Nearest-neighbour mixing, then `base` with the same weights (SPEC 4.7).
    Nnm {
        /// Applied to the mixed rows.
        base: Box<Plan>,
        /// Neighbourhood mass is `(1 - lambda) W`.
        lambda: f64,
    },
    /// Bucketing (SPEC 4.7): `ceil(n / s)` buckets; `base` is planned for that many rows,
    /// with the bucket masses as weights and, where the rule left the Byzantine share to the
    /// caller, the share of the weight that the Byzantine rows' buckets may hold.
    Bucketing {
        /// Applied to the bucket means, with the bucket masses as weights.
        base: Box<Plan>,
        /// Bucket size.
        s: usize,
        /// Shuffle seed (see [`bucket_permutation`]).
        seed: u64,
    },
    /// Centered clipping (SPEC 4.7).
    CenteredClipping {
        /// Start: the zero vector (`None`) or this rule's output.
        center: Option<Box<Plan>>,
        /// Clipping radius.
        tau: f64,
        /// Clipping steps.
        iterations: usize,
    },
    /// Static norm clipping, then `base` with the same weights (SPEC 4.8, [`Rule::Clip`](super::Rule::Clip)).
    Clip {
        /// Applied to the clipped rows.
        base: Box<Plan>,
        /// Clipping radius, finite and > 0.
        tau: f64,
    },
    /// Adaptive robust clipping, then `base` with the same weights (SPEC 4.8, [`Rule::Arc`](super::Rule::Arc)).
    Arc {
        /// Applied to the clipped rows.
        base: Box<Plan>,
        /// Byzantine share, in [0, 1/2): the mass `2 lambda (1 - lambda) W` is clipped.
        lambda: f64,
    },
    /// FLTrust over the batch's root update (SPEC 4.8, [`Rule::FlTrust`](super::Rule::FlTrust)).
    FlTrust,
}

impl Plan {
    /// The order statistic this plan is when it is one alone (cwmed, cwtm, meamed), as the
    /// rule layer gives it to [`Kernels::order_stats`](crate::Kernels::order_stats); `None`
    /// for every other plan. A rule over such a base can take the fused kernels
    /// (`order_stats_with_dist`, `mix_order_stats`): the base adds no report step, so the
    /// report is the same either way.
    pub(crate) fn order_stat(&self) -> Option<OrderStat> {
        match *self {
            Plan::Median => Some(OrderStat::Median),
            Plan::TrimmedMean { lambda } => Some(OrderStat::TrimmedMean { lambda }),
            Plan::MeaMed { lambda } => Some(OrderStat::MeaMed { lambda }),
            _ => None,
        }
    }

    /// How many plans this one nests, itself included (as [`Rule::depth`](super::Rule::depth)); counted in a
    /// loop, so a plan built by hand thousands of levels deep is measured without recursion.
    pub fn depth(&self) -> usize {
        let mut depth = 1;
        let mut plan = self;
        loop {
            plan = match plan {
                Plan::Ctma { base, .. }
                | Plan::Nnm { base, .. }
                | Plan::Bucketing { base, .. }
                | Plan::Clip { base, .. }
                | Plan::Arc { base, .. } => base,
                Plan::CenteredClipping {
                    center: Some(center), ..
                } => center,
                _ => return depth,
            };
            depth += 1;
        }
    }

    /// An error naming the depth if this plan nests deeper than [`MAX_DEPTH`]: the rule layer
    /// and the reference recurse once per level, so a plan built by hand must not reach them
    /// deeper than the parser and [`Rule::plan`](super::Rule::plan) allow.
    pub fn check_depth(&self) -> Result<()> {
        let depth = self.depth();
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                "plan",
                format!("{depth} levels deep"),
                format!("plans may nest at most {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// An upper estimate of the host memory the rule layer allocates to run this plan on
    /// `n x d` rows, beyond the rows themselves: `n x n` distances and their pair lists for
    /// Krum and NNM (24 bytes a pair), NNM's mixing matrix and mixed rows, bucketing's bucket
    /// means, and a few d-vectors. Saturates instead of wrapping.
    pub fn scratch_bytes(&self, n: usize, d: usize) -> u128 {
        use crate::budget::bytes;
        let vectors = bytes(&[d], 4 * 4);
        match self {
            Plan::Mean
            | Plan::Median
            | Plan::TrimmedMean { .. }
            | Plan::MeaMed { .. }
            | Plan::Cge { .. }
            | Plan::Monna { .. }
            | Plan::Gm(_) => vectors.saturating_add(bytes(&[n], 16)),
            Plan::Krum { .. } | Plan::Bulyan { .. } => bytes(&[n, n], 24).saturating_add(vectors),
            Plan::Mda { .. } | Plan::Smea { .. } | Plan::Caf { .. } => {
                bytes(&[n, n], 24).saturating_add(vectors)
            }
            Plan::Ctma { base, .. } => base
                .scratch_bytes(n, d)
                .saturating_add(vectors)
                .saturating_add(bytes(&[n], 16)),
            Plan::Nnm { base, .. } => bytes(&[n, n], 32)
                .saturating_add(bytes(&[n, d], 4))
                .saturating_add(base.scratch_bytes(n, d)),
            Plan::Bucketing { base, s, .. } => {
                let buckets = n.div_ceil((*s).max(1));
                bytes(&[buckets, n], 8)
                    .saturating_add(bytes(&[buckets, d], 4))
                    .saturating_add(base.scratch_bytes(buckets, d))
            }
            Plan::CenteredClipping { center, .. } => center
                .as_ref()
                .map_or(0, |c| c.scratch_bytes(n, d))
                .saturating_add(vectors),
            // The clipped rows (n x d), then the base over them.
            Plan::Clip { base, .. } | Plan::Arc { base, .. } => bytes(&[n, d], 4)
                .saturating_add(base.scratch_bytes(n, d))
                .saturating_add(bytes(&[n], 16)),
            // The rows scaled to unit norm (n x d) and the unit root.
            Plan::FlTrust => bytes(&[n, d], 4)
                .saturating_add(vectors)
                .saturating_add(bytes(&[n], 32)),
        }
    }

    /// Checks [`Plan::scratch_bytes`] against the host memory budget ([`crate::budget`]), so a
    /// file of 100,000 rows given to Krum is an error naming n, not an abort.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::Rule;
    ///
    /// let plan = Rule::krum(1).plan(usize::MAX / 4, None)?;
    /// let err = plan.check_memory(usize::MAX / 4, 10).unwrap_err();
    /// assert!(err.to_string().contains("invalid n = "), "{err}");
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn check_memory(&self, n: usize, d: usize) -> Result<()> {
        crate::budget::check(
            "n",
            n,
            &format!("the rule's working memory for {n} x {d} rows"),
            self.scratch_bytes(n, d),
        )
    }
}

/// The row order of bucketing: a Fisher-Yates shuffle of `0..n` driven by SplitMix64 from
/// `seed`. Bucket b holds positions `b*s .. min((b+1)*s, n)` of this order.
///
/// It is part of the contract (every backend and the reference must bucket alike), so it is
/// spelled out here: for i from n-1 down to 1, draw `r = splitmix64()`, swap i with
/// `r % (i + 1)`.
pub fn bucket_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = crate::rng::SplitMix64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}
