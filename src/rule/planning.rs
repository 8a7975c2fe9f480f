//! From a [`Rule`] to a [`Plan`]: every parameter fixed for a batch of n rows (or of given
//! weights), every bound checked with an error naming the parameter, lambda resolved from f.

use super::non_finite::{self, Level};
use super::{ByzantineShare, Center, MAX_DEPTH, Plan, Rule};
use crate::error::{Error, Result};

impl Rule {
    /// Fixes every parameter for a batch of `n` rows, taking lambda or f from `default`
    /// where the rule leaves it out, and checks every bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::{Plan, Rule, ByzantineShare};
    ///
    /// let plan = "cwtm".parse::<Rule>()?.plan(8, Some(ByzantineShare::F(2)))?;
    /// assert_eq!(plan, Plan::TrimmedMean { lambda: 0.25 });
    ///
    /// // Krum needs n >= 2f + 3.
    /// let err = Rule::krum(5).plan(7, None).unwrap_err();
    /// assert!(err.to_string().contains("f = 5"));
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn plan(&self, n: usize, default: Option<ByzantineShare>) -> Result<Plan> {
        self.plan_at(Level::Uniform(n), default)
    }

    /// [`Rule::plan`](super::Rule::plan) for a batch with these weights (finite, >= 0, not all zero, as
    /// [`Batch::with_weights`](crate::Batch::with_weights) checks them): the same plan, except
    /// that bucketing's base rule is given the Byzantine share the weighted buckets need (SPEC 4.7),
    /// which depends on the weights. [`Aggregator`](crate::Aggregator) plans this way.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::{ByzantineShare, Plan, Rule};
    ///
    /// // Two Byzantine rows of eleven can poison two buckets of two rows: 4/11 of the weight.
    /// let rule: Rule = "bucketing(cwtm,s=2)".parse()?;
    /// let Plan::Bucketing { base, .. } = rule.plan_weighted(&[1.0; 11], Some(ByzantineShare::F(2)))? else {
    ///     unreachable!()
    /// };
    /// let Plan::TrimmedMean { lambda } = *base else { unreachable!() };
    /// assert!((lambda - 4.0 / 11.0).abs() < 1e-12);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn plan_weighted(&self, weights: &[f64], default: Option<ByzantineShare>) -> Result<Plan> {
        self.plan_at(Level::Given(weights), default)
    }

    /// The plan for one level of the rule, whose rows have the weights `level`.
    fn plan_at(&self, level: Level<'_>, default: Option<ByzantineShare>) -> Result<Plan> {
        let n = level.n();
        let depth = self.depth();
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                "rule",
                format!("{depth} levels deep"),
                format!("rules may nest at most {MAX_DEPTH} levels"),
            ));
        }
        if n == 0 {
            return Err(Error::invalid("n", 0, "a batch needs at least one row"));
        }
        let pick = |t: &Option<ByzantineShare>| -> Result<ByzantineShare> {
            t.or(default).ok_or_else(|| {
                Error::invalid(
                    "lambda",
                    "not given",
                    format!("rule {self} needs lambda or f: write it in the rule or pass --lambda/--f"),
                )
            })
        };
        Ok(match self {
            Rule::Mean => Plan::Mean,
            Rule::CwMed => Plan::Median,
            Rule::CwTm { share } => Plan::TrimmedMean {
                lambda: trim_lambda(pick(share)?, n)?,
            },
            Rule::MeaMed { share } => Plan::MeaMed {
                lambda: trim_lambda(pick(share)?, n)?,
            },
            Rule::Bulyan { share } => {
                let t = pick(share)?;
                let ok = match t {
                    // n >= 4f + 3, without computing 4f + 3 (which wraps for huge f).
                    ByzantineShare::F(f) => n.checked_sub(3).is_some_and(|k| f <= k / 4),
                    ByzantineShare::Lambda(l) => (n as f64) * (1.0 - 4.0 * l) >= 3.0,
                };
                if !ok {
                    let (name, value) = match t {
                        ByzantineShare::F(f) => ("f", f.to_string()),
                        ByzantineShare::Lambda(l) => ("lambda", l.to_string()),
                    };
                    return Err(Error::invalid(
                        name,
                        value,
                        format!("bulyan needs n >= 4f + 3 (n (1 - 4 lambda) >= 3), and n = {n}"),
                    ));
                }
                Plan::Bulyan {
                    lambda: trim_lambda(t, n)?,
                }
            }
            Rule::Cge { share } => Plan::Cge {
                lambda: trim_lambda(pick(share)?, n)?,
            },
            Rule::Monna { share, pivot } => {
                if *pivot >= n {
                    return Err(Error::invalid(
                        "pivot",
                        pivot,
                        format!("monna needs a pivot row 0 <= pivot < n = {n}"),
                    ));
                }
                Plan::Monna {
                    lambda: trim_lambda(pick(share)?, n)?,
                    pivot: *pivot,
                }
            }
            Rule::Mda { share } => {
                crate::contract::check_n("mda", n, crate::contract::MDA_MAX_N)?;
                Plan::Mda {
                    lambda: trim_lambda(pick(share)?, n)?,
                }
            }
            Rule::Smea { share } => {
                crate::contract::check_n("smea", n, crate::contract::SMEA_MAX_N)?;
                Plan::Smea {
                    lambda: trim_lambda(pick(share)?, n)?,
                }
            }
            Rule::Caf { share } => {
                crate::contract::check_n("caf", n, crate::contract::CAF_MAX_N)?;
                Plan::Caf {
                    lambda: trim_lambda(pick(share)?, n)?,
                }
            }
            Rule::Krum { share, multi, m } => {
                let t = pick(share)?;
                match t {
                    ByzantineShare::F(f) => {
                        // n >= 2f + 3 without computing 2f + 3, which wraps for huge f.
                        let max_f = n.checked_sub(3).map(|k| k / 2);
                        if max_f.is_none_or(|max| f > max) {
                            let allows = match max_f {
                                Some(max) => format!("allows f <= {max}"),
                                None => "is too small for any f".to_string(),
                            };
                            return Err(Error::invalid(
                                "f",
                                f,
                                format!("krum needs n >= 2f + 3, and n = {n} {allows}"),
                            ));
                        }
                    }
                    ByzantineShare::Lambda(l) => {
                        if (n as f64) * (1.0 - 2.0 * l) < 3.0 {
                            return Err(Error::invalid(
                                "lambda",
                                l,
                                format!("krum needs n (1 - 2 lambda) >= 3, and n = {n}"),
                            ));
                        }
                    }
                }
                let lambda = trim_lambda(t, n)?;
                let m = if *multi { *m } else { Some(1) };
                if let Some(m) = m
                    && (m == 0 || m > n)
                {
                    return Err(Error::invalid(
                        "m",
                        m,
                        format!("multikrum needs 1 <= m <= n = {n}"),
                    ));
                }
                Plan::Krum { lambda, m }
            }
            Rule::Gm(p) => {
                if p.max_iter == 0 {
                    return Err(Error::invalid("max_iter", 0, "gm needs max_iter >= 1"));
                }
                if !(p.tol.is_finite() && p.tol >= 0.0) {
                    return Err(Error::invalid("tol", p.tol, "gm needs a finite tol >= 0"));
                }
                if !(p.nu.is_finite() && p.nu > 0.0) {
                    return Err(Error::invalid("nu", p.nu, "gm needs a finite nu > 0"));
                }
                Plan::Gm(*p)
            }
            Rule::Ctma { base, share } => Plan::Ctma {
                lambda: trim_lambda(pick(share)?, n)?,
                base: Box::new(base.plan_at(level, default)?),
            },
            Rule::Nnm { base, share } => Plan::Nnm {
                lambda: trim_lambda(pick(share)?, n)?,
                base: Box::new(base.plan_at(level, default)?),
            },
            Rule::Bucketing { base, s, seed } => {
                if *s == 0 || *s > n {
                    return Err(Error::invalid(
                        "s",
                        s,
                        format!("bucketing needs 1 <= s <= n = {n}"),
                    ));
                }
                // The base sees the buckets, and must tolerate every bucket that the Byzantine
                // rows can touch: a share of the weight near s * lambda, not lambda.
                let share = match default {
                    None => None,
                    Some(t) => {
                        let lambda = trim_lambda(t, n)?;
                        let share = non_finite::bucket_share(level, *s, *seed, lambda);
                        if share >= 0.5 {
                            return Err(Error::invalid(
                                "s",
                                s,
                                format!(
                                    "bucketing with s = {s} and lambda = {lambda} lets the Byzantine \
                                     rows touch buckets holding {share} of the weight, and its base \
                                     rule must tolerate less than 1/2: lower s or lambda"
                                ),
                            ));
                        }
                        Some(ByzantineShare::Lambda(share))
                    }
                };
                let nb = n.div_ceil(*s);
                // Uniform weights give buckets of s rows and a last one of n - (nb - 1) s; past
                // 2^24 buckets their masses are taken as equal rather than listed.
                let masses = match level {
                    Level::Uniform(_) if n.is_multiple_of(*s) || nb > 1 << 24 => None,
                    _ => Some(non_finite::bucket_masses(level, *s, *seed)),
                };
                let base_level = masses.as_deref().map_or(Level::Uniform(nb), Level::Given);
                Plan::Bucketing {
                    s: *s,
                    seed: *seed,
                    base: Box::new(base.plan_at(base_level, share)?),
                }
            }
            Rule::Clip { base, tau } => {
                if !(tau.is_finite() && *tau > 0.0) {
                    return Err(Error::invalid("tau", tau, "clip needs a finite tau > 0"));
                }
                Plan::Clip {
                    tau: *tau,
                    base: Box::new(base.plan_at(level, default)?),
                }
            }
            Rule::Arc { base, share } => Plan::Arc {
                lambda: trim_lambda(pick(share)?, n)?,
                base: Box::new(base.plan_at(level, default)?),
            },
            Rule::FlTrust => Plan::FlTrust,
            Rule::CenteredClipping {
                center,
                tau,
                iterations,
            } => {
                if !(tau.is_finite() && *tau > 0.0) {
                    return Err(Error::invalid("tau", tau, "cclip needs a finite tau > 0"));
                }
                if *iterations == 0 {
                    return Err(Error::invalid("iters", 0, "cclip needs iters >= 1"));
                }
                Plan::CenteredClipping {
                    center: match center {
                        Center::Zero => None,
                        Center::Rule(r) => Some(Box::new(r.plan_at(level, default)?)),
                    },
                    tau: *tau,
                    iterations: *iterations,
                }
            }
        })
    }
}

