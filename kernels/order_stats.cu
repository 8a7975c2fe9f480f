// order_stats.cu: primitive 1 of SPEC section 5, the coordinate-wise weighted median (SPEC 4.2),
// weighted trimmed mean (SPEC 4.3) and weighted mean around the median (MeaMed, SPEC 4.8). Launched by src/cuda/order_stats.rs.
//
// Layout: `rows` is a device array of m pointers, one per row of positive weight, in row
// order, each already offset to the first coordinate of this chunk; `w` holds their m
// weights. Row k's value at chunk coordinate t is rows[k][t]. `out` receives `len` floats.
//
// Launch: 1-D grid of 1-D blocks of 128 threads, grid-stride over the `len` coordinates; one
// thread owns one coordinate at a time and writes out[t] only for t < len. A warp reads 32
// consecutive coordinates of one row at a time (coalesced).
//
// Sorting: each value becomes a 64-bit key (order bits of the value << 32 | k) whose unsigned
// order is the order of SPEC section 3: -inf < finite < +inf < NaN (all NaNs equal, -0 equal
// to +0), ties by row index. For m <= N (N in 8, 16, 32, 64) the keys live in registers and a
// fully unrolled bitonic network sorts them (padding keys are all ones and sort last). For
// m > 64 the keys live in a global scratch laid out [m][threads] (element k of thread g at
// scratch[k * threads + g]) and a heap sort orders them.
//
// Uniform weights (every positive weight exactly 1, as a Batch stores equal weights): the
// row index never matters, since equal keys have equal values and equal weights, so the
// `_u` entry points sort the 32-bit order bits alone with min/max compare-exchanges (half the
// registers and a third of the instructions of 64-bit keys) and read the median or the kept
// mass off the ranks: C_k = k + 1 and W = m exactly, the same f64 numbers the weighted walk
// would form, so the results are bit-identical to it.
//
// Accuracy: the walk over the sorted keys accumulates weights in f64 in sorted order, exactly
// as src/reference.rs does, so the exact tie test 2 C_k == W of the median and the MASS_EPS
// rule of the trimmed mean decide the same way. The median returns an input value (or the f64
// midpoint of two, rounded once to f32); the trimmed mean sums kept_mass * value in f64.
// Non-finite values need no special case: they sort into the tails, and a NaN or infinity
// that keeps mass propagates as arithmetic says (as in the reference).

typedef unsigned long long u64;

// Order bits of a float: unsigned order equals -inf < finite < +inf < NaN, -0 == +0.
__device__ __forceinline__ unsigned order_bits(float v) {
  if (v != v) return 0xffffffffu;
  if (v == 0.0f) return 0x80000000u;
  unsigned u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Inverse of order_bits (NaN comes back as the canonical NaN, -0 as +0).
__device__ __forceinline__ float from_order_bits(unsigned u) {
  if (u == 0xffffffffu) return __uint_as_float(0x7fffffffu);
  return __uint_as_float((u & 0x80000000u) ? (u & 0x7fffffffu) : ~u);
}

__device__ __forceinline__ u64 make_key(float v, int k) {
  return ((u64)order_bits(v) << 32) | (unsigned)k;
}

// Sorted keys held in registers: every index is a compile-time constant after unrolling.
template <int N>
struct RegKeys {
  const u64 (&k)[N];
  __device__ __forceinline__ u64 operator()(int i) const { return k[i < N ? i : N - 1]; }
};

// Sorted keys held in the global scratch, stride `s` between consecutive elements.
struct ScratchKeys {
  const u64* k;
  u64 s;
  __device__ __forceinline__ u64 operator()(int i) const { return k[(u64)i * s]; }
};

// Bitonic sorting network over N keys in registers (N a power of two), ascending.
template <int N>
__device__ __forceinline__ void bitonic_sort(u64 (&k)[N]) {
#pragma unroll
  for (int size = 2; size <= N; size <<= 1) {
#pragma unroll
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const int j = i ^ stride;
        if (j > i) {
          const bool up = (i & size) == 0;
          const u64 a = k[i], b = k[j];
          const bool swap = up ? (a > b) : (a < b);
          k[i] = swap ? b : a;
          k[j] = swap ? a : b;
        }
      }
    }
  }
}

// The same network over 32-bit keys, compare-exchange as min/max (two instructions).
template <int N>
__device__ __forceinline__ void bitonic_sort_u32(unsigned (&k)[N]) {
#pragma unroll
  for (int size = 2; size <= N; size <<= 1) {
#pragma unroll
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const int j = i ^ stride;
        if (j > i) {
          const unsigned a = k[i], b = k[j];
          const unsigned lo = a < b ? a : b, hi = a < b ? b : a;
          const bool up = (i & size) == 0;
          k[i] = up ? lo : hi;
          k[j] = up ? hi : lo;
        }
      }
    }
  }
}

