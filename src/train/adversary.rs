//! The Byzantine workers' side of a run: turns an [`Attack`] and what the omniscient adversary
//! sees ([`HonestView`]) into the vectors sent. It holds what an attack must remember between
//! rounds (mimic's direction and target), the random stream, and, for the searched attacks
//! (optimal IPM and ALIE), its own copy of the rule in use to evaluate candidates with.
//!
//! Sync and async forms: a synchronous round's view holds every honest vector of the round with
//! weight 1 and f Byzantine rows of weight 1; asynchronously it holds the honest workers' latest
//! vectors at the server weighted by their update counts, and the Byzantine workers' counts.
//! The formulas below read both the same way; what differs is what the view holds.

use crate::aggregator::Aggregator;
use crate::backend::Backend;
use crate::batch::Batch;
use crate::error::Result;
use crate::rule::{ByzantineShare, Rule};

use super::attack::{AlieForm, Attack, Deviation, HonestView};
use super::rng::Rng;

/// ByzFL's line search for the optimal attacks: evaluations, first factor, first step, and the
/// step's contraction ratio (`evals=20, start=0.0, delta=10.0, ratio=0.8`).
const SEARCH_EVALS: usize = 20;
const SEARCH_START: f64 = 0.0;
const SEARCH_DELTA: f64 = 10.0;
const SEARCH_RATIO: f64 = 0.8;

/// Min-max and min-sum's bisection (the NDSS authors' code): first gamma and the stopping gap.
const SCALE_START: f64 = 10.0;
const SCALE_GAP: f64 = 1e-5;

/// The Byzantine workers of one run.
pub struct Adversary {
    attack: Attack,
    rng: Rng,
    /// The rule in use, for the searched attacks (None for the others).
    search: Option<Aggregator>,
    mimic: MimicState,
}

/// Mimic's memory: attacks so far, the running mean of the honest vectors, the direction z.
#[derive(Default)]
struct MimicState {
    attacks: u64,
    mu: Vec<f64>,
    z: Vec<f64>,
    target: Option<usize>,
}

impl Adversary {
    /// An adversary for `attack` against `rule` (built on `backend`, assuming `share`, as the
    /// server's); `seed` is the run's.
    pub fn new(
        attack: Attack,
        rule: &Rule,
        backend: Backend,
        share: ByzantineShare,
        seed: u64,
    ) -> Result<Self> {
        let search = match attack {
            Attack::OptimalIpm | Attack::OptimalAlie => {
                Some(Aggregator::new(rule.clone(), backend)?.with_byzantine_share(share))
            }
            _ => None,
        };
        Ok(Adversary {
            attack,
            rng: Rng::stream(seed, 0xA77AC, 0),
            search,
            mimic: MimicState::default(),
        })
    }

    /// The attack.
    pub fn attack(&self) -> Attack {
        self.attack
    }

