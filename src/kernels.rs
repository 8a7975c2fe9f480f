//! The four primitives that carry every rule (SPEC section 5), as one trait per backend, and
//! three fused pairs of them whose default methods call the primitives in turn (a backend may
//! do them in one pass: the CPU does).
//!
//! A backend holds matrices of `k x d` f32 values where its data lives (host memory for the
//! CPU, device buffers for wgpu and CUDA): the uploaded batch, a center, mixed rows. The rule
//! layer (`aggregate/`) strings the primitives together and only ever receives `n` or
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
    /// Weighted mean around the median (MeaMed): the mean of the mass `(1 - lambda) W` whose
    /// values lie closest to the weighted median (SPEC 4.8; see `Rule::MeaMed`).
    MeaMed {
        /// In [0, 1): the rule caps it below 1/2, Bulyan's second step goes past it.
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

    /// Overwrites row `row` of a resident matrix with `values` (length `d`): one transfer of
    /// `d` values, the step that keeps a training server's latest vectors on the device while
    /// one of them changes (`train::Server`). The matrix must be one the backend owns (made
    /// by [`Kernels::zeros`] or [`Kernels::upload`] on a device); rows that borrow the
    /// caller's memory (a host batch on the CPU, a caller's device buffer) are read-only and
    /// give an error naming `rows`. A bad `row` or length is an error and changes nothing.
    ///
    /// ```
    /// use byzagg::cpu::Cpu;
    /// use byzagg::{Aggregator, Backend, Kernels, Rule};
    ///
    /// let cpu = Cpu::new();
    /// let mut rows = cpu.zeros(3, 2)?; // three workers' latest vectors, d = 2
    /// cpu.write_row(&mut rows, 0, &[1.0, 10.0])?;
    /// cpu.write_row(&mut rows, 1, &[2.0, 20.0])?;
    /// cpu.write_row(&mut rows, 2, &[f32::NAN, 1e30])?; // Byzantine: data, not an error
    /// let agg = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
    /// let (median, _) = agg.aggregate_resident(&cpu, &rows, None)?;
    /// let mut out = [0.0f32; 2];
    /// cpu.download(&median, &mut out)?;
    /// assert_eq!(out, [2.0, 20.0]);
    /// assert!(cpu.write_row(&mut rows, 3, &[0.0, 0.0]).is_err()); // no row 3
    /// assert!(cpu.write_row(&mut rows, 0, &[0.0]).is_err()); // d = 2
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    fn write_row(&self, rows: &mut Self::Rows<'_>, row: usize, values: &[f32]) -> Result<()>;

    /// Waits until the work queued by earlier calls has finished. A primitive that returns a
    /// resident matrix may return before the device has computed it (CUDA queues its kernels
    /// on a stream); the CPU and wgpu backends return finished work, so for them this does
    /// nothing. Timings of resident primitives stop the clock after this call.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

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

    /// A bound on the relative error of this backend's [`Kernels::pairwise_dist`] and
    /// [`Kernels::center_dist`] values (and the fused kernels' distances) for rows of `d`
    /// coordinates, against the exactly rounded squared distance, with what lets two values
    /// that the reference rounds to one f64 be told apart (2^-52): two distances whose fast
    /// values lie further apart than it allows are ordered as their exact values are. `Some`
    /// only for a backend with [`Kernels::exact_pair_dist`] and [`Kernels::exact_center_dist`]:
    /// the rules then recompute exactly the few distances at a selection's boundary that the
    /// fast values cannot order (`aggregate/exact_ties.rs`), so exact ties go to the lower
    /// index as in the reference. `None` (the default): the distances are used as they are.
    /// wgpu's "exact" is the exact sum of the f32-rounded squares (its `serial` and
    /// `coalesced` distances), not the reference's f64 rounding: with `distances=fast` the
    /// bound is against that sum, which ties bit for bit wherever the multisets of squared
    /// differences are equal (`wgpu/fast_dist.rs`).
    fn dist_error(&self, d: usize) -> Option<f64> {
        let _ = d;
        None
    }

    /// The relative bound of [`Kernels::exact_pair_dist`] and [`Kernels::exact_center_dist`]
    /// values asked for with `exact = false` (as [`Kernels::dist_error`]: the reference's own
    /// rounding included). `None` (the default) where `dist_error` is `None`. `Some(0.0)`: the
    /// refined values are the exact ones already (wgpu, which has one recomputation kernel),
    /// and a rule that refines first (Krum) asks no second time with `exact = true`, so a
    /// real tie costs one recomputation per distance.
    fn refined_dist_error(&self, d: usize) -> Option<f64> {
        let _ = d;
        None
    }

    /// The squared distances of the pairs `(i, j)` of `rows`, `+inf` for a pair touching a
    /// row with a non-finite value. `exact = true`: exactly rounded (the reference's values:
    /// every term rounded to f64 as the reference rounds it, their sum rounded once);
    /// `exact = false`: within [`Kernels::refined_dist_error`] of them, for less work (a
    /// first step that separates all but real ties). Called only where
    /// [`Kernels::dist_error`] is `Some`; the default says the backend has none.
    fn exact_pair_dist(
        &self,
        rows: &Self::Rows<'_>,
        pairs: &[(usize, usize)],
        exact: bool,
    ) -> Result<Vec<f64>> {
        let _ = (rows, pairs, exact);
        Err(no_exact_dist(self.name()))
    }

    /// The squared distances (exactly rounded or refined, as in [`Kernels::exact_pair_dist`])
    /// of the rows `which` to `center` (a `1 x d` matrix), in the order of `which`. Called
    /// only where [`Kernels::dist_error`] is `Some`; the default says the backend has none.
    fn exact_center_dist(
        &self,
        rows: &Self::Rows<'_>,
        center: &Self::Rows<'_>,
        which: &[usize],
        exact: bool,
    ) -> Result<Vec<f64>> {
        let _ = (rows, center, which, exact);
        Err(no_exact_dist(self.name()))
    }

    /// Primitive 4, `mix`: `out (k x d) = C (k x n) * rows (n x d) [+ scale * base (k x d)]`,
    /// with `coeffs` row-major. Terms with a zero coefficient (and a zero `scale`) are
    /// skipped, so a NaN row with coefficient 0 leaves no trace; a non-finite value with a
    /// non-zero coefficient propagates as arithmetic says. Accurate to SPEC 5's 1e-5 of the
    /// scale: the CPU and CUDA accumulate in f64, wgpu in f32. `base` serves update steps such
    /// as centered clipping. `k` must be at least 1.
    fn mix(
        &self,
        rows: &Self::Rows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&Self::Rows<'_>, f64)>,
    ) -> Result<Self::Rows<'static>>;

    /// Whether [`Kernels::order_stats_with_dist`] and [`Kernels::mix_with_dist`] are fused: about
    /// the cost of the primitive alone, so a rule may ask for distances it will need only
    /// sometimes (the geometric median's next iteration, which its convergence test may make
    /// unnecessary). `false` by default: there the distances cost a pass of their own (and a
    /// round of messages in the shard protocol), and a rule asks for them only when it needs
    /// them.
    fn fuses_dist(&self) -> bool {
        false
    }

    /// [`Kernels::order_stats`] and the [`Kernels::center_dist`] of every row to its result:
    /// what CTMA over an order statistic and the geometric median's median start need. The
    /// default calls the two primitives; a backend may fuse them into one pass over the rows
    /// (the CPU does), with the same numbers to the bit.
    fn order_stats_with_dist(
        &self,
        rows: &Self::Rows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<(Self::Rows<'static>, Vec<f64>)> {
        let center = self.order_stats(rows, weights, stat)?;
        let dist = self.center_dist(rows, &center)?;
        Ok((center, dist))
    }

    /// [`Kernels::mix`] of one output row (`coeffs` holds one coefficient per row, no base) and
    /// the [`Kernels::center_dist`] of every row to it: a Weiszfeld iterate of the geometric
    /// median and the distances the next iteration needs. The default calls the two
    /// primitives; a backend may fuse them into one pass over the rows (the CPU does), with the
    /// same numbers to the bit.
    fn mix_with_dist(
        &self,
        rows: &Self::Rows<'_>,
        coeffs: &[f64],
    ) -> Result<(Self::Rows<'static>, Vec<f64>)> {
        let mixed = self.mix(rows, coeffs, 1, None)?;
        let dist = self.center_dist(rows, &mixed)?;
        Ok((mixed, dist))
    }

    /// [`Kernels::mix`] of `k` rows, then [`Kernels::order_stats`] over them with `weights`
    /// (one per mixed row): the `1 x d` order statistic of the mixed rows (NNM and bucketing
    /// over a coordinate-wise base). The result is the composition's, bit for bit; a backend
    /// may fuse the two so the `k x d` mixed matrix is never stored (the CPU mixes and reduces
    /// one cache-sized chunk of coordinates at a time). The default runs them in turn.
    fn mix_order_stats(
        &self,
        rows: &Self::Rows<'_>,
        coeffs: &[f64],
        k: usize,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<Self::Rows<'static>> {
        let mixed = self.mix(rows, coeffs, k, None)?;
        self.order_stats(&mixed, weights, stat)
    }
}

/// What a backend without exact distances answers when asked for them.
fn no_exact_dist(backend: &str) -> crate::error::Error {
    crate::error::Error::invalid(
        "backend",
        backend,
        "has no exact distances (its dist_error is None, so no rule asks for them)",
    )
}

/// The shape rules of the four primitives, checked by every backend's [`Kernels`] impl before
/// it forwards to the primitive's file: one rule, one message, whatever the backend. Limits
/// of a backend's own (CUDA's grid sizes, wgpu's chunking) stay with that backend.
pub(crate) mod shape {
    use crate::error::{Error, Result};

    /// `download`: `out` holds the whole `k x d` matrix.
    pub(crate) fn download((k, d): (usize, usize), out: usize) -> Result<()> {
        if out == k * d {
            return Ok(());
        }
        Err(Error::invalid(
            "out",
            format!("length {out}"),
            format!("must have length k * d = {}", k * d),
        ))
    }

    /// `write_row`: an existing row, and `d` values.
    pub(crate) fn write_row((k, d): (usize, usize), row: usize, values: usize) -> Result<()> {
        if row >= k {
            return Err(Error::invalid(
                "row",
                row,
                format!("must be below the number of rows k = {k}"),
            ));
        }
        if values != d {
            return Err(Error::invalid(
                "values",
                format!("length {values}"),
                format!("must have the rows' length d = {d}"),
            ));
        }
        Ok(())
    }

    /// A matrix that borrows the caller's memory, given to `write_row`.
    pub(crate) fn read_only(what: &str) -> Error {
        Error::invalid(
            "rows",
            what,
            "must be a matrix the backend owns (made by zeros, or uploaded to a device): \
             borrowed rows are read-only",
        )
    }

    /// `order_stats`: one weight per row.
    pub(crate) fn order_stats((n, _): (usize, usize), weights: usize) -> Result<()> {
        if weights == n {
            return Ok(());
        }
        Err(Error::invalid(
            "weights",
            format!("{weights} values"),
            format!("need one weight per row, n = {n}"),
        ))
    }

    /// `center_dist`: the center is one row as long as the rows.
    pub(crate) fn center_dist((_, d): (usize, usize), center: (usize, usize)) -> Result<()> {
        if center == (1, d) {
            return Ok(());
        }
        Err(Error::invalid(
            "center",
            format!("{} x {}", center.0, center.1),
            format!("must be 1 x d = 1 x {d}"),
        ))
    }

    /// `exact_pair_dist`: every pair names two rows of the matrix.
    pub(crate) fn pairs((k, _): (usize, usize), pairs: &[(usize, usize)]) -> Result<()> {
        match pairs.iter().find(|&&(i, j)| i >= k || j >= k) {
            None => Ok(()),
            Some(&(i, j)) => Err(Error::invalid(
                "pairs",
                format!("({i}, {j})"),
                format!("rows must be below k = {k}"),
            )),
        }
    }

    /// `exact_center_dist`: every row named is a row of the matrix.
    pub(crate) fn which((k, _): (usize, usize), which: &[usize]) -> Result<()> {
        match which.iter().find(|&&i| i >= k) {
            None => Ok(()),
            Some(i) => Err(Error::invalid("which", i, format!("rows must be below k = {k}"))),
        }
    }

    /// `mix`: at least one output row, `k * n` coefficients, and a base (if any) of the
    /// output's shape `k x d`.
    pub(crate) fn mix(
        (n, d): (usize, usize),
        coeffs: usize,
        k: usize,
        base: Option<(usize, usize)>,
    ) -> Result<()> {
        if k == 0 || coeffs != k * n {
            return Err(Error::invalid(
                "coeffs",
                format!("{coeffs} values for k = {k}"),
                format!("must hold k * n = {} values, k >= 1", k * n),
            ));
        }
        match base {
            Some(b) if b != (k, d) => Err(Error::invalid(
                "base",
                format!("{} x {}", b.0, b.1),
                format!("must be k x d = {k} x {d}"),
            )),
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_rule_names_its_parameter_and_bound() {
            let name = |r: Result<()>| match r {
                Err(Error::InvalidParameter { name, .. }) => name,
                other => panic!("{other:?}"),
            };
            assert!(download((2, 3), 6).is_ok());
            assert_eq!(name(download((2, 3), 5)), "out");
            assert!(write_row((2, 3), 1, 3).is_ok());
            assert_eq!(name(write_row((2, 3), 2, 3)), "row");
            assert_eq!(name(write_row((2, 3), 0, 4)), "values");
            assert!(order_stats((4, 9), 4).is_ok());
            assert_eq!(name(order_stats((4, 9), 3)), "weights");
            assert!(center_dist((4, 9), (1, 9)).is_ok());
            assert_eq!(name(center_dist((4, 9), (2, 9))), "center");
            assert_eq!(name(center_dist((4, 9), (1, 8))), "center");
            assert!(pairs((4, 9), &[(0, 3), (3, 3)]).is_ok());
            assert_eq!(name(pairs((4, 9), &[(0, 3), (4, 0)])), "pairs");
            assert!(which((4, 9), &[3, 0]).is_ok());
            assert_eq!(name(which((4, 9), &[1, 4])), "which");
            assert!(mix((4, 9), 8, 2, Some((2, 9))).is_ok());
            assert_eq!(name(mix((4, 9), 0, 0, None)), "coeffs");
            assert_eq!(name(mix((4, 9), 7, 2, None)), "coeffs");
            assert_eq!(name(mix((4, 9), 8, 2, Some((1, 9)))), "base");
            let message = mix((4, 9), 0, 0, None).unwrap_err().to_string();
            assert!(message.contains("k >= 1"), "{message}");
        }
    }
}
