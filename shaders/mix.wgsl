// Primitive 4, mix (SPEC section 5 and 3), launched by src/wgpu/mix.rs.
//
// out (k x len) = C (k x n) * x (n x len) [+ scale * base (k x len)] on one chunk, by one of
// three entry points that give the same bits (BYZAGG_WGPU_KERNELS=mix=classic|wide|wide_direct,
// src/wgpu/mix.rs):
// - `mix` (classic): one invocation per output value (r, c) writes out[r * len + c]; ids >=
//   k * len return at once. Launch: workgroups of 64 in a 2D grid, linear id
//   (wid.y * nwg.x + wid.x) * 64 + lid.
// - `mix_wide` and `mix_wide_direct`: one workgroup per (output row, tile of 256
//   coordinates), each lane four coordinates of it (see their comment).
// All compute each output value by the same f32 operations in the same order (the scaled
// base first, then ldexp(m * x, e) term by term), so everything below holds for all.
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
//
// An output row of one term whose coefficient is a power of two (Krum's selected row: 1) is
// that input row scaled by integer arithmetic on the bits (`times_pow2`), never by a float
// operation: a flushing GPU would turn a subnormal value into zero even in `1.0 * x` or
// `0.0 + x`. Values move as u32 bits for the same reason.

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

// n x len values, as f32 bits.
@group(0) @binding(0) var<storage, read> x: array<u32>;
// The non-zero terms of C, output row by output row: (input row, f32 bits of the mantissa m,
// the exponent e as i32 bits, 0).
@group(0) @binding(1) var<storage, read> terms: array<vec4<u32>>;
// Output row r's terms are terms[starts[r] .. starts[r + 1]].
@group(0) @binding(2) var<storage, read> starts: array<u32>;
// k x len; a placeholder of one value when has_base is 0.
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
// k x len values, as f32 bits.
@group(0) @binding(5) var<storage, read_write> out: array<u32>;

// The f32 bits of v * 2^e for the f32 bits v, rounded to nearest, ties to even: exact unless
// the result is subnormal, +-inf past the range, NaN and infinities unchanged. A subnormal v is
// normalised by its leading zeros first, so nothing is flushed (src/wgpu/float_bits.rs mirrors
// this in Rust and tests it against f64).
fn times_pow2(v: u32, e: i32) -> u32 {
    let sign = v & 0x80000000u;
    var be = i32((v >> 23u) & 0xffu);
    var m = v & 0x7fffffu;
    if (be == 255) {
        return v;
    }
    if (be == 0) {
        if (m == 0u) {
            return v;
        }
        let shift = countLeadingZeros(m) - 8u;
        m = m << shift;
        be = 1 - i32(shift);
    } else {
        m = m | 0x800000u;
    }
    // |v| = m 2^(be - 150) with m in [2^23, 2^24).
    let ne = be + e;
    if (ne >= 255) {
        return sign | 0x7f800000u;
    }
    if (ne >= 1) {
        return sign | (u32(ne) << 23u) | (m & 0x7fffffu);
    }
    // Subnormal: m 2^(ne - 150) = (m / 2^s) 2^-149, rounded to an integer count of 2^-149.
    let s = u32(1 - ne);
    if (s > 24u) {
        return sign;
    }
    let q = m >> s;
    let rest = m & ((1u << s) - 1u);
    let tie = 1u << (s - 1u);
    var r = q;
    if (rest > tie || (rest == tie && (q & 1u) == 1u)) {
        r = r + 1u;
    }
    return sign | r;
}

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
    let first = starts[r];
    let last = starts[r + 1u];
    if (p.has_base == 0u && last == first + 1u) {
        let term = terms[first];
        if ((term.y & 0x7fffffffu) == 0x3f800000u) {
            // +-1 2^e: a selected row, scaled on the bits.
            let v = times_pow2(x[term.x * p.len + c], bitcast<i32>(term.z));
            out[id] = v ^ (term.y & 0x80000000u);
            return;
        }
    }
    var acc = 0.0;
    if (p.has_base != 0u) {
        acc = p.scale * base[id];
    }
    for (var j = first; j < last; j = j + 1u) {
        let term = terms[j];
        let v = bitcast<f32>(x[term.x * p.len + c]);
        acc = acc + ldexp(bitcast<f32>(term.y) * v, bitcast<i32>(term.z));
    }
    out[id] = bitcast<u32>(acc);
}

// mix_wide and mix_wide_direct: classic's values from fewer, independent loads. Workgroup g
// (linear id wid.y * nwg.x + wid.x; g >= k * tiles returns at once) takes output row
// r = g / tiles and the tile of WIDE_TILE coordinates starting at (g % tiles) * WIDE_TILE; lane
// l takes coordinates tile + l + 64 q, q = 0..3, so each of the four loads of a term is one
// coalesced row of 64 floats and nothing needs vec4 alignment. Terms are taken two at a time
// (eight independent x loads in flight per lane) but added one after the other, in classic's
// order. Lanes past the chunk's end read the last coordinate instead (no branch around the
// loads) and store nothing. The two differ in where a lane reads the terms:
// - mix_wide stages the row's terms in workgroup memory, 64 at a time, so its x loads never
//   wait on a global load of the term; every branch around its barriers depends on the row
//   and the tile only (uniform per workgroup).
// - mix_wide_direct reads them from global memory (one address for the whole workgroup, a
//   broadcast): no workgroup memory, no barrier. Lavapipe pays for each barrier (a switch
//   between a workgroup's SIMD batches); which is faster on a GPU is for a GPU to say.

