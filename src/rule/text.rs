//! The text form of a [`Rule`], used by the CLI and configs: `cwmed`, `cwtm(lambda=0.25)`,
//! `meamed(f=1)`, `bulyan(f=1)`, `cge(f=1)`, `monna(f=1,pivot=0)`, `krum(f=2)`,
//! `multikrum(f=2,m=4)`, `gm(preset=rfa)`, `ctma(nnm(cwmed),lambda=0.2)`,
//! `bucketing(cwmed,s=2,seed=7)`, `cclip(tau=1,iters=3)`, `clip(cwtm,tau=2)`, `arc(krum,f=1)`,
//! `fltrust`.
//! Subset rules: `mda(f=2)`, `smea(f=2)`, `caf(f=2)`.
//!
//! Grammar: `rule := name [ "(" arg { "," arg } ")" ]`, `arg := rule | key "=" value`;
//! whitespace is ignored. A base rule comes first as a positional argument (`ctma`, `nnm`,
//! `bucketing`, `clip` and `arc` default to `cwmed`; `cclip` defaults to the zero center). Display writes
//! the shortest text that parses back to the same rule (parameters at their defaults are
//! left out), so parse and display round-trip.

use std::fmt;
use std::str::FromStr;

use super::{ByzantineShare, Center, GmInit, GmParams, MAX_DEPTH, Rule};
use crate::error::Error;

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `name(arg,arg)`, or just `name` when there is no argument.
        let call = |f: &mut fmt::Formatter<'_>, name: &str, args: Vec<String>| {
            if args.is_empty() {
                f.write_str(name)
            } else {
                write!(f, "{name}({})", args.join(","))
            }
        };
        let tol = |t: &Option<ByzantineShare>| t.iter().map(ToString::to_string).collect::<Vec<_>>();
        let with_base = |base: &Rule, t: &Option<ByzantineShare>| {
            std::iter::once(base.to_string()).chain(tol(t)).collect()
        };
        match self {
            Rule::Mean => f.write_str("mean"),
            Rule::CwMed => f.write_str("cwmed"),
            Rule::CwTm { share } => call(f, "cwtm", tol(share)),
            Rule::MeaMed { share } => call(f, "meamed", tol(share)),
            Rule::Bulyan { share } => call(f, "bulyan", tol(share)),
            Rule::Cge { share } => call(f, "cge", tol(share)),
            Rule::Mda { share } => call(f, "mda", tol(share)),
            Rule::Smea { share } => call(f, "smea", tol(share)),
            Rule::Caf { share } => call(f, "caf", tol(share)),
            Rule::Monna { share, pivot } => {
                let mut args = tol(share);
                if *pivot != 0 {
                    args.push(format!("pivot={pivot}"));
                }
                call(f, "monna", args)
            }
            Rule::Krum {
                share, multi: false, ..
            } => call(f, "krum", tol(share)),
            Rule::Krum {
                share,
                multi: true,
                m,
            } => {
                let mut args = tol(share);
                args.extend(m.map(|m| format!("m={m}")));
                call(f, "multikrum", args)
            }
            Rule::Gm(p) if *p == GmParams::RFA => f.write_str("gm(preset=rfa)"),
            Rule::Gm(p) => {
                let d = GmParams::DEFAULT;
                let mut args = Vec::new();
                if p.init != d.init {
                    args.push(format!("init={}", init_name(p.init)));
                }
                if p.max_iter != d.max_iter {
                    args.push(format!("max_iter={}", p.max_iter));
                }
                if p.tol != d.tol {
                    args.push(format!("tol={}", p.tol));
                }
                if p.nu != d.nu {
                    args.push(format!("nu={}", p.nu));
                }
                call(f, "gm", args)
            }
            Rule::Ctma { base, share } => call(f, "ctma", with_base(base, share)),
            Rule::Nnm { base, share } => call(f, "nnm", with_base(base, share)),
            Rule::Bucketing { base, s, seed } => write!(f, "bucketing({base},s={s},seed={seed})"),
            Rule::Clip { base, tau } => write!(f, "clip({base},tau={tau})"),
            Rule::Arc { base, share } => call(f, "arc", with_base(base, share)),
            Rule::FlTrust => f.write_str("fltrust"),
            Rule::CenteredClipping {
                center,
                tau,
                iterations,
            } => {
                let mut args = Vec::new();
                if let Center::Rule(r) = center {
                    args.push(r.to_string());
                }
                args.push(format!("tau={tau}"));
                args.push(format!("iters={iterations}"));
                call(f, "cclip", args)
            }
        }
    }
}

fn init_name(init: GmInit) -> &'static str {
    match init {
        GmInit::Zero => "zero",
        GmInit::Median => "cwmed",
        GmInit::Mean => "mean",
    }
}