__device__ void sift_down(u64* a, u64 s, int root, int end) {
  for (;;) {
    int child = 2 * root + 1;
    if (child >= end) return;
    u64 cv = a[(u64)child * s];
    if (child + 1 < end) {
      const u64 c2 = a[(u64)(child + 1) * s];
      if (c2 > cv) {
        ++child;
        cv = c2;
      }
    }
    const u64 rv = a[(u64)root * s];
    if (rv >= cv) return;
    a[(u64)root * s] = cv;
    a[(u64)child * s] = rv;
    root = child;
  }
}

// Heap sort of m keys at a[0], a[s], a[2s], ... ascending. Keys are distinct (they hold the
// row index), so the result is the unique sorted order.
__device__ void heap_sort(u64* a, u64 s, int m) {
  for (int i = m / 2 - 1; i >= 0; --i) sift_down(a, s, i, m);
  for (int end = m - 1; end > 0; --end) {
    const u64 t = a[0];
    a[0] = a[(u64)end * s];
    a[(u64)end * s] = t;
    sift_down(a, s, 0, end);
  }
}

// SPEC 4.2 over the sorted keys: the midpoint where 2 C_k == W exactly, else the first value
// with 2 C_k > W. N > 0 bounds the loop at compile time (register keys); N == 0 loops to m.
template <int N, class Keys>
__device__ __forceinline__ float median_walk(const Keys& key, int m, const double* __restrict__ w,
                                             const float* const* __restrict__ rows, u64 t, double total) {
  double c = 0.0;
#pragma unroll
  for (int k = 0; k < (N > 0 ? N : 0x40000000); ++k) {
    if (k >= m) break;
    const unsigned r = (unsigned)key(k);
    c += w[r];
    if (2.0 * c == total) {
      const double a = (double)rows[r][t];
      if (k + 1 < m) {
        const double b = (double)rows[(unsigned)key(k + 1)][t];
        return (float)((a + b) / 2.0);
      }
      return (float)a;
    }
    if (2.0 * c > total) return rows[r][t];
  }
  // Only reachable when rounding leaves the last cumulative weight a hair below W.
  return m > 0 ? rows[(unsigned)key(m - 1)][t] : __uint_as_float(0x7fffffffu);
}

// SPEC 4.3 over the sorted keys: value i keeps mass max(0, min(C_i, hi) - max(C_{i-1}, lo)),
// a kept mass below eps = MASS_EPS * W counts as zero.
template <int N, class Keys>
__device__ __forceinline__ float trim_walk(const Keys& key, int m, const double* __restrict__ w, double lo,
                                           double hi, double eps) {
  double below = 0.0, sum = 0.0, kept_total = 0.0;
#pragma unroll
  for (int k = 0; k < (N > 0 ? N : 0x40000000); ++k) {
    if (k >= m) break;
    const u64 kk = key(k);
    const double above = below + w[(unsigned)kk];
    const double kept = fmax(fmin(above, hi) - fmax(below, lo), 0.0);
    below = above;
    if (kept < eps || kept == 0.0) continue;
    sum += kept * (double)from_order_bits((unsigned)(kk >> 32));
    kept_total += kept;
  }
  return (float)(sum / kept_total);
}

// MeaMed (the rule's docs in src/rule/mod.rs) over the sorted keys: the median as in
// median_walk but with the midpoint kept in f64; a non-finite median is the result. Otherwise
// the mass `keep` = (1 - lambda) W closest to the median, walked outwards from it: ranks
// 0..a hold values <= med, ranks a+1.. values >= med, and each step takes the closer of the
// next rank below and the next above (a tie goes below; a NaN distance counts as +inf) until
// the mass left is at most eps = MASS_EPS * W, as src/cpu/order_stats.rs `meamed` does.
// Run-time ranks, so only the scratch keys serve it (register keys would go to a stack frame).
template <class Keys>
__device__ __forceinline__ float meamed_walk(const Keys& key, int m, const double* __restrict__ w, double total,
                                             double keep, double eps) {
  int a = m - 1;
  bool mid = false;
  double c = 0.0;
  for (int k = 0; k < m; ++k) {
    c += w[(unsigned)key(k)];
    if (2.0 * c == total) {
      a = k;
      mid = k + 1 < m;
      break;
    }
    if (2.0 * c > total) {
      a = k;
      break;
    }
  }
  const double va = (double)from_order_bits((unsigned)(key(a) >> 32));
  const double med = mid ? (va + (double)from_order_bits((unsigned)(key(a + 1) >> 32))) / 2.0 : va;
  if (med != med || isinf(med)) return (float)med;
  int down = a + 1, up = a + 1;
  double left = keep, sum = 0.0, kept = 0.0;
  while (left > eps) {
    int k;
    if (down > 0 && up < m) {
      const double lo = (double)from_order_bits((unsigned)(key(down - 1) >> 32));
      const double hi = (double)from_order_bits((unsigned)(key(up) >> 32));
      double dlo = fabs(lo - med), dhi = fabs(hi - med);
      const double inf = (double)__uint_as_float(0x7f800000u);
      if (dlo != dlo) dlo = inf;
      if (dhi != dhi) dhi = inf;
      k = dlo <= dhi ? down - 1 : up;
    } else if (down > 0) {
      k = down - 1;
    } else if (up < m) {
      k = up;
    } else {
      break;
    }
    if (k < down) {
      down = k;
    } else {
      up = k + 1;
    }
    const u64 kk = key(k);
    const double mass = fmin(w[(unsigned)kk], left);
    sum += mass * (double)from_order_bits((unsigned)(kk >> 32));
    kept += mass;
    left -= mass;
  }
  return (float)(sum / kept);
}

