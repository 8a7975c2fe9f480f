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
  // Not unrolled: with m known at compile time (the pruned modules) the unrolled search held
  // 142 registers at m = 64 against 96 rolled (the keys come from shared memory either way).
#pragma unroll 1
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

#ifndef OS_M  // the bitonic variant's module (no per-m defines)

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

#endif  // OS_M

// ---------------------------------------------------------------------------------------------
// The `pruned` variant (src/cuda/variant.rs): one module per exact row count, compiled with
// these defines in front of this file (src/cuda/order_stats.rs, src/cuda/sort_network.rs):
//   OS_M          the rows of positive weight, 1..64;
//   OS_KIND       0: median, weights 1; 1: trimmed mean, weights 1; 2: any weights (median,
//                 trimmed mean and MeaMed entries);
//   OS_NET(X,L,H) the compare-exchanges (X), lone mins (L) and lone maxes (H) of Batcher's
//                 odd-even merge sort on OS_M keys, pruned to the ranks the kind reads;
//   OS_RANK_LO, OS_RANK_HI  (kind 1) the ranks that may keep mass, the others keep none.
// The row pointers and weights arrive as kernel parameters (constant bank): no dependent
// load of a pointer before each value, and every load of a coordinate is issued before the
// network starts. Launch: 1-D blocks of OS_THREADS, a grid of at most one wave (the launcher
// sizes it by the occupancy), grid-stride over `len` coordinates, out[t] written for t < len.
//
// Uniform weights: 32-bit order keys in four instructions (order_key_u: -0 sorts below +0
// there, which changes no value a rank holds, and the result's zero is made +0 as today), and
// the same rank arithmetic as the bitonic `_u` kernels, so the results are bit-identical.
//
// Any weights: each key is the value's order bits with the low OS_BITS = ceil(log2 OS_M) bits
// replaced by the row index, so one 32-bit network sorts by (value, row) unless two rows'
// order bits differ only in those low bits. After the sort, every pair of neighbours with
// equal high bits is compared on its full order bits (the values wait in shared memory);
// if any pair differs the thread sorts again, by (the rank where the run of equal high bits
// starts, the low order bits, row), which is exactly the bitonic variant's (order bits, row)
// order, in 32-bit keys (so the rare path costs one more network, not the registers of
// 64-bit keys). The walks then read weights and values through the sorted rows,
// in the same order and with the same f64 expressions as the bitonic variant's walks, so the
// results are bit-identical to it. MeaMed keeps the sorted rows in shared memory for its
// outward walk (ranks chosen at run time) instead of a heap sort in global scratch.
#ifdef OS_M

#define OS_THREADS 128
#define OS_MAX_ROWS 64
#define OS_BITS (OS_M <= 1 ? 0 : OS_M <= 2 ? 1 : OS_M <= 4 ? 2 : OS_M <= 8 ? 3 : OS_M <= 16 ? 4 : OS_M <= 32 ? 5 : 6)
#define OS_MASK ((1u << OS_BITS) - 1u)

// Kernel parameters: m row pointers (each already at this chunk's first coordinate) and
// their weights, padded to OS_MAX_ROWS.
struct OsRows {
  const float* p[OS_MAX_ROWS];
};
struct OsWeights {
  double w[OS_MAX_ROWS];
};

// The uniform path's order key: unsigned order is -inf < finite < +inf < NaN (all NaNs one
// key), with -0 just below +0 (harmless, see above).
__device__ __forceinline__ unsigned order_key_u(float v) {
  const unsigned u = __float_as_uint(v);
  const unsigned k = u ^ ((unsigned)((int)u >> 31) | 0x80000000u);
  return v != v ? 0xffffffffu : k;
}

// order_bits in five instructions: adding +0 turns -0 into +0.
__device__ __forceinline__ unsigned order_key_w(float v) { return order_key_u(v + 0.0f); }

// The value order_bits keeps: -0 as +0, any NaN as the canonical NaN.
__device__ __forceinline__ float canonical(unsigned bits) { return from_order_bits(order_bits(__uint_as_float(bits))); }

#define OS_X(a, b)                   \
  {                                  \
    const auto x_ = k[a], y_ = k[b]; \
    k[a] = x_ < y_ ? x_ : y_;        \
    k[b] = x_ < y_ ? y_ : x_;        \
  }
#define OS_L(a, b) k[a] = k[a] < k[b] ? k[a] : k[b];
#define OS_H(a, b) k[b] = k[a] < k[b] ? k[b] : k[a];

#define OS_ARGS                                                                                 \
  const OsRows rows, const OsWeights w, double total, double lo, double hi, double eps, u64 len, \
      float* __restrict__ out