    /// The vectors that Byzantine workers send now, one per entry of `estimates` (each the
    /// sender's honest estimate, empty where [`Attack::needs_estimate`] is false); `d` is the
    /// dimension. A synchronous round passes its f Byzantine workers at once; an asynchronous
    /// arrival passes one. Errors only where the searched attacks' rule refuses the batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::{Adversary, Attack, HonestView};
    /// use byzagg::{Backend, ByzantineShare, Rule};
    ///
    /// let rows: [&[f32]; 2] = [&[1.0, 2.0], &[3.0, 2.0]];
    /// let view = HonestView { rows: rows.to_vec(), weights: vec![1.0, 1.0], workers: (3, 1),
    ///     updates: (3, 1), ids: vec![0, 1], byzantine_weights: vec![1.0] };
    /// let mut adv = |a: Attack| Adversary::new(a, &Rule::CwMed, Backend::Reference, ByzantineShare::F(1), 0).unwrap();
    /// assert_eq!(adv(Attack::SignFlip).send(vec![vec![1.0, -2.0]], &view, 2)?, vec![vec![-1.0, 2.0]]);
    /// assert_eq!(adv(Attack::Empire { epsilon: 0.5 }).send(vec![vec![]], &view, 2)?, vec![vec![-1.0, -1.0]]);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn send(
        &mut self,
        estimates: Vec<Vec<f32>>,
        view: &HonestView<'_>,
        d: usize,
    ) -> Result<Vec<Vec<f32>>> {
        if self.attack.same_for_all() {
            let v = self.shared(view, d)?;
            return Ok(vec![v; estimates.len()]);
        }
        Ok(estimates.into_iter().map(|e| self.own(e, view, d)).collect())
    }

    /// The attacks that send one vector for all Byzantine workers of a round.
    fn shared(&mut self, view: &HonestView<'_>, d: usize) -> Result<Vec<f32>> {
        if view.rows.is_empty() {
            // Nothing honest has arrived yet: nothing to imitate or to push against.
            return Ok(vec![0.0; d]);
        }
        Ok(match self.attack {
            Attack::Empire { epsilon } => {
                let (mean, _) = moments(view, d, Spread::None);
                to_f32(mean.iter().map(|m| -(epsilon as f64) * m))
            }
            Attack::Alie { form } => {
                let z = Attack::alie_z(form, view);
                // The sync form's rows have weight 1 each: the sample standard deviation
                // (n - 1), as the ICML code's `torch.std` and Baruch et al.; the async form
                // keeps the NeurIPS code's population spread over the counts.
                let spread = match form {
                    AlieForm::Sync => Spread::Unbiased,
                    AlieForm::Async => Spread::Population,
                };
                let (mean, std) = moments(view, d, spread);
                to_f32(mean.iter().zip(&std).map(|(m, s)| m - z * s))
            }
            Attack::Mimic { warmup } => self.mimic(view, d, warmup),
            Attack::OptimalIpm => {
                let (mean, _) = moments(view, d, Spread::None);
                let tau = self.line_search(view, &mean, |tau| to_f32(mean.iter().map(|m| -tau * m)))?;
                to_f32(mean.iter().map(|m| -tau * m))
            }
            Attack::OptimalAlie => {
                let (mean, std) = moments(view, d, Spread::Unbiased);
                let candidate = |tau: f64| to_f32(mean.iter().zip(&std).map(|(m, s)| m + tau * s));
                let tau = self.line_search(view, &mean, candidate)?;
                candidate(tau)
            }
            Attack::MinMax { deviation } => scaled_deviation(view, d, deviation, Constraint::MaxDistance),
            Attack::MinSum { deviation } => scaled_deviation(view, d, deviation, Constraint::SumOfSquares),
            // Not shared: `same_for_all` is false for the rest.
            _ => vec![0.0; d],
        })
    }

    /// The attacks where each Byzantine worker sends its own vector.
    fn own(&mut self, estimate: Vec<f32>, view: &HonestView<'_>, d: usize) -> Vec<f32> {
        match self.attack {
            Attack::SignFlip => estimate.into_iter().map(|v| -v).collect(),
            Attack::Gaussian { sigma } => (0..d)
                .map(|_| (sigma as f64 * self.rng.normal()) as f32)
                .collect(),
            Attack::Nan => vec![f32::NAN; d],
            Attack::Inf => vec![f32::INFINITY; d],
            Attack::Fang { b } => self.fang(view, d, b as f64),
            // None and label flipping send the estimate (computed on flipped labels for the latter).
            _ => estimate,
        }
    }

    /// Mimic (Karimireddy et al. 2022): while `attacks < warmup`, one averaged power-iteration
    /// step on the centred honest vectors c_i = x_i - mu updates z (z <- normalise(sum_i <c_i, z>
    /// c_i), started from a seeded Gaussian z), and the target becomes argmax_i <x_i, z>; after
    /// the warmup the target stays. Sends the target's vector.
    fn mimic(&mut self, view: &HonestView<'_>, d: usize, warmup: u64) -> Vec<f32> {
        let n = view.rows.len() as f64;
        let mut avg = vec![0.0f64; d];
        for r in &view.rows {
            for (a, v) in avg.iter_mut().zip(r.iter()) {
                *a += *v as f64 / n;
            }
        }
        let st = &mut self.mimic;
        let t = st.attacks as f64;
        if st.attacks == 0 {
            let mut rng = Rng::stream(self.rng.next_u64(), 0x313C, 0);
            st.mu = avg;
            st.z = (0..d).map(|_| rng.normal()).collect();
            if let Some(step) = power_step(&view.rows, &st.mu, &st.z) {
                st.z = step;
            }
        } else if st.attacks < warmup {
            for (m, a) in st.mu.iter_mut().zip(&avg) {
                *m = t / (t + 1.0) * *m + a / (t + 1.0);
            }
            if let Some(step) = power_step(&view.rows, &st.mu, &st.z) {
                for (z, s) in st.z.iter_mut().zip(&step) {
                    *z = t / (t + 1.0) * *z + s / (t + 1.0);
                }
                normalise(&mut st.z);
            }
        }
        let follow = st.target.and_then(|id| view.ids.iter().position(|&i| i == id));
        let row = match follow {
            Some(k) if st.attacks >= warmup => k,
            _ => {
                let dot = |r: &[f32]| r.iter().zip(&st.z).map(|(v, z)| *v as f64 * z).sum::<f64>();
                let mut best = 0;
                for k in 1..view.rows.len() {
                    if dot(view.rows[k]) > dot(view.rows[best]) {
                        best = k;
                    }
                }
                st.target = view.ids.get(best).copied();
                best
            }
        };
        st.attacks += 1;
        view.rows[row].to_vec()
    }

    /// ByzFL's line search for the factor tau of a candidate vector, maximising the distance
    /// ||rule(honest rows, candidate on every Byzantine row) - honest mean||: an expansion phase
    /// (from tau = 0, step 10, doubling the step while it improves) then a contraction phase
    /// (the step times 0.8 after each try), 20 evaluations in all.
    fn line_search(
        &self,
        view: &HonestView<'_>,
        mean: &[f64],
        candidate: impl Fn(f64) -> Vec<f32>,
    ) -> Result<f64> {
        let Some(agg) = &self.search else {
            return Ok(SEARCH_START);
        };
        let mut weights = view.weights.clone();
        weights.extend(&view.byzantine_weights);
        let unit = weights.iter().all(|w| *w == 1.0);
        let eval = |tau: f64| -> Result<f64> {
            let byz = candidate(tau);
            let mut rows: Vec<&[f32]> = view.rows.clone();
            rows.extend(view.byzantine_weights.iter().map(|_| byz.as_slice()));
            let mut batch = Batch::from_rows(&rows)?;
            if !unit {
                batch = batch.with_weights(&weights)?;
            }
            let out = agg.aggregate(&batch)?;
            Ok(out
                .iter()
                .zip(mean)
                .map(|(o, m)| (*o as f64 - m).powi(2))
                .sum::<f64>()
                .sqrt())
        };
        let (mut best_x, mut best_y) = (SEARCH_START, eval(SEARCH_START)?);
        let mut delta = SEARCH_DELTA;
        let mut left = SEARCH_EVALS - 1;
        while left > 0 {
            let (x, y) = (best_x + delta, eval(best_x + delta)?);
            left -= 1;
            if y > best_y {
                (best_x, best_y) = (x, y);
                delta *= 2.0;
            } else {
                delta *= SEARCH_RATIO;
                break;
            }
        }
        while left > 0 {
            let (x, y) = (best_x + delta, eval(best_x + delta)?);
            left -= 1;
            if y > best_y {
                (best_x, best_y) = (x, y);
            }
            delta *= SEARCH_RATIO;
        }
        Ok(best_x)
    }

    /// Fang et al.'s full-knowledge attack on median and trimmed mean, for gradients (the
    /// server steps along minus the aggregate): where the honest mean of coordinate j is
    /// positive the model would decrease, so the attack pulls the gradient below the honest
    /// minimum, drawing uniformly from [min/b, min] (min > 0) or [b min, min]; elsewhere it
    /// pushes above the honest maximum, from [max, b max] (max > 0) or [max/b, max].
    fn fang(&mut self, view: &HonestView<'_>, d: usize, b: f64) -> Vec<f32> {
        if view.rows.is_empty() {
            return vec![0.0; d];
        }
        let (mean, _) = moments(view, d, Spread::None);
        (0..d)
            .map(|j| {
                let col = view.rows.iter().map(|r| r[j] as f64);
                let (lo, hi) = col.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                let (a, c) = if mean[j] > 0.0 {
                    if lo > 0.0 { (lo / b, lo) } else { (b * lo, lo) }
                } else if hi > 0.0 {
                    (hi, b * hi)
                } else {
                    (hi / b, hi)
                };
                (a + self.rng.uniform() * (c - a)) as f32
            })
            .collect()
    }
}

