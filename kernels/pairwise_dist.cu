// pairwise_dist.cu: primitive 2 of SPEC section 5, the n x n squared Euclidean distances
// between rows (Krum, Multi-Krum, NNM). Launched by src/cuda/pairwise_dist.rs.
//
// Layout: `rows` is a device array of n pointers, each offset to the first coordinate of this
// chunk; row i's value at chunk coordinate t is rows[i][t], t < len.
//
// Launch of pairwise_dist_partial: a 1-D grid of blocks over (sub-tile pair, split) = (x, z):
// blockIdx.x enumerates the pairs bi <= bj of sub-tiles of R = 8 rows (upper triangle, row by
// row), blockIdx.z a split of the coordinates [z * span, min(len, (z + 1) * span)); blocks of
// the same split are adjacent in launch order, so the rows they share are read from L2. A block
// has WARPS warps; per step a warp takes 32 K consecutive coordinates (lane l reads
// coordinates l, l + 32, ...: coalesced) and every lane holds the R x R pair sums of its K
// coordinates in registers (8 + 8 loads feed 64 fused multiply-adds: no shared-memory traffic
// in the inner loop). A reduce-scatter over the warp's lanes (62 f64 shuffles) leaves lane l
// with pairs 2l and 2l + 1 in f64; the warps are added in shared memory at the end. The block
// writes partial[z][i][j] only for i <= j < n; other entries are left as the caller zeroed them.
// pairwise_dist_reduce then sums the splits: out[e] = sum over z of partial[z][e], e < n * n.
// Requires span to be a multiple of 32 K (the launcher's choice; not needed for correctness).
//
// Accuracy: each lane's K squares of one pair are summed in f32 with fma, then in f64 across
// lanes, steps and splits. A lane sum below 1e-30 (squares may have underflowed), infinite
// (finite inputs up to 3.4e38 overflow in f32) or NaN is redone in f64 from the rows, so finite
// inputs never overflow and tiny ones keep their relative accuracy (the diagonal i == j, exactly
// 0 or NaN in f32 already, is not redone). A row holding NaN or an infinity makes every sum it
// enters non-finite (its diagonal included: x - x is NaN); the caller maps non-finite sums to
// +inf.

typedef unsigned long long u64;

#define PD_R 8
#define PD_K 16
#define PD_K_DEFERRED 64
#define PD_WARPS 4
#define TINY 1e-30f

// The lane's f64 value of pair q = (qi, qj): the f32 sum, or its f64 redo (see the header);
// without REDO the f32 sum as it is (pairwise_dist_deferred: the host recomputes the pairs
// that need it).
template <int K, bool REDO>
__device__ __forceinline__ double pair_value(float s, int qi, int qj, bool diag, const float* const* ra,
                                             const float* const* rb, u64 c0, u64 end, int lane) {
  if (!REDO || (s >= TINY && !isinf(s)) || (diag && qi == qj)) return (double)s;
  if (ra[qi] == nullptr || rb[qj] == nullptr) return (double)s;  // padding rows: never written
  double sd = 0.0;
  for (int k = 0; k < K; ++k) {
    const u64 c = c0 + (u64)k * 32 + lane;
    if (c < end) {
      const double diff = (double)ra[qi][c] - (double)rb[qj][c];
      sd += diff * diff;
    }
  }
  return sd;
}

// One level of the reduce-scatter: a lane keeps the half of v[0 .. 2 HALF) that lane bit BIT
// selects and adds its partner's copy of that half. Template arguments keep every index a
// constant, so v stays in registers.
template <int HALF, int BIT>
__device__ __forceinline__ void scatter_level(double (&v)[PD_R * PD_R / 2], int lane) {
  const bool up = (lane & BIT) != 0;
#pragma unroll
  for (int q = 0; q < HALF; ++q) {
    const double send = up ? v[q] : v[q + HALF];
    v[q] = (up ? v[q + HALF] : v[q]) + __shfl_xor_sync(0xffffffffu, send, BIT);
  }
}