// median_walk over keys held in registers: the walk only finds the rank(s), and every key is
// read at a constant index (a runtime index would move the sorted keys to a stack frame).
template <int N>
__device__ __forceinline__ float median_registers(const u64 (&k)[N], int m, const double* __restrict__ w,
                                                  const float* const* __restrict__ rows, u64 t, double total) {
  double c = 0.0;
  bool found = false, mid = false;
  unsigned ra = 0, rb = 0, last = 0;
#pragma unroll
  for (int q = 0; q < N; ++q) {
    if (q < m) {
      const unsigned r = (unsigned)k[q];
      if (q == m - 1) last = r;
      if (!found) {
        c += w[r];
        if (2.0 * c == total) {
          found = true;
          ra = r;
          mid = q + 1 < m;
          if (q + 1 < N) rb = (unsigned)k[q + 1 < N ? q + 1 : N - 1];
        } else if (2.0 * c > total) {
          found = true;
          ra = r;
        }
      }
    }
  }
  // Not found: rounding left the last cumulative weight a hair below W.
  if (!found) ra = last;
  if (mid) return (float)(((double)rows[ra][t] + (double)rows[rb][t]) / 2.0);
  return m > 0 ? rows[ra][t] : __uint_as_float(0x7fffffffu);
}

template <int N, bool MEDIAN>
__device__ __forceinline__ void order_stats_small(const float* const* __restrict__ rows,
                                                  const double* __restrict__ w, int m, double total,
                                                  double lo, double hi, double eps, u64 len,
                                                  float* __restrict__ out) {
  const u64 stride = (u64)gridDim.x * blockDim.x;
  for (u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x; t < len; t += stride) {
    u64 keys[N];
#pragma unroll
    for (int k = 0; k < N; ++k) keys[k] = k < m ? make_key(rows[k][t], k) : ~0ull;
    bitonic_sort<N>(keys);
    const RegKeys<N> get{keys};
    out[t] = MEDIAN ? median_registers<N>(keys, m, w, rows, t, total) : trim_walk<N>(get, m, w, lo, hi, eps);
  }
}

// Uniform weights, m <= N rows: sort the order bits, then read ranks (see the header).
template <int N, bool MEDIAN>
__device__ __forceinline__ void order_stats_uniform(const float* const* __restrict__ rows, int m, double lo,
                                                    double hi, double eps, u64 len, float* __restrict__ out) {
  const u64 stride = (u64)gridDim.x * blockDim.x;
  // The median: rank m/2 for odd m; for even m, 2 C_k == W at rank m/2 - 1, so the f64
  // midpoint of ranks m/2 - 1 and m/2.
  const int r1 = m / 2, r0 = (m % 2 == 1) ? r1 : r1 - 1;
  for (u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x; t < len; t += stride) {
    unsigned keys[N];
#pragma unroll
    for (int k = 0; k < N; ++k) keys[k] = k < m ? order_bits(rows[k][t]) : 0xffffffffu;
    bitonic_sort_u32<N>(keys);
    if (MEDIAN) {
      // Constant indices after unrolling: a runtime index would move the keys to local memory.
      unsigned a = 0, b = 0;
#pragma unroll
      for (int k = 0; k < N; ++k) {
        if (k == r0) a = keys[k];
        if (k == r1) b = keys[k];
      }
      out[t] = r0 == r1 ? from_order_bits(a)
                        : (float)(((double)from_order_bits(a) + (double)from_order_bits(b)) / 2.0);
    } else {
      // trim_walk with every weight 1: below = k and above = k + 1 exactly.
      double sum = 0.0, kept_total = 0.0;
#pragma unroll
      for (int k = 0; k < N; ++k) {
        if (k >= m) break;
        const double kept = fmax(fmin((double)(k + 1), hi) - fmax((double)k, lo), 0.0);
        if (kept < eps || kept == 0.0) continue;
        sum += kept * (double)from_order_bits(keys[k]);
        kept_total += kept;
      }
      out[t] = (float)(sum / kept_total);
    }
  }
}

