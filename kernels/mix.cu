// mix.cu: primitive 4 of SPEC section 5, out (k x d) = C (k x n) rows (n x d)
// [+ scale base (k x d)], skipping zero coefficients. Launched by src/cuda/mix.rs.
//
// Layout: `rows` (n), `base` (k) and `out` (k) are device arrays of row pointers, each offset
// to the first coordinate of this chunk; coordinates t < len. `coeffs` is C, k x n row-major,
// in f64. Output rows are handled in groups of KT: group g = blockIdx.y covers rows
// g KT .. g KT + KT - 1, and cols[start[g] .. start[g + 1]) lists, ascending, the input rows
// with a non-zero coefficient in at least one of them: no other row is ever read, so a NaN
// row whose coefficients are all 0 leaves no trace.
//
// Launch: grid (x, ceil(k / KT)) of blocks of 256 threads, grid-stride along x over the
// coordinates (a warp reads 32 consecutive coordinates of one row: coalesced). Each input
// value is loaded once per group and used for its KT output rows. A thread writes
// out[r][t] for r < k and t < len only.
//
// Accuracy: sums in f64 in input-row order, rounded once to f32. A term whose coefficient is
// exactly 0 (and the base term when scale == 0) is skipped; a non-finite value with a
// non-zero coefficient propagates as arithmetic says.

typedef unsigned long long u64;

template <int KT>
__device__ __forceinline__ void mix_impl(const float* const* __restrict__ rows, int n,
                                         const double* __restrict__ coeffs, int k,
                                         const int* __restrict__ cols, const int* __restrict__ start,
                                         const float* const* __restrict__ base, double scale, u64 len,
                                         float* const* __restrict__ out) {
  const int g = blockIdx.y, r0 = g * KT;
  const int p0 = start[g], p1 = start[g + 1];
  const u64 stride = (u64)gridDim.x * blockDim.x;
  for (u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x; t < len; t += stride) {
    double acc[KT];
#pragma unroll
    for (int q = 0; q < KT; ++q) acc[q] = 0.0;
    for (int p = p0; p < p1; ++p) {
      const int i = cols[p];
      const double x = (double)rows[i][t];
#pragma unroll
      for (int q = 0; q < KT; ++q) {
        if (r0 + q < k) {
          const double c = coeffs[(u64)(r0 + q) * n + i];
          if (c != 0.0) acc[q] += c * x;
        }
      }
    }
#pragma unroll
    for (int q = 0; q < KT; ++q) {
      if (r0 + q < k) {
        double v = acc[q];
        if (scale != 0.0) v += scale * (double)base[r0 + q][t];
        out[r0 + q][t] = (float)v;
      }
    }
  }
}

// Every entry point has this signature: rows, n, coeffs, k, cols, start, base, scale, len, out.
#define MIX_ARGS                                                                                    \
  const float* const* __restrict__ rows, int n, const double* __restrict__ coeffs, int k,           \
      const int* __restrict__ cols, const int* __restrict__ start, const float* const* __restrict__ base, \
      double scale, u64 len, float* const* __restrict__ out

// One output row per group: the mean, CTMA's average, a Weiszfeld step, Krum's pick.
extern "C" __global__ void __launch_bounds__(256) mix_k1(MIX_ARGS) {
  mix_impl<1>(rows, n, coeffs, k, cols, start, base, scale, len, out);
}

// Eight output rows per group: NNM (k = n) and bucketing.
extern "C" __global__ void __launch_bounds__(256) mix_k8(MIX_ARGS) {
  mix_impl<8>(rows, n, coeffs, k, cols, start, base, scale, len, out);
}

// ---- mix_k1_wide (variant `center_mix=wide`, src/cuda/variant.rs): k = 1 only ----
//
// Launch: a persistent grid (x, k) of MW_THREADS-thread blocks, x sized by the launcher to one
// wave. Block x walks the chunk in steps of gridDim.x * MW_THREADS * 4 coordinates (the same
// number of steps for every thread of the block, so the barriers below are reached by all);
// a thread takes 4 consecutive coordinates, one 16-byte load per input row where `aligned`
// (every row, base and output pointer 16-byte aligned), four 4-byte loads otherwise. The
// group's row pointers and coefficients are staged in shared memory, MW_TILE at a time (once
// for the whole launch when the group has at most MW_TILE rows), instead of three dependent
// global loads per term. Sums, order and rounding are mix_k1's: f64 in input-row order, the
// base term last, one rounding to f32, so both variants give bit-identical results.

