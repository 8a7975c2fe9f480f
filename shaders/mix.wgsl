// Primitive 4, mix (SPEC section 5 and 3), launched by src/wgpu/mix.rs.
//
// out (k x len) = C (k x n) * x (n x len) [+ scale * base (k x len)] on one chunk. One invocation
// per output value (r, c) writes out[r * len + c]; ids >= k * len return at once. Launch:
// workgroups of 64 in a 2D grid, linear id (wid.y * nwg.x + wid.x) * 64 + lid.
//
// Terms with a zero coefficient are skipped by a branch, so 0 * NaN never enters a sum; a
// non-finite value with a non-zero coefficient propagates. Accumulates in f32 over n terms
// (coefficients are rounded to f32 by the host): a few n ulps of the scale of the inputs.

struct Params {
    len: u32,       // coordinates in this chunk
    n: u32,         // rows of x (columns of C)
    k: u32,         // output rows
    has_base: u32,  // 1: add scale * base
    scale: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> coeffs: array<f32>;
// k x len; a placeholder of one value when has_base is 0.
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

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
    for (var i = 0u; i < p.n; i = i + 1u) {
        let w = coeffs[r * p.n + i];
        if (w != 0.0) {
            acc = acc + w * x[i * p.len + c];
        }
    }
    out[id] = acc;
}
