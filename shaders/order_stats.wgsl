// Primitive 1, order_stats (SPEC 4.2, 4.3 and section 3), launched by src/wgpu/order_stats.rs.
//
// One invocation per coordinate c of one chunk (`len` coordinates): it orders the values of the
// `m` rows of positive weight by -inf < finite < +inf < NaN (any NaN, -0 == +0), ties by row
// index, and reduces them to a weighted median, a weighted trimmed mean or MeaMed. No arrays: each value's
// cumulative weight C below it is a count over the others (O(m^2) loads, fast on lavapipe, where
// dynamically indexed private arrays are slow). Launch: workgroups of 64 in a 2D grid, the linear
// id is (wid.y * nwg.x + wid.x) * 64 + lid; ids >= count return at once, and id handles
// coordinate first + id. The host cuts a chunk into dispatches of `count` coordinates so that
// one dispatch holds at most a fixed budget of m^2 x coordinates of work (the OS watchdog).
//
// Exactness: the order uses integer keys of the bit patterns, the weights are u64 fixed-point
// integers (vec2<u32>: lo, hi) summed exactly, so the median's test 2 C == T and the trimmed
// mean's choice of kept values (MASS_EPS) are exact integer decisions, immune to fast math.

struct Params {
    len: u32,        // coordinates in this chunk (row stride of x)
    m: u32,          // rows of positive weight
    total_lo: u32,   // T, the sum of the fixed-point weights (u64)
    total_hi: u32,
    trim_lo: u32,    // L = lambda T, trimmed from each end (trimmed mean); K = (1 - lambda) T (MeaMed)
    trim_hi: u32,
    eps_lo: u32,     // E = MASS_EPS T rounded up: a kept mass below E counts as zero
    eps_hi: u32,
    inv_total: f32,  // 1 / T, to turn a kept mass into a fraction in [0, 1]
    first: u32,      // the first coordinate of this dispatch (within the chunk)
    count: u32,      // coordinates in this dispatch
    pad: u32,
}

// k x len values of this chunk, row-major, as f32 bits: a value the rule selects (a median that
// is one input value) is copied by bits and never passes through a float operation, which a GPU
// that flushes subnormals to zero (NVIDIA's Vulkan driver) would turn into a signed zero.
@group(0) @binding(0) var<storage, read> x: array<u32>;
// Per row of positive weight, in index order: (row, weight lo, weight hi, 0).
@group(0) @binding(1) var<storage, read> members: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> p: Params;
// One output per coordinate of the chunk, as f32 bits: results move as u32 so that a NaN is a
// bit pattern, never a float constant (a NaN-valued const-expression is an error in WGSL, and
// implementations may assume floats are never NaN).
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

fn eq64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.x == b.x && a.y == b.y;
}

fn twice64(a: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x << 1u, (a.y << 1u) | (a.x >> 31u));
}

fn to_f32(a: vec2<u32>) -> f32 {
    return f32(a.y) * 4294967296.0 + f32(a.x);
}

// Orderable key of the f32 bits v: -inf < finite < +inf < NaN as unsigned integers, all NaNs
// equal, -0 == +0.
fn key(v: u32) -> u32 {
    var b = v;
    let mag = b & 0x7fffffffu;
    if (mag > 0x7f800000u) {
        return 0xffffffffu;
    }
    if (mag == 0u) {
        b = 0u;
    }
    if ((b & 0x80000000u) != 0u) {
        return ~b;
    }
    return b | 0x80000000u;
}

// Whether the f32 bits v are a finite value.
fn is_finite(v: u32) -> bool {
    return (v & 0x7f800000u) != 0x7f800000u;
}

// The f32 bits of the NaN written for an undefined result.
const NAN_BITS: u32 = 0x7fc00000u;

// v / 2, exact, for |v| >= 2^-125 (biased exponent >= 2), by decrementing the exponent bits.
// Integer arithmetic, so no float rewriting can turn `half(a) + half(b)` back into
// `(a + b) * 0.5`, which overflows for large same-sign a and b.
fn half(v: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(v) - 0x00800000u);
}

