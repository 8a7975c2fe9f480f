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

// The body of both variants: K coordinates per lane between reduce-scatters, the f64 redo
// inline (REDO) or left to the host.
template <int K, bool REDO>
__device__ __forceinline__ void pairwise_dist_body(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                                                   double* __restrict__ partial) {
  // Sub-tile pair p -> (bi, bj): S(b) = b (2B - b + 1) / 2 pairs precede row b of the triangle.
  const int nb = (n + PD_R - 1) / PD_R;
  const long long p = blockIdx.x;
  const double h = nb + 0.5;
  int bi = (int)floor(h - sqrt(h * h - 2.0 * (double)p));
  if (bi < 0) bi = 0;
  while (bi > 0 && (long long)bi * (2LL * nb - bi + 1) / 2 > p) --bi;
  while ((long long)(bi + 1) * (2LL * nb - bi) / 2 <= p) ++bi;
  const int bj = bi + (int)(p - (long long)bi * (2LL * nb - bi + 1) / 2);
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

// 1-D grid of 1-D blocks; thread e < nn writes out[e], the f64 sum over the splits in order.
extern "C" __global__ void __launch_bounds__(256)
    pairwise_dist_reduce(const double* __restrict__ partial, int splits, int nn, double* __restrict__ out) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= nn) return;
  double s = 0.0;
  for (int z = 0; z < splits; ++z) s += partial[(u64)z * nn + e];
  out[e] = s;
}
