// Reductions shared by the distance primitives, launched by src/wgpu/reduce.rs.
//
// Both entry points reduce `count` segments of `len` values each to `tiles` = ceil(len / 64)
// values per segment: one invocation per (segment q, tile t) writes out[q * tiles + t]; ids
// >= count * tiles return at once. The host repeats them until one value per segment is left.
// Launch: workgroups of 64 in a 2D grid, linear id (wid.y * nwg.x + wid.x) * 64 + lid.
//
// - reduce_sum adds the 128-bit integer partial sums of the distance shaders (wide_sum.wgsl,
//   appended to this file): exact, so the tree's shape changes nothing.
// - reduce_max_abs_bits takes the maximum of (bits & 0x7fffffff) as an unsigned integer, which
//   orders non-negative floats exactly: a result >= 0x7f800000 means the segment holds NaN or an
//   infinity, otherwise it is the bit pattern of the largest magnitude. Run on a matrix chunk,
//   it gives every row's statistics (non-finite, largest magnitude) without any float compare.

struct Params {
    len: u32,    // values per input segment
    tiles: u32,  // ceil(len / 64): values per output segment
    count: u32,  // segments
    pad: u32,
}

@group(0) @binding(0) var<storage, read> sum_in: array<vec4<u32>>;
@group(0) @binding(1) var<uniform> sum_p: Params;
@group(0) @binding(2) var<storage, read_write> sum_out: array<vec4<u32>>;

@group(0) @binding(3) var<storage, read> max_in: array<u32>;
@group(0) @binding(4) var<uniform> max_p: Params;
@group(0) @binding(5) var<storage, read_write> max_out: array<u32>;

@compute @workgroup_size(64)
fn reduce_sum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= sum_p.count * sum_p.tiles) {
        return;
    }
    let q = id / sum_p.tiles;
    let t = id % sum_p.tiles;
    var total = vec4<u32>(0u);
    for (var k = 0u; k < 64u; k = k + 1u) {
        let c = t * 64u + k;
        if (c < sum_p.len) {
            total = wide_add(total, sum_in[q * sum_p.len + c]);
        }
    }
    sum_out[id] = total;
}

@compute @workgroup_size(64)
fn reduce_max_abs_bits(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (id >= max_p.count * max_p.tiles) {
        return;
    }
    let q = id / max_p.tiles;
    let t = id % max_p.tiles;
    var best = 0u;
    for (var k = 0u; k < 64u; k = k + 1u) {
        let c = t * 64u + k;
        if (c < max_p.len) {
            best = max(best, max_in[q * max_p.len + c] & 0x7fffffffu);
        }
    }
    max_out[id] = best;
}