// The magnitude of the finite f32 bits v, of biased exponent at most 26, as an exact count of
// 2^-149 units (the subnormal spacing): below 2^49, a u64 (lo, hi). Subnormals decode here by
// integer arithmetic, where a float operation on a flushing GPU would read them as zero.
fn units(v: u32) -> vec2<u32> {
    let e = (v >> 23u) & 0xffu;
    let m = v & 0x7fffffu;
    if (e == 0u) {
        return vec2<u32>(m, 0u);
    }
    let s = e - 1u;
    let full = m | 0x800000u;
    if (s == 0u) {
        return vec2<u32>(full, 0u);
    }
    return vec2<u32>(full << s, full >> (32u - s));
}

// The f32 bits of the magnitude u 2^-150 (u below 2^51), rounded to nearest, ties to even:
// subnormal results included, exactly as an f64 value rounded to f32. `shift` is how many low
// bits of u fall below the 24-bit significand (at least 1: the unit is half the subnormal
// spacing); a carry out of the significand moves into the exponent field by the addition.
fn encode_half_units(u: vec2<u32>) -> u32 {
    if (u.x == 0u && u.y == 0u) {
        return 0u;
    }
    var top = 31u - countLeadingZeros(u.x);
    if (u.y != 0u) {
        top = 63u - countLeadingZeros(u.y);
    }
    let shift = max(top, 24u) - 23u;
    let mant = (u.x >> shift) | (u.y << (32u - shift));
    let rest = u.x & ((1u << shift) - 1u);
    let tie = 1u << (shift - 1u);
    var r = mant;
    if (rest > tie || (rest == tie && (mant & 1u) == 1u)) {
        r = r + 1u;
    }
    return ((shift - 1u) << 23u) + r;
}

// The bits of (a + b) / 2 for the f32 bits a <= b in the order above, as f64 arithmetic rounded
// to f32 would give it, also on GPUs that flush subnormals to zero (src/wgpu/float_bits.rs mirrors
// this function in Rust and tests it exhaustively at the edges).
fn midpoint(a: u32, b: u32) -> u32 {
    if (is_finite(a) && is_finite(b)) {
        let ea = (a >> 23u) & 0xffu;
        let eb = (b >> 23u) & 0xffu;
        if (max(ea, eb) <= 26u) {
            // Both below 2^-100: exact integer sum in 2^-149 units, halved by reading it in
            // 2^-150 units, rounded once. A subnormal input or result is exact here.
            let ua = units(a);
            let ub = units(b);
            let sa = a & 0x80000000u;
            let sb = b & 0x80000000u;
            if (sa == sb) {
                return sa | encode_half_units(add64(ua, ub));
            }
            if (lt64(ua, ub)) {
                return sb | encode_half_units(sub64(ub, ua));
            }
            if (lt64(ub, ua)) {
                return sa | encode_half_units(sub64(ua, ub));
            }
            return 0u; // x + (-x) = +0
        }
        let fa = bitcast<f32>(a);
        let fb = bitcast<f32>(b);
        if (ea < 253u && eb < 253u) {
            // One magnitude is at least 2^-100, the other below 2^126: a + b cannot overflow.
            // A subnormal operand, if flushed, is below half an ulp of the other, so the
            // rounded sum is the same; a normal one is never flushed, and a cancellation
            // leaves a multiple of 2^-124 (both at least 2^-101 then): the sum is zero or
            // normal, and halving it is exact (rounding commutes with scaling by 2).
            return bitcast<u32>((fa + fb) * 0.5);
        }
        // One magnitude is at least 2^126, so both halves are exact (the other one may be
        // small: halving a small value by its exponent is wrong, so multiply instead; if it
        // is flushed it is far below an ulp of the sum) and their sum is rounded once, as
        // (a + b) / 2 in f64 rounded to f32.
        let ha = select(fa * 0.5, half(fa), ea >= 2u);
        let hb = select(fb * 0.5, half(fb), eb >= 2u);
        return bitcast<u32>(ha + hb);
    }
    let ka = key(a);
    let kb = key(b);
    if (ka == 0xffffffffu || kb == 0xffffffffu) {
        return NAN_BITS;
    }
    if (!is_finite(a) && !is_finite(b) && ka != kb) {
        return NAN_BITS; // -inf and +inf
    }
    if (!is_finite(a)) {
        return a;
    }
    return b;
}

