//! The four primitives that carry every rule (SPEC section 5), as one trait per backend.
//!
//! A backend holds matrices of `k x d` f32 values where its data lives (host memory for the
//! CPU, device buffers for wgpu and CUDA): the uploaded batch, a center, mixed rows. The rule
//! layer (`aggregate.rs`) strings the primitives together and only ever receives `n` or
//! `n x n` numbers (distances) back, so data stays on the device between the steps of a rule.
//!
//! Size is the backend's business: a primitive works on whole matrices and a backend splits
//! them into coordinate chunks as its memory or binding limits require (distance partial sums
//! are added in f64, coordinate-wise outputs are written per chunk).
//!
//! Non-finite values (SPEC section 3) are part of the contract of each method below.

use crate::batch::Batch;
use crate::error::Result;

/// Which reduction [`Kernels::order_stats`] applies to each coordinate's sorted values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrderStat {
    /// Weighted median (SPEC 4.2): the midpoint where the cumulative weight is exactly half.
    Median,
    /// Weighted trimmed mean (SPEC 4.3): mass `lambda * W` removed from each side.
    TrimmedMean {
        /// In [0, 1/2).
        lambda: f64,
    },
}

/// The four primitives of SPEC section 5 over backend-resident `k x d` matrices.
///
/// Weights and coefficients are validated by the caller: finite, >= 0, with a positive sum.
pub trait Kernels {
    /// A `k x d` row-major matrix of f32 where this backend keeps its data. The lifetime lets
    /// a host backend borrow the caller's batch instead of copying it.
    type Rows<'a>;

    /// The backend's name, as on the command line (`cpu`, `wgpu`, `cuda`).
    fn name(&self) -> &'static str;

    /// Rows and columns `(k, d)` of a resident matrix.
    fn shape(&self, rows: &Self::Rows<'_>) -> (usize, usize);

    /// Makes the batch resident (a borrow on the host, one upload on a device).
    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<Self::Rows<'a>>;

    /// A `k x d` matrix of zeros (a starting point for Weiszfeld or clipping).
    fn zeros(&self, k: usize, d: usize) -> Result<Self::Rows<'static>>;

    /// Copies a resident `k x d` matrix into `out` (length `k * d`, row-major).
    fn download(&self, rows: &Self::Rows<'_>, out: &mut [f32]) -> Result<()>;

    /// Primitive 1, `order_stats`: for every coordinate, orders the `(value, weight)` pairs of
    /// the rows of positive weight by -inf < finite < +inf < NaN, ties by row index, and
    /// reduces them by `stat`. Returns a `1 x d` matrix.
    fn order_stats(
        &self,
        rows: &Self::Rows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<Self::Rows<'static>>;

    /// Primitive 2, `pairwise_dist`: the `n x n` row-major matrix of squared Euclidean
    /// distances between rows. An entry touching a row with a non-finite value is `+inf`
    /// (never NaN), the diagonal included: the diagonal is 0 exactly for a finite row and
    /// `+inf` for a row holding NaN or an infinity, which tells the rules which rows those are.
    /// Summed without f32 precision loss (f64 partial sums, no overflow for finite f32 input).
    fn pairwise_dist(&self, rows: &Self::Rows<'_>) -> Result<Vec<f64>>;

    /// Primitive 3, `center_dist`: the `n` squared distances from each row to `center` (a
    /// `1 x d` matrix); `+inf` for a row or a center with a non-finite value.
    fn center_dist(&self, rows: &Self::Rows<'_>, center: &Self::Rows<'_>) -> Result<Vec<f64>>;

    /// Primitive 4, `mix`: `out (k x d) = C (k x n) * rows (n x d) [+ scale * base (k x d)]`,
    /// with `coeffs` row-major. Terms with a zero coefficient (and a zero `scale`) are
    /// skipped, so a NaN row with coefficient 0 leaves no trace; a non-finite value with a
    /// non-zero coefficient propagates as arithmetic says. Accumulates in f64 or with
    /// equivalent accuracy. `base` serves update steps such as centered clipping.
    fn mix(
        &self,
        rows: &Self::Rows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&Self::Rows<'_>, f64)>,
    ) -> Result<Self::Rows<'static>>;
}
