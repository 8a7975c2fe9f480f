
// ---- Exact sums of squares (shaders/wide_sum.wgsl, appended by src/wgpu/device.rs to
// pairwise_dist.wgsl, center_dist.wgsl and reduce.wgsl) ----
//
// A sum of squares is kept as a 128-bit unsigned integer in units of 2^-10 (vec4<u32>, least
// significant limb first). Each square is rounded once to f32 and then truncated to the unit;
// from there on every addition is exact integer arithmetic, so a sum does not depend on the
// order or grouping of its terms: two pairs of rows whose squared differences are equal as
// multisets get bit-identical distances, and distance ties are exact ties, as on the CPU and
// in the reference (ties broken by row index). Integer operations also leave a compiler no
// float rewriting to apply. The host's power-of-two scales (src/wgpu/handle.rs, applied by
// `scaled` below) keep every square below 2^84 and so every term below 2^94 units; sums of up
// to 2^33 terms fit.

// a + b over 128 bits (the carry out of the top limb cannot occur within the bounds above).
fn wide_add(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    var r = vec4<u32>(0u);
    var carry = 0u;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let s = a[i] + b[i];
        let t = s + carry;
        carry = select(0u, 1u, s < a[i]) + select(0u, 1u, t < s);
        r[i] = t;
    }
    return r;
}

// A non-negative finite f32 as a count of 2^-10 units, truncated (zero and subnormals, below
// 2^-126, are below the unit).
fn wide_of(q: f32) -> vec4<u32> {
    let bits = bitcast<u32>(q);
    let e = (bits >> 23u) & 0xffu;
    var r = vec4<u32>(0u);
    if (e == 0u) {
        return r;
    }
    // q = m * 2^(e - 150) = m * 2^(e - 140) units, m a 24-bit integer.
    let m = (bits & 0x7fffffu) | 0x800000u;
    if (e < 140u) {
        let down = 140u - e;
        if (down < 24u) {
            r[0] = m >> down;
        }
        return r;
    }
    let up = min(e - 140u, 103u);
    let limb = up / 32u;
    let off = up % 32u;
    r[limb] = m << off;
    // The bits shifted past the limb (m has 24 bits: some spill when off > 8).
    if (off > 8u && limb < 3u) {
        r[limb + 1u] = m >> ((32u - off) & 31u);
    }
    return r;
}

// x * 2^k exactly, by integer arithmetic on the bits, for finite x: a subnormal x is normalised
// first, so the scaling is exact where a GPU that flushes subnormals would have made x zero,
// and k may exceed the f32 exponent range (rows of subnormal values need k up to 189). A
// result below the normal range is a signed zero: the host's k puts the row's largest
// magnitude near 2^40, so such a value's square is far below the 2^-10 unit anyway. Integer
// operations also leave nothing to factor: `scaled(x, ki) - scaled(y, kj)` stays as written.
fn scaled(x: f32, k: i32) -> f32 {
    let bits = bitcast<u32>(x);
    let sign = bits & 0x80000000u;
    var e = i32((bits >> 23u) & 0xffu);
    var m = bits & 0x7fffffu;
    if (e == 0) {
        if (m == 0u) {
            return bitcast<f32>(sign);
        }
        // m * 2^-149 with m < 2^23: shift its top bit to bit 23, the exponent down as much.
        let shift = countLeadingZeros(m) - 8u;
        m = (m << shift) & 0x7fffffu;
        e = 1 - i32(shift);
    }
    let ne = e + k;
    if (ne <= 0) {
        return bitcast<f32>(sign);
    }
    return bitcast<f32>(sign | (u32(min(ne, 254)) << 23u) | m);
}

// Coordinates per lane of the coalesced and fast distance kernels (src/wgpu/kernel_variant.rs
// has the tile, 64 times this): enough that the tree below costs little per coordinate. The
// fast kernels add this many squares in f32: src/wgpu/fast_dist.rs's bound assumes 16.
const COALESCED_STEPS: u32 = 16u;

// The 64 lanes' sums of one workgroup added by a tree in workgroup memory (no subgroup
// operations: `Wgpu::from_device` asks for no extra feature); every lane gets the total. Called
// by all 64 lanes in uniform control flow. Exact, so the order of the additions changes nothing.
var<workgroup> lane_sums: array<vec4<u32>, 64>;

fn lanes_total(lid: u32, mine: vec4<u32>) -> vec4<u32> {
    lane_sums[lid] = mine;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            lane_sums[lid] = wide_add(lane_sums[lid], lane_sums[lid + s]);
        }
        workgroupBarrier();
    }
    return lane_sums[0];
}
