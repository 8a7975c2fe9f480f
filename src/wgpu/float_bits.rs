//! A Rust mirror of the shaders' arithmetic on f32 bits, line for line: `units`,
//! `encode_half_units` and `midpoint` of `shaders/order_stats.wgsl` (the median's midpoint of
//! two values) and `times_pow2` of `shaders/mix.wgsl` (a selected row scaled by a power of two).
//! They exist so that subnormal values survive GPUs that flush subnormals to zero in float
//! arithmetic (NVIDIA's Vulkan driver): lavapipe keeps subnormals, so a lavapipe run cannot show
//! a flush. Here the float operations the shaders keep run twice, as IEEE says and with every
//! operand and result flushed (`Float::Flush`), and both must give the f64 reference's result.
//! The shaders themselves are checked on lavapipe by the tests in `tests.rs` at 1e-40.

/// How the mirror's float operations treat subnormals.
#[derive(Clone, Copy, Debug)]
enum Float {
    /// IEEE 754, as lavapipe and CPUs compute.
    Ieee,
    /// Subnormal operands and results read as zero of the same sign (NVIDIA's shader compiler).
    Flush,
}

impl Float {
    fn f(self, v: f32) -> f32 {
        match self {
            Float::Ieee => v,
            Float::Flush if v.is_subnormal() => 0.0f32.copysign(v),
            Float::Flush => v,
        }
    }

    fn add(self, a: f32, b: f32) -> f32 {
        self.f(self.f(a) + self.f(b))
    }

    fn mul(self, a: f32, b: f32) -> f32 {
        self.f(self.f(a) * self.f(b))
    }
}

fn is_finite(v: u32) -> bool {
    v & 0x7f80_0000 != 0x7f80_0000
}

/// `units` of order_stats.wgsl: |v| in 2^-149 units, for a biased exponent of at most 26.
fn units(v: u32) -> u64 {
    let e = (v >> 23) & 0xff;
    let m = v & 0x7f_ffff;
    if e == 0 {
        return u64::from(m);
    }
    u64::from(m | 0x80_0000) << (e - 1)
}

/// `encode_half_units` of order_stats.wgsl: the f32 bits of u 2^-150, ties to even. The
/// shader's u64 is two u32 words; the shifts here are the same on one u64.
fn encode_half_units(u: u64) -> u32 {
    if u == 0 {
        return 0;
    }
    let top = 63 - u.leading_zeros();
    let shift = top.max(24) - 23;
    let mant = (u >> shift) as u32;
    let rest = (u & ((1u64 << shift) - 1)) as u32;
    let tie = 1u32 << (shift - 1);
    let mut r = mant;
    if rest > tie || (rest == tie && mant & 1 == 1) {
        r += 1;
    }
    ((shift - 1) << 23) + r
}

/// `midpoint` of order_stats.wgsl for finite bits a, b (the non-finite cases are order keys,
/// tested through the shader).
fn midpoint(a: u32, b: u32, float: Float) -> u32 {
    assert!(is_finite(a) && is_finite(b));
    let ea = (a >> 23) & 0xff;
    let eb = (b >> 23) & 0xff;
    if ea.max(eb) <= 26 {
        let (ua, ub) = (units(a), units(b));
        let (sa, sb) = (a & 0x8000_0000, b & 0x8000_0000);
        if sa == sb {
            return sa | encode_half_units(ua + ub);
        }
        if ua < ub {
            return sb | encode_half_units(ub - ua);
        }
        if ub < ua {
            return sa | encode_half_units(ua - ub);
        }
        return 0;
    }
    let (fa, fb) = (f32::from_bits(a), f32::from_bits(b));
    if ea < 253 && eb < 253 {
        return float.mul(float.add(fa, fb), 0.5).to_bits();
    }
    let half = |v: f32| f32::from_bits(v.to_bits() - 0x0080_0000);
    let ha = if ea >= 2 { half(fa) } else { float.mul(fa, 0.5) };
    let hb = if eb >= 2 { half(fb) } else { float.mul(fb, 0.5) };
    float.add(ha, hb).to_bits()
}