// Sub-tile pair p -> (bi, bj), bi <= bj < nb: S(b) = b (2 nb - b + 1) / 2 pairs precede row b
// of the triangle.
__device__ __forceinline__ void tile_pair(long long p, int nb, int& bi, int& bj) {
  const double h = nb + 0.5;
  bi = (int)floor(h - sqrt(h * h - 2.0 * (double)p));
  if (bi < 0) bi = 0;
  while (bi > 0 && (long long)bi * (2LL * nb - bi + 1) / 2 > p) --bi;
  while ((long long)(bi + 1) * (2LL * nb - bi) / 2 <= p) ++bi;
  bj = bi + (int)(p - (long long)bi * (2LL * nb - bi + 1) / 2);
}

// The body of both variants: K coordinates per lane between reduce-scatters, the f64 redo
// inline (REDO) or left to the host.
template <int K, bool REDO>
__device__ __forceinline__ void pairwise_dist_body(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                                                   double* __restrict__ partial) {
  const int nb = (n + PD_R - 1) / PD_R;
  int bi, bj;
  tile_pair(blockIdx.x, nb, bi, bj);
  const bool diag = bi == bj;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* ra[PD_R];
  const float* rb[PD_R];
#pragma unroll
  for (int q = 0; q < PD_R; ++q) {
    ra[q] = bi * PD_R + q < n ? rows[bi * PD_R + q] : nullptr;
    rb[q] = bj * PD_R + q < n ? rows[bj * PD_R + q] : nullptr;
  }
  const u64 begin = (u64)blockIdx.z * span;
  const u64 end = begin + span < len ? begin + span : len;
  double keep0 = 0.0, keep1 = 0.0;  // pairs 2 lane and 2 lane + 1 of this warp
  // Every warp runs the same number of steps (a warp past `end` adds zeros), so the block's
  // threads stay in step.
  for (u64 base = begin; base < end; base += (u64)PD_WARPS * 32 * K) {
    const u64 c0 = base + (u64)warp * 32 * K;
    float acc[PD_R * PD_R];
#pragma unroll
    for (int q = 0; q < PD_R * PD_R; ++q) acc[q] = 0.0f;
    // Fully unrolled for the inline-redo kernel (K = 16), 4 at a time for K = 64: the body
    // stays small enough for the instruction cache.
#pragma unroll(REDO ? K : 4)
    for (int k = 0; k < K; ++k) {
      const u64 c = c0 + (u64)k * 32 + lane;
      float x[PD_R], y[PD_R];
#pragma unroll
      for (int q = 0; q < PD_R; ++q) {
        x[q] = (c < end && ra[q] != nullptr) ? ra[q][c] : 0.0f;
        y[q] = (c < end && rb[q] != nullptr) ? rb[q][c] : 0.0f;
      }
#pragma unroll
      for (int qi = 0; qi < PD_R; ++qi)
#pragma unroll
        for (int qj = 0; qj < PD_R; ++qj) {
          const float diff = x[qi] - y[qj];
          acc[qi * PD_R + qj] = fmaf(diff, diff, acc[qi * PD_R + qj]);
        }
    }
    // Reduce-scatter over the lanes: at each level a lane keeps the half of its values that
    // its lane bit selects and adds its partner's copy of that half.
    double v[PD_R * PD_R / 2];
    {
      const bool up = (lane & 16) != 0;
#pragma unroll
      for (int q = 0; q < 32; ++q) {
        const double lo = pair_value<K, REDO>(acc[q], q / PD_R, q % PD_R, diag, ra, rb, c0, end, lane);
        const double hi =
            pair_value<K, REDO>(acc[q + 32], (q + 32) / PD_R, (q + 32) % PD_R, diag, ra, rb, c0, end, lane);
        const double send = up ? lo : hi;
        v[q] = (up ? hi : lo) + __shfl_xor_sync(0xffffffffu, send, 16);
      }
    }
    scatter_level<16, 8>(v, lane);
    scatter_level<8, 4>(v, lane);
    scatter_level<4, 2>(v, lane);
    scatter_level<2, 1>(v, lane);
    keep0 += v[0];
    keep1 += v[1];
  }
  // The warps' totals, added in warp order.
  __shared__ double sums[PD_WARPS][PD_R * PD_R];
  sums[warp][2 * lane] = keep0;
  sums[warp][2 * lane + 1] = keep1;
  __syncthreads();
  if (threadIdx.x < PD_R * PD_R) {
    const int q = threadIdx.x, i = bi * PD_R + q / PD_R, j = bj * PD_R + q % PD_R;
    double t = 0.0;
    for (int w = 0; w < PD_WARPS; ++w) t += sums[w][q];
    if (i < n && j < n && i <= j) partial[((u64)blockIdx.z * n + i) * n + j] = t;
  }
}

