//! What a poisoned case holds (its [`Pattern`], each row's [`Poison`]) and which rows are
//! poisoned: as many as the plan tolerates ([`tolerates`]), in a
//! seeded order, so that the output must stay finite.

use std::fmt;

use crate::rng::SplitMix64;
use crate::rule::{Plan, tolerates};

/// Which Byzantine rows a case holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Every value finite and of the case's magnitude.
    Finite,
    /// One row of NaN.
    NanRow,
    /// As many outlier rows as the rule tolerates, cycling through the [`Poison`] kinds.
    Outliers,
    /// Every value within 1/16 of the case's magnitude (+-3e38), all of one sign: the sum of
    /// two values overflows f32 though their midpoint and mean do not, so a backend that
    /// computes `(a + b) / 2` or an unscaled distance returns inf. No poisoned rows.
    HugeSameSign,
}

/// What a poisoned row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poison {
    /// NaN in every coordinate.
    Nan,
    /// +inf in every coordinate.
    PosInf,
    /// -inf in every coordinate.
    NegInf,
    /// 1e38 in every coordinate: finite, but its squared distances overflow f32.
    Huge,
    /// A normal row but for one NaN coordinate.
    NanCoordinate,
}

impl fmt::Display for Poison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Poison::Nan => "nan",
            Poison::PosInf => "+inf",
            Poison::NegInf => "-inf",
            Poison::Huge => "1e38",
            Poison::NanCoordinate => "one-nan",
        })
    }
}

/// Chooses the poisoned rows of a pattern, in a seeded order, keeping only what the plan
/// tolerates; `None` if the pattern cannot be realised (then the case would repeat another).
pub(super) fn poison(plan: &Plan, w: &[f64], pattern: Pattern, seed: u64) -> Option<Vec<(usize, Poison)>> {
    let n = w.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64(seed ^ 0xBAD0_BAD0_BAD0_BAD0);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut bad = vec![false; n];
    let mut chosen = Vec::new();
    match pattern {
        Pattern::Finite | Pattern::HugeSameSign => return Some(chosen),
        // The mean is not robust: one NaN row must make its output NaN, like the reference.
        Pattern::NanRow if *plan == Plan::Mean => chosen.push((order[0], Poison::Nan)),
        Pattern::NanRow => {
            let i = order.into_iter().find(|&i| {
                bad[i] = true;
                let ok = tolerates(plan, w, &bad);
                bad[i] = false;
                ok
            })?;
            chosen.push((i, Poison::Nan));
        }
        Pattern::Outliers => {
            const KINDS: [Poison; 4] = [
                Poison::PosInf,
                Poison::NegInf,
                Poison::Huge,
                Poison::NanCoordinate,
            ];
            // A rule that tolerates every row poisoned (clipping zeroes them, FLTrust gives
            // them no trust) gets a minority of the weight, so finite rows still shape the
            // output.
            let unbounded = tolerates(plan, w, &vec![true; n]);
            let total: f64 = w.iter().sum();
            let mut mass = 0.0;
            for i in order {
                bad[i] = true;
                if tolerates(plan, w, &bad) && (!unbounded || 2.0 * (mass + w[i]) < total) {
                    mass += w[i];
                    chosen.push((i, KINDS[chosen.len() % KINDS.len()]));
                } else {
                    bad[i] = false;
                }
            }
            if chosen.is_empty() {
                return None;
            }
        }
    }
    chosen.sort_by_key(|&(i, _)| i);
    Some(chosen)
}
