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
