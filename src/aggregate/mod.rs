//! The rule layer: each rule of SPEC section 4 as small host-side logic over the primitives of
//! [`Kernels`] (sort n distances, build mixing coefficients, pick Krum rows, run the Weiszfeld
//! loop). It never sees the backend's data, only `n` or `n x n` numbers, so the same code
//! drives every backend. [`run`] is the one match from a [`Plan`] to its rule's function, one
//! file per family of rules; composed rules call back into it for their base. [`execute`]
//! uploads a batch, runs a plan and downloads the result. The public entry point above this
//! layer is [`Aggregator`](crate::Aggregator) (`aggregator.rs`).

use crate::batch::Batch;
use crate::contract::{CAF_MAX_N, MDA_MAX_N, SMEA_MAX_N};
use crate::error::Result;
use crate::kernels::Kernels;
use crate::rule::Plan;
use clipping::{Threshold, centered_clipping, clip};
use fltrust::fltrust;
use gm::geometric_median;
use krum::{bulyan, krum};
use mass::mean_coeffs;
use nearest_mass::{ctma, nearest_mass_mean};
use pre_aggregators::{bucketing, nnm};
pub use report::{Report, Step};
use subset::{caf, subset_mean};

mod clipping;
mod exact_ties;
mod fltrust;
mod gm;
mod krum;
mod mass;
mod nearest_mass;
mod pre_aggregators;
mod report;
mod subset;

/// What one rule runs on: the backend's kernels, `n x d` resident rows and their weights
/// (n = `w.len()`), and the server's root update (FLTrust) where one is given. A composed
/// rule runs its base on other rows ([`Context::on`]) with the same kernels and root.
pub(crate) struct Context<'c, 'r, 'g, K: Kernels> {
    /// The backend.
    pub(crate) k: &'c K,
    /// The `n x d` rows, resident on `k`.
    pub(crate) rows: &'c K::Rows<'r>,
    /// The `1 x d` root update, resident on `k`.
    pub(crate) root: Option<&'c K::Rows<'g>>,
    /// The row length.
    pub(crate) d: usize,
    /// One weight per row.
    pub(crate) w: &'c [f64],
}

// Not derived: a derive would ask `K: Copy`, and the context holds only references.
impl<K: Kernels> Clone for Context<'_, '_, '_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kernels> Copy for Context<'_, '_, '_, K> {}

impl<'g, K: Kernels> Context<'_, '_, 'g, K> {
    /// The same kernels, `d` and root over other rows with their weights (a pre-aggregator's
    /// mixed rows for its base).
    pub(crate) fn on<'a, 'r>(&'a self, rows: &'a K::Rows<'r>, w: &'a [f64]) -> Context<'a, 'r, 'g, K> {
        Context {
            k: self.k,
            rows,
            root: self.root,
            d: self.d,
            w,
        }
    }
}

/// Runs one plan over the context's rows; returns a `1 x d` matrix. One function per rule,
/// in the family files; composed rules call back here for their base.
pub(crate) fn run<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    plan: &Plan,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context { k, rows, d, w, .. } = *cx;
    if let Some(stat) = plan.order_stat() {
        return k.order_stats(rows, w, stat);
    }
    match plan {
        Plan::Median | Plan::TrimmedMean { .. } | Plan::MeaMed { .. } => {
            unreachable!("an order statistic alone returned above")
        }
        Plan::Mean => k.mix(rows, &mean_coeffs(w), 1, None),
        Plan::Bulyan { lambda } => bulyan(cx, *lambda, report),
        Plan::Cge { lambda } => {
            let origin = k.zeros(1, d)?;
            let r = k.center_dist(rows, &origin)?;
            nearest_mass_mean(cx, &origin, r, *lambda)
        }
        Plan::Monna { lambda, pivot } => {
            let mut pick = vec![0.0; w.len()];
            pick[*pivot] = 1.0;
            // The pivot row and the distances to it in one pass.
            let (pivot, r) = k.mix_with_dist(rows, &pick)?;
            nearest_mass_mean(cx, &pivot, r, *lambda)
        }
        Plan::Mda { lambda } => {
            subset_mean(cx, "mda", MDA_MAX_N, |dist| subset::mda_masses(dist, w, *lambda))
        }
        Plan::Smea { lambda } => subset_mean(cx, "smea", SMEA_MAX_N, |dist| {
            subset::smea_masses(dist, w, *lambda)
        }),
        Plan::Caf { lambda } => subset_mean(cx, "caf", CAF_MAX_N, |dist| {
            let (coeffs, run) = caf::caf_coeffs(dist, w, *lambda);
            report.steps.push(Step::Caf {
                rounds: run.rounds,
                finished: run.finished,
            });
            coeffs
        }),
        Plan::Krum { lambda, m } => krum(cx, *lambda, *m, report),
        Plan::Gm(p) => geometric_median(cx, p, report),
        Plan::Ctma { base, lambda } => ctma(cx, base, *lambda, report),
        Plan::Nnm { base, lambda } => nnm(cx, base, *lambda, report),
        Plan::Bucketing { base, s, seed } => bucketing(cx, base, (*s, *seed), report),
        Plan::CenteredClipping {
            center,
            tau,
            iterations,
        } => centered_clipping(cx, center.as_deref(), (*tau, *iterations), report),
        Plan::Clip { base, tau } => clip(cx, base, Threshold::Fixed(*tau), report),
        Plan::Arc { base, lambda } => clip(cx, base, Threshold::Arc(*lambda), report),
        Plan::FlTrust => fltrust(cx, report),
    }
}