impl FromStr for Rule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let mut p = Parser {
            text,
            pos: 0,
            depth: 0,
        };
        let rule = p.rule()?;
        p.skip_space();
        if p.pos < text.len() {
            return Err(p.error(p.pos, "unexpected text after the rule"));
        }
        Ok(rule)
    }
}

/// One argument inside a rule's parentheses, with where it starts (for error messages).
enum Arg {
    Rule(Rule, usize),
    Value { key: String, value: String, at: usize },
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// Rules open around the current position (`ctma(nnm(` is 2); a rule may sit at most
    /// [`MAX_DEPTH`] levels deep.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, position: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            text: self.text.to_string(),
            position,
            message: message.into(),
        }
    }

    fn skip_space(&mut self) {
        // By chars, not bytes: a copy-pasted no-break space (U+00A0) or ideographic space
        // (U+3000) is whitespace too, and is two or three bytes long.
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.pos..].chars().next()
    }

    /// A run of characters that may form a name or a number.
    fn token(&mut self, what: &str) -> Result<(String, usize), Error> {
        self.skip_space();
        let start = self.pos;
        let len = self.text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+')))
            .unwrap_or(self.text.len() - start);
        if len == 0 {
            return Err(self.error(start, format!("expected {what}")));
        }
        self.pos += len;
        Ok((self.text[start..start + len].to_string(), start))
    }

    fn rule(&mut self) -> Result<Rule, Error> {
        let (name, at) = self.token("a rule name")?;
        self.rule_named(name, at)
    }

    fn rule_named(&mut self, name: String, at: usize) -> Result<Rule, Error> {
        // The parser recurses once per level, so the bound keeps hostile text
        // (`ctma(ctma(ctma(...`) from overflowing the stack; it is the bound `Rule::plan` holds.
        if self.depth >= MAX_DEPTH {
            return Err(self.error(at, format!("rules nest deeper than {MAX_DEPTH} levels")));
        }
        let mut args = Vec::new();
        if self.peek() == Some('(') {
            self.depth += 1;
            self.pos += 1;
            loop {
                let (word, word_at) = self.token("a rule or key=value")?;
                if self.peek() == Some('=') {
                    self.pos += 1;
                    let (value, _) = self.token("a value")?;
                    let twice = args
                        .iter()
                        .any(|a| matches!(a, Arg::Value { key, .. } if *key == word));
                    if twice {
                        return Err(self.error(word_at, format!("{name}: {word} given twice")));
                    }
                    args.push(Arg::Value {
                        key: word,
                        value,
                        at: word_at,
                    });
                } else {
                    args.push(Arg::Rule(self.rule_named(word, word_at)?, word_at));
                }
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        self.depth -= 1;
                        break;
                    }
                    _ => return Err(self.error(self.pos, "expected ',' or ')'")),
                }
            }
        }
        let mut a = Args {
            p: self,
            rule: name.clone(),
            at,
            args,
        };
        let rule = match name.as_str() {
            "mean" => Rule::Mean,
            "cwmed" | "median" => Rule::CwMed,
            "cwtm" => Rule::CwTm { share: a.share()? },
            "meamed" => Rule::MeaMed { share: a.share()? },
            "bulyan" => Rule::Bulyan { share: a.share()? },
            "cge" => Rule::Cge { share: a.share()? },
            "mda" => Rule::Mda { share: a.share()? },
            "smea" => Rule::Smea { share: a.share()? },
            "caf" => Rule::Caf { share: a.share()? },
            "monna" => Rule::Monna {
                share: a.share()?,
                pivot: a.number("pivot")?.unwrap_or(0),
            },
            "krum" => Rule::Krum {
                share: a.share()?,
                multi: false,
                m: None,
            },
            "multikrum" => Rule::Krum {
                share: a.share()?,
                multi: true,
                m: a.number("m")?,
            },
            "gm" => {
                let mut p = match a.value("preset") {
                    None => GmParams::DEFAULT,
                    Some((v, _)) if v == "default" => GmParams::DEFAULT,
                    Some((v, _)) if v == "rfa" => GmParams::RFA,
                    Some((other, at)) => return Err(a.bad(at, "preset", &other, "expected rfa or default")),
                };
                if let Some((init, at)) = a.value("init") {
                    p.init = match init.as_str() {
                        "zero" => GmInit::Zero,
                        "cwmed" | "median" => GmInit::Median,
                        "mean" => GmInit::Mean,
                        other => return Err(a.bad(at, "init", other, "expected zero, cwmed or mean")),
                    };
                }
                p.max_iter = a.number("max_iter")?.unwrap_or(p.max_iter);
                p.tol = a.number("tol")?.unwrap_or(p.tol);
                p.nu = a.number("nu")?.unwrap_or(p.nu);
                Rule::Gm(p)
            }
            "ctma" => Rule::Ctma {
                base: Box::new(a.base().unwrap_or(Rule::CwMed)),
                share: a.share()?,
            },
            "nnm" => Rule::Nnm {
                base: Box::new(a.base().unwrap_or(Rule::CwMed)),
                share: a.share()?,
            },
            "bucketing" => Rule::Bucketing {
                base: Box::new(a.base().unwrap_or(Rule::CwMed)),
                s: a.number("s")?.unwrap_or(2),
                seed: a.number("seed")?.unwrap_or(0),
            },
            "clip" => Rule::Clip {
                base: Box::new(a.base().unwrap_or(Rule::CwMed)),
                tau: a
                    .number("tau")?
                    .ok_or_else(|| a.p.error(at, "clip needs tau=VALUE"))?,
            },
            "arc" => Rule::Arc {
                base: Box::new(a.base().unwrap_or(Rule::CwMed)),
                share: a.share()?,
            },
            "fltrust" => Rule::FlTrust,
            "cclip" => Rule::CenteredClipping {
                center: a.base().map_or(Center::Zero, |r| Center::Rule(Box::new(r))),
                tau: a
                    .number("tau")?
                    .ok_or_else(|| a.p.error(at, "cclip needs tau=VALUE"))?,
                iterations: a.number("iters")?.unwrap_or(1),
            },
            _ => {
                return Err(self.error(
                    at,
                    format!(
                        "unknown rule {name:?}; expected mean, cwmed, cwtm, meamed, krum, multikrum, bulyan, cge, \
                         monna, mda, smea, caf, gm, ctma, nnm, bucketing, cclip, clip, arc or fltrust"
                    ),
                ));
            }
        };
        a.finish()?;
        Ok(rule)
    }
}

