//! Which rows of a case are poisoned: as many as the plan tolerates ([`tolerates`]), in a
//! seeded order, so that the output must stay finite.

use super::cases::{Pattern, Poison};
use crate::rng::SplitMix64;
use crate::rule::{Plan, tolerates};

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