// The coordinate of this invocation, or 0xffffffff past the dispatch's `count`.
fn coordinate(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= p.count) {
        return 0xffffffffu;
    }
    return p.first + id;
}

// C below value a: the weight of the values before it in the order.
fn weight_below(c: u32, a: u32, ka: u32) -> vec2<u32> {
    var below = vec2<u32>(0u, 0u);
    for (var b = 0u; b < p.m; b = b + 1u) {
        let rb = members[b];
        let kb = key(x[rb.x * p.len + c]);
        if (kb < ka || (kb == ka && b < a)) {
            below = add64(below, rb.yz);
        }
    }
    return below;
}

// The weighted median of one coordinate: its bits, and the one or two values it is taken from
// (lo == hi unless it is a midpoint).
struct Median {
    bits: u32,
    lo: u32,
    hi: u32,
}

// The weighted median of coordinate c (SPEC 4.2): the value where the cumulative weight first
// reaches half, or its midpoint with the next value when it is exactly half.
fn median_of(c: u32) -> Median {
    let total = vec2<u32>(p.total_lo, p.total_hi);
    for (var a = 0u; a < p.m; a = a + 1u) {
        let ra = members[a];
        let va = x[ra.x * p.len + c];
        let ka = key(va);
        let below = weight_below(c, a, ka);
        let above = add64(below, ra.yz);
        // The value where the cumulative weight first reaches half: 2 C_below < T <= 2 C_above.
        if (lt64(twice64(below), total) && !lt64(twice64(above), total)) {
            if (eq64(twice64(above), total)) {
                // Exactly half at or below: the midpoint with the next value in the order.
                var found = false;
                var kn = 0u;
                var bn = 0u;
                var vn = va;
                for (var b = 0u; b < p.m; b = b + 1u) {
                    let vb = x[members[b].x * p.len + c];
                    let kb = key(vb);
                    let after = kb > ka || (kb == ka && b > a);
                    let first = !found || kb < kn || (kb == kn && b < bn);
                    if (after && first) {
                        found = true;
                        kn = kb;
                        bn = b;
                        vn = vb;
                    }
                }
                if (found) {
                    return Median(midpoint(va, vn), va, vn);
                }
            }
            return Median(va, va, va);
        }
    }
    return Median(NAN_BITS, 0u, 0u);
}

@compute @workgroup_size(64)
fn order_stats_median(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = coordinate(wid, nwg, lid);
    if (c >= p.len) {
        return;
    }
    out[c] = median_of(c).bits;
}

@compute @workgroup_size(64)
fn order_stats_trim(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = coordinate(wid, nwg, lid);
    if (c >= p.len) {
        return;
    }
    out[c] = trim_recount(c);
}

// The trimmed mean's kept mass of a value whose weight w spans [below, below + w] of the
// cumulative weight: its part inside [L, T - L], or zero when that is below E.
fn trim_kept(below: vec2<u32>, w: vec2<u32>) -> vec2<u32> {
    let lo = vec2<u32>(p.trim_lo, p.trim_hi);
    let hi = sub64(vec2<u32>(p.total_lo, p.total_hi), lo);
    var top = add64(below, w);
    if (lt64(hi, top)) {
        top = hi;
    }
    var bottom = below;
    if (lt64(bottom, lo)) {
        bottom = lo;
    }
    if (!lt64(bottom, top)) {
        return vec2<u32>(0u, 0u);
    }
    return kept_or_zero(sub64(top, bottom));
}

// The mass `kept`, or zero when it is below E (MASS_EPS T).
fn kept_or_zero(kept: vec2<u32>) -> vec2<u32> {
    if (lt64(kept, vec2<u32>(p.eps_lo, p.eps_hi))) {
        return vec2<u32>(0u, 0u);
    }
    return kept;
}