// Variant `pairwise=registers` (the default): K = PD_K, the f64 redo inline.
extern "C" __global__ void __launch_bounds__(PD_WARPS * 32)
    pairwise_dist_partial(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                          double* __restrict__ partial) {
  pairwise_dist_body<PD_K, true>(rows, n, len, span, partial);
}

// Variant `pairwise=deferred`: the same grid and reduce-scatter, but 64 coordinates per lane
// between flushes (a quarter of the shuffles) and no inline redo (a body a fraction of the
// size): a pair whose sum is non-finite or tiny (squares that overflowed or underflowed f32)
// is recomputed by the host afterwards (src/cuda/pairwise_dist.rs). Its span is a multiple of
// PD_WARPS * 32 * PD_K_DEFERRED.
extern "C" __global__ void __launch_bounds__(PD_WARPS * 32)
    pairwise_dist_deferred(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                           double* __restrict__ partial) {
  pairwise_dist_body<PD_K_DEFERRED, false>(rows, n, len, span, partial);
}

// Variant `pairwise=tiled`: a one-wave grid of (tile-pair group x, coordinate split y) blocks,
// each streaming its span through shared memory in tiles of all n rows x PT_COLS coordinates,
// double-buffered (the next tile's copies are in flight, cp.async on sm_80 and later, while
// the block computes on this one). Warp w of group g owns the 8 x 8 sub-tile pair
// g * warps + w for the whole span (warps past the last pair redo the last one and write
// nothing: no branch around the inner loop); lane l takes coordinates 2 l and 2 l + 1 of each
// tile (one 8-byte shared load per row: no bank conflicts), and sums their squares in f32 for
// PT_FLUSH tiles (64 coordinates per lane: at most 66 units of 2^-24 of relative error), then
// flushes them into f64 with the reduce-scatter of the other variants (lane l keeps pairs
// 2 l and 2 l + 1). Nothing is redone inline: the host recomputes pairs of finite rows whose
// sums are non-finite (squares that overflowed f32: with the rows scaled by a power of two,
// `pairwise_dist_tiled_scaled`) or tiny (squares that underflowed), as for `deferred`
// (src/cuda/pairwise_dist.rs). The warps of diagonal sub-tile pairs also keep each row's
// largest |value| (NaN ignored) for that scaling: rowmax[y * n + i].
//
// Shared memory: 2 x ceil(n / 8) 8 x PT_COLS floats (dynamic; rows past n are zero), so
// n <= PT_MAX_ROWS. Rows whose pointer is 16-byte aligned are copied 16 bytes at a time,
// others (rows only 4-byte aligned) 4 bytes at a time; coordinates past the span's end are
// zero. partial[y][i][j] is written for i <= j < n.
#define PT_COLS 64
#define PT_FLUSH 32
#define PT_MAX_WARPS 12
#define PT_MAX_ROWS 96

// The copy primitives. The emulation (tests/emulate/harness.cpp, PT_HOST_COPIES) brings its
// own, which hold every copy back until the wait, as the hardware may.
#ifndef PT_HOST_COPIES
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
__device__ __forceinline__ void pt_copy16(float* dst, const float* src) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void pt_copy4(float* dst, const float* src) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void pt_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void pt_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#else
// Before sm_80: plain copies, finished when issued.
__device__ __forceinline__ void pt_copy16(float* dst, const float* src) {
  *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src);
}
__device__ __forceinline__ void pt_copy4(float* dst, const float* src) { *dst = *src; }
__device__ __forceinline__ void pt_commit() {}
template <int N>
__device__ __forceinline__ void pt_wait() {}
#endif
#endif
#ifndef PT_DYNAMIC_SHARED
#define PT_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

