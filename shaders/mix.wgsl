// Primitive 4, mix (SPEC section 5 and 3), launched by src/wgpu/mix.rs.
//
// out (k x len) = C (k x n) * x (n x len) [+ scale * base (k x len)] on one chunk. One invocation
// per output value (r, c) writes out[r * len + c]; ids >= k * len return at once. Launch:
// workgroups of 64 in a 2D grid, linear id (wid.y * nwg.x + wid.x) * 64 + lid.
//
// Only the terms with a non-zero coefficient are listed (by the host, per output row), so a row
// whose coefficients are all 0 is never read: 0 * NaN cannot enter a sum. A branch on the
// coefficient would not guarantee that: WGSL lets the compiler assume finite values, and
// NVIDIA's Vulkan compiler does fold `if (w != 0) { acc += w * x }` into `acc += w * x`.
// A non-finite value with a non-zero coefficient propagates.
//
// Each coefficient arrives as a mantissa m in [0.5, 1) (f32; exactly 1 for a power of two, so
// that such a coefficient, Krum's 1 among them, scales x exactly, subnormal x included) and an
// exponent e, c = m 2^e, and a term is ldexp(m * x, e). Coefficients far below 1 are normal for Weiszfeld and clipping weights
// of far rows (1e-38 / 1e38-row: a subnormal f32), and GPUs may flush subnormals to zero (NVIDIA's
// Vulkan driver does), which silently drops such a row's O(1) contribution c * x. With m * x
// never subnormal unless x is, nothing is flushed that the f64 reference keeps, and |m x| <= |x|
// cannot overflow. Accumulates in f32 over the listed terms: a few n ulps of the inputs' scale.

struct Params {
    len: u32,       // coordinates in this chunk
    n: u32,         // rows of x
    k: u32,         // output rows
    has_base: u32,  // 1: add scale * base
    scale: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
// The non-zero terms of C, output row by output row: (input row, f32 bits of the mantissa m,
// the exponent e as i32 bits, 0).
@group(0) @binding(1) var<storage, read> terms: array<vec4<u32>>;
// Output row r's terms are terms[starts[r] .. starts[r + 1]].
@group(0) @binding(2) var<storage, read> starts: array<u32>;
// k x len; a placeholder of one value when has_base is 0.
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn mix(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= p.k * p.len) {
        return;
    }
    let r = id / p.len;
    let c = id % p.len;
    var acc = 0.0;
    if (p.has_base != 0u) {
        acc = p.scale * base[id];
    }
    for (var j = starts[r]; j < starts[r + 1u]; j = j + 1u) {
        let term = terms[j];
        acc = acc + ldexp(bitcast<f32>(term.y) * x[term.x * p.len + c], bitcast<i32>(term.z));
    }
    out[id] = acc;
}