template <bool MEDIAN>
__device__ __forceinline__ void order_stats_heap(const float* const* __restrict__ rows,
                                                 const double* __restrict__ w, int m, double total,
                                                 double lo, double hi, double eps, u64 len,
                                                 float* __restrict__ out, u64* __restrict__ scratch) {
  const u64 stride = (u64)gridDim.x * blockDim.x;
  const u64 me = (u64)blockIdx.x * blockDim.x + threadIdx.x;
  u64* keys = scratch + me;
  for (u64 t = me; t < len; t += stride) {
    for (int k = 0; k < m; ++k) keys[(u64)k * stride] = make_key(rows[k][t], k);
    heap_sort(keys, stride, m);
    const ScratchKeys get{keys, stride};
    out[t] = MEDIAN ? median_walk<0>(get, m, w, rows, t, total) : trim_walk<0>(get, m, w, lo, hi, eps);
  }
}

// MeaMed on the scratch path, any row count; `hi` carries keep = (1 - lambda) W.
__device__ __forceinline__ void order_stats_meamed_scratch(const float* const* __restrict__ rows,
                                                           const double* __restrict__ w, int m, double total,
                                                           double keep, double eps, u64 len,
                                                           float* __restrict__ out, u64* __restrict__ scratch) {
  const u64 stride = (u64)gridDim.x * blockDim.x;
  const u64 me = (u64)blockIdx.x * blockDim.x + threadIdx.x;
  u64* keys = scratch + me;
  for (u64 t = me; t < len; t += stride) {
    for (int k = 0; k < m; ++k) keys[(u64)k * stride] = make_key(rows[k][t], k);
    heap_sort(keys, stride, m);
    out[t] = meamed_walk(ScratchKeys{keys, stride}, m, w, total, keep, eps);
  }
}

// Every entry point has this signature (src/cuda/order_stats.rs launches them all alike):
// rows, w, m, total = W, lo = lambda W, hi = W - lambda W, eps = MASS_EPS W, len, out, scratch
// (scratch: m * gridDim.x * blockDim.x keys, used by the _heap variants only).
#define ORDER_STATS_ARGS                                                                                \
  const float* const* __restrict__ rows, const double* __restrict__ w, int m, double total, double lo, \
      double hi, double eps, u64 len, float* __restrict__ out, u64* __restrict__ scratch
#define ORDER_STATS_SMALL(N)                                                                       \
  extern "C" __global__ void __launch_bounds__(128) order_stats_median_n##N(ORDER_STATS_ARGS) {   \
    order_stats_small<N, true>(rows, w, m, total, lo, hi, eps, len, out);                         \
  }                                                                                                \
  extern "C" __global__ void __launch_bounds__(128) order_stats_trim_n##N(ORDER_STATS_ARGS) {     \
    order_stats_small<N, false>(rows, w, m, total, lo, hi, eps, len, out);                        \
  }

ORDER_STATS_SMALL(8)
ORDER_STATS_SMALL(16)
ORDER_STATS_SMALL(32)
ORDER_STATS_SMALL(64)

// Uniform weights (all 1): same arguments, `w` and `total` unused.
#define ORDER_STATS_UNIFORM(N)                                                                   \
  extern "C" __global__ void __launch_bounds__(128) order_stats_median_u##N(ORDER_STATS_ARGS) { \
    order_stats_uniform<N, true>(rows, m, lo, hi, eps, len, out);                                \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) order_stats_trim_u##N(ORDER_STATS_ARGS) {   \
    order_stats_uniform<N, false>(rows, m, lo, hi, eps, len, out);                               \
  }

ORDER_STATS_UNIFORM(8)
ORDER_STATS_UNIFORM(16)
ORDER_STATS_UNIFORM(32)
ORDER_STATS_UNIFORM(64)

extern "C" __global__ void __launch_bounds__(128) order_stats_median_heap(ORDER_STATS_ARGS) {
  order_stats_heap<true>(rows, w, m, total, lo, hi, eps, len, out, scratch);
}

extern "C" __global__ void __launch_bounds__(128) order_stats_trim_heap(ORDER_STATS_ARGS) {
  order_stats_heap<false>(rows, w, m, total, lo, hi, eps, len, out, scratch);
}

// MeaMed: `lo` unused, `hi` = (1 - lambda) W, the mass kept around the median.
extern "C" __global__ void __launch_bounds__(128) order_stats_meamed_heap(ORDER_STATS_ARGS) {
  order_stats_meamed_scratch(rows, w, m, total, hi, eps, len, out, scratch);
}