/// Uploads the batch, runs the plan on the kernels, downloads the result.
pub fn execute<K: Kernels>(
    k: &K,
    plan: &Plan,
    batch: &Batch<'_>,
    out: &mut [f32],
    report: &mut Report,
) -> Result<()> {
    execute_and_scan(k, plan, batch, out, report, Some(false))
}

/// [`execute`], then the scan for non-finite rows on the uploaded rows if `scan` says so:
/// always, never, or (`None`) when the downloaded output is not finite (see
/// [`Aggregator::scan_non_finite`](crate::Aggregator::scan_non_finite)).
pub(crate) fn execute_and_scan<K: Kernels>(
    k: &K,
    plan: &Plan,
    batch: &Batch<'_>,
    out: &mut [f32],
    report: &mut Report,
    scan: Option<bool>,
) -> Result<()> {
    plan.check_depth()?;
    let rows = k.upload(batch)?;
    let root = upload_root(k, batch)?;
    let (d, w) = (batch.d(), batch.weights());
    let cx = Context {
        k,
        rows: &rows,
        root: root.as_ref(),
        d,
        w,
    };
    let result = run(&cx, plan, report)?;
    k.download(&result, out)?;
    // The result is on the host now: its finiteness costs a read of d values there, not a
    // distance pass on the backend.
    if scan.unwrap_or_else(|| !all_finite(out)) {
        let bad = non_finite_rows(k, &rows, d)?;
        report.set_non_finite(plan, w, &bad);
    }
    Ok(())
}

/// Whether every value of `x` is finite. Without an early exit inside a block the check
/// compiles to vector code: 1.2 ms for 10^7 values on one core of the 2-core Zen 4 of
/// docs/PERFORMANCE.md, against 18-38 ms for `iter().all` (a tenth of the mean's time at n =
/// 16); a block holding a non-finite value still ends it.
fn all_finite(x: &[f32]) -> bool {
    x.chunks(4096)
        .all(|block| block.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Runs a plan over `n x d` rows already resident on a backend (a GPU batch that never
/// visits the host), with weights validated by the caller, then scans the rows if `scan`
/// says so: always, never, or (`None`) when the `1 x d` result holds NaN or an infinity (its
/// squared norm is `+inf`). The result stays where the backend keeps it.
pub(crate) fn run_resident_and_scan<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    plan: &Plan,
    report: &mut Report,
    scan: Option<bool>,
) -> Result<K::Rows<'static>> {
    plan.check_depth()?;
    let Context { k, rows, d, w, .. } = *cx;
    let out = run(cx, plan, report)?;
    let wanted = match scan {
        Some(always) => always,
        None => !k.center_dist(&out, &k.zeros(1, d)?)?[0].is_finite(),
    };
    if wanted {
        let bad = non_finite_rows(k, rows, d)?;
        report.set_non_finite(plan, w, &bad);
    }
    Ok(out)
}

/// The batch's root update (FLTrust) made resident as a `1 x d` matrix, if it has one.
fn upload_root<'a, K: Kernels>(k: &K, batch: &Batch<'a>) -> Result<Option<K::Rows<'a>>> {
    batch
        .root()
        .map(|g| k.upload(&Batch::from_contiguous(g, 1)?))
        .transpose()
}

/// Which resident rows hold NaN or an infinity: their squared distance to zero is `+inf`
/// (the distance primitives give `+inf` exactly for non-finite rows, SPEC section 3, and a
/// finite f32 row's squared norm cannot overflow f64).
fn non_finite_rows<K: Kernels>(k: &K, rows: &K::Rows<'_>, d: usize) -> Result<Vec<bool>> {
    let zero = k.zeros(1, d)?;
    Ok(k.center_dist(rows, &zero)?
        .iter()
        .map(|r| !r.is_finite())
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_finite_finds_each_kind_of_non_finite_value_in_any_block() {
        let mut x = vec![1.0f32; 3 * 4096 + 7];
        assert!(super::all_finite(&x));
        assert!(super::all_finite(&[]));
        for at in [0, 4095, 4096, x.len() - 1] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                x[at] = bad;
                assert!(!super::all_finite(&x), "{bad} at {at}");
                x[at] = f32::MAX;
            }
        }
        assert!(super::all_finite(&x));
    }
}
