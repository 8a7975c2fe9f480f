//! The exact sum of non-negative f64 terms in fixed point, rounded once: the exact distances'
//! fallback when a pair's double-double lanes lose an error (terms spanning more than about
//! 100 bits of magnitude, as real gradients' squared differences often do).
//!
//! ## Why
//!
//! The reference's [`exact_sum`](crate::reference::exact_sum) (Shewchuk's partials) is
//! exact for any terms but keeps a list of partials that grows with the terms' span, and
//! walks it for every term: on gradient rows it cost twenty times the lanes' pass. Every
//! finite non-negative f64 is an integer multiple of 2^-1074 below 2^1024, so a 2,100-bit
//! fixed-point number holds any sum of them exactly; adding a term is three integer additions
//! at the place its exponent says, whatever the span. The result is the same correctly
//! rounded value (round to nearest, ties to even) as the reference's.

/// Bits a limb owns; the rest of its 64 are headroom for carries.
const LIMB_BITS: u32 = 32;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;
/// Limbs: a term's 53 bits shifted by up to 2,045 places reach limb 65; three more hold the
/// carries of up to 2^64 terms.
const LIMBS: usize = 69;
/// Terms between carry propagations: each adds less than 2^32 to a limb, so a limb holding
/// at most 2^32 (after a propagation) stays below 2^64.
const TERMS_PER_CARRY: u32 = u32::MAX - 1;

/// A non-negative exact sum in units of 2^-1074, as [`LIMBS`] limbs of [`LIMB_BITS`] bits
/// (least significant first), each with headroom for carries not yet propagated.
pub(super) struct FixedSum {
    limbs: [u64; LIMBS],
    /// Terms added since the carries were last propagated.
    pending: u32,
}

impl FixedSum {
    pub(super) fn new() -> FixedSum {
        FixedSum {
            limbs: [0; LIMBS],
            pending: 0,
        }
    }

