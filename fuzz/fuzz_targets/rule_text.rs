//! The rule text parser on arbitrary bytes: it must never panic or overflow its stack, every
//! rule it accepts must print back to text that parses to the same text (the round trip the
//! crate promises), and planning the rule for any batch size must not panic either.
#![no_main]

use byzagg::{ByzantineShare, Rule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes size the batch the rule is planned for; the rest is the text.
    let (n, f, text) = match data {
        [n, f, rest @ ..] => (usize::from(*n), usize::from(*f), rest),
        _ => return,
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(rule) = text.parse::<Rule>() else {
        return;
    };
    let printed = rule.to_string();
    let again = printed
        .parse::<Rule>()
        .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    // Text, not `==`: a rule may hold lambda = NaN, which is never equal to itself.
    assert_eq!(again.to_string(), printed, "{text:?}");
    assert!(rule.depth() <= byzagg::MAX_DEPTH);
    let _ = rule.plan(n, None);
    let _ = rule.plan(n, Some(ByzantineShare::F(f)));
    let _ = rule.plan(n, Some(ByzantineShare::Lambda(f as f64 / 256.0)));
});
