//! FLTrust: trust scores from the cosines to the server's root update, accurate whatever
//! the rows' lengths.

use super::{Context, Report, Step};
use crate::error::{Error, Result};
use crate::kernels::Kernels;

/// FLTrust ([`Rule::FlTrust`]): trust `max(0, cos(x_i, g0))`, rows rescaled to `||g0||`, the
/// mean weighted by `w_i trust_i`; the zero vector when every trust is 0. The cosines come
/// from [`cosines_to_root`].
pub(super) fn fltrust<K: Kernels>(
    cx: &Context<'_, '_, '_, K>,
    report: &mut Report,
) -> Result<K::Rows<'static>> {
    let Context {
        k, rows, root, d, w, ..
    } = *cx;
    let Some(root) = root else {
        return Err(Error::invalid(
            "root",
            "not given",
            "fltrust needs the server's root update (Batch::with_root, --root, root=)",
        ));
    };
    let n = w.len();
    let zero = k.zeros(1, d)?;
    let squares = k.center_dist(rows, &zero)?;
    let root_norm = k.center_dist(root, &zero)?[0].sqrt();
    // Rows with a direction: positive weight, finite, not zero.
    let usable: Vec<bool> = (0..n)
        .map(|i| w[i] > 0.0 && squares[i].is_finite() && squares[i] > 0.0)
        .collect();
    if root_norm == 0.0 || !usable.contains(&true) {
        report.steps.push(Step::FlTrust { trust: vec![0.0; n] });
        return Ok(zero);
    }
    let cos = cosines_to_root(k, rows, root, root_norm, &squares, &usable)?;
    report.steps.push(Step::FlTrust {
        trust: (0..n)
            .map(|i| if usable[i] { cos[i].max(0.0) } else { 0.0 })
            .collect(),
    });
    let trust: Vec<f64> = (0..n)
        .map(|i| if usable[i] { w[i] * cos[i].max(0.0) } else { 0.0 })
        .collect();
    let total: f64 = trust.iter().sum();
    if total == 0.0 {
        return Ok(zero);
    }
    let coeffs: Vec<f64> = (0..n)
        .map(|i| {
            if trust[i] > 0.0 {
                trust[i] / total * root_norm / squares[i].sqrt()
            } else {
                0.0
            }
        })
        .collect();
    k.mix(rows, &coeffs, 1, None)
}

/// Norm groups FLTrust serves with one center each before it scales the rows instead.
const COSINE_CENTERS: usize = 3;

/// `cos(x_i, g0)` for the `usable` rows (0 for the others), from the squared norms `squares`
/// and the root's norm, accurate to a few times the distance primitive's relative error
/// whatever `||x_i|| / ||g0||`.
///
/// The polarisation identity against the root itself, `(||x||^2 + ||g||^2 - ||x - g||^2) /
/// 2`, loses every digit when a long row meets a short root (the error is the distance's
/// relative error times `||x|| / ||g||`). It is accurate when the center has the row's
/// length, so the rows are grouped by norm (factors of 4: `floor(log4 ||x_i||)`), and each
/// group takes one pass of distances to the root rescaled to `2 * 4^b`, within a factor 2 of
/// every norm of the group: `cos = (||x||^2 + ||c||^2 - ||x - c||^2) / (2 ||x|| ||c||)`, an
/// error of at most about 5 relative errors of the distances. Honest rows share one or two
/// groups; past [`COSINE_CENTERS`] groups (rows of wildly different lengths) the rows are
/// scaled to unit norm instead (an `n x d` diagonal mix) and `cos = 1 - ||u_i - v||^2 / 2`,
/// one pass whatever the norms.
fn cosines_to_root<K: Kernels>(
    k: &K,
    rows: &K::Rows<'_>,
    root: &K::Rows<'_>,
    root_norm: f64,
    squares: &[f64],
    usable: &[bool],
) -> Result<Vec<f64>> {
    let n = squares.len();
    let group = |i: usize| (squares[i].log2() / 4.0).floor() as i32;
    let mut groups: Vec<i32> = (0..n).filter(|&i| usable[i]).map(group).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut cos = vec![0.0; n];
    // A center must hold its length in f32: not past f32's range (rows near 3e38 with a
    // root whose length sits in few coordinates), nor so short that its coordinates go
    // subnormal; either sends every group to the unit rows.
    let fits = |b: i32| (-100..=125).contains(&(2 * b + 1));
    if groups.len() <= COSINE_CENTERS && groups.iter().all(|&b| fits(b)) {
        let d = k.shape(rows).1;
        let zero = k.zeros(1, d)?;
        let mut centered = true;
        for &b in &groups {
            // 2 * 4^b, a power of two, within a factor 2 of the group's norms.
            let length = 2f64.powi(2 * b + 1);
            let center = k.mix(root, &[length / root_norm], 1, None)?;
            let c2 = k.center_dist(&center, &zero)?[0];
            if !c2.is_finite() {
                centered = false;
                break;
            }
            let r = k.center_dist(rows, &center)?;
            for i in (0..n).filter(|&i| usable[i] && group(i) == b) {
                let dot = (squares[i] + c2 - r[i]) / 2.0;
                cos[i] = (dot / (squares[i].sqrt() * c2.sqrt())).clamp(-1.0, 1.0);
            }
        }
        if centered {
            return Ok(cos);
        }
    }
    let mut diagonal = vec![0.0; n * n];
    for i in (0..n).filter(|&i| usable[i]) {
        diagonal[i * n + i] = 1.0 / squares[i].sqrt();
    }
    let units = k.mix(rows, &diagonal, n, None)?;
    let unit_root = k.mix(root, &[1.0 / root_norm], 1, None)?;
    let r = k.center_dist(&units, &unit_root)?;
    for i in (0..n).filter(|&i| usable[i]) {
        cos[i] = (1.0 - r[i] / 2.0).clamp(-1.0, 1.0);
    }
    Ok(cos)
}