// A kept mass and the sum of value x fraction it adds to: the trimmed mean and MeaMed add
// every row's share in row index order, whichever way its mass was found, so that every
// variant of the kernel rounds the same f32 sum.
struct Kept {
    sum: f32,
    mass: f32,
}

fn keep(acc: Kept, kept: vec2<u32>, v: u32) -> Kept {
    if (kept.x == 0u && kept.y == 0u) {
        return acc;
    }
    let fraction = to_f32(kept) * p.inv_total;
    return Kept(acc.sum + fraction * bitcast<f32>(v), acc.mass + fraction);
}

// The bits of the kept values' mean, a zero as +0 and a NaN as NAN_BITS: which zero or NaN
// payload float arithmetic gives depends on how the compiler arranged it (it may fold the first
// `0.0 + fraction * v` of a straight-line sum to `fraction * v`, keeping the sign of a -0, or
// pass on one input NaN's payload), and the reference's f64 sum, which starts at +0, is never -0.
fn mean_bits(acc: Kept) -> u32 {
    let bits = bitcast<u32>(acc.sum / acc.mass);
    if ((bits & 0x7fffffffu) == 0u) {
        return 0u;
    }
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return NAN_BITS;
    }
    return bits;
}

// The weighted trimmed mean of coordinate c (SPEC 4.3), each value's cumulative weight below
// it counted over the others.
fn trim_recount(c: u32) -> u32 {
    var acc = Kept(0.0, 0.0);
    for (var a = 0u; a < p.m; a = a + 1u) {
        let ra = members[a];
        let va = x[ra.x * p.len + c];
        let below = weight_below(c, a, key(va));
        acc = keep(acc, trim_kept(below, ra.yz), va);
    }
    return mean_bits(acc);
}

// The distance |v - med| as the bits of a non-negative f32, whose unsigned order is the order
// of the distances: +inf for a non-finite v (med is finite here). The two values a midpoint
// is taken from are equally far from it, though the f32 midpoint is rounded: both get the
// smaller of their two f32 distances, so they tie (and go lower value first) as they do in
// exact arithmetic, and stay no farther than any value outside them. A finite v whose
// difference overflows f32 gets the largest finite distance, so it still comes before every
// non-finite value (as in f64); two such values tie there and go in value order, where f64
// may order them by their true distances.
fn distance_bits(v: u32, m: Median) -> u32 {
    if (!is_finite(v)) {
        return 0x7f800000u;
    }
    let med = bitcast<f32>(m.bits);
    let k = key(v);
    if (k == key(m.lo) || k == key(m.hi)) {
        let lo = bitcast<f32>(m.lo);
        let hi = bitcast<f32>(m.hi);
        return min(bitcast<u32>(min(med - lo, hi - med)) & 0x7fffffffu, 0x7f7fffffu);
    }
    return min(bitcast<u32>(abs(bitcast<f32>(v) - med)) & 0x7fffffffu, 0x7f7fffffu);
}

// MeaMed (the rule's docs in src/rule/mod.rs): the median (rounded to f32), then the mean of the
// mass K = (1 - lambda) T closest to it; a non-finite median is the result. Values are ordered
// by (distance, key, row): the lower value first on a tie. Each value's mass before it in that
// order is a count over the others, as the trimmed mean's C is; it keeps min(w, K - before)
// while K - before > E, the mass left of the sequential walk. `trim_lo/hi` carry K.
@compute @workgroup_size(64)
fn order_stats_meamed(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = coordinate(wid, nwg, lid);
    if (c >= p.len) {
        return;
    }
    out[c] = meamed_around(c, median_of(c));
}