/// The arguments of one rule, consumed by the rule's builder; whatever is left is an error.
struct Args<'p, 't> {
    p: &'p Parser<'t>,
    rule: String,
    at: usize,
    args: Vec<Arg>,
}

impl Args<'_, '_> {
    fn bad(&self, at: usize, key: &str, value: &str, why: &str) -> Error {
        self.p
            .error(at, format!("{}: bad {key}={value}: {why}", self.rule))
    }

    /// The positional base rule, if one comes first.
    fn base(&mut self) -> Option<Rule> {
        if matches!(self.args.first(), Some(Arg::Rule(..)))
            && let Arg::Rule(r, _) = self.args.remove(0)
        {
            return Some(r);
        }
        None
    }

    /// Takes `key=value` out of the arguments: the value and where its key starts.
    fn value(&mut self, key: &str) -> Option<(String, usize)> {
        let i = self
            .args
            .iter()
            .position(|a| matches!(a, Arg::Value { key: k, .. } if k == key))?;
        match self.args.remove(i) {
            Arg::Value { value, at, .. } => Some((value, at)),
            Arg::Rule(..) => None,
        }
    }

    fn number<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, Error> {
        match self.value(key) {
            Some((v, at)) => v.parse().map(Some).map_err(|_| {
                self.p
                    .error(at, format!("{}: {key}={v} is not a valid number here", self.rule))
            }),
            None => Ok(None),
        }
    }

    fn share(&mut self) -> Result<Option<ByzantineShare>, Error> {
        let lambda = self.number::<f64>("lambda")?;
        let f = self.number::<usize>("f")?;
        match (lambda, f) {
            (Some(_), Some(_)) => Err(self
                .p
                .error(self.at, format!("{}: give lambda or f, not both", self.rule))),
            (Some(l), None) => Ok(Some(ByzantineShare::Lambda(l))),
            (None, Some(f)) => Ok(Some(ByzantineShare::F(f))),
            (None, None) => Ok(None),
        }
    }

