//! Byzantine attacks (SPEC section 6). A Byzantine worker first computes what an honest worker
//! would send (on flipped labels for label flipping); the attack then turns that into the
//! vector sent, possibly using what an omniscient adversary sees of the honest workers: their
//! latest vectors at the server with their update counts ([`HonestView`]).

use std::fmt;
use std::str::FromStr;

use super::rng::{Rng, normal_quantile};
use crate::error::{Error, Result};

/// Which form of ALIE's n and f.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlieForm {
    /// n = workers, f = Byzantine workers (Baruch et al.).
    Sync,
    /// n = updates so far, f = Byzantine updates so far (the NeurIPS code).
    Async,
}

/// An attack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Attack {
    /// Send the honest vector (Byzantine in name only; a control).
    None,
    /// Minus the honest estimate.
    SignFlip,
    /// The honest estimate computed on labels `classes - 1 - y`.
    LabelFlip,
    /// Inner-product manipulation: minus epsilon times the weighted mean of the honest vectors.
    Empire {
        /// epsilon (0.1 to 0.5 in the literature).
        epsilon: f32,
    },
    /// A little is enough: coordinate mean minus z times the coordinate std of the honest
    /// vectors, z from the normal quantile of (n - f - s) / (n - f), s = floor(n/2 + 1) - f.
    /// The sync form takes the sample std (n - 1), the async form the weighted population std.
    Alie {
        /// How n and f are counted.
        form: AlieForm,
    },
    /// Gaussian noise N(0, sigma^2) per coordinate.
    Gaussian {
        /// Standard deviation.
        sigma: f32,
    },
    /// A vector of NaN.
    Nan,
    /// A vector of +infinity.
    Inf,
}

/// What an omniscient adversary sees: the honest workers' latest vectors, their counts, and
/// the update and worker tallies ALIE needs.
#[derive(Clone, Debug, Default)]
pub struct HonestView<'a> {
    /// Latest vectors of honest workers that delivered at least once.
    pub rows: Vec<&'a [f32]>,
    /// Their weights (update counts).
    pub weights: Vec<f64>,
    /// Workers in all, and Byzantine workers.
    pub workers: (usize, usize),
    /// Updates so far (this one included), and Byzantine updates so far (this one included).
    pub updates: (u64, u64),
}

impl Attack {
    /// Whether the Byzantine worker must compute an honest estimate first.
    pub fn needs_estimate(&self) -> bool {
        matches!(self, Attack::None | Attack::SignFlip | Attack::LabelFlip)
    }

