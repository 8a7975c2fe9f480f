// Primitive 3, center_dist (SPEC 4.5, 4.6, 4.7 and section 5), launched by src/wgpu/center_dist.rs.
//
// Partial squared distances from listed rows of one chunk to a center (1 x len). One invocation
// per (listed row i, tile t) of 64 coordinates writes out[i * tiles + t]; ids >= rows * tiles
// return at once. Launch: workgroups of 64 in a 2D grid, linear id (wid.y * nwg.x + wid.x) * 64 + lid.
//
// Accuracy: as pairwise_dist.wgsl: power-of-two scales per row chosen by the host (no f32
// overflow for any finite input), squares added exactly as 128-bit integers (wide_sum.wgsl,
// appended to this file) so that equal distances are bit-identical, partials added by
// reduce.wgsl and, across chunks, by the host, as integers. Rows or a center with a non-finite
// value are given +inf by the host from the row statistics; their partials are ignored.

struct Params {
    len: u32,    // coordinates in this chunk
    tiles: u32,  // ceil(len / 64)
    rows: u32,   // rows listed in `list`
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> center: array<f32>;
// Per listed row: (its row index in x, then the power of two k that both the row and the center
// are scaled by, twice, and 0): the row is scaled by .y and the center by .z (`scaled` in
// wide_sum.wgsl, exact for subnormal values), so no compiler can factor the difference into
// `(x - c) * s` (WGSL allows fast-math rewriting), which overflows for values near +-3e38. The
// host lists every row, or (recomputing exactly, src/wgpu/fast_dist.rs) just a few.
@group(0) @binding(2) var<storage, read> list: array<vec4<i32>>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<u32>>;

@compute @workgroup_size(64)
fn center_dist_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= p.rows * p.tiles) {
        return;
    }
    let i = id / p.tiles;
    let t = id % p.tiles;
    let s = list[i];
    let a = u32(s.x) * p.len;
    var total = vec4<u32>(0u);
    for (var k = 0u; k < 64u; k = k + 1u) {
        let c = t * 64u + k;
        if (c < p.len) {
            let delta = scaled(x[a + c], s.y) - scaled(center[c], s.z);
            total = wide_add(total, wide_of(delta * delta));
        }
    }
    out[id] = total;
}

// The coalesced variant (BYZAGG_WGPU_KERNELS=coalesced, src/wgpu/kernel_variant.rs): one
// workgroup per (row i, tile t) of 64 COALESCED_STEPS = 1024 coordinates writes out[i * tiles + t]; its 64 lanes run
// along the coordinates (lane l takes t * 1024 + l, + 64, + 128, ...), so each load reads 64
// consecutive floats of the row and of the center. The lanes' exact sums are added in
// workgroup memory (`lanes_total`, wide_sum.wgsl): bit-identical to the other variant.
@compute @workgroup_size(64)
fn center_dist_coalesced(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    if (g >= p.rows * p.tiles) {
        return;
    }
    let i = g / p.tiles;
    let t = g % p.tiles;
    let s = list[i];
    let a = u32(s.x) * p.len;
    var total = vec4<u32>(0u);
    for (var k = 0u; k < COALESCED_STEPS; k = k + 1u) {
        let c = t * (COALESCED_STEPS * 64u) + k * 64u + lid;
        if (c < p.len) {
            let delta = scaled(x[a + c], s.y) - scaled(center[c], s.z);
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
fn center_dist_fast(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    if (g >= p.rows * p.tiles) {
        return;
    }
    let i = g / p.tiles;
    let t = g % p.tiles;
    let s = list[i];
    let a = u32(s.x) * p.len;
    var lane = 0.0;
    for (var k = 0u; k < COALESCED_STEPS; k = k + 1u) {
        let c = t * (COALESCED_STEPS * 64u) + k * 64u + lid;
        if (c < p.len) {
            let delta = scaled(x[a + c], s.y) - scaled(center[c], s.z);
            lane = lane + delta * delta;
        }
    }
    let sum = lanes_total(lid, wide_of(lane));
    if (lid == 0u) {
        out[g] = sum;
    }
}