#define MW_THREADS 256
#define MW_TILE 256

// Values t .. t + 3 of p (0 past len). (center_dist.cu has its own copy: NVRTC compiles each
// kernel file alone.)
template <bool ALIGNED>
__device__ __forceinline__ void mw_load4(const float* p, u64 t, u64 len, float (&v)[4]) {
  if (ALIGNED && t + 3 < len) {
    const float4 q = *reinterpret_cast<const float4*>(p + t);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
#pragma unroll
    for (int u = 0; u < 4; ++u) v[u] = t + u < len ? p[t + u] : 0.0f;
  }
}

// Stages entries pb .. pb + cnt of the group's column list: row pointers and coefficients.
__device__ __forceinline__ void mw_stage(const float* const* __restrict__ rows, int n,
                                         const double* __restrict__ coeffs, int g, const int* __restrict__ cols,
                                         int pb, int cnt, const float** sp, double* sc) {
  for (int e = threadIdx.x; e < cnt; e += MW_THREADS) {
    const int i = cols[pb + e];
    sp[e] = rows[i];
    sc[e] = coeffs[(u64)g * n + i];
  }
}

template <bool ALIGNED>
__device__ __forceinline__ void mix_k1_wide_impl(const float* const* __restrict__ rows, int n,
                                                 const double* __restrict__ coeffs, const int* __restrict__ cols,
                                                 const int* __restrict__ start, const float* const* __restrict__ base,
                                                 double scale, u64 len, float* const* __restrict__ out) {
  const int g = blockIdx.y;
  const int p0 = start[g], p1 = start[g + 1];
  __shared__ const float* sp[MW_TILE];
  __shared__ double sc[MW_TILE];
  const bool one_tile = p1 - p0 <= MW_TILE;
  if (one_tile) mw_stage(rows, n, coeffs, g, cols, p0, p1 - p0, sp, sc);
  __syncthreads();
  const u64 stride = (u64)gridDim.x * MW_THREADS * 4;
  for (u64 t0 = (u64)blockIdx.x * MW_THREADS * 4; t0 < len; t0 += stride) {
    const u64 t = t0 + (u64)threadIdx.x * 4;
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    for (int pb = p0; pb < p1; pb += MW_TILE) {
      const int cnt = p1 - pb < MW_TILE ? p1 - pb : MW_TILE;
      if (!one_tile) {
        __syncthreads();  // the previous tile is no longer read
        mw_stage(rows, n, coeffs, g, cols, pb, cnt, sp, sc);
        __syncthreads();
      }
#pragma unroll 4
      for (int e = 0; e < cnt; ++e) {
        float x[4];
        mw_load4<ALIGNED>(sp[e], t, len, x);
        const double c = sc[e];
#pragma unroll
        for (int u = 0; u < 4; ++u) acc[u] += c * (double)x[u];
      }
    }
    if (scale != 0.0) {
      float b[4];
      mw_load4<ALIGNED>(base[g], t, len, b);
#pragma unroll
      for (int u = 0; u < 4; ++u) acc[u] += scale * (double)b[u];
    }
    float* o = out[g];
    if (ALIGNED && t + 3 < len) {
      *reinterpret_cast<float4*>(o + t) = make_float4((float)acc[0], (float)acc[1], (float)acc[2], (float)acc[3]);
    } else {
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (t + u < len) o[t + u] = (float)acc[u];
    }
  }
}

// MIX_ARGS plus `aligned` (1 when every row, base and output pointer is 16-byte aligned).
extern "C" __global__ void __launch_bounds__(MW_THREADS) mix_k1_wide(MIX_ARGS, int aligned) {
  (void)k;
  if (aligned)
    mix_k1_wide_impl<true>(rows, n, coeffs, cols, start, base, scale, len, out);
  else
    mix_k1_wide_impl<false>(rows, n, coeffs, cols, start, base, scale, len, out);
}