    /// Whether the estimate is computed on flipped labels.
    pub fn flips_labels(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// ALIE's z for a view.
    pub fn alie_z(form: AlieForm, view: &HonestView<'_>) -> f64 {
        let (n, f) = match form {
            AlieForm::Sync => (view.workers.0 as f64, view.workers.1 as f64),
            AlieForm::Async => (view.updates.0 as f64, view.updates.1 as f64),
        };
        let s = (n / 2.0 + 1.0).floor() - f;
        let p = ((n - f - s) / (n - f)).clamp(1e-6, 1.0 - 1e-6);
        normal_quantile(p)
    }

    /// The vector to send. `estimate` is the worker's honest estimate (empty if
    /// [`Attack::needs_estimate`] is false); `d` the dimension.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::{Attack, HonestView, Rng};
    ///
    /// let rows: [&[f32]; 2] = [&[1.0, 2.0], &[3.0, 2.0]];
    /// let view = HonestView { rows: rows.to_vec(), weights: vec![1.0, 1.0], workers: (3, 1), updates: (3, 1) };
    /// let mut rng = Rng::new(0);
    /// assert_eq!(Attack::SignFlip.apply(vec![1.0, -2.0], &view, 2, &mut rng), vec![-1.0, 2.0]);
    /// assert_eq!(Attack::Empire { epsilon: 0.5 }.apply(vec![], &view, 2, &mut rng), vec![-1.0, -1.0]);
    /// ```
    pub fn apply(&self, estimate: Vec<f32>, view: &HonestView<'_>, d: usize, rng: &mut Rng) -> Vec<f32> {
        match *self {
            Attack::None | Attack::LabelFlip => estimate,
            Attack::SignFlip => estimate.into_iter().map(|v| -v).collect(),
            Attack::Empire { epsilon } => {
                let (mean, _) = moments(view, d, false);
                mean.into_iter().map(|m| (-(epsilon as f64) * m) as f32).collect()
            }
            Attack::Alie { form } => {
                let z = Self::alie_z(form, view);
                let (mean, mut std) = moments(view, d, true);
                if form == AlieForm::Sync {
                    // The sync form's rows have weight 1 each: the sample standard deviation
                    // (n - 1), as the ICML code's `torch.std` and Baruch et al.
                    let n = view.rows.len() as f64;
                    let unbias = if n > 1.0 { (n / (n - 1.0)).sqrt() } else { 1.0 };
                    std.iter_mut().for_each(|s| *s *= unbias);
                }
                mean.iter().zip(&std).map(|(m, s)| (m - z * s) as f32).collect()
            }
            Attack::Gaussian { sigma } => (0..d).map(|_| (sigma as f64 * rng.normal()) as f32).collect(),
            Attack::Nan => vec![f32::NAN; d],
            Attack::Inf => vec![f32::INFINITY; d],
        }
    }
}

/// Weighted coordinate mean and (if asked) standard deviation of the honest rows; zeros if
/// there are none yet.
fn moments(view: &HonestView<'_>, d: usize, with_std: bool) -> (Vec<f64>, Vec<f64>) {
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
    if with_std {
        for (r, w) in view.rows.iter().zip(&view.weights) {
            for ((s, v), m) in var.iter_mut().zip(r.iter()).zip(&mean) {
                *s += w * (*v as f64 - m).powi(2) / total;
            }
        }
        for s in var.iter_mut() {
            *s = s.sqrt();
        }
    }
    (mean, var)
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::None => write!(f, "none"),
            Attack::SignFlip => write!(f, "sign-flip"),
            Attack::LabelFlip => write!(f, "label-flip"),
            Attack::Empire { epsilon } => write!(f, "empire:{epsilon}"),
            Attack::Alie {
                form: AlieForm::Async,
            } => write!(f, "alie"),
            Attack::Alie { form: AlieForm::Sync } => write!(f, "alie-sync"),
            Attack::Gaussian { sigma } => write!(f, "gaussian:{sigma}"),
            Attack::Nan => write!(f, "nan"),
            Attack::Inf => write!(f, "inf"),
        }
    }
}

impl FromStr for Attack {
    type Err = Error;

    /// `none`, `sign-flip`, `label-flip`, `empire[:EPS]` (0.1), `alie` (async form),
    /// `alie-sync`, `gaussian[:SIGMA]` (1), `nan`, `inf`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let num = |default: f32| -> Result<f32> {
            arg.map_or(Ok(default), |a| {
                a.parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        Error::invalid("attack", s, "the parameter after ':' must be a number >= 0")
                    })
            })
        };
        Ok(match name {
            "none" => Attack::None,
            "sign-flip" | "signflip" => Attack::SignFlip,
            "label-flip" | "labelflip" => Attack::LabelFlip,
            "empire" | "ipm" => Attack::Empire { epsilon: num(0.1)? },
            "alie" => Attack::Alie {
                form: AlieForm::Async,
            },
            "alie-sync" => Attack::Alie { form: AlieForm::Sync },
            "gaussian" => Attack::Gaussian { sigma: num(1.0)? },
            "nan" => Attack::Nan,
            "inf" => Attack::Inf,
            _ => {
                return Err(Error::invalid(
                    "attack",
                    s,
                    "one of none, sign-flip, label-flip, empire[:EPS], alie, alie-sync, gaussian[:SIGMA], nan, inf",
                ));
            }
        })
    }
}