#ifndef OS_KERNEL
#define OS_KERNEL extern "C" __global__ void __launch_bounds__(OS_THREADS)
#endif

#if OS_KIND == 0 || OS_KIND == 1
template <bool MEDIAN>
__device__ __forceinline__ void os_uniform(OS_ARGS) {
  const u64 stride = (u64)gridDim.x * blockDim.x;
  for (u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x; t < len; t += stride) {
    float v[OS_M];
#pragma unroll
    for (int q = 0; q < OS_M; ++q) v[q] = rows.p[q][t];
    unsigned k[OS_M];
#pragma unroll
    for (int q = 0; q < OS_M; ++q) k[q] = order_key_u(v[q]);
    OS_NET(OS_X, OS_L, OS_H)
    if (MEDIAN) {
      // Rank m/2 for odd m; the f64 midpoint of ranks m/2 - 1 and m/2 for even m.
      constexpr int r1 = OS_M / 2, r0 = (OS_M % 2 == 1) ? r1 : r1 - 1;
      const float a = from_order_bits(k[r0]);
      const float med = r0 == r1 ? a : (float)(((double)a + (double)from_order_bits(k[r1])) / 2.0);
      out[t] = med + 0.0f;
    } else {
#if OS_KIND == 1
      // The bitonic `_u` trimmed mean's walk over the ranks that may keep mass (the host
      // found every other rank's kept mass 0 or below eps by the same expressions), with the
      // same f64 operations in the same order. Only the first and the last rank of the range
      // can keep part of their mass: a rank q strictly between them has lo < q and
      // q + 1 < hi (its neighbours keep mass), so it keeps (q + 1) - q = 1 exactly, never
      // below eps = MASS_EPS W <= 64e-9, and 1 * v == v. Written out so, the compiler holds
      // two kept masses across the coordinate loop, not one f64 per rank (176 registers at
      // m = 64 when every rank's kept mass was a loop invariant of its own).
      double sum = 0.0, kept_total = 0.0;
      if constexpr (OS_RANK_HI > OS_RANK_LO) {
        constexpr int q = OS_RANK_LO;
        const double kept = fmax(fmin((double)(q + 1), hi) - fmax((double)q, lo), 0.0);
        if (!(kept < eps || kept == 0.0)) {
          sum += kept * (double)from_order_bits(k[q]);
          kept_total += kept;
        }
      }
#pragma unroll
      for (int q = OS_RANK_LO + 1; q < OS_RANK_HI - 1; ++q) {
        sum += (double)from_order_bits(k[q]);
        kept_total += 1.0;
      }
      if constexpr (OS_RANK_HI - 1 > OS_RANK_LO) {
        constexpr int q = OS_RANK_HI - 1;
        const double kept = fmax(fmin((double)(q + 1), hi) - fmax((double)q, lo), 0.0);
        if (!(kept < eps || kept == 0.0)) {
          sum += kept * (double)from_order_bits(k[q]);
          kept_total += kept;
        }
      }
      out[t] = (float)(sum / kept_total);
#endif
    }
  }
}
#endif

#if OS_KIND == 0
OS_KERNEL os_median_u(OS_ARGS) { os_uniform<true>(rows, w, total, lo, hi, eps, len, out); }
#elif OS_KIND == 1
OS_KERNEL os_trim_u(OS_ARGS) { os_uniform<false>(rows, w, total, lo, hi, eps, len, out); }
#else

// Shared memory of one block: the weights, each thread's values by row, and (MeaMed) its
// sorted rows by rank. Columns by thread: conflict-free whatever row each lane reads.
template <int STAT>
struct OsShared {
  double w[OS_M];
  unsigned raw[OS_M][OS_THREADS];
  unsigned char rank[STAT == 2 ? OS_M : 1][OS_THREADS];
};

// MeaMed's keys for meamed_walk: rank i's (order bits, row) read from shared memory.
struct OsSharedKeys {
  const OsShared<2>* s;
  unsigned me;
  __device__ __forceinline__ u64 operator()(int i) const {
    const unsigned r = s->rank[i][me];
    return ((u64)order_bits(__uint_as_float(s->raw[r][me])) << 32) | r;
  }
};