// MeaMed of coordinate c around its median `med` (the rule's second step).
fn meamed_around(c: u32, med: Median) -> u32 {
    if ((med.bits & 0x7f800000u) == 0x7f800000u) {
        return med.bits;
    }
    let keep_mass = vec2<u32>(p.trim_lo, p.trim_hi);
    let eps = vec2<u32>(p.eps_lo, p.eps_hi);
    var acc = Kept(0.0, 0.0);
    for (var a = 0u; a < p.m; a = a + 1u) {
        let ra = members[a];
        let va = x[ra.x * p.len + c];
        let ka = key(va);
        let da = distance_bits(va, med);
        var before = vec2<u32>(0u, 0u);
        for (var b = 0u; b < p.m; b = b + 1u) {
            let rb = members[b];
            let vb = x[rb.x * p.len + c];
            let kb = key(vb);
            let db = distance_bits(vb, med);
            if (db < da || (db == da && (kb < ka || (kb == ka && b < a)))) {
                before = add64(before, rb.yz);
            }
        }
        if (lt64(before, keep_mass)) {
            let left = sub64(keep_mass, before);
            if (lt64(eps, left)) {
                var mass = ra.yz;
                if (lt64(left, mass)) {
                    mass = left;
                }
                acc = keep(acc, mass, va);
            }
        }
    }
    return mean_bits(acc);
}

// Helpers of the `network` variant's kernels, generated per row count m and appended to this
// file by src/wgpu/order_stats_network.rs (straight-line networks on u32 keys).

// The bits of row index i's value at coordinate c (a gather, for the rare paths).
fn value_of(c: u32, i: u32) -> u32 {
    return x[members[i].x * p.len + c];
}

// The f32 bits of the key k, for every key but those of zero and NaN (several bit patterns
// share those: -0 and +0, the NaN payloads).
fn unkey(k: u32) -> u32 {
    if ((k & 0x80000000u) != 0u) {
        return k & 0x7fffffffu;
    }
    return ~k;
}

// The bits of the value at rank r of coordinate c in the (key, row) order, whose key k a
// network found: the key names them, unless it is zero's or NaN's: then the rows of that key
// are walked in index order to the one at rank r.
fn bits_at_rank(c: u32, k: u32, r: u32) -> u32 {
    if (k != 0x80000000u && k != 0xffffffffu) {
        return unkey(k);
    }
    var left = r;
    for (var b = 0u; b < p.m; b = b + 1u) {
        if (key(value_of(c, b)) < k) {
            left = left - 1u;
        }
    }
    for (var b = 0u; b < p.m; b = b + 1u) {
        let v = value_of(c, b);
        if (key(v) == k) {
            if (left == 0u) {
                return v;
            }
            left = left - 1u;
        }
    }
    return NAN_BITS; // not reached: rank r holds key k
}

// The low 64 bits of w x k (the cumulative weight of k values of equal weight w).
fn mul64(w: vec2<u32>, k: u32) -> vec2<u32> {
    // w.x x k in 16-bit halves of k: each partial product fits 48 bits.
    let lo16 = k & 0xffffu;
    let hi16 = k >> 16u;
    let a = vec2<u32>(w.x * lo16, mul_hi16(w.x, lo16));
    let b = mul_hi16(w.x, hi16);
    let bl = w.x * hi16;
    let shifted = vec2<u32>(bl << 16u, (bl >> 16u) + (b << 16u));
    let prod = add64(a, shifted);
    return vec2<u32>(prod.x, prod.y + w.y * k);
}

// The high 32 bits of a x h for h < 2^16.
fn mul_hi16(a: u32, h: u32) -> u32 {
    return ((a >> 16u) * h + (((a & 0xffffu) * h) >> 16u)) >> 16u;
}

// Whether row index a comes before row index b in MeaMed's order around `med` (distance, key,
// row: `meamed_around`'s comparison), for a network's check of neighbours that share a prefix.
fn distance_before(c: u32, med: Median, a: u32, b: u32) -> bool {
    let va = value_of(c, a);
    let vb = value_of(c, b);
    let da = distance_bits(va, med);
    let db = distance_bits(vb, med);
    let ka = key(va);
    let kb = key(vb);
    return da < db || (da == db && (ka < kb || (ka == kb && a < b)));
}
