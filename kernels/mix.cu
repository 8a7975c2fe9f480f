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

// ---- mix_tiled (variant `mix_rows=tiled`, src/cuda/variant.rs): k > 1 (NNM, bucketing) ----
//
// mix_k8 reads every input row once per group of 8 output rows (8x the batch at k = n = 64),
// and spends about 100 instructions per row and group. Here a block stages a tile of
// T = 64 << cw_shift coordinates of every input row any group needs (`urows`: their pointers,
// ascending) in shared memory, once, and its 8 warps compute every output row of those
// coordinates from it: warp w takes the 64-coordinate sub-tile w % 2^cw_shift (lane l holds
// coordinates l and l + 32 of it) and the groups of 8 output rows w >> cw_shift, stepping by
// 8 >> cw_shift (the launcher picks cw_shift so that few groups still busy every warp). Per row
// and group a lane makes one slot load, four 16-byte coefficient loads shared by its two
// coordinates, two shared loads and 16 f64 fused multiply-adds. Launch: a persistent 1-D grid
// of MT_THREADS-thread blocks (one wave), dynamic shared memory of nuni pointers and nuni x T
// floats, grid-stride over the tiles.
//
// The group lists are mix_k8's (`start`; per entry p its row's slot in the tile, `slots[p]`),
// and `cq` holds each entry's 8 coefficients (cq[8 p + q] = C[8 g + q][row], 0 past k). Sums,
// order and rounding are mix_k8's, so the results are bit-identical: f64 in input-row order,
// the base term last, one rounding to f32. mix_k8 skips a zero coefficient; here the test is
// made only where a value is not finite: for a finite x, fma(0, x, acc) is acc exactly,
// because acc starts at +0 and a round-to-nearest sum is -0 only when both terms are, so acc
// is never -0.

#define MT_THREADS 256
#ifndef MT_DYNAMIC_SHARED
#define MT_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

extern "C" __global__ void __launch_bounds__(MT_THREADS)
    mix_tiled(const float* const* __restrict__ urows, int nuni, const int* __restrict__ slots,
              const int* __restrict__ start, const double* __restrict__ cq, int k,
              const float* const* __restrict__ base, double scale, u64 len, float* const* __restrict__ out,
              int cw_shift) {
  MT_DYNAMIC_SHARED(unsigned char, mt_shared);
  const float** sp = reinterpret_cast<const float**>(mt_shared);
  float* tile = reinterpret_cast<float*>(mt_shared + (u64)nuni * sizeof(const float*));
  const int tshift = 6 + cw_shift, T = 1 << tshift;
  const int warp = (int)threadIdx.x >> 5;
  const int col = ((warp & ((1 << cw_shift) - 1)) << 6) + ((int)threadIdx.x & 31);
  const int g0 = warp >> cw_shift, gstep = (MT_THREADS / 32) >> cw_shift;
  const int groups = (k + 7) / 8;
  for (int e = threadIdx.x; e < nuni; e += MT_THREADS) sp[e] = urows[e];
  const int cells = nuni << tshift;
  for (u64 t0 = (u64)blockIdx.x << tshift; t0 < len; t0 += (u64)gridDim.x << tshift) {
    __syncthreads();  // the pointers are staged; the previous tile is no longer read
#pragma unroll 4
    for (int e = threadIdx.x; e < cells; e += MT_THREADS) {
      const u64 t = t0 + (u64)(e & (T - 1));
      tile[e] = t < len ? sp[e >> tshift][t] : 0.0f;
    }
    __syncthreads();
    for (int g = g0; g < groups; g += gstep) {
      double acc[2][8];
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[0][q] = acc[1][q] = 0.0;
      const int p1 = start[g + 1];
      for (int p = start[g]; p < p1; ++p) {
        const float* row = tile + (slots[p] << tshift) + col;
        const float xf[2] = {row[0], row[32]};
        double c[8];
        const double2* c2 = reinterpret_cast<const double2*>(cq + (u64)p * 8);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const double2 v = c2[u];
          c[2 * u] = v.x;
          c[2 * u + 1] = v.y;
        }
        const bool finite = ((__float_as_uint(xf[0]) & 0x7f800000u) != 0x7f800000u) &
                            ((__float_as_uint(xf[1]) & 0x7f800000u) != 0x7f800000u);
#pragma unroll
        for (int u = 0; u < 2; ++u) {
          const double x = (double)xf[u];
          if (finite) {
#pragma unroll
            for (int q = 0; q < 8; ++q) acc[u][q] += c[q] * x;
          } else {
#pragma unroll
            for (int q = 0; q < 8; ++q)
              if (c[q] != 0.0) acc[u][q] += c[q] * x;
          }
        }
      }
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const u64 t = t0 + (u64)(col + 32 * u);
        if (t < len) {
#pragma unroll
          for (int q = 0; q < 8; ++q) {
            const int r = g * 8 + q;
            if (r < k) {
              double v = acc[u][q];
              if (scale != 0.0) v += scale * (double)base[r][t];
              out[r][t] = (float)v;
            }
          }
        }
      }
    }
  }
}
