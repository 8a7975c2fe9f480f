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
        }
    }

    /// Attaches weights: n values, each finite and >= 0, not all zero.
    ///
    /// Only their ratios matter (SPEC section 2); a row of weight 0 takes no part. When all
    /// positive weights are equal they are stored as ones, which changes no rule's output
    /// but keeps the exact tie tests of uniform weights exact.
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
        // Equal positive weights are uniform weights: store them as ones so that exact mass
        // tests (a median's 2 C == W) hold whatever the common value (0.1 * 10 != 1.0 in f64).
        let positive: Vec<f64> = weights.iter().copied().filter(|w| *w > 0.0).collect();
        let equal = positive.iter().all(|w| *w == positive[0]);
        self.weights = weights
            .iter()
            .map(|w| if equal && *w > 0.0 { 1.0 } else { *w })
            .collect();
        self.weighted = true;
        Ok(self)
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

    /// The weights: all ones unless [`Batch::with_weights`] set them.
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
        }
    }

    /// The first (row, coordinate) holding NaN or an infinity, if any.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        self.rows()
            .enumerate()
            .find_map(|(i, r)| r.iter().position(|v| !v.is_finite()).map(|j| (i, j)))
    }
}
