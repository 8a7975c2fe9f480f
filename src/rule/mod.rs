//! The rules of SPEC section 4 as data: [`Rule`] (what a user writes, parameters optional),
//! its text form, and [`Plan`] (a rule with every parameter fixed for a batch of n rows).
//!
//! A [`Rule`] may leave lambda or f out; [`Rule::plan`] fills it from a default (the CLI's
//! `--lambda`/`--f`) and checks every bound, so the code that computes (the rule layer in
//! `aggregate/` and the independent oracle in `reference.rs`) only ever sees valid plans.
//!
//! Files: this one holds what users write ([`Rule`], [`ByzantineShare`], [`GmParams`],
//! [`Center`]); `planning.rs` turns a rule into a plan ([`Rule::plan`], the bounds);
//! `plan.rs` holds [`Plan`] (its order statistic, depth, working memory) and
//! [`bucket_permutation`]; `text.rs` the text form both ways; `non_finite.rs` the non-finite
//! tolerance ([`tolerates`]) and the share bucketing passes to its base.

use std::fmt;

mod non_finite;
mod plan;
mod planning;
mod text;

pub use non_finite::tolerates;
pub use plan::{Plan, bucket_permutation};

/// How many of the inputs may be Byzantine: a share lambda of the total weight, or a count f
/// of rows (then lambda = f / n).
///
/// # Examples
///
/// ```
/// use byzagg::{ByzantineShare, Rule};
///
/// // f = 2 of 10 rows is the share lambda = 0.2; f must stay below n / 2.
/// let cwtm: Rule = "cwtm".parse()?;
/// assert!(cwtm.plan(10, Some(ByzantineShare::F(2))).is_ok());
/// assert!(cwtm.plan(10, Some(ByzantineShare::F(5))).is_err());
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ByzantineShare {
    /// A share of the total weight, in [0, 1/2).
    Lambda(f64),
    /// A number of rows; lambda = f / n.
    F(usize),
}

/// Where the geometric median's Weiszfeld iterations start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GmInit {
    /// The zero vector (the papers' code and ByzFL).
    Zero,
    /// The weighted coordinate-wise median (the default: already robust, so few iterations).
    Median,
    /// The weighted mean.
    Mean,
}

/// Parameters of the smoothed Weiszfeld geometric median (SPEC 4.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GmParams {
    /// Starting point.
    pub init: GmInit,
    /// Iteration cap (>= 1).
    pub max_iter: usize,
    /// Stop when `||z_new - z|| <= tol * S`, where `S` is the data's own scale: the weighted
    /// median distance of the rows to the start (the largest distance where that is 0), so
    /// that `gm(c X) = c gm(X)` (SPEC 4.5). 0 runs exactly `max_iter` iterations.
    pub tol: f64,
    /// Smoothing: weights are `w_i / max(nu', ||z - x_i||)`, with `nu' = nu * S` when `tol > 0`
    /// and `nu' = nu` itself with `tol = 0` (the papers' fixed-iteration form, which defines
    /// it in the data's units); must be > 0.
    pub nu: f64,
}

impl GmParams {
    /// The crate's default: start at the coordinate-wise median, iterate to a step of 1e-6 of
    /// the data's scale (about f32 resolution) or 200 iterations, nu = 1e-6 of that scale:
    /// scale-equivariant from 1e-30 to 1e30.
    pub const DEFAULT: GmParams = GmParams {
        init: GmInit::Median,
        max_iter: 200,
        tol: 1e-6,
        nu: 1e-6,
    };
    /// The papers' code and ByzFL's `GeometricMedian`: start at 0, exactly 3 iterations, nu = 0.1.
    pub const RFA: GmParams = GmParams {
        init: GmInit::Zero,
        max_iter: 3,
        tol: 0.0,
        nu: 0.1,
    };
}

impl Default for GmParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The center that centered clipping starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Center {
    /// The zero vector.
    Zero,
    /// The output of another rule on the same batch.
    Rule(Box<Rule>),
}

