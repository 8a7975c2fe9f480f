// exact_dist.cu: exact squared distances for the few pairs of rows whose fast sums
// (pairwise_dist.cu, center_dist.cu) cannot order a rule's selection: the rules ask for them
// (Kernels::exact_pair_dist, exact_center_dist, src/aggregate/exact_ties.rs) so that exact
// ties break by row index as in the reference (SPEC 3). Launched by src/cuda/exact_dist.rs,
// which also rounds the result; pairwise_dist.rs also recomputes here the pairs whose squares
// overflowed or underflowed f32.
//
// Each term is what the reference adds: the f32 values widened to f64, their difference
// rounded to f64, its square rounded to f64 (__dsub_rn and __dmul_rn: never contracted into
// a fused multiply-add). A non-zero term lies in [2^-298, 2^259) (f32 differences are at least
// 2^-149 and below 2^129), so it is an integer multiple of UNIT = 2^-350 below 2^609; terms
// are added exactly as integers of LIMBS 32-bit digits, each digit kept in a u64 so that the
// carries wait until the host (a digit takes 2^32 additions of a 32-bit value before it can
// overflow; the launcher keeps a block's terms below that). The host adds the blocks' digits,
// carries, and rounds the integer once to the nearest f64 (ties to even): the reference's
// correctly rounded exact sum, bit for bit, whatever the order of the coordinates.
//
// A coordinate where either row holds NaN or an infinity has a non-finite difference (two
// finite f32 values never do in f64): it adds nothing to the digits and is counted instead,
// in the slot after them; the host makes a pair with a non-zero count +inf (SPEC 3).
//
// Layout: pair p (grid y) reads rows a[p] and b[p] (device pointers, offset to this chunk's
// first coordinate) at coordinates t < len. Block (x, p) covers [x span, min(len, (x+1) span))
// and writes out[(p * gridDim.x + x) * EX_SLOTS + L] for L < EX_SLOTS: the digits, then the
// count of non-finite terms.

typedef unsigned long long u64;

#define EX_LIMBS 21
// Output slots per block: the digits, then the count of non-finite terms.
#define EX_SLOTS (EX_LIMBS + 1)
#define EX_THREADS 128
// The unit's exponent: a term's lowest bit 2^(e - 1075), e its biased exponent, is at digit
// position e - 725 of the integer (e >= 725 for terms >= 2^-298).
#define EX_BIAS 725

extern "C" __global__ void __launch_bounds__(EX_THREADS)
    exact_dist_partial(const float* const* __restrict__ a, const float* const* __restrict__ b, u64 len,
                       u64 span, u64* __restrict__ out) {
  const int p = blockIdx.y;
  const float* x = a[p];
  const float* y = b[p];
  const u64 begin = (u64)blockIdx.x * span;
  const u64 end = begin + span < len ? begin + span : len;
  // Digits in local memory: indexed by each term's exponent, which registers cannot be.
  u64 acc[EX_LIMBS];
  for (int L = 0; L < EX_LIMBS; ++L) acc[L] = 0;
  u64 bad = 0;
  for (u64 t = begin + threadIdx.x; t < end; t += EX_THREADS) {
    const double diff = __dsub_rn((double)x[t], (double)y[t]);
    if (!isfinite(diff)) {
      ++bad;
      continue;
    }
    const double sq = __dmul_rn(diff, diff);
    if (sq == 0.0) continue;
    const u64 bits = (u64)__double_as_longlong(sq);
    const int e = (int)(bits >> 52);
    const u64 m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    const int s = e - EX_BIAS, k = s >> 5, o = s & 31;
    const u64 low = m << o;
    acc[k] += low & 0xffffffffULL;
    acc[k + 1] += low >> 32;
    acc[k + 2] += o == 0 ? 0 : m >> (64 - o);
  }
  __shared__ u64 total[EX_SLOTS];
  if (threadIdx.x < EX_SLOTS) total[threadIdx.x] = 0;
  __syncthreads();
  // Integer additions: exact in any order.
  for (int L = 0; L < EX_LIMBS; ++L)
    if (acc[L] != 0) atomicAdd(&total[L], acc[L]);
  if (bad != 0) atomicAdd(&total[EX_LIMBS], bad);
  __syncthreads();
  if (threadIdx.x < EX_SLOTS) out[((u64)p * gridDim.x + blockIdx.x) * EX_SLOTS + threadIdx.x] = total[threadIdx.x];
}

// refined_dist_partial: the cheaper refinement (Kernels::exact_pair_dist with exact = false,
// a first step that separates all but real ties): the same terms, same layout and grid as
// exact_dist_partial, added in f64 instead of as integers: each thread's terms in order
// (__dadd_rn: no contraction), then the block's EX_THREADS thread sums by a tree in shared
// memory. Block (x, p) writes out[(p * gridDim.x + x) * 2] = its sum and out[... + 1] = its
// count of non-finite terms (exact in f64: a block has at most 2^30 coordinates). The host
// adds the blocks in f64, in order; the bound of the result is refined_bound in
// src/cuda/exact_dist.rs.
extern "C" __global__ void __launch_bounds__(EX_THREADS)
    refined_dist_partial(const float* const* __restrict__ a, const float* const* __restrict__ b, u64 len,
                         u64 span, double* __restrict__ out) {
  const int p = blockIdx.y;
  const float* x = a[p];
  const float* y = b[p];
  const u64 begin = (u64)blockIdx.x * span;
  const u64 end = begin + span < len ? begin + span : len;
  double sum = 0.0, bad = 0.0;
  for (u64 t = begin + threadIdx.x; t < end; t += EX_THREADS) {
    const double diff = __dsub_rn((double)x[t], (double)y[t]);
    if (!isfinite(diff)) {
      bad += 1.0;
      continue;
    }
    sum = __dadd_rn(sum, __dmul_rn(diff, diff));
  }
  __shared__ double sums[EX_THREADS], bads[EX_THREADS];
  sums[threadIdx.x] = sum;
  bads[threadIdx.x] = bad;
  __syncthreads();
  for (int h = EX_THREADS / 2; h > 0; h /= 2) {
    if ((int)threadIdx.x < h) {
      sums[threadIdx.x] = __dadd_rn(sums[threadIdx.x], sums[threadIdx.x + h]);
      bads[threadIdx.x] += bads[threadIdx.x + h];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const u64 at = ((u64)p * gridDim.x + blockIdx.x) * 2;
    out[at] = sums[0];
    out[at + 1] = bads[0];
  }
}

// rows_differ: whether rows a[p] and b[p] (pair p = grid y) differ in any coordinate t < len,
// compared as values (0 == -0; the caller never passes a row holding NaN). Grid-stride along
// x, four coordinates per thread per step; any thread that finds a difference ORs 1 into out[p]
// (the caller zeroed it), so the answer does not depend on the order of the blocks.
extern "C" __global__ void __launch_bounds__(EX_THREADS)
    rows_differ(const float* const* __restrict__ a, const float* const* __restrict__ b, u64 len,
                int* __restrict__ out) {
  const int p = blockIdx.y;
  const float* x = a[p];
  const float* y = b[p];
  bool differ = false;
  const u64 stride = (u64)gridDim.x * EX_THREADS * 4;
  for (u64 t0 = ((u64)blockIdx.x * EX_THREADS + threadIdx.x) * 4; t0 < len; t0 += stride) {
#pragma unroll
    for (int q = 0; q < 4; ++q)
      if (t0 + q < len) differ |= x[t0 + q] != y[t0 + q];
  }
  if (differ) atomicOr(&out[p], 1);
}
