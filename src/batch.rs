//! A borrowed view of the n input rows of one aggregation, and their weights (SPEC section 1).
//!
//! The rows come either from one contiguous row-major `n x d` slice or from n separate
//! slices (gradients often live in separate buffers); neither form copies the floats.
//! Weights are validated once, here, so every backend can trust them.

use crate::error::{Error, Result};

/// How the rows are laid out in memory.
#[derive(Clone, Debug)]
enum Layout<'a> {
    /// One row-major `n x d` slice.
    Contiguous(&'a [f32]),
    /// n slices of length d each.
    Separate(Vec<&'a [f32]>),
}

/// n rows of d `f32` values with optional weights, borrowed from the caller.
///
/// # Examples
///
/// ```
/// use byzagg::Batch;
///
/// // Contiguous, row-major: two rows of three values.
/// let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let batch = Batch::from_contiguous(&data, 2)?;
/// assert_eq!((batch.n(), batch.d()), (2, 3));
/// assert_eq!(batch.row(1), &[4.0, 5.0, 6.0]);
///
/// // Separate row buffers, weighted: the second worker delivered three updates.
/// let rows = [vec![1.0f32, 2.0], vec![3.0, 4.0]];
/// let batch = Batch::from_rows(&rows)?.with_weights(&[1.0, 3.0])?;
/// // Kept divided by the smallest (only the ratios matter, SPEC section 2).
/// assert_eq!(batch.weights(), &[1.0, 3.0]);
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Batch<'a> {
    layout: Layout<'a>,
    n: usize,
    d: usize,
    weights: Vec<f64>,
    weighted: bool,
    /// The server's root update (FLTrust), d values.
    root: Option<&'a [f32]>,
}

impl<'a> Batch<'a> {
    /// A batch of `n` rows from one row-major slice of `n * d` values.
    pub fn from_contiguous(data: &'a [f32], n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("n", n, "a batch needs at least one row"));
        }
        if data.is_empty() || !data.len().is_multiple_of(n) {
            return Err(Error::invalid(
                "data",
                format!("{} values", data.len()),
                format!("must be a positive multiple of n = {n} (n rows of d >= 1 values)"),
            ));
        }
        let d = data.len() / n;
        Ok(Self::new(Layout::Contiguous(data), n, d))
    }

    /// A batch from separate rows, all of the same length d >= 1.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &'a [R]) -> Result<Self> {
        let rows: Vec<&'a [f32]> = rows.iter().map(AsRef::as_ref).collect();
        let Some(first) = rows.first() else {
            return Err(Error::invalid("n", 0, "a batch needs at least one row"));
        };
        let d = first.len();
        if d == 0 {
            return Err(Error::invalid("d", 0, "rows need at least one value"));
        }
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != d) {
            return Err(Error::invalid(
                "rows",
                format!("row {i} of length {}", r.len()),
                format!("every row must have the length of row 0, d = {d}"),
            ));
        }
        let n = rows.len();
        Ok(Self::new(Layout::Separate(rows), n, d))
    }

    fn new(layout: Layout<'a>, n: usize, d: usize) -> Self {
        Batch {
            layout,
            n,
            d,
            weights: vec![1.0; n],
            weighted: false,
            root: None,
        }
    }

    /// Attaches weights: n values, each finite and >= 0, not all zero.
    ///
    /// Only their ratios matter (SPEC section 2); a row of weight 0 takes no part. They are
    /// kept divided by one of them, before anything sums them (see [`Batch::weights`]): the
    /// smallest positive weight, or the largest where the two are more than `2^53 / n` apart.
    /// What is kept depends on the ratios alone, so weights `c * w` give exactly the output
    /// that `w` gives wherever `c * w` holds the same ratios (`[1, 2, 1] * 0.85e308`, whose
    /// sum overflows, gives the output of `[1, 2, 1]`; `1e-310` times them, subnormal, too);
    /// no sum of n kept weights can overflow; equal weights are kept as ones and integer
    /// multiples of the smallest as exact integers, so exact tie tests (a median's `2 C == W`)
    /// hold whatever the common factor (`0.1 * 10 != 1.0` in f64).
    ///
    /// ```
    /// use byzagg::Batch;
    ///
    /// let rows = [[1.0f32], [2.0], [3.0]];
    /// let huge = Batch::from_rows(&rows)?.with_weights(&[0.85e308, 1.7e308, 0.85e308])?;
    /// assert!(huge.weights().iter().sum::<f64>().is_finite());
    /// let tiny = Batch::from_rows(&rows)?.with_weights(&[1e-310, 2e-310, 1e-310])?;
    /// assert_eq!(tiny.weights()[1], 2.0 * tiny.weights()[0]);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn with_weights(mut self, weights: &[f64]) -> Result<Self> {
        if weights.len() != self.n {
            return Err(Error::invalid(
                "weights",
                format!("{} values", weights.len()),
                format!("need one weight per row, n = {}", self.n),
            ));
        }
        if let Some((i, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(Error::invalid(
                "weights",
                format!("weights[{i}] = {w}"),
                "every weight must be finite and >= 0",
            ));
        }
        if weights.iter().all(|w| *w == 0.0) {
            return Err(Error::invalid(
                "weights",
                "all zero",
                "at least one weight must be > 0",
            ));
        }
        self.weights = normalized(weights);
        self.weighted = true;
        Ok(self)
    }

    /// Attaches the server's root update g0 (d values, all finite), which
    /// [`Rule::FlTrust`](crate::Rule::FlTrust) scores the rows against; other rules ignore it.
    ///
    /// The root comes with the batch, not with the [`Aggregator`](crate::Aggregator): it is
    /// data of one round, like the rows and the weights (an aggregator is opened once and
    /// reused round after round), and it is borrowed and checked against d here, once. Unlike
    /// the rows it is the server's own, trusted input, so NaN or an infinity in it is an
    /// error rather than Byzantine data.
    ///
    /// ```
    /// use byzagg::{Aggregator, Backend, Batch, Rule};
    ///
    /// let rows = [[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0]];
    /// let root = [2.0f32, 0.0];
    /// let batch = Batch::from_rows(&rows)?.with_root(&root)?;
    /// // Only row 0 points along the root (cosine 1; row 1 is orthogonal, row 2 opposite):
    /// // it is rescaled to the root's norm.
    /// let out = Aggregator::new(Rule::FlTrust, Backend::Cpu)?.aggregate(&batch)?;
    /// assert_eq!(out, vec![2.0, 0.0]);
    /// assert!(Batch::from_rows(&rows)?.with_root(&[1.0]).is_err());
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn with_root(mut self, root: &'a [f32]) -> Result<Self> {
        if root.len() != self.d {
            return Err(Error::invalid(
                "root",
                format!("{} values", root.len()),
                format!("the root update must have the rows' length d = {}", self.d),
            ));
        }
        if let Some(j) = root.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "root",
                format!("root[{j}] = {}", root[j]),
                "the server's root update must be finite",
            ));
        }
        self.root = Some(root);
        Ok(self)
    }

    /// The root update, if [`Batch::with_root`] gave one.
    pub fn root(&self) -> Option<&'a [f32]> {
        self.root
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Dimension of each row.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Row `i` (panics if `i >= n`, like slice indexing).
    pub fn row(&self, i: usize) -> &'a [f32] {
        match &self.layout {
            Layout::Contiguous(data) => &data[i * self.d..(i + 1) * self.d],
            Layout::Separate(rows) => rows[i],
        }
    }

    /// All rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &'a [f32]> + '_ {
        (0..self.n).map(|i| self.row(i))
    }

    /// The weights: all ones unless [`Batch::with_weights`] set them (then as it keeps them:
    /// divided by the smallest positive weight, or by the largest where they are far apart).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Whether weights were given.
    pub fn is_weighted(&self) -> bool {
        self.weighted
    }

    /// The coordinates `range` of every row, as a batch of the same weights (separate row
    /// slices, nothing copied): the part of the batch one shard holds. `range` must lie
    /// within `0..d` and be non-empty (the sharded engine gives only such ranges).
    pub(crate) fn columns(&self, range: std::ops::Range<usize>) -> Batch<'a> {
        debug_assert!(range.start < range.end && range.end <= self.d);
        let rows = self.rows().map(|r| &r[range.clone()]).collect();
        Batch {
            layout: Layout::Separate(rows),
            n: self.n,
            d: range.len(),
            weights: self.weights.clone(),
            weighted: self.weighted,
            root: self.root.map(|g| &g[range.clone()]),
        }
    }

    /// The first (row, coordinate) holding NaN or an infinity, if any.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        self.rows()
            .enumerate()
            .find_map(|(i, r)| r.iter().position(|v| !v.is_finite()).map(|j| (i, j)))
    }
}