/// A robust aggregation rule, as a user names it. Rules compose: `ctma(nnm(cwmed))`.
///
/// The text form ([`std::str::FromStr`] and [`fmt::Display`]) round-trips.
///
/// # Examples
///
/// ```
/// use byzagg::{Rule, ByzantineShare};
///
/// let rule: Rule = "ctma(cwmed,lambda=0.2)".parse()?;
/// assert_eq!(rule, Rule::ctma(Rule::CwMed, Some(ByzantineShare::Lambda(0.2))));
/// assert_eq!(rule.to_string(), "ctma(cwmed,lambda=0.2)");
///
/// // Bad text points at the problem.
/// let err = "krum(q=2)".parse::<Rule>().unwrap_err();
/// assert!(err.to_string().contains("q"));
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// Weighted mean (not robust: NaN or inf in any positive-weight row reaches the output).
    Mean,
    /// Weighted coordinate-wise median.
    CwMed,
    /// Weighted coordinate-wise trimmed mean.
    CwTm {
        /// Mass trimmed from each side; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Weighted mean around the median (MeaMed; ByzFL's `Meamed`, the second step of Bulyan).
    ///
    /// Per coordinate: `med` is the weighted median (SPEC 4.2, a midpoint kept in f64); the
    /// rows of positive weight are ordered by `|x_i - med|` (a NaN distance counts as `+inf`),
    /// ties by value (lower first, in the order of SPEC 3) then row index, and the output is
    /// the weighted mean of the prefix of mass `(1 - lambda) W` (the last row taken gives only
    /// the mass needed). With uniform weights and lambda = f/n: the mean of the n - f values
    /// closest to the median. Non-finite values are farthest from a finite median, so mass up
    /// to lambda W of them never reaches the output; if the median itself is not finite
    /// (non-finite values hold half the mass) the output is that median.
    MeaMed {
        /// Mass left out, lambda or f; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Bulyan (El Mhamdi et al. 2018, Flower's `Bulyan`): iterated Krum selects mass
    /// `(1 - 2 lambda) W`, then MeaMed keeps mass `(1 - 4 lambda) W` of it per coordinate.
    ///
    /// Weighted: a first pass of n x n distances; each round scores the rows still in the pool
    /// R (of mass W_R) by weighted Krum with neighbour mass `W_R - lambda W - w_i - W_R / |R|`
    /// but at least `W_R / |R|` (SPEC 4.4 with the Byzantine mass fixed at lambda W; the floor
    /// is Flower's one neighbour at least: with uniform weights max(1, |R| - f - 2) neighbours,
    /// so the last rounds, 3 candidates for f = 1, rank by the data instead of all scoring 0
    /// and taking the lowest index) and moves the best (least score,
    /// then lowest index) to the selection, until it holds mass `(1 - 2 lambda) W` (the last
    /// row only the mass needed). The output is [`Rule::MeaMed`] over the selection with those
    /// masses, keeping mass `(1 - 4 lambda) W` around each coordinate's median. With uniform
    /// weights and lambda = f/n: Krum picks n - 2f rows one at a time among the rest, then
    /// each coordinate averages the n - 4f values closest to the median, as published.
    /// Needs n >= 4f + 3 (n (1 - 4 lambda) >= 3). Rows with a non-finite value score `+inf`
    /// and are picked only when no finite row is left. Krum inside makes it, like Krum, scale
    /// invariant rather than a literal multiset rule (SPEC 4.4).
    Bulyan {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Comparative gradient elimination (CGE, Gupta et al. 2021, ByzFL's `CGE`): drop the mass
    /// lambda W of largest norm, average the rest.
    ///
    /// Weighted: the rows of positive weight ordered by (norm, index), a row with a non-finite
    /// value last (norm `+inf`); the weighted mean of the prefix of mass `(1 - lambda) W` (the
    /// last row only the mass needed). With uniform weights and lambda = f/n: the mean of the
    /// n - f rows of smallest norm. It is CTMA (SPEC 4.6) centered at the origin.
    Cge {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// MoNNA (Allouah et al. 2023, ByzFL's `MoNNA`): the mean of the mass `(1 - lambda) W`
    /// nearest to a trusted row, the pivot.
    ///
    /// Weighted: the rows of positive weight ordered by (squared distance to row `pivot`,
    /// index), a row with a non-finite value last; the weighted mean of the prefix of mass
    /// `(1 - lambda) W` (the last row only the mass needed). With uniform weights and lambda
    /// = f/n: the mean of the n - f rows nearest the pivot, itself included. The pivot is
    /// trusted: if it holds a non-finite value every distance is `+inf` and rows are taken
    /// in index order.
    Monna {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
        /// The trusted row, `0..n`.
        pivot: usize,
    },
    /// MDA, minimum-diameter averaging (El Mhamdi et al. 2020, ByzFL's `MDA`): the mean of the
    /// subset of mass `(1 - lambda) W` with the smallest diameter, searched exactly.
    ///
    /// Weighted: a subset of mass T = `(1 - lambda) W` is a mass vector `m` (`0 <= m_i <= w_i`,
    /// `sum m_i = T`; for integer weights, a sub-multiset of the rows repeated `w_i` times),
    /// its diameter the largest squared distance between two rows of positive mass (a row
    /// with a non-finite value is `+inf` from every row, itself included), and the output
    /// `sum m_i x_i / T` for the mass vector of least diameter, the lexicographically largest
    /// `(m_0, m_1, ...)` among equals (for integer weights: the first combination of copies,
    /// as ByzFL's loop keeps it). The diameter depends only on which rows take part, so this
    /// is exactly the rule on the multiset. With uniform weights and lambda = f/n: the mean of
    /// the n - f rows of least diameter. One pass of pairwise distances, a branch and bound
    /// over them on the host, one mix; n is limited to [`MDA_MAX_N`](crate::MDA_MAX_N).
    Mda {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// SMEA, smallest maximum eigenvalue averaging (Allouah et al. 2023, ByzFL's `SMEA`): the
    /// mean of the subset of mass `(1 - lambda) W` whose covariance has the least top
    /// eigenvalue, searched exactly.
    ///
    /// Weighted: the candidates are the mass vectors `m` of total T = `(1 - lambda) W` that
    /// give each row its whole weight or nothing, except at most one row given part of it
    /// (the corners of the set of all mass vectors); each is scored by the top eigenvalue of
    /// `sum m_i (x_i - mu)(x_i - mu)^T / T`, `mu = sum m_i x_i / T` (`+inf` if a row with a
    /// non-finite value has mass), and the output is the mean of the least, the
    /// lexicographically largest `(m_0, m_1, ...)` among equals. With uniform weights and
    /// lambda = f/n: the mean of the n - f rows of least top eigenvalue, the published rule
    /// with the eigenvalue exact (ByzFL takes one power step from a random vector).
    /// Eigenvalues equal in exact arithmetic may differ by rounding, and then either subset
    /// may win (as for Krum's scores, SPEC 5). With
    /// integer weights this is the rule on the multiset whenever the best sub-multiset takes
    /// all or none of the copies of every row but one, which always holds in one dimension
    /// (a variance is concave in the masses). In more dimensions the top eigenvalue is a
    /// maximum of such concave functions and a sub-multiset splitting two rows is not ruled
    /// out as the optimum, so there the multiset reading is not promised: the documented
    /// exception to SPEC section 2. The eigenvalues come from k x k Gram matrices
    /// of the n x n distances, no d-sized work per subset; n is limited to
    /// [`SMEA_MAX_N`](crate::SMEA_MAX_N).
    Smea {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// CAF, the covariance-bound agnostic filter (Allouah, Guerraoui and Stephan 2025, ByzFL's
    /// `CAF`), deterministic.
    ///
    /// Weighted: start from `c = w`; each round computes `mu = sum c_i x_i / C`
    /// (`C = sum c_i`), the top eigenvalue `s` and eigenvector `v` of
    /// `sum c_i (x_i - mu)(x_i - mu)^T / C`, then `c_i <- c_i (1 - tau_i / max_j tau_j)` with
    /// `tau_i = ((x_i - mu) . v)^2` and the maximum over every row of positive weight and
    /// finite values, those already at `c_j = 0` included (as ByzFL's `CAF`); rounds run
    /// while `C > (1 - 2 lambda) W` (the first always runs), at most
    /// [`CAF_MAX_ROUNDS`](crate::CAF_MAX_ROUNDS), and the output is the `mu` of the round of
    /// least `s` (the earliest among equals). Integer weights act as copies (copies of a row
    /// keep equal c), so this is the rule on the multiset; with uniform weights and
    /// lambda = f/n it is ByzFL's, except that the eigenpair is exact (the rows' Gram matrix
    /// from the n x n distances) where ByzFL takes one power step from a random vector, and
    /// that the rounds are bounded. A round with a non-finite row of positive c scores `+inf`
    /// and drops those rows (they lie infinitely far along the top direction); rounds stop
    /// early when the rows left coincide or a round changes no weight. n is limited to
    /// [`CAF_MAX_N`](crate::CAF_MAX_N).
    Caf {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Krum (`m = Some(1)` or `None` with `multi = false`) and Multi-Krum.
    Krum {
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
        /// `false`: output the best row. `true`: Multi-Krum, the weighted mean of `m` rows.
        multi: bool,
        /// Multi-Krum's number of rows; `None` averages the rows of least score up to a mass
        /// of `(1 - lambda) W` (the n - f best rows for uniform weights).
        m: Option<usize>,
    },
    /// Geometric median by smoothed Weiszfeld.
    Gm(GmParams),
    /// Centered trimmed meta-aggregator over a base rule.
    Ctma {
        /// The rule that gives the center.
        base: Box<Rule>,
        /// Mass trimmed; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Nearest-neighbour mixing, then the base rule.
    Nnm {
        /// The rule applied to the mixed rows.
        base: Box<Rule>,
        /// Neighbourhood mass is (1 - lambda) W; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// Bucketing: seeded shuffle, means of buckets of `s` rows, then the base rule.
    Bucketing {
        /// The rule applied to the bucket means.
        base: Box<Rule>,
        /// Bucket size (>= 1).
        s: usize,
        /// Seed of the shuffle.
        seed: u64,
    },
    /// Centered clipping.
    CenteredClipping {
        /// Starting point.
        center: Center,
        /// Clipping radius (> 0).
        tau: f64,
        /// Number of clipping steps (>= 1).
        iterations: usize,
    },
    /// Static norm clipping (ByzFL's `Clipping`), then the base rule: each row becomes
    /// `x_i * min(1, tau / ||x_i||)`.
    ///
    /// Weighted: the weights pass to the base unchanged (clipping is per row, so a row of
    /// weight w is w copies of the same clipped row). A row holding NaN or an infinity has an
    /// infinite norm, so its factor `tau / ||x_i||` is 0 and it becomes the zero vector (SPEC
    /// 3: a zero coefficient leaves no trace): the base only ever sees finite rows. With
    /// uniform weights: the published pre-aggregator followed by the base rule.
    Clip {
        /// The rule applied to the clipped rows.
        base: Box<Rule>,
        /// Clipping radius, finite and > 0.
        tau: f64,
    },
    /// Adaptive robust clipping (ARC, Allouah et al., ICLR 2025; ByzFL's `ARC`), then the base
    /// rule: the rows of largest norm, of mass `2 lambda (1 - lambda) W`, are clipped to the
    /// norm of the next row.
    ///
    /// Weighted: order the rows of positive weight by norm, largest first (a row holding NaN
    /// or an infinity has norm `+inf`); the threshold `tau` is the norm of the first row at
    /// which the mass taken so far exceeds `K = 2 lambda (1 - lambda) W` (by more than
    /// `MASS_EPS * W`); every row becomes `x_i * min(1, tau / ||x_i||)` (a non-finite row above
    /// a finite threshold becomes the zero vector), and the base rule runs on the clipped rows
    /// with the same weights. With uniform weights and lambda = f/n: the
    /// `k = floor(2 (f/n) (n - f))` rows of largest norm are clipped to the norm of the
    /// (k+1)-th largest, as published; integer weights are the multiset (the k-th copy).
    Arc {
        /// The rule applied to the clipped rows.
        base: Box<Rule>,
        /// f or lambda; `None` takes the default.
        share: Option<ByzantineShare>,
    },
    /// FLTrust (Cao et al., NDSS 2021): the server's root update g0 (given with the batch,
    /// [`Batch::with_root`](crate::Batch::with_root)) scores every row by
    /// `trust_i = max(0, cos(x_i, g0))`, every row is rescaled to the norm of g0, and the
    /// output is their trust-weighted mean.
    ///
    /// Weighted: `sum_i w_i trust_i (||g0|| / ||x_i||) x_i / sum_i w_i trust_i`, so integer
    /// weights are the multiset. A row holding NaN or an infinity, or of norm 0, has no
    /// direction and gets trust 0 (it leaves no trace). When every trust is 0 (every row
    /// points away from g0, or g0 is zero) the output is the zero vector, the aggregate the
    /// paper's server applies in that case (no step). The cosines come from distances to
    /// the root rescaled to each row's length (rows grouped by norm, one pass per group; the
    /// rows scaled to unit norm past three groups), never from the polarisation identity
    /// against g0 itself, so their accuracy does not degrade when `||x_i||` dwarfs `||g0||`.
    FlTrust,
}

impl Rule {
    /// `ctma(base)` with an optional Byzantine share.
    pub fn ctma(base: Rule, share: Option<ByzantineShare>) -> Rule {
        Rule::Ctma {
            base: Box::new(base),
            share,
        }
    }

    /// `nnm(base)` with an optional Byzantine share.
    pub fn nnm(base: Rule, share: Option<ByzantineShare>) -> Rule {
        Rule::Nnm {
            base: Box::new(base),
            share,
        }
    }

    /// `clip(base,tau=..)`: static norm clipping, then `base`.
    pub fn clip(base: Rule, tau: f64) -> Rule {
        Rule::Clip {
            base: Box::new(base),
            tau,
        }
    }

    /// `arc(base)`: adaptive robust clipping, then `base`, with an optional Byzantine share.
    pub fn arc(base: Rule, share: Option<ByzantineShare>) -> Rule {
        Rule::Arc {
            base: Box::new(base),
            share,
        }
    }

    /// `krum(f)`: the single best row.
    pub fn krum(f: usize) -> Rule {
        Rule::Krum {
            share: Some(ByzantineShare::F(f)),
            multi: false,
            m: None,
        }
    }

    /// How many rules this one nests, itself included: `cwmed` is 1, `ctma(nnm(cwmed))` 3.
    ///
    /// Counted in a loop (every rule holds at most one inner rule), so a rule built in code
    /// thousands of levels deep is measured without recursion and refused by [`Rule::plan`].
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::Rule;
    ///
    /// assert_eq!(Rule::CwMed.depth(), 1);
    /// assert_eq!("ctma(nnm(cwmed))".parse::<Rule>()?.depth(), 3);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn depth(&self) -> usize {
        std::iter::successors(Some(self), |r| r.nested()).count()
    }

    /// The rule this one runs on (a base or a centered-clipping center), if any.
    fn nested(&self) -> Option<&Rule> {
        match self {
            Rule::Ctma { base, .. }
            | Rule::Nnm { base, .. }
            | Rule::Bucketing { base, .. }
            | Rule::Clip { base, .. }
            | Rule::Arc { base, .. } => Some(base),
            Rule::CenteredClipping {
                center: Center::Rule(center),
                ..
            } => Some(center),
            _ => None,
        }
    }

    /// Whether the rule, or a rule it nests, is [`Rule::FlTrust`], which needs the server's
    /// root update ([`Batch::with_root`](crate::Batch::with_root)).
    ///
    /// ```
    /// use byzagg::Rule;
    ///
    /// assert!("ctma(fltrust)".parse::<Rule>()?.needs_root());
    /// assert!(!"clip(cwmed,tau=1)".parse::<Rule>()?.needs_root());
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn needs_root(&self) -> bool {
        std::iter::successors(Some(self), |r| r.nested()).any(|r| matches!(r, Rule::FlTrust))
    }
}

/// The deepest nesting of rules that the parser and [`Rule::plan`] accept (`ctma(nnm(cwmed))`
/// is 3 levels). Real compositions use 2 to 4; the bound keeps the recursive rule layer, and
/// the parser, from overflowing the stack on hostile input.
pub const MAX_DEPTH: usize = 32;

impl fmt::Display for ByzantineShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByzantineShare::Lambda(l) => write!(f, "lambda={l}"),
            ByzantineShare::F(n) => write!(f, "f={n}"),
        }
    }
}