// STAT 0: median, 1: trimmed mean, 2: MeaMed (`hi` carries the kept mass (1 - lambda) W).
template <int STAT>
__device__ __forceinline__ void os_weighted(OS_ARGS) {
  __shared__ OsShared<STAT> s;
  for (int q = threadIdx.x; q < OS_M; q += blockDim.x) s.w[q] = w.w[q];
  __syncthreads();
  const unsigned me = threadIdx.x;
  const u64 stride = (u64)gridDim.x * blockDim.x;
  for (u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x; t < len; t += stride) {
    float v[OS_M];
#pragma unroll
    for (int q = 0; q < OS_M; ++q) v[q] = rows.p[q][t];
    unsigned k[OS_M];
#pragma unroll
    for (int q = 0; q < OS_M; ++q) {
      s.raw[q][me] = __float_as_uint(v[q]);
      k[q] = (order_key_w(v[q]) & ~OS_MASK) | (unsigned)q;
    }
    OS_NET(OS_X, OS_L, OS_H)
    // Neighbours with equal high bits: equal values (the row order is right) or a collision.
    bool exact = true;
#pragma unroll
    for (int q = 0; q + 1 < OS_M; ++q) {
      if ((k[q] ^ k[q + 1]) <= OS_MASK) {
        exact = exact && order_bits(__uint_as_float(s.raw[k[q] & OS_MASK][me])) ==
                             order_bits(__uint_as_float(s.raw[k[q + 1] & OS_MASK][me]));
      }
    }
    if (!exact) {
      // The exact (order bits, row) order. The composite sort put the keys of equal high bits
      // next to each other, in increasing order of those bits; a second sort by (group, low
      // order bits, row), the group being the rank where its run starts (3 x OS_BITS <= 18
      // bits), orders each run by the full order bits and the row. 32-bit keys through the
      // same network: 64-bit keys here would set the whole kernel's register count (153 at
      // m = 64 against 80, so half the warps per multiprocessor) for a path random data
      // never takes.
      unsigned group = 0, prev = k[0];
#pragma unroll
      for (int q = 0; q < OS_M; ++q) {
        const unsigned cur = k[q], row = cur & OS_MASK;
        if ((prev ^ cur) > OS_MASK) group = q;
        prev = cur;
        const unsigned low = order_bits(__uint_as_float(s.raw[row][me])) & OS_MASK;
        k[q] = (group << (2 * OS_BITS)) | (low << OS_BITS) | row;
      }
      OS_NET(OS_X, OS_L, OS_H)
    }
    // The row at rank q: the low bits of either key.
#define OS_ROW(q) (k[q] & OS_MASK)
    if constexpr (STAT == 0) {
      // median_registers, with the rows read through OS_ROW.
      double c = 0.0;
      bool found = false, mid = false;
      unsigned ra = OS_ROW(OS_M - 1), rb = 0;
#pragma unroll
      for (int q = 0; q < OS_M; ++q) {
        if (!found) {
          c += s.w[OS_ROW(q)];
          if (2.0 * c == total) {
            found = true;
            ra = OS_ROW(q);
            mid = q + 1 < OS_M;
            if (q + 1 < OS_M) rb = OS_ROW(q + 1 < OS_M ? q + 1 : 0);
          } else if (2.0 * c > total) {
            found = true;
            ra = OS_ROW(q);
          }
        }
      }
      const float a = __uint_as_float(s.raw[ra][me]);
      out[t] = mid ? (float)(((double)a + (double)__uint_as_float(s.raw[rb][me])) / 2.0) : a;
    } else if constexpr (STAT == 1) {
      // trim_walk, with the rows read through OS_ROW.
      double below = 0.0, sum = 0.0, kept_total = 0.0;
#pragma unroll
      for (int q = 0; q < OS_M; ++q) {
        const double above = below + s.w[OS_ROW(q)];
        const double kept = fmax(fmin(above, hi) - fmax(below, lo), 0.0);
        below = above;
        if (kept < eps || kept == 0.0) continue;
        sum += kept * (double)canonical(s.raw[OS_ROW(q)][me]);
        kept_total += kept;
      }
      out[t] = (float)(sum / kept_total);
    } else {
#pragma unroll
      for (int q = 0; q < OS_M; ++q) s.rank[q][me] = (unsigned char)OS_ROW(q);
      const OsSharedKeys keys{&s, me};
      out[t] = meamed_walk(keys, OS_M, s.w, total, hi, eps);
    }
  }
}

#undef OS_ROW

OS_KERNEL os_median_w(OS_ARGS) { os_weighted<0>(rows, w, total, lo, hi, eps, len, out); }
OS_KERNEL os_trim_w(OS_ARGS) { os_weighted<1>(rows, w, total, lo, hi, eps, len, out); }
OS_KERNEL os_meamed_w(OS_ARGS) { os_weighted<2>(rows, w, total, lo, hi, eps, len, out); }
#endif  // OS_KIND

#endif  // OS_M