/// The weights divided by a unit that depends on their ratios alone, so that scaling every
/// weight by one factor (exactly) changes nothing after this: the smallest positive weight,
/// which keeps integer multiples of it exact integers whose sums (at most `2^53`) are exact,
/// or, where the largest is more than `2^53 / n` times the smallest, the largest (then every
/// kept weight is at most 1; one far below the largest may round, down to 0 below
/// `2^-1074`). Either way no sum of n kept weights overflows. Each kept weight is one
/// correctly rounded division of two given weights.
fn normalized(weights: &[f64]) -> Vec<f64> {
    let min = weights
        .iter()
        .copied()
        .filter(|w| *w > 0.0)
        .fold(f64::INFINITY, f64::min);
    let max = weights.iter().copied().fold(0.0f64, f64::max);
    let exact_sums = 2f64.powi(53) / weights.len() as f64;
    // `max / min` is itself a correctly rounded ratio (+inf past f64's range): the choice of
    // unit depends on the ratios too.
    let unit = if max / min <= exact_sums { min } else { max };
    weights.iter().map(|w| w / unit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_weights_depend_on_the_ratios_alone() {
        let base = [1.0, 2.0, 3.0, 0.0];
        let kept = |w: &[f64]| {
            let rows = vec![[0.0f32]; w.len()];
            Batch::from_rows(&rows)
                .unwrap()
                .with_weights(w)
                .unwrap()
                .weights()
                .to_vec()
        };
        for scale in [
            1.0,
            f64::from_bits(1 << 14),
            2f64.powi(1021),
            2f64.powi(-1060),
            7.0,
            0.75,
        ] {
            let w: Vec<f64> = base.iter().map(|b| b * scale).collect();
            // Every scale here keeps the ratios exact, so the kept weights are the same bits.
            assert_eq!(kept(&w), [1.0, 2.0, 3.0, 0.0], "scale {scale:e}");
        }
        // Nine weights whose sum overflows: kept as the integers they are multiples of.
        let w: Vec<f64> = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0]
            .iter()
            .map(|b| b * 0.85e308)
            .collect();
        assert_eq!(kept(&w), [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0]);
        // Equal weights are ones; ratios beyond 2^53 / n are kept relative to the largest.
        assert_eq!(kept(&[0.1, 0.1, 0.1, 0.0]), [1.0, 1.0, 1.0, 0.0]);
        let far = kept(&[1e-300, 1.0, 1e300, 5e299]);
        assert_eq!(far, [1e-300 / 1e300, 1.0 / 1e300, 1.0, 0.5]);
        assert!(far.iter().sum::<f64>().is_finite());
    }
}