/// Which spread [`moments`] computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spread {
    None,
    /// sum w (x - mean)^2 / W (async ALIE as the NeurIPS code computes it).
    Population,
    /// sum w (x - mean)^2 / (W - 1): with unit weights the sample std (ddof = 1) that ByzFL and
    /// the NDSS code use; with counts, the frequency-weighted unbiased estimate.
    Unbiased,
}

/// Weighted coordinate mean and spread of the honest rows.
fn moments(view: &HonestView<'_>, d: usize, spread: Spread) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0f64; d];
    let mut var = vec![0.0f64; d];
    let total: f64 = view.weights.iter().sum();
    if total <= 0.0 {
        return (mean, var);
    }
    for (r, w) in view.rows.iter().zip(&view.weights) {
        for (m, v) in mean.iter_mut().zip(r.iter()) {
            *m += w * *v as f64 / total;
        }
    }
    let denom = match spread {
        Spread::None => return (mean, var),
        Spread::Population => total,
        Spread::Unbiased if total > 1.0 => total - 1.0,
        Spread::Unbiased => return (mean, var),
    };
    for (r, w) in view.rows.iter().zip(&view.weights) {
        for ((s, v), m) in var.iter_mut().zip(r.iter()).zip(&mean) {
            *s += w * (*v as f64 - m).powi(2) / denom;
        }
    }
    for s in var.iter_mut() {
        *s = s.sqrt();
    }
    (mean, var)
}

