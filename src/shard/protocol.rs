//! The protocol's one message step, transport-neutral: [`Combine`] carries a holder's partial
//! to the others, [`sum_in_order`] is the pure combine, and [`Holder`] is one holder's
//! [`Kernels`]: its own backend over its coordinates, with every distance combined.

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, OrderStat};

/// Step 2 of the protocol: a transport between the holders of one batch.
///
/// `all_sum` gets this holder's partial (`n x n`, `n` or 1 doubles) and returns the sum of
/// every holder's partial of this round. The result must be bit-identical on every holder,
/// or they may decide differently: gather every partial and add them with [`sum_in_order`]
/// (a network all-reduce need not add in the same order on every host).
pub trait Combine {
    /// The sum over holders of this round's partials; `Err` if the transport fails.
    fn all_sum(&self, partial: Vec<f64>) -> Result<Vec<f64>>;
}

/// The combine of the protocol: the element-wise sum of the holders' partials, added in
/// holder order, so that every holder that adds the same partials gets the same bits.
/// Partials are distances in `[0, +inf]`: the sum is `+inf` exactly where some holder saw a
/// non-finite value, as [`Kernels::pairwise_dist`] promises.
///
/// ```
/// use byzagg::shard::sum_in_order;
///
/// let sum = sum_in_order(&[vec![1.0, f64::INFINITY], vec![2.0, 3.0]])?;
/// assert_eq!(sum, vec![3.0, f64::INFINITY]);
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn sum_in_order<P: AsRef<[f64]>>(partials: &[P]) -> Result<Vec<f64>> {
    let Some(first) = partials.first() else {
        return Err(Error::invalid(
            "partials",
            "none",
            "need one partial per holder, at least one",
        ));
    };
    let len = first.as_ref().len();
    let mut sum = first.as_ref().to_vec();
    for (h, p) in partials.iter().enumerate().skip(1) {
        let p = p.as_ref();
        if p.len() != len {
            return Err(Error::invalid(
                "partials",
                format!("holder {h} sent {} values", p.len()),
                format!("every holder sends the same number of values, {len} here"),
            ));
        }
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    Ok(sum)
}

/// One holder of a sharded batch: the backend `local` over this holder's coordinates of
/// every row, and the transport `combine` to the others. As [`Kernels`] it is what the rule
/// layer runs on: coordinate-wise primitives stay local, distances are combined, so
/// [`crate::execute`] on a holder's part of the batch computes that part of the result.
///
/// # Examples
///
/// Two holders in one process, each with two of the four coordinates; the transport here is
/// a sum the test does by hand (a real one would send the partial to the other host):
///
/// ```
/// use byzagg::cpu::Cpu;
/// use byzagg::shard::{Combine, Holder};
/// use byzagg::{Batch, Kernels, Report, Result, Rule, execute};
///
/// /// The other holder's partials, known in advance in this example.
/// struct Known(Vec<f64>);
/// impl Combine for Known {
///     fn all_sum(&self, mine: Vec<f64>) -> Result<Vec<f64>> {
///         Ok(mine.iter().zip(&self.0).map(|(a, b)| a + b).collect())
///     }
/// }
///
/// let rows = [[0.0f32; 4], [1.0; 4], [2.0; 4], [9.0; 4]];
/// let left: Vec<[f32; 2]> = rows.iter().map(|r| [r[0], r[1]]).collect();
/// let left = Batch::from_rows(&left)?;
/// // The other holder's two coordinates equal these, so its partial equals ours.
/// let theirs = Cpu.pairwise_dist(&Cpu.upload(&left)?)?;
/// let holder = Holder::new(Cpu, Known(theirs));
/// let plan = "krum(f=0)".parse::<Rule>()?.plan(4, None)?;
/// let mut out = [0.0f32; 2];
/// execute(&holder, &plan, &left, &mut out, &mut Report::default())?;
/// assert_eq!(out, [1.0, 1.0]); // row 1, chosen on the distances over all four coordinates
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Holder<K, C> {
    local: K,
    combine: C,
}

impl<K: Kernels, C: Combine> Holder<K, C> {
    /// A holder computing on `local` and combining through `combine`.
    pub fn new(local: K, combine: C) -> Self {
        Holder { local, combine }
    }

    /// The backend over this holder's coordinates.
    pub fn local(&self) -> &K {
        &self.local
    }

    /// The transport.
    pub fn transport(&self) -> &C {
        &self.combine
    }
}

impl<K: Kernels, C: Combine> Kernels for Holder<K, C> {
    type Rows<'a> = K::Rows<'a>;

    fn name(&self) -> &'static str {
        self.local.name()
    }

    fn shape(&self, rows: &Self::Rows<'_>) -> (usize, usize) {
        self.local.shape(rows)
    }

    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<Self::Rows<'a>> {
        self.local.upload(batch)
    }

    fn zeros(&self, k: usize, d: usize) -> Result<Self::Rows<'static>> {
        self.local.zeros(k, d)
    }

    fn download(&self, rows: &Self::Rows<'_>, out: &mut [f32]) -> Result<()> {
        self.local.download(rows, out)
    }

    fn synchronize(&self) -> Result<()> {
        self.local.synchronize()
    }

    /// The holder's own columns of the row (the caller splits it as the batch is split).
    fn write_row(&self, rows: &mut Self::Rows<'_>, row: usize, values: &[f32]) -> Result<()> {
        self.local.write_row(rows, row, values)
    }

    fn order_stats(
        &self,
        rows: &Self::Rows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<Self::Rows<'static>> {
        self.local.order_stats(rows, weights, stat)
    }

    fn pairwise_dist(&self, rows: &Self::Rows<'_>) -> Result<Vec<f64>> {
        self.combine.all_sum(self.local.pairwise_dist(rows)?)
    }

    fn center_dist(&self, rows: &Self::Rows<'_>, center: &Self::Rows<'_>) -> Result<Vec<f64>> {
        self.combine.all_sum(self.local.center_dist(rows, center)?)
    }

    fn mix(
        &self,
        rows: &Self::Rows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&Self::Rows<'_>, f64)>,
    ) -> Result<Self::Rows<'static>> {
        self.local.mix(rows, coeffs, k, base)
    }
}