// Issues this thread's copies of the tile at coordinates [c0, c0 + PT_COLS) of the n rows
// (pointers in shared memory) into `tile` (row r at r * PT_COLS): chunks of 4 coordinates,
// chunk e = threadIdx.x + k blockDim.x; coordinates at or past `end` become 0. A chunk whose
// address is 16-byte aligned takes one 16-byte copy, others (rows only 4-byte aligned, the
// span's last chunk) 4-byte copies.
__device__ __forceinline__ void pt_issue(float* tile, const float* const* ptrs, int n, u64 c0, u64 end) {
  for (int e = threadIdx.x; e < n * (PT_COLS / 4); e += blockDim.x) {
    const int r = e / (PT_COLS / 4), q = (e % (PT_COLS / 4)) * 4;
    const u64 c = c0 + q;
    const float* src = ptrs[r] + c;
    float* dst = tile + r * PT_COLS + q;
    if (c + 4 <= end && (reinterpret_cast<unsigned long long>(src) & 15) == 0) {
      pt_copy16(dst, src);
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (c + k < end)
          pt_copy4(dst + k, src + k);
        else
          dst[k] = 0.0f;
      }
    }
  }
}

// The reduce-scatter of a lane's 64 f32 pair sums into f64 (lane l keeps pairs 2 l, 2 l + 1),
// which also zeroes them.
__device__ __forceinline__ void pt_flush(float (&acc)[PD_R * PD_R], int lane, double& keep0, double& keep1) {
  double v[PD_R * PD_R / 2];
  const bool up = (lane & 16) != 0;
#pragma unroll
  for (int q = 0; q < 32; ++q) {
    const double lo = (double)acc[q], hi = (double)acc[q + 32];
    const double send = up ? lo : hi;
    v[q] = (up ? hi : lo) + __shfl_xor_sync(0xffffffffu, send, 16);
    acc[q] = 0.0f;
    acc[q + 32] = 0.0f;
  }
  scatter_level<16, 8>(v, lane);
  scatter_level<8, 4>(v, lane);
  scatter_level<4, 2>(v, lane);
  scatter_level<2, 1>(v, lane);
  keep0 += v[0];
  keep1 += v[1];
}

