//! Byzantine attacks (SPEC section 6), as data: which attack, its parameters, its name. A
//! Byzantine worker first computes what an honest worker would send (on flipped labels for
//! label flipping); the [`Adversary`](super::Adversary) then turns that into the vector sent,
//! possibly using what an omniscient adversary sees of the honest workers: their latest vectors
//! at the server with their update counts ([`HonestView`]). The formulas, their sources and
//! their sync and async forms are in docs/ATTACKS.md.

use std::fmt;
use std::str::FromStr;

use super::rng::normal_quantile;
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
    /// Mimic (Karimireddy, He and Jaggi, ICLR 2022, the "mimic variant" of their code): every
    /// Byzantine worker sends a copy of the vector of one honest worker, the one that
    /// maximises heterogeneity. For the first `warmup` attacks the adversary tracks the top
    /// principal direction z of the centred honest vectors (one power-iteration step per
    /// attack, averaged) and copies argmax_i <x_i, z>; then it keeps copying that worker.
    Mimic {
        /// Attacks that update z and the target (the authors' default is 1).
        warmup: u64,
    },
    /// Optimal IPM (ByzFL): -tau * mean, tau found by ByzFL's line search to maximise
    /// ||rule(honest + Byzantine) - mean|| under the rule in use.
    OptimalIpm,
    /// Optimal ALIE (ByzFL): mean + tau * std (unbiased), tau searched as for [`Attack::OptimalIpm`].
    OptimalAlie,
    /// Min-max (Shejwalkar and Houmansadr, NDSS 2021): mean - gamma * p with the largest gamma
    /// whose distance to every honest vector is at most the largest distance between two
    /// honest vectors.
    MinMax {
        /// The perturbation direction p.
        deviation: Deviation,
    },
    /// Min-sum (same paper): mean - gamma * p with the largest gamma whose sum of squared
    /// distances to the honest vectors is at most the largest such sum of an honest vector.
    MinSum {
        /// The perturbation direction p.
        deviation: Deviation,
    },
    /// Fang et al.'s full-knowledge attack on median and trimmed mean (USENIX Security 2020),
    /// gradient form: where the honest mean of coordinate j is positive, each Byzantine worker
    /// sends a value drawn uniformly below the honest minimum (in [min/b, min] if min > 0, else
    /// [b min, min]); elsewhere above the honest maximum (in [max, b max] if max > 0, else
    /// [max/b, max]).
    Fang {
        /// The spread b > 1 (2 in the paper).
        b: f32,
    },
}

/// The perturbation direction p of min-max and min-sum (their code's `dev_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deviation {
    /// p = mean / ||mean|| (the authors' default, `unit_vec`).
    UnitVec,
    /// p = the coordinate-wise standard deviation (`std`).
    Std,
    /// p = sign(mean) (`sign`).
    Sign,
}

/// Every attack name `byzagg train --attack` accepts, with what it sends (for `--list-attacks`).
pub const ATTACKS: &[(&str, &str)] = &[
    ("none", "the honest vector (a control)"),
    ("sign-flip", "minus the worker's honest estimate"),
    (
        "label-flip",
        "the honest estimate computed on labels classes - 1 - y",
    ),
    (
        "empire[:EPS]",
        "inner-product manipulation, -EPS x honest mean (Xie et al. 2020; EPS 0.1)",
    ),
    (
        "alie",
        "a little is enough: mean - z std, n and f counted in updates (the NeurIPS code)",
    ),
    (
        "alie-sync",
        "a little is enough: mean - z std, n and f counted in workers (Baruch et al. 2019)",
    ),
    ("gaussian[:SIGMA]", "N(0, SIGMA^2) per coordinate (SIGMA 1)"),
    ("nan", "a vector of NaN"),
    ("inf", "a vector of +infinity"),
    (
        "mimic[:WARMUP]",
        "copy the honest worker that maximises heterogeneity (Karimireddy et al. 2022; WARMUP 1)",
    ),
    (
        "optimal-ipm",
        "-tau x mean, tau line-searched against the rule in use (ByzFL)",
    ),
    (
        "optimal-alie",
        "mean + tau x std, tau line-searched against the rule in use (ByzFL)",
    ),
    (
        "min-max[:uv|std|sign]",
        "mean - gamma p, gamma as large as max distance allows (Shejwalkar & Houmansadr 2021; uv)",
    ),
    (
        "min-sum[:uv|std|sign]",
        "mean - gamma p, gamma as large as sum of squared distances allows (same; uv)",
    ),
    (
        "fang[:B]",
        "directed deviation past the honest min/max against median and trimmed mean (Fang et al. 2020; B 2)",
    ),
];

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
    /// The worker id of each row (mimic follows one worker).
    pub ids: Vec<usize>,
    /// The weights the Byzantine rows carry when the attack's vector is aggregated: f ones in
    /// a synchronous round; asynchronously the Byzantine workers' counts, the sender's
    /// including this update (the searched attacks aggregate with these).
    pub byzantine_weights: Vec<f64>,
}

