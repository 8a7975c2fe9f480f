// Primitive 2, pairwise_dist (SPEC 4.4, 4.7 and section 5), launched by src/wgpu/pairwise_dist.rs.
//
// Partial squared distances between pairs of rows of one chunk. One invocation per (pair q,
// tile t) of 64 coordinates writes out[q * tiles + t]; ids >= count * tiles return at once.
// Launch: workgroups of 64 in a 2D grid, linear id (wid.y * nwg.x + wid.x) * 64 + lid.
//
// Accuracy: both rows are multiplied by the pair's power-of-two scale first (the host picks it
// from the rows' largest magnitudes so that no square can overflow f32, even for 1e38 inputs),
// each square is rounded once to f32, and the 64 squares are added exactly as 128-bit integers
// (wide_sum.wgsl, appended to this file): a partial does not depend on where in the row each
// coordinate sits, so equal distances are bit-identical. reduce.wgsl adds the partials the same
// way; the host adds chunks as integers and scales once. Pairs touching a non-finite row are
// never launched: the host knows them from the row statistics and writes +inf itself.

struct Params {
    len: u32,    // coordinates in this chunk (row stride of x)
    tiles: u32,  // ceil(len / 64)
    count: u32,  // pairs in this launch
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
// Per pair: (row i, row j, the scale's power of two k as i32 bits, k again). Row i is scaled by
// the first copy and row j by the second (`scaled` in wide_sum.wgsl: integer arithmetic, exact
// for subnormal values too); WGSL allows fast-math rewriting, and two values the compiler
// cannot prove equal leave it nothing to factor into `(x - y) * s`, which overflows for rows
// near +-3e38.
@group(0) @binding(1) var<storage, read> pairs: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<u32>>;

@compute @workgroup_size(64)
fn pairwise_dist_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= p.count * p.tiles) {
        return;
    }
    let q = id / p.tiles;
    let t = id % p.tiles;
    let pair = pairs[q];
    let ki = bitcast<i32>(pair.z);
    let kj = bitcast<i32>(pair.w);
    let a = pair.x * p.len;
    let b = pair.y * p.len;
    var total = vec4<u32>(0u);
    for (var k = 0u; k < 64u; k = k + 1u) {
        let c = t * 64u + k;
        if (c < p.len) {
            let delta = scaled(x[a + c], ki) - scaled(x[b + c], kj);
            total = wide_add(total, wide_of(delta * delta));
        }
    }
    out[id] = total;
}

// The coalesced variant (BYZAGG_WGPU_KERNELS=coalesced, src/wgpu/kernel_variant.rs): one
// workgroup per (pair q, tile t) of 64 COALESCED_STEPS = 1024 coordinates writes out[q * tiles + t];
// its 64 lanes run along the coordinates (lane l takes t * 1024 + l, + 64, + 128, ...), so
// each load instruction of the workgroup reads 64 consecutive floats of one row. The lanes'
// exact sums are added in workgroup memory (`lanes_total`, wide_sum.wgsl; integer sums: the
// tree's shape changes nothing, so both variants give bit-identical distances). Workgroups past
// count * tiles return at once (a workgroup-uniform test, before any barrier).

@compute @workgroup_size(64)
fn pairwise_dist_coalesced(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    if (g >= p.count * p.tiles) {
        return;
    }
    let q = g / p.tiles;
    let t = g % p.tiles;
    let pair = pairs[q];
    let ki = bitcast<i32>(pair.z);
    let kj = bitcast<i32>(pair.w);
    let a = pair.x * p.len;
    let b = pair.y * p.len;
    var total = vec4<u32>(0u);
    for (var k = 0u; k < COALESCED_STEPS; k = k + 1u) {
        let c = t * (COALESCED_STEPS * 64u) + k * 64u + lid;
        if (c < p.len) {
            let delta = scaled(x[a + c], ki) - scaled(x[b + c], kj);
            total = wide_add(total, wide_of(delta * delta));
        }
    }
    let sum = lanes_total(lid, total);
    if (lid == 0u) {
        out[g] = sum;
    }
}

// The fast variant (BYZAGG_WGPU_KERNELS=distances=fast, src/wgpu/fast_dist.rs has the error
// bound): the coalesced layout, but each lane adds its COALESCED_STEPS squares (the same f32
// squares as above) in an f32 accumulator and converts that one lane sum to the exact integer
// sum (`wide_of`), so the 128-bit additions run once per COALESCED_STEPS coordinates instead
// of once per coordinate. Not bit-identical to the other variants: within a proven bound of
// them, and the host recomputes exactly what the bound cannot cover.
@compute @workgroup_size(64)
fn pairwise_dist_fast(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    if (g >= p.count * p.tiles) {
        return;
    }
    let q = g / p.tiles;
    let t = g % p.tiles;
    let pair = pairs[q];
    let ki = bitcast<i32>(pair.z);
    let kj = bitcast<i32>(pair.w);
    let a = pair.x * p.len;
    let b = pair.y * p.len;
    var lane = 0.0;
    for (var k = 0u; k < COALESCED_STEPS; k = k + 1u) {
        let c = t * (COALESCED_STEPS * 64u) + k * 64u + lid;
        if (c < p.len) {
            let delta = scaled(x[a + c], ki) - scaled(x[b + c], kj);
            lane = lane + delta * delta;
        }
    }
    let sum = lanes_total(lid, wide_of(lane));
    if (lid == 0u) {
        out[g] = sum;
    }
}