/// `times_pow2` of mix.wgsl: the bits of v 2^e, ties to even.
fn times_pow2(v: u32, e: i32) -> u32 {
    let sign = v & 0x8000_0000;
    let mut be = ((v >> 23) & 0xff) as i32;
    let mut m = v & 0x7f_ffff;
    if be == 255 {
        return v;
    }
    if be == 0 {
        if m == 0 {
            return v;
        }
        let shift = m.leading_zeros() - 8;
        m <<= shift;
        be = 1 - shift as i32;
    } else {
        m |= 0x80_0000;
    }
    let ne = be + e;
    if ne >= 255 {
        return sign | 0x7f80_0000;
    }
    if ne >= 1 {
        return sign | ((ne as u32) << 23) | (m & 0x7f_ffff);
    }
    let s = (1 - ne) as u32;
    if s > 24 {
        return sign;
    }
    let q = m >> s;
    let rest = m & ((1 << s) - 1);
    let tie = 1 << (s - 1);
    let mut r = q;
    if rest > tie || (rest == tie && q & 1 == 1) {
        r += 1;
    }
    sign | r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The reference's midpoint (`0.5 * (lo + hi)` in f64) rounded to f32.
    fn reference(a: u32, b: u32) -> u32 {
        let (a, b) = (f64::from(f32::from_bits(a)), f64::from(f32::from_bits(b)));
        ((0.5 * (a + b)) as f32).to_bits()
    }

    /// Finite f32 bits with a biased exponent in `exps`, any sign and mantissa.
    fn finite_bits(rng: &mut SplitMix64, exps: std::ops::RangeInclusive<u32>) -> u32 {
        let span = exps.end() - exps.start() + 1;
        let e = exps.start() + (rng.next_u64() % u64::from(span)) as u32;
        let r = rng.next_u64() as u32;
        (r & 0x8000_0000) | (e << 23) | (r & 0x7f_ffff)
    }

    /// Values near each other, around every boundary: zero, the subnormal/normal edge, the
    /// integer path's limit (exponent 26/27), ties, cancellation.
    fn edges() -> Vec<u32> {
        let mut v = Vec::new();
        for e in [0u32, 1, 2, 25, 26, 27, 28, 100, 250, 252, 253, 254] {
            for m in [0u32, 1, 2, 3, 0x40_0000, 0x7f_fffe, 0x7f_ffff] {
                v.push((e << 23) | m);
                v.push(0x8000_0000 | (e << 23) | m);
            }
        }
        v
    }

    #[test]
    fn midpoints_are_the_reference_with_and_without_flushing() {
        let mut rng = SplitMix64(7);
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let edges = edges();
        for &a in &edges {
            for &b in &edges {
                pairs.push((a, b));
            }
        }
        // The integer path, the float path near its edge, one small and one large value.
        for exps in [0..=26, 0..=3, 20..=40, 0..=60, 0..=254] {
            for _ in 0..200_000 {
                let a = finite_bits(&mut rng, exps.clone());
                let b = finite_bits(&mut rng, exps.clone());
                pairs.push((a, b));
            }
        }
        for (a, b) in pairs {
            let want = reference(a, b);
            for float in [Float::Ieee, Float::Flush] {
                let got = midpoint(a, b, float);
                // The reference rounds twice (f64, then f32) where a + b is not exact in f64
                // (exponents more than 29 apart): a tie there may go either way by one ulp.
                let (ea, eb) = ((a >> 23) & 0xff, (b >> 23) & 0xff);
                let exact_in_f64 = ea.abs_diff(eb) <= 29 || ea.max(eb) <= 26;
                let ok = got == want
                    || (!exact_in_f64 && got.abs_diff(want) <= 1)
                    || (f32::from_bits(got) == 0.0 && f32::from_bits(want) == 0.0);
                assert!(
                    ok,
                    "{float:?} midpoint({:e}, {:e}) = {:e}, the reference gives {:e}",
                    f32::from_bits(a),
                    f32::from_bits(b),
                    f32::from_bits(got),
                    f32::from_bits(want)
                );
            }
            if (a >> 23) & 0xff <= 26 && (b >> 23) & 0xff <= 26 {
                // The integer path has no float operation: bit-exact, signed zeros included.
                assert_eq!(midpoint(a, b, Float::Flush), want, "{a:#x} {b:#x}");
            }
        }
    }

    #[test]
    fn half_unit_encoding_rounds_to_nearest_even() {
        for u in (0u64..1 << 20).chain((1u64 << 47) - 5000..(1 << 47) + 5000) {
            let want = (u as f64 * 2f64.powi(-150)) as f32;
            assert_eq!(encode_half_units(u), want.to_bits(), "u = {u}");
        }
        let mut rng = SplitMix64(3);
        for _ in 0..1_000_000 {
            let u = rng.next_u64() >> (13 + rng.next_u64() % 50);
            let want = (u as f64 * 2f64.powi(-150)) as f32;
            assert_eq!(encode_half_units(u), want.to_bits(), "u = {u}");
        }
    }

    #[test]
    fn powers_of_two_scale_exactly_or_round_to_even() {
        let mut rng = SplitMix64(11);
        let mut values = edges();
        values.extend((0..200_000).map(|_| finite_bits(&mut rng, 0..=254)));
        values.extend([0x7f80_0000, 0xff80_0000, 0x7fc0_0000]);
        for v in values {
            for e in [
                -300, -160, -149, -126, -30, -2, -1, 0, 1, 2, 30, 126, 149, 160, 300,
            ] {
                let x = f64::from(f32::from_bits(v));
                // Two factors: 2^-300 is no f64 problem, but keep both within range anyway.
                let want = (x * 2f64.powi(e / 2) * 2f64.powi(e - e / 2)) as f32;
                let got = f32::from_bits(times_pow2(v, e));
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{:e} * 2^{e} = {got:e}, f64 gives {want:e}",
                    f32::from_bits(v)
                );
            }
        }
    }
}