    /// Adds a finite term `>= 0` (the caller's terms are squares; a negative or non-finite
    /// one is a bug, caught in debug builds).
    #[inline]
    pub(super) fn add(&mut self, x: f64) {
        debug_assert!(x >= 0.0 && x.is_finite(), "FixedSum takes finite terms >= 0: {x}");
        let bits = x.to_bits();
        let exponent = bits >> 52;
        let fraction = bits & ((1 << 52) - 1);
        // A normal value is (2^52 + fraction) 2^(exponent - 1075), a subnormal one fraction
        // 2^-1074: its integer times 2^-1074, shifted by `place` bits.
        let (mantissa, place) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), exponent - 1)
        };
        let limb = (place / u64::from(LIMB_BITS)) as usize;
        let shifted = u128::from(mantissa) << (place % u64::from(LIMB_BITS));
        self.limbs[limb] += (shifted as u64) & LIMB_MASK;
        self.limbs[limb + 1] += ((shifted >> LIMB_BITS) as u64) & LIMB_MASK;
        self.limbs[limb + 2] += (shifted >> (2 * LIMB_BITS)) as u64;
        self.pending += 1;
        if self.pending == TERMS_PER_CARRY {
            self.carry();
        }
    }

    /// Moves each limb's bits above [`LIMB_BITS`] into the next limb.
    fn carry(&mut self) {
        for i in 0..LIMBS - 1 {
            self.limbs[i + 1] += self.limbs[i] >> LIMB_BITS;
            self.limbs[i] &= LIMB_MASK;
        }
        self.pending = 0;
    }

    /// The sum rounded to the nearest f64 (ties to even), `+inf` beyond f64's range.
    pub(super) fn round(mut self) -> f64 {
        self.carry();
        let Some(top) = (0..LIMBS).rev().find(|&i| self.limbs[i] != 0) else {
            return 0.0;
        };
        // The top four limbs as one 128-bit window; `sticky`: any bit below it.
        let limb = |i: isize| if i >= 0 { self.limbs[i as usize] } else { 0 };
        let top = top as isize;
        let window = (0..4).fold(0u128, |acc, k| (acc << LIMB_BITS) | u128::from(limb(top - k)));
        let sticky = (0..(top - 3).max(0)).any(|i| self.limbs[i as usize] != 0);
        // The highest set bit, in units of 2^-1074 (bit 0 of the whole number).
        let high_in_window = 127 - window.leading_zeros() as isize;
        let high = (top - 3) * LIMB_BITS as isize + high_in_window;
        if high < 53 {
            // Below 2^53 units every value is exact, and its bits are its own encoding (a
            // subnormal, or the smallest exponent's normals).
            return f64::from_bits(self.limbs[0] | (self.limbs[1] << LIMB_BITS));
        }
        // The 53 bits from the highest down, the bit after them, and whether any lower one is
        // set: round to nearest, ties to even.
        let drop = high_in_window - 52;
        let mut mantissa = (window >> drop) as u64;
        let half = (window >> (drop - 1)) & 1 == 1;
        let below = sticky || window & ((1u128 << (drop - 1)) - 1) != 0;
        let mut high = high;
        if half && (below || mantissa & 1 == 1) {
            mantissa += 1;
            if mantissa == 1 << 53 {
                mantissa >>= 1;
                high += 1;
            }
        }
        // mantissa 2^(high - 52) units = (2^52 + fraction) 2^(exponent - 1075).
        let exponent = (high - 51) as u64;
        if exponent >= 0x7ff {
            return f64::INFINITY;
        }
        f64::from_bits((exponent << 52) | (mantissa & ((1 << 52) - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::exact_sum;

    fn fixed(terms: &[f64]) -> f64 {
        let mut s = FixedSum::new();
        for &t in terms {
            s.add(t);
        }
        s.round()
    }

    fn check(terms: &[f64]) {
        let (got, want) = (fixed(terms), exact_sum(terms.iter().copied()));
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{got:e} against {want:e} for {terms:?}"
        );
    }

    #[test]
    fn small_cases_are_the_reference_sums() {
        let tiny = f64::from_bits(1);
        check(&[]);
        check(&[0.0, 0.0]);
        check(&[tiny]);
        check(&[tiny, tiny, tiny]);
        check(&[f64::MIN_POSITIVE, tiny]);
        check(&[f64::MIN_POSITIVE - tiny, tiny]);
        check(&[1.0, 2f64.powi(-53)]); // a tie: stays at the even 1.0
        check(&[1.0 + f64::EPSILON, 2f64.powi(-53)]); // a tie: up to the even neighbour
        check(&[1.0, 2f64.powi(-53), tiny]); // just above the tie: up
        check(&[1.0, 2f64.powi(-53), 2f64.powi(-1000)]);
        // Beyond f64's range: +inf (the reference's partials make NaN of it; the exact
        // distances' terms, squares of f32 differences, never get there).
        assert_eq!(fixed(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(fixed(&[f64::MAX, f64::MAX / 2.0f64.powi(53)]), f64::INFINITY);
        check(&[f64::MAX, f64::MAX / 2.0f64.powi(54)]); // a tie below the overflow: even MAX
        check(&[f64::MAX / 2.0, f64::MAX / 2.0]);
        check(&[1e300, 1e-300, 3.0, 1e-320]);
    }

    /// Random terms over every span (the exponents drawn from a range), counts across the
    /// window's edges.
    #[test]
    fn random_terms_are_the_reference_sums() {
        let mut g = crate::SplitMix64(11);
        for case in 0..3000 {
            let len = [1, 2, 3, 7, 40, 300][case % 6];
            let lo = -1074 + (g.unit() * 2000.0) as i32;
            let span = [1, 30, 60, 120, 400, 2000][(case / 6) % 6];
            let terms: Vec<f64> = (0..len)
                .map(|_| {
                    let e = (lo + (g.unit() * f64::from(span)) as i32).min(1000);
                    g.unit() * 2f64.powi(e / 2) * 2f64.powi(e - e / 2)
                })
                .collect();
            check(&terms);
            // Squares of f32 differences: the caller's terms.
            let squares: Vec<f64> = terms
                .iter()
                .map(|t| f64::from((t.sqrt() as f32).min(f32::MAX)).powi(2))
                .collect();
            check(&squares);
        }
    }
}
