// Host emulation of the CUDA kernels (tests/cuda_emulated.rs): runs kernels/*.cu as C++ on
// the CPU, one std::thread per CUDA thread and one block at a time, so that their logic
// (ordering of non-finite values, median ties, MASS_EPS trimming, distance partial sums and
// their f64 redo, skipped zero coefficients) is checked against src/reference.rs without a
// GPU. Shared memory is a function-local static (blocks run one after another), a barrier
// stands for __syncthreads, and warp shuffles go through a block-wide array.
//
// Usage: harness MODE IN OUT [MODULE]. IN: u64 n, u64 d, f64 param, u64 k, n f64 weights,
// n*d f32 rows, d f32 center, k*n f64 coefficients. OUT: the results (f32 or f64).
//
// The pruned order_stats variant (modes pmedian, ptrim, pmeamed) runs one module per row
// count, compiled with the defines the launcher gives NVRTC: the test writes them into
// os_modules.h (on the include path when OS_MODULES is defined), each module a namespace
// holding the kernel file, and a function pruned_run(MODULE, ...) that launches its entry.
#include <atomic>
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static
using std::isinf;
static std::barrier<>* g_bar;
inline void __syncthreads() { g_bar->arrive_and_wait(); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static double g_shfl[1024];
inline double __shfl_down_sync(unsigned, double v, int off) {
  const unsigned t = threadIdx.x + threadIdx.y * blockDim.x;
  g_shfl[t] = v;
  __syncthreads();
  const double r = (t % 32 + off < 32) ? g_shfl[t + off] : v;
  __syncthreads();
  return r;
}
inline double __shfl_xor_sync(unsigned, double v, int mask) {
  const unsigned t = threadIdx.x + threadIdx.y * blockDim.x;
  g_shfl[t] = v;
  __syncthreads();
  const double r = g_shfl[t ^ (unsigned)mask];  // mask < 32: the partner is in the same warp
  __syncthreads();
  return r;
}

// Correctly rounded f64 arithmetic, never contracted (the harness is built with
// -ffp-contract=fast; a volatile intermediate keeps the product a separate rounding).
inline double __dsub_rn(double a, double b) {
  volatile double r = a - b;
  return r;
}
inline double __dmul_rn(double a, double b) {
  volatile double r = a * b;
  return r;
}
inline double __dadd_rn(double a, double b) {
  volatile double r = a + b;
  return r;
}
inline long long __double_as_longlong(double d) {
  long long u;
  std::memcpy(&u, &d, 8);
  return u;
}
// Atomics on shared or global memory: std::atomic_ref, so TSan sees them as atomic.
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
inline int atomicOr(int* p, int v) { return std::atomic_ref<int>(*p).fetch_or(v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct float2 {
  float x, y;
};
// pairwise=tiled's asynchronous copies (cp.async): each thread's copies wait in their commit
// groups until pt_wait<N> leaves at most N groups in flight, as the hardware may hold them, so a
// tile read before its wait and barrier reads stale data (and TSan sees the late writes). A
// 16-byte copy from or to an address that is not 16-byte aligned stops the harness, as the
// hardware would fault.
#define PT_HOST_COPIES
struct PtCopy {
  float* dst;
  const float* src;
  int count;
};
thread_local std::vector<std::vector<PtCopy>> pt_groups;
thread_local std::vector<PtCopy> pt_open;
inline void pt_copy16(float* dst, const float* src) {
  if (reinterpret_cast<std::uintptr_t>(dst) % 16 != 0 || reinterpret_cast<std::uintptr_t>(src) % 16 != 0) {
    std::fprintf(stderr, "pt_copy16: address not 16-byte aligned\n");
    std::exit(6);
  }
  pt_open.push_back({dst, src, 4});
}
inline void pt_copy4(float* dst, const float* src) { pt_open.push_back({dst, src, 1}); }
inline void pt_commit() {
  pt_groups.push_back(pt_open);
  pt_open.clear();
}
template <int N>
inline void pt_wait() {
  while (pt_groups.size() > (size_t)N) {
    for (const PtCopy& c : pt_groups.front()) std::memcpy(c.dst, c.src, 4 * c.count);
    pt_groups.erase(pt_groups.begin());
  }
}
// Dynamic shared memory: one buffer (blocks run one after another), 16-byte aligned.
alignas(16) static unsigned char g_dynamic_shared[64 << 10];
#define PT_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(g_dynamic_shared)
#define MT_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(g_dynamic_shared)
struct alignas(16) double2 {
  double x, y;
};
// Whether every pointer is 16-byte aligned (as the launchers decide `aligned`).
template <class P>
static int all_aligned(const std::vector<P>& ptrs) {
  for (auto p : ptrs)
    if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return 0;
  return 1;
}

#include "../../kernels/order_stats.cu"
#include "../../kernels/pairwise_dist.cu"
#include "../../kernels/center_dist.cu"
#include "../../kernels/mix.cu"
#include "../../kernels/exact_dist.cu"

// The hardware's launch limits (every architecture byzagg targets): a launch the GPU would
// refuse must fail here too, not run.
static void check_limits(dim3 grid, dim3 block) {
  const unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
  const bool ok = nt >= 1 && nt <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64 &&
                  grid.x >= 1 && grid.x <= 2147483647u && grid.y >= 1 && grid.y <= 65535 &&
                  grid.z >= 1 && grid.z <= 65535;
  if (!ok) {
    std::fprintf(stderr, "launch out of CUDA limits: grid (%u, %u, %u), block (%u, %u, %u)\n", grid.x,
                 grid.y, grid.z, block.x, block.y, block.z);
    std::exit(4);
  }
}

static void launch(dim3 grid, dim3 block, const std::function<void()>& f) {
  check_limits(grid, block);
  gridDim = grid;
  blockDim = block;
  const unsigned nt = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> bar(nt);
        g_bar = &bar;
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < nt; ++t)
          ts.emplace_back([&, t] {
            blockIdx = dim3{bx, by, bz};
            threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            f();
          });
        for (auto& th : ts) th.join();
      }
}

// The pruned modules: plain functions instead of extern "C" kernels, one namespace each.
#define OS_KERNEL void
#ifdef OS_MODULES
#include "os_modules.h"
#else
static bool pruned_run(const std::string&, const std::vector<const float*>&, const std::vector<double>&, double,
                       double, double, double, u64, float*) {
  return false;
}
#endif

template <class T>
static std::vector<T> take(FILE* in, size_t count) {
  std::vector<T> v(count);
  if (count && std::fread(v.data(), sizeof(T), count, in) != count) std::exit(3);
  return v;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) return 2;
  const std::string mode = argv[1];
  const std::string module = argc == 5 ? argv[4] : "";
  FILE* in = std::fopen(argv[2], "rb");
  if (!in) return 2;
  const u64 n = take<u64>(in, 1)[0], d = take<u64>(in, 1)[0];
  const double param = take<double>(in, 1)[0];
  const u64 k = take<u64>(in, 1)[0];
  const auto w = take<double>(in, n);
  auto data = take<float>(in, n * d);
  auto center = take<float>(in, d);
  const auto coeffs = take<double>(in, k * n);
  std::fclose(in);
  std::vector<const float*> rows(n);
  for (u64 i = 0; i < n; ++i) rows[i] = data.data() + i * d;
  FILE* out = std::fopen(argv[3], "wb");

  if (mode == "pmedian" || mode == "ptrim" || mode == "pmeamed") {
    // As src/cuda/order_stats.rs's pruned path: the same bounds, the module the test names.
    std::vector<const float*> pos;
    std::vector<double> wpos;
    double total = 0.0;
    for (u64 i = 0; i < n; ++i) {
      total += w[i];
      if (w[i] > 0.0) pos.push_back(rows[i]), wpos.push_back(w[i]);
    }
    const double lambda = mode == "pmedian" ? 0.0 : param;
    const double lo = mode == "pmeamed" ? 0.0 : lambda * total, eps = 1e-9 * total;
    const double hi = mode == "pmeamed" ? (1.0 - lambda) * total : total - lo;
    std::vector<float> res(d, -12345.0f);
    if (!pruned_run(module, pos, wpos, total, lo, hi, eps, d, res.data())) {
      std::fprintf(stderr, "no pruned module %s\n", module.c_str());
      return 5;
    }
    std::fwrite(res.data(), 4, d, out);
  } else if (mode == "median" || mode == "trim" || mode == "meamed") {
    // As src/cuda/order_stats.rs: rows of positive weight only, W and the bounds on the host.
    std::vector<const float*> pos;
    std::vector<double> wpos;
    double total = 0.0;
    for (u64 i = 0; i < n; ++i) {
      total += w[i];
      if (w[i] > 0.0) pos.push_back(rows[i]), wpos.push_back(w[i]);
    }
    const int m = (int)pos.size();
    const double lambda = mode == "median" ? 0.0 : param;
    const double lo = mode == "meamed" ? 0.0 : lambda * total, eps = 1e-9 * total;
    // MeaMed's kept mass (1 - lambda) W travels as `hi`.
    const double hi = mode == "meamed" ? (1.0 - lambda) * total : total - lo;
    std::vector<float> res(d, -12345.0f);
    const unsigned threads = 32, blocks = 3;  // a grid smaller than d: the stride loop runs
    std::vector<u64> scratch((size_t)m * threads * blocks);
    const bool med = mode == "median";
    bool uniform = true;  // as the launcher: every positive weight exactly 1
    for (double v : wpos) uniform = uniform && v == 1.0;
    launch({blocks}, {threads}, [&] {
      auto args = std::make_tuple(pos.data(), wpos.data(), m, total, lo, hi, eps, d, res.data(), scratch.data());
      if (mode == "meamed") std::apply(order_stats_meamed_heap, args);
      else if (uniform && m <= 8) med ? std::apply(order_stats_median_u8, args) : std::apply(order_stats_trim_u8, args);
      else if (uniform && m <= 16) med ? std::apply(order_stats_median_u16, args) : std::apply(order_stats_trim_u16, args);
      else if (uniform && m <= 32) med ? std::apply(order_stats_median_u32, args) : std::apply(order_stats_trim_u32, args);
      else if (uniform && m <= 64) med ? std::apply(order_stats_median_u64, args) : std::apply(order_stats_trim_u64, args);
      else if (m <= 8) med ? std::apply(order_stats_median_n8, args) : std::apply(order_stats_trim_n8, args);
      else if (m <= 16) med ? std::apply(order_stats_median_n16, args) : std::apply(order_stats_trim_n16, args);
      else if (m <= 32) med ? std::apply(order_stats_median_n32, args) : std::apply(order_stats_trim_n32, args);
      else if (m <= 64) med ? std::apply(order_stats_median_n64, args) : std::apply(order_stats_trim_n64, args);
      else med ? std::apply(order_stats_median_heap, args) : std::apply(order_stats_trim_heap, args);
    });
    std::fwrite(res.data(), 4, d, out);
  } else if (mode == "pairwise" || mode == "pairwise_deferred") {
    // As src/cuda/pairwise_dist.rs: one block per (sub-tile pair, split); spans of 64
    // coordinates here (not a multiple of the 512 a block step covers) so that splits, steps
    // that end inside a warp and warps with nothing to do all run.
    const u64 nb = (n + PD_R - 1) / PD_R, pairs = nb * (nb + 1) / 2;
    // Longer rows (d = 2100) get spans of 1000 (still no multiple of a step), or the emulation
    // of n = 70 would start 200,000 threads.
    const u64 span = d > 512 ? 1000 : 64, splits = (d + span - 1) / span;
    std::vector<double> partial(splits * n * n, 0.0), red(n * n, 0.0);
    const bool deferred = mode == "pairwise_deferred";
    launch({(unsigned)pairs, 1, (unsigned)splits}, {PD_WARPS * 32}, [&] {
      (deferred ? pairwise_dist_deferred : pairwise_dist_partial)(rows.data(), (int)n, d, span, partial.data());
    });
    launch({(unsigned)((n * n + 255) / 256)}, {256},
           [&] { pairwise_dist_reduce(partial.data(), (int)splits, (int)(n * n), red.data()); });
    std::fwrite(red.data(), 8, n * n, out);
  } else if (mode == "pairwise_tiled" || mode == "pairwise_tiled_scaled") {
    // As src/cuda/pairwise_dist.rs for pairwise=tiled: groups of at most PT_MAX_WARPS sub-tile
    // pairs (grid x) x splits (grid y); spans of 192 coordinates (3 tiles) for short rows and
    // one span for long ones (d = 2100: 33 tiles, a flush after 32 and one at the end).
    // `param` is the scaled kernel's scale. OUT: the n x n sums (upper triangle), then the
    // n row maxima (f32, the largest over the splits).
    const u64 nb = (n + PD_R - 1) / PD_R, pairs = nb * (nb + 1) / 2;
    const u64 groups = (pairs + PT_MAX_WARPS - 1) / PT_MAX_WARPS;
    const u64 warps = (pairs + groups - 1) / groups;
    const u64 span = d > 512 ? d : 192, splits = (d + span - 1) / span;
    std::vector<double> partial(splits * n * n, 0.0), red(n * n, 0.0);
    std::vector<float> rowmax(splits * n, -1.0f), top(n, 0.0f);
    const bool scaled = mode == "pairwise_tiled_scaled";
    launch({(unsigned)groups, (unsigned)splits}, {(unsigned)(warps * 32)}, [&] {
      if (scaled)
        pairwise_dist_tiled_scaled(rows.data(), (int)n, d, span, (float)param, partial.data(), rowmax.data());
      else
        pairwise_dist_tiled(rows.data(), (int)n, d, span, partial.data(), rowmax.data());
    });
    launch({(unsigned)((n * n + 255) / 256)}, {256},
           [&] { pairwise_dist_reduce(partial.data(), (int)splits, (int)(n * n), red.data()); });
    for (u64 z = 0; z < splits; ++z)
      for (u64 i = 0; i < n; ++i) top[i] = std::max(top[i], rowmax[z * n + i]);
    std::fwrite(red.data(), 8, n * n, out);
    std::fwrite(top.data(), 4, n, out);
  } else if (mode == "center") {
    const u64 splits0 = 2, span = ((d + splits0 - 1) / splits0 + 255) / 256 * 256;
    const u64 splits = (d + span - 1) / span;
    std::vector<double> partial(splits * n, 0.0), red(n, 0.0);
    launch({(unsigned)splits, (unsigned)((n + 3) / 4)}, {256}, [&] {
      center_dist_partial(rows.data(), (int)n, center.data(), d, span, partial.data());
    });
    launch({(unsigned)((n + 255) / 256)}, {256},
           [&] { center_dist_reduce(partial.data(), (int)splits, (int)n, red.data()); });
    std::fwrite(red.data(), 8, n, out);
  } else if (mode == "center_slices") {
    // As src/cuda/center_dist.rs for center_dist=slices: mode center's splits, blocks of
    // 256 x min(groups, CS_SLICES) threads, 3 persistent blocks so that a block takes several
    // items (the barrier before cs_sums is written again).
    const u64 splits0 = 2, span = ((d + splits0 - 1) / splits0 + 255) / 256 * 256;
    const u64 splits = (d + span - 1) / span;
    const unsigned groups = (unsigned)((n + 3) / 4), slices = groups < CS_SLICES ? groups : CS_SLICES;
    std::vector<double> partial(splits * n, 0.0), red(n, 0.0);
    launch({3}, {256, slices}, [&] {
      center_dist_slices(rows.data(), (int)n, center.data(), d, span, (unsigned)splits, partial.data());
    });
    launch({(unsigned)((n + 255) / 256)}, {256},
           [&] { center_dist_reduce(partial.data(), (int)splits, (int)n, red.data()); });
    std::fwrite(red.data(), 8, n, out);
  } else if (mode == "center_wide") {
    // As src/cuda/center_dist.rs for center_dist=wide / mix=wide: 2 persistent blocks per row group (the
    // stride loop runs when d > 2 * 1024), the last block of each group sums the partials.
    const unsigned blocks = 2, groups = (unsigned)((n + CW_ROWS - 1) / CW_ROWS);
    std::vector<const float*> ptrs(rows);
    ptrs.push_back(center.data());
    const int aligned = all_aligned(ptrs);
    std::vector<double> partial(blocks * n, -1.0), red(n, -1.0);
    std::vector<unsigned> done(groups, 0);
    launch({blocks, groups}, {CW_THREADS}, [&] {
      center_dist_wide(rows.data(), (int)n, center.data(), d, aligned, partial.data(), done.data(), red.data());
    });
    std::fwrite(red.data(), 8, n, out);
  } else if (mode == "mix_tiled" || mode == "mixbase_tiled") {
    // As src/cuda/mix.rs for mix_rows=tiled (k > 1): mix_k8's group lists, each entry's slot
    // among the rows any group reads and its 8 coefficients; cw_shift as mix.rs `tiled_shape`
    // picks it; 3 persistent blocks for d >= 1024, else 1, so that shorter rows (TSan's) still
    // run the tile loop more than once per block (the barrier before a tile is re-staged).
    const u64 groups = (k + 7) / 8;
    std::vector<int> uni, slot(n, -1);
    for (u64 i = 0; i < n; ++i) {
      bool any = false;
      for (u64 r = 0; r < k; ++r) any |= coeffs[r * n + i] != 0.0;
      if (any) slot[i] = (int)uni.size(), uni.push_back((int)i);
    }
    std::vector<int> slots, start{0};
    std::vector<double> cq;
    for (u64 g = 0; g < groups; ++g) {
      for (u64 i = 0; i < n; ++i) {
        bool any = false;
        for (u64 r = g * 8; r < std::min<u64>(k, (g + 1) * 8); ++r) any |= coeffs[r * n + i] != 0.0;
        if (!any) continue;
        slots.push_back(slot[i]);
        for (u64 q = 0; q < 8; ++q) cq.push_back(g * 8 + q < k ? coeffs[(g * 8 + q) * n + i] : 0.0);
      }
      start.push_back((int)slots.size());
    }
    // mix.rs `tiled_shape`: the widest tile the groups can use that fits in 48 KiB (the
    // launcher takes mix_k8 when none does; the tests' row counts always fit).
    int cw_shift = groups <= 1 ? 3 : groups <= 3 ? 2 : groups <= 7 ? 1 : 0;
    while (cw_shift > 0 && uni.size() * 8 + uni.size() * (64u << cw_shift) * 4 > (48u << 10)) --cw_shift;
    if (uni.size() * 8 + uni.size() * (64u << cw_shift) * 4 > (48u << 10)) return 5;
    std::vector<const float*> urows;
    for (int i : uni) urows.push_back(rows[i]);
    std::vector<float> res(k * d, -12345.0f);
    std::vector<float*> outs(k);
    for (u64 r = 0; r < k; ++r) outs[r] = res.data() + r * d;
    const bool with_base = mode == "mixbase_tiled";
    std::vector<const float*> base(k, with_base ? center.data() : nullptr);
    launch({d >= 1024 ? 3u : 1u}, {MT_THREADS}, [&] {
      mix_tiled(urows.data(), (int)uni.size(), slots.data(), start.data(), cq.data(), (int)k, base.data(),
                with_base ? param : 0.0, d, outs.data(), cw_shift);
    });
    std::fwrite(res.data(), 4, k * d, out);
  } else if (mode == "mix" || mode == "mixbase" || mode == "mix_wide" || mode == "mixbase_wide") {
    // mixbase: out += param * base, with the center as every output row's base.
    // As src/cuda/mix.rs: groups of 1 or 8 output rows, the union of non-zero columns.
    const int kt = k == 1 ? 1 : 8;
    const u64 groups = (k + kt - 1) / kt;
    std::vector<int> cols, start{0};
    for (u64 g = 0; g < groups; ++g) {
      for (u64 i = 0; i < n; ++i) {
        bool any = false;
        for (u64 r = g * kt; r < std::min<u64>(k, (g + 1) * kt); ++r) any |= coeffs[r * n + i] != 0.0;
        if (any) cols.push_back((int)i);
      }
      start.push_back((int)cols.size());
    }
    std::vector<float> res(k * d, -12345.0f);
    std::vector<float*> outs(k);
    const bool with_base = mode == "mixbase" || mode == "mixbase_wide";
    const bool wide = mode == "mix_wide" || mode == "mixbase_wide";
    std::vector<const float*> base(k, with_base ? center.data() : nullptr);
    const double scale = with_base ? param : 0.0;
    for (u64 r = 0; r < k; ++r) outs[r] = res.data() + r * d;
    if (wide && kt == 1) {
      // As src/cuda/mix.rs for center_dist=wide / mix=wide: 2 persistent blocks; 16-byte access where
      // every row, base and output pointer allows it.
      std::vector<const float*> ptrs(rows);
      ptrs.insert(ptrs.end(), base.begin(), base.end());
      ptrs.insert(ptrs.end(), outs.begin(), outs.end());
      const int aligned = all_aligned(ptrs);
      launch({2, (unsigned)groups}, {MW_THREADS}, [&] {
        mix_k1_wide(rows.data(), (int)n, coeffs.data(), (int)k, cols.data(), start.data(), base.data(), scale, d,
                    outs.data(), aligned);
      });
    } else {
      launch({2, (unsigned)groups}, {32}, [&] {
        auto f = kt == 1 ? mix_k1 : mix_k8;
        f(rows.data(), (int)n, coeffs.data(), (int)k, cols.data(), start.data(), base.data(), scale, d, outs.data());
      });
    }
    std::fwrite(res.data(), 4, k * d, out);
  } else if (mode == "exact" || mode == "refined") {
    // As src/cuda/exact_dist.rs: every pair i <= j (i == j included), then every row against
    // the center (pair n * n + i); spans of 64 coordinates so that several blocks add into
    // one pair. OUT, exact: the EX_SLOTS values of each pair (digits, then the count of
    // non-finite terms), summed over its blocks (no carries); refined: each pair's f64 sum
    // over its blocks in order, then its count of non-finite terms (two f64 per pair).
    std::vector<const float*> a, b;
    for (u64 i = 0; i < n; ++i)
      for (u64 j = 0; j < n; ++j) a.push_back(rows[i]), b.push_back(rows[j]);
    for (u64 i = 0; i < n; ++i) a.push_back(rows[i]), b.push_back(center.data());
    const u64 pairs = a.size(), span = 64, splits = (d + span - 1) / span;
    if (mode == "exact") {
      std::vector<u64> limbs(pairs * splits * EX_SLOTS, 7), sums(pairs * EX_SLOTS, 0);
      launch({(unsigned)splits, (unsigned)pairs}, {EX_THREADS},
             [&] { exact_dist_partial(a.data(), b.data(), d, span, limbs.data()); });
      for (u64 p = 0; p < pairs; ++p)
        for (u64 x = 0; x < splits; ++x)
          for (int L = 0; L < EX_SLOTS; ++L) sums[p * EX_SLOTS + L] += limbs[(p * splits + x) * EX_SLOTS + L];
      std::fwrite(sums.data(), 8, sums.size(), out);
    } else {
      std::vector<double> blocks(pairs * splits * 2, -7.0), sums(pairs * 2, 0.0);
      launch({(unsigned)splits, (unsigned)pairs}, {EX_THREADS},
             [&] { refined_dist_partial(a.data(), b.data(), d, span, blocks.data()); });
      for (u64 p = 0; p < pairs; ++p)
        for (u64 x = 0; x < splits; ++x)
          for (int k = 0; k < 2; ++k) sums[p * 2 + k] += blocks[(p * splits + x) * 2 + k];
      std::fwrite(sums.data(), 8, sums.size(), out);
    }
  } else if (mode == "differ") {
    // rows_differ for every pair i, j: OUT n * n i32 flags.
    std::vector<const float*> a, b;
    for (u64 i = 0; i < n; ++i)
      for (u64 j = 0; j < n; ++j) a.push_back(rows[i]), b.push_back(rows[j]);
    std::vector<int> flags(n * n, 0);
    launch({2, (unsigned)(n * n)}, {EX_THREADS}, [&] { rows_differ(a.data(), b.data(), d, flags.data()); });
    std::fwrite(flags.data(), 4, flags.size(), out);
  } else {
    return 2;
  }
  std::fclose(out);
  return 0;
}