/// The distance constraint of min-max or min-sum.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Constraint {
    /// max_i ||v - x_i||^2 <= max_{i,j} ||x_i - x_j||^2.
    MaxDistance,
    /// sum_i ||v - x_i||^2 <= max_i sum_j ||x_i - x_j||^2 (the paper's bound; the authors'
    /// notebook compares with the minimum instead).
    SumOfSquares,
}

/// Min-max / min-sum (Shejwalkar and Houmansadr, NDSS 2021): v = mean - gamma p with the largest
/// gamma the constraint allows, found by the authors' bisection (gamma from 10, the step halved
/// each try, until two tries differ by at most 1e-5). The mean is the weighted honest mean; the
/// distances are between the honest rows, unweighted.
fn scaled_deviation(
    view: &HonestView<'_>,
    d: usize,
    deviation: Deviation,
    constraint: Constraint,
) -> Vec<f32> {
    let (mean, std) = moments(view, d, Spread::Unbiased);
    let p: Vec<f64> = match deviation {
        Deviation::UnitVec => {
            let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
            mean.iter()
                .map(|m| if norm > 0.0 { m / norm } else { 0.0 })
                .collect()
        }
        Deviation::Std => std,
        Deviation::Sign => mean
            .iter()
            .map(|m| if *m == 0.0 { 0.0 } else { m.signum() })
            .collect(),
    };
    let sq =
        |v: &[f64], r: &[f32]| -> f64 { v.iter().zip(r.iter()).map(|(x, y)| (x - *y as f64).powi(2)).sum() };
    let score_of = |v: &[f64]| -> f64 {
        let dists = view.rows.iter().map(|r| sq(v, r));
        match constraint {
            Constraint::MaxDistance => dists.fold(0.0, f64::max),
            Constraint::SumOfSquares => dists.sum(),
        }
    };
    let bound = view
        .rows
        .iter()
        .map(|x| score_of(&x.iter().map(|v| *v as f64).collect::<Vec<f64>>()))
        .fold(0.0, f64::max);
    let (mut gamma, mut step, mut succ) = (SCALE_START, SCALE_START, 0.0f64);
    let at = |g: f64| -> Vec<f64> { mean.iter().zip(&p).map(|(m, q)| m - g * q).collect() };
    while (succ - gamma).abs() > SCALE_GAP {
        if score_of(&at(gamma)) <= bound {
            succ = gamma;
            gamma += step / 2.0;
        } else {
            gamma -= step / 2.0;
        }
        step /= 2.0;
    }
    to_f32(at(succ).into_iter())
}

/// One power-iteration step sum_i <x_i - mu, z> (x_i - mu), normalised; None if it vanishes.
fn power_step(rows: &[&[f32]], mu: &[f64], z: &[f64]) -> Option<Vec<f64>> {
    let mut acc = vec![0.0f64; mu.len()];
    for r in rows {
        let w: f64 = r
            .iter()
            .zip(mu)
            .zip(z)
            .map(|((x, m), z)| (*x as f64 - m) * z)
            .sum();
        for ((a, x), m) in acc.iter_mut().zip(r.iter()).zip(mu) {
            *a += w * (*x as f64 - m);
        }
    }
    normalise(&mut acc).then_some(acc)
}

/// Scales `v` to unit norm; false (and `v` unchanged) if its norm is zero or not finite.
fn normalise(v: &mut [f64]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return false;
    }
    for x in v.iter_mut() {
        *x /= norm;
    }
    true
}

fn to_f32(it: impl Iterator<Item = f64>) -> Vec<f32> {
    it.map(|x| x as f32).collect()
}