template <bool SCALED>
__device__ __forceinline__ void pairwise_dist_tiled_body(const float* const* __restrict__ rows, int n, u64 len,
                                                         u64 span, float scale, double* __restrict__ partial,
                                                         float* __restrict__ rowmax) {
  PT_DYNAMIC_SHARED(float, pt_tiles);
  __shared__ const float* pt_rows[PT_MAX_ROWS];
  const int nb = (n + PD_R - 1) / PD_R, nr = nb * PD_R;
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long pairs = (long long)nb * (nb + 1) / 2;
  const long long p = (long long)blockIdx.x * warps + warp;
  const bool owner = p < pairs;
  int bi, bj;
  tile_pair(owner ? p : pairs - 1, nb, bi, bj);
  const bool diag = bi == bj;
  // Buffer k at pt_tiles + k * stride (an address, not an array index: no stack frame).
  const int stride = nr * PT_COLS;
  for (int r = threadIdx.x; r < n; r += blockDim.x) pt_rows[r] = rows[r];
  for (int e = n * PT_COLS + threadIdx.x; e < stride; e += blockDim.x) pt_tiles[e] = pt_tiles[stride + e] = 0.0f;
  __syncthreads();
  const u64 begin = (u64)blockIdx.y * span;
  const u64 end = begin + span < len ? begin + span : len;
  const u64 count = begin < end ? (end - begin + PT_COLS - 1) / PT_COLS : 0;
  if (count > 0) pt_issue(pt_tiles, pt_rows, n, begin, end);
  pt_commit();
  float acc[PD_R * PD_R];
#pragma unroll
  for (int q = 0; q < PD_R * PD_R; ++q) acc[q] = 0.0f;
  float top[PD_R];
#pragma unroll
  for (int q = 0; q < PD_R; ++q) top[q] = 0.0f;
  double keep0 = 0.0, keep1 = 0.0;
  for (u64 t = 0; t < count; ++t) {
    // The next tile's copies go out before this one is waited for.
    if (t + 1 < count) {
      pt_issue(pt_tiles + ((t + 1) & 1) * stride, pt_rows, n, begin + (t + 1) * PT_COLS, end);
      pt_commit();
      pt_wait<1>();
    } else {
      pt_wait<0>();
    }
    __syncthreads();  // every thread's copies of tile t have landed
    const float* tile = pt_tiles + (t & 1) * stride;
    const float2* a = reinterpret_cast<const float2*>(tile + bi * PD_R * PT_COLS) + lane;
    const float2* b = reinterpret_cast<const float2*>(tile + bj * PD_R * PT_COLS) + lane;
    float2 x[PD_R], y[PD_R];
#pragma unroll
    for (int q = 0; q < PD_R; ++q) {
      x[q] = a[q * (PT_COLS / 2)];
      y[q] = b[q * (PT_COLS / 2)];
      if (SCALED) {
        x[q].x *= scale;
        x[q].y *= scale;
        y[q].x *= scale;
        y[q].y *= scale;
      }
    }
    if (diag) {
#pragma unroll
      for (int q = 0; q < PD_R; ++q) top[q] = fmaxf(top[q], fmaxf(fabsf(x[q].x), fabsf(x[q].y)));
    }
#pragma unroll
    for (int qi = 0; qi < PD_R; ++qi)
#pragma unroll
      for (int qj = 0; qj < PD_R; ++qj) {
        const float d0 = x[qi].x - y[qj].x, d1 = x[qi].y - y[qj].y;
        acc[qi * PD_R + qj] = fmaf(d1, d1, fmaf(d0, d0, acc[qi * PD_R + qj]));
      }
    __syncthreads();  // every warp is done with tile t before its buffer takes tile t + 2
    if ((t + 1) % PT_FLUSH == 0 || t + 1 == count) pt_flush(acc, lane, keep0, keep1);
  }
  if (owner) {
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int q = 2 * lane + k, i = bi * PD_R + q / PD_R, j = bj * PD_R + q % PD_R;
      if (i < n && j < n && i <= j) partial[((u64)blockIdx.y * n + i) * n + j] = k == 0 ? keep0 : keep1;
    }
  }
  // Every warp shuffles (the emulation's shuffle is a block-wide barrier); the owners of
  // diagonal pairs write.
#pragma unroll
  for (int q = 0; q < PD_R; ++q) {
    float m = top[q];
#pragma unroll
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (owner && diag && lane == 0 && bi * PD_R + q < n) rowmax[(u64)blockIdx.y * n + bi * PD_R + q] = m;
  }
}

// `pairwise=tiled`, values as they are.
extern "C" __global__ void __launch_bounds__(PT_MAX_WARPS * 32)
    pairwise_dist_tiled(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                        double* __restrict__ partial, float* __restrict__ rowmax) {
  pairwise_dist_tiled_body<false>(rows, n, len, span, 1.0f, partial, rowmax);
}

// `pairwise=tiled`, every value times `scale` (a power of two): the host's second pass for
// pairs whose squares overflowed f32.
extern "C" __global__ void __launch_bounds__(PT_MAX_WARPS * 32)
    pairwise_dist_tiled_scaled(const float* const* __restrict__ rows, int n, u64 len, u64 span, float scale,
                               double* __restrict__ partial, float* __restrict__ rowmax) {
  pairwise_dist_tiled_body<true>(rows, n, len, span, scale, partial, rowmax);
}

// 1-D grid of 1-D blocks; thread e < nn writes out[e], the f64 sum over the splits in order.
extern "C" __global__ void __launch_bounds__(256)
    pairwise_dist_reduce(const double* __restrict__ partial, int splits, int nn, double* __restrict__ out) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= nn) return;
  double s = 0.0;
  for (int z = 0; z < splits; ++z) s += partial[(u64)z * nn + e];
  out[e] = s;
}