/// lambda in [0, 1/2) from a Byzantine share, for a batch of n rows.
fn trim_lambda(t: ByzantineShare, n: usize) -> Result<f64> {
    match t {
        ByzantineShare::Lambda(l) if (0.0..0.5).contains(&l) => Ok(l),
        ByzantineShare::Lambda(l) => Err(Error::invalid("lambda", l, "lambda must be in [0, 0.5)")),
        // 2f < n, checked: 2f wraps for f >= 2^63 and would let any f through.
        ByzantineShare::F(f) if f.checked_mul(2).is_some_and(|twice| twice < n) => Ok(f as f64 / n as f64),
        ByzantineShare::F(f) => Err(Error::invalid(
            "f",
            f,
            format!(
                "f must be < n/2, and n = {n} allows f <= {}",
                n.saturating_sub(1) / 2
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Center, MAX_DEPTH};

    fn rejects(rule: &str, n: usize, name: &str, needle: &str) {
        let rule: Rule = rule.parse().unwrap_or_else(|e| panic!("{rule}: {e}"));
        match rule.plan(n, None) {
            Err(Error::InvalidParameter { name: got, bound, .. }) => {
                assert_eq!(got, name, "{rule}: {bound}");
                assert!(bound.contains(needle), "{rule}: {bound}");
            }
            other => panic!("{rule} on {n} rows: expected an invalid {name}, got {other:?}"),
        }
    }

    #[test]
    fn huge_f_never_wraps() {
        // 2^63 and u64::MAX: 2f (+ 3) would wrap to a small number and pass.
        for f in [1usize << 63, usize::MAX, usize::MAX / 2 + 1, usize::MAX - 1] {
            for rule in ["krum(", "multikrum(", "cwtm(", "ctma(", "nnm(cwmed,"] {
                let text = format!("{rule}f={f})");
                let needle = if rule.contains("krum") {
                    "n >= 2f + 3"
                } else {
                    "f must be < n/2"
                };
                rejects(&text, 11, "f", needle);
            }
        }
        rejects("krum(f=0)", 2, "f", "too small for any f");
        assert!("krum(f=4)".parse::<Rule>().unwrap().plan(11, None).is_ok());
        rejects("krum(f=5)", 11, "f", "allows f <= 4");
        rejects("cwtm(f=5)", 10, "f", "allows f <= 4");
    }

    #[test]
    fn deep_rules_built_in_code_are_refused() {
        let mut rule = Rule::CwMed;
        for _ in 0..100_000 {
            rule = Rule::ctma(rule, None);
        }
        assert_eq!(rule.depth(), 100_001);
        match rule.plan(10, Some(ByzantineShare::F(1))) {
            Err(Error::InvalidParameter {
                name: "rule", bound, ..
            }) => {
                assert!(bound.contains("at most 32"), "{bound}")
            }
            other => panic!("{other:?}"),
        }
        // Dropping a chain that deep recurses too: unwind it one level at a time.
        while let Rule::Ctma { base, .. } = rule {
            rule = *base;
        }
        let mut ok = Rule::CwMed;
        for _ in 1..MAX_DEPTH {
            ok = Rule::CenteredClipping {
                center: Center::Rule(Box::new(ok)),
                tau: 1.0,
                iterations: 1,
            };
        }
        assert_eq!(ok.depth(), MAX_DEPTH);
        assert!(ok.plan(4, None).is_ok());
    }
}
