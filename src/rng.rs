//! SplitMix64 (Steele, Lea and Flood 2014): the one small seeded generator of the crate.
//!
//! Bucketing's shuffle is part of the rules' contract, so its stream must be the same on every
//! machine and in every version; the conformance suite, the training driver's seeding and the
//! tests draw from it too, so there is one copy to trust.

/// A SplitMix64 stream; the state is the seed.
///
/// # Examples
///
/// ```
/// use byzagg::SplitMix64;
///
/// let mut a = SplitMix64(42);
/// let mut b = SplitMix64(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!((0.0..1.0).contains(&a.unit()));
/// assert!(a.below(3) < 3);
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..k` for `k >= 1` (modulo bias below 2^-40 for the small k used here).
    pub fn below(&mut self, k: u64) -> u64 {
        self.next_u64() % k
    }
}