    fn finish(self) -> Result<(), Error> {
        match self.args.first() {
            None => Ok(()),
            Some(Arg::Rule(_, at)) => Err(self.p.error(
                *at,
                format!(
                    "{} takes no base rule here (a base rule must come first)",
                    self.rule
                ),
            )),
            Some(Arg::Value { key, at, .. }) => Err(self
                .p
                .error(*at, format!("{} has no parameter {key:?}", self.rule))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_whitespace_is_whitespace() {
        // No-break space, ideographic space, line separator: copy-pasted rules carry them.
        for text in [
            "cwmed\u{a0}",
            "\u{3000}cwmed",
            "ctma(\u{a0}cwmed\u{3000},\u{2028}lambda=0.2\u{a0})",
            "cwtm(lambda\u{a0}=\u{a0}0.25)",
        ] {
            let rule: Rule = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(rule.to_string().parse::<Rule>().unwrap(), rule);
        }
        // Other non-ASCII text is an error at its byte, never a panic.
        for text in [
            "cw\u{e9}med",
            "ctma(\u{1F600})",
            "\u{a0}\u{a0}",
            "krum(f=\u{663})",
        ] {
            assert!(
                matches!(text.parse::<Rule>(), Err(Error::Parse { .. })),
                "{text:?}"
            );
        }
    }

    /// `ctma(ctma(...(cwmed)...))` with `levels` rules in all.
    fn nested(levels: usize) -> String {
        "ctma(".repeat(levels - 1) + "cwmed" + &")".repeat(levels - 1)
    }

    #[test]
    fn nesting_is_bounded() {
        let deepest: Rule = nested(MAX_DEPTH).parse().unwrap();
        assert_eq!(deepest.depth(), MAX_DEPTH);
        for levels in [MAX_DEPTH + 1, 100_000] {
            match nested(levels).parse::<Rule>() {
                Err(Error::Parse { message, .. }) => {
                    assert!(message.contains("deeper than 32"), "{message}")
                }
                other => panic!("{levels} levels: {other:?}"),
            }
        }
        // Unclosed parentheses nest just as deep.
        assert!("cclip(".repeat(50_000).parse::<Rule>().is_err());
    }

    #[test]
    fn round_trips() {
        for text in [
            "mean",
            "cwmed",
            "cwtm",
            "cwtm(lambda=0.25)",
            "cwtm(f=2)",
            "meamed",
            "meamed(f=1)",
            "meamed(lambda=0.2)",
            "bulyan(f=1)",
            "bulyan",
            "cge(lambda=0.2)",
            "mda(f=2)",
            "smea(lambda=0.2)",
            "caf(f=1)",
            "monna(f=2)",
            "monna(f=1,pivot=3)",
            "krum(f=2)",
            "krum(lambda=0.1)",
            "multikrum(f=2,m=4)",
            "multikrum(f=1)",
            "gm",
            "gm(preset=rfa)",
            "gm(init=zero,max_iter=10,tol=0.001,nu=0.5)",
            "ctma(cwmed,lambda=0.2)",
            "ctma(nnm(gm))",
            "ctma(nnm(cwmed,f=1),lambda=0.25)",
            "bucketing(krum(f=1),s=2,seed=7)",
            "cclip(tau=1,iters=3)",
            "cclip(cwmed,tau=0.5,iters=2)",
            "clip(cwmed,tau=2)",
            "clip(nnm(cwmed,f=1),tau=0.5)",
            "arc(cwtm(f=1),f=1)",
            "arc(mean)",
            "arc(krum(f=1),lambda=0.2)",
            "ctma(arc(cwmed,f=1))",
            "fltrust",
        ] {
            let rule: Rule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(rule.to_string(), text);
            assert_eq!(rule.to_string().parse::<Rule>().unwrap(), rule);
        }
    }

    #[test]
    fn whitespace_and_defaults() {
        let rule: Rule = " ctma ( cwmed , lambda = 0.2 ) ".parse().unwrap();
        assert_eq!(rule.to_string(), "ctma(cwmed,lambda=0.2)");
        assert_eq!(
            "gm(preset=default)".parse::<Rule>().unwrap(),
            Rule::Gm(GmParams::DEFAULT)
        );
        let rfa: Rule = "gm(init=zero,max_iter=3,tol=0,nu=0.1)".parse().unwrap();
        assert_eq!(rfa.to_string(), "gm(preset=rfa)");
        assert_eq!("ctma".parse::<Rule>().unwrap(), Rule::ctma(Rule::CwMed, None));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("krum(q=2)", 5, "q"),
            ("cwmedd", 0, "unknown rule"),
            ("cwtm(lambda=abc)", 5, "lambda=abc"),
            ("cwtm(lambda=0.1,f=2)", 0, "not both"),
            ("ctma(cwmed", 10, "expected ',' or ')'"),
            ("cwmed)", 5, "unexpected text"),
            ("cwtm(lambda=0.1,cwmed)", 16, "base rule"),
            ("gm(preset=xyz)", 3, "preset"),
            ("cclip(iters=2)", 0, "tau"),
            ("clip(mean)", 0, "clip needs tau"),
            ("fltrust(f=1)", 8, "no parameter"),
            ("", 0, "rule name"),
            ("cwtm(lambda=0.1,lambda=0.2)", 16, "lambda given twice"),
            ("ctma(cwmed,f=1,f=1)", 15, "f given twice"),
            ("gm(tol=1,nu=1,tol=2)", 14, "tol given twice"),
            ("cwmed\u{a0}x", 7, "unexpected text"),
        ];
        for (text, position, needle) in cases {
            match text.parse::<Rule>() {
                Err(Error::Parse {
                    position: p, message, ..
                }) => {
                    assert_eq!(p, position, "{text}: {message}");
                    assert!(message.contains(needle), "{text}: {message}");
                }
                other => panic!("{text}: expected a parse error, got {other:?}"),
            }
        }
    }
}