impl Attack {
    /// Every attack at its defaults except the `none` control (the grid's `attacks=all`).
    pub fn all() -> Vec<Attack> {
        vec![
            Attack::SignFlip,
            Attack::LabelFlip,
            Attack::Empire { epsilon: 0.1 },
            Attack::Alie {
                form: AlieForm::Async,
            },
            Attack::Alie { form: AlieForm::Sync },
            Attack::Gaussian { sigma: 1.0 },
            Attack::Nan,
            Attack::Inf,
            Attack::Mimic { warmup: 1 },
            Attack::OptimalIpm,
            Attack::OptimalAlie,
            Attack::MinMax {
                deviation: Deviation::UnitVec,
            },
            Attack::MinSum {
                deviation: Deviation::UnitVec,
            },
            Attack::Fang { b: 2.0 },
        ]
    }

    /// Whether one vector, computed once per round from the honest view, serves every
    /// Byzantine worker of a synchronous round (the omniscient attacks without randomness).
    pub fn same_for_all(&self) -> bool {
        matches!(
            self,
            Attack::Empire { .. }
                | Attack::Alie { .. }
                | Attack::Mimic { .. }
                | Attack::OptimalIpm
                | Attack::OptimalAlie
                | Attack::MinMax { .. }
                | Attack::MinSum { .. }
        )
    }

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
            Attack::Mimic { warmup } => write!(f, "mimic:{warmup}"),
            Attack::OptimalIpm => write!(f, "optimal-ipm"),
            Attack::OptimalAlie => write!(f, "optimal-alie"),
            Attack::MinMax { deviation } => write!(f, "min-max:{deviation}"),
            Attack::MinSum { deviation } => write!(f, "min-sum:{deviation}"),
            Attack::Fang { b } => write!(f, "fang:{b}"),
        }
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deviation::UnitVec => "uv",
            Deviation::Std => "std",
            Deviation::Sign => "sign",
        })
    }
}

impl FromStr for Attack {
    type Err = Error;

    /// One of the names in [`ATTACKS`], e.g. `empire:0.5`, `min-max:std`, `fang`.
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
        let deviation = || -> Result<Deviation> {
            match arg {
                None | Some("uv") | Some("unit-vec") => Ok(Deviation::UnitVec),
                Some("std") => Ok(Deviation::Std),
                Some("sign") | Some("sgn") => Ok(Deviation::Sign),
                Some(_) => Err(Error::invalid(
                    "attack",
                    s,
                    "the deviation after ':' must be uv, std or sign",
                )),
            }
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
            "mimic" => Attack::Mimic {
                warmup: arg.map_or(Ok(1), |a| {
                    a.parse::<u64>().map_err(|_| {
                        Error::invalid(
                            "attack",
                            s,
                            "mimic's warmup after ':' must be a whole number >= 0",
                        )
                    })
                })?,
            },
            "optimal-ipm" | "opt-ipm" => Attack::OptimalIpm,
            "optimal-alie" | "opt-alie" => Attack::OptimalAlie,
            "min-max" | "minmax" => Attack::MinMax {
                deviation: deviation()?,
            },
            "min-sum" | "minsum" => Attack::MinSum {
                deviation: deviation()?,
            },
            "fang" => {
                let b = num(2.0)?;
                if b <= 1.0 {
                    return Err(Error::invalid("attack", s, "fang's spread b must be > 1"));
                }
                Attack::Fang { b }
            }
            _ => {
                let names: Vec<&str> = ATTACKS.iter().map(|a| a.0).collect();
                return Err(Error::invalid(
                    "attack",
                    s,
                    format!("one of {}", names.join(", ")),
                ));
            }
        })
    }
}