// Coordinates per lane, lanes per workgroup, and their product, the tile.
const WIDE_PER_LANE: u32 = 4u;
const WIDE_LANES: u32 = 64u;
const WIDE_TILE: u32 = WIDE_PER_LANE * WIDE_LANES;

// One piece of the output row's terms (one per lane), mix_wide only.
var<workgroup> wide_terms: array<vec4<u32>, WIDE_LANES>;

// Lane lid's four coordinates in tile t of the chunk (some may be >= len).
fn wide_coords(t: u32, lid: u32) -> vec4<u32> {
    return vec4<u32>(0u, 1u, 2u, 3u) * WIDE_LANES + (t * WIDE_TILE + lid);
}

// Classic's fast path: the term +-1 2^e (a selected row) applied to the lane's coordinates c of
// the output row starting at row, on the bits.
fn wide_copy_selected(term: vec4<u32>, row: u32, c: vec4<u32>) {
    let src = term.x * p.len;
    for (var q = 0u; q < WIDE_PER_LANE; q = q + 1u) {
        if (c[q] < p.len) {
            let v = times_pow2(x[src + c[q]], bitcast<i32>(term.z));
            out[row + c[q]] = v ^ (term.y & 0x80000000u);
        }
    }
}

// The workgroup's output row and the lane's coordinates, for both wide entry points: c (some
// may be >= len) and cl, in range for every lane (the coordinates of lanes past the end read
// the last one); the row's terms first..last. `done` when the workgroup has no row (past the
// grid) or its row was a selected row, already copied (classic's fast path).
struct WideJob {
    done: bool,
    row: u32,
    c: vec4<u32>,
    cl: vec4<u32>,
    first: u32,
    last: u32,
}

fn wide_job(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> WideJob {
    var job: WideJob;
    let tiles = (p.len + WIDE_TILE - 1u) / WIDE_TILE;
    let g = wid.y * nwg.x + wid.x;
    if (g >= p.k * tiles) {
        job.done = true;
        return job;
    }
    let r = g / tiles;
    job.row = r * p.len;
    job.c = wide_coords(g % tiles, lid);
    job.cl = min(job.c, vec4<u32>(p.len - 1u));
    job.first = starts[r];
    job.last = starts[r + 1u];
    if (p.has_base == 0u && job.last == job.first + 1u) {
        let term = terms[job.first];
        if ((term.y & 0x7fffffffu) == 0x3f800000u) {
            wide_copy_selected(term, job.row, job.c);
            job.done = true;
        }
    }
    return job;
}

// The sums' start at the (clamped) coordinates cl: classic's 0, or scale * base.
fn wide_start(row: u32, cl: vec4<u32>) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    if (p.has_base != 0u) {
        acc = p.scale * vec4<f32>(base[row + cl.x], base[row + cl.y], base[row + cl.z], base[row + cl.w]);
    }
    return acc;
}

// acc plus term t at the coordinates cl: classic's ldexp(m * x, e), component by component.
fn wide_add(acc: vec4<f32>, t: vec4<u32>, cl: vec4<u32>) -> vec4<f32> {
    let s = t.x * p.len;
    let v = vec4<u32>(x[s + cl.x], x[s + cl.y], x[s + cl.z], x[s + cl.w]);
    return acc + ldexp(bitcast<f32>(t.y) * bitcast<vec4<f32>>(v), vec4<i32>(bitcast<i32>(t.z)));
}

// The lane's values at its coordinates c that lie in the chunk.
fn wide_store(row: u32, c: vec4<u32>, acc: vec4<f32>) {
    for (var q = 0u; q < WIDE_PER_LANE; q = q + 1u) {
        if (c[q] < p.len) {
            out[row + c[q]] = bitcast<u32>(acc[q]);
        }
    }
}

@compute @workgroup_size(64)
fn mix_wide(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let job = wide_job(wid, nwg, lid);
    if (job.done) {
        return;
    }
    let cl = job.cl;
    var acc = wide_start(job.row, cl);
    for (var start = job.first; start < job.last; start = start + WIDE_LANES) {
        let count = min(job.last - start, WIDE_LANES);
        if (lid < count) {
            wide_terms[lid] = terms[start + lid];
        }
        workgroupBarrier();
        var j = 0u;
        for (; j + 1u < count; j = j + 2u) {
            let t0 = wide_terms[j];
            let t1 = wide_terms[j + 1u];
            acc = wide_add(wide_add(acc, t0, cl), t1, cl);
        }
        if (j < count) {
            acc = wide_add(acc, wide_terms[j], cl);
        }
        // Every lane is done with this piece before the next overwrites it.
        workgroupBarrier();
    }
    wide_store(job.row, job.c, acc);
}

@compute @workgroup_size(64)
fn mix_wide_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let job = wide_job(wid, nwg, lid);
    if (job.done) {
        return;
    }
    let cl = job.cl;
    var acc = wide_start(job.row, cl);
    var j = job.first;
    for (; j + 1u < job.last; j = j + 2u) {
        let t0 = terms[j];
        let t1 = terms[j + 1u];
        acc = wide_add(wide_add(acc, t0, cl), t1, cl);
    }
    if (j < job.last) {
        acc = wide_add(acc, terms[j], cl);
    }
    wide_store(job.row, job.c, acc);
}
