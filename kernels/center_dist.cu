// center_dist.cu: primitive 3 of SPEC section 5, the n squared Euclidean distances from each
// row to one center (CTMA, Weiszfeld, centered clipping). Launched by src/cuda/center_dist.rs.
//
// Layout: `rows` is a device array of n pointers and `center` a pointer, all offset to the
// first coordinate of this chunk; coordinates t < len.
//
// Launch of center_dist_partial: blocks of 256 threads; blockIdx.y picks the rows
// 4 by .. 4 by + 3 (ROWS rows share each load of the center), blockIdx.x a split of the
// coordinates [x * span, min(len, (x + 1) * span)), walked by the block's threads with stride
// 256 (a warp reads 32 consecutive coordinates: coalesced). The block reduces its sums (warp
// shuffles, then shared memory) and thread 0 writes partial[x][i] for its rows i < n.
// center_dist_reduce sums the splits: out[i] = sum over x of partial[x][i], i < n.
//
// Accuracy: differences and squares are taken in f64 (this kernel is bound by memory, so f64
// costs nothing): finite f32 inputs never overflow, tiny ones never underflow. A row or a
// center holding NaN or an infinity gives a non-finite sum, which the caller maps to +inf.

typedef unsigned long long u64;

#define ROWS 4
#define THREADS 256

// At most 2 blocks per multiprocessor are asked for: with a tighter cap ptxas spilled.
extern "C" __global__ void __launch_bounds__(THREADS, 2)
    center_dist_partial(const float* const* __restrict__ rows, int n, const float* __restrict__ center,
                        u64 len, u64 span, double* __restrict__ partial) {
  const int i0 = blockIdx.y * ROWS;
  const u64 begin = (u64)blockIdx.x * span;
  const u64 end = begin + span < len ? begin + span : len;
  const float* r[ROWS];
  double acc[ROWS];
#pragma unroll
  for (int q = 0; q < ROWS; ++q) {
    r[q] = i0 + q < n ? rows[i0 + q] : nullptr;
    acc[q] = 0.0;
  }
  for (u64 t = begin + threadIdx.x; t < end; t += THREADS) {
    const double c = (double)center[t];
#pragma unroll
    for (int q = 0; q < ROWS; ++q) {
      if (r[q] != nullptr) {
        const double diff = (double)r[q][t] - c;
        acc[q] += diff * diff;
      }
    }
  }
  __shared__ double warp_sums[THREADS / 32][ROWS];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int q = 0; q < ROWS; ++q) {
    double v = acc[q];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) warp_sums[warp][q] = v;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int q = 0; q < ROWS; ++q) {
      if (i0 + q < n) {
        double s = 0.0;
        for (int k = 0; k < THREADS / 32; ++k) s += warp_sums[k][q];
        partial[(u64)blockIdx.x * n + i0 + q] = s;
      }
    }
  }
}

// 1-D grid of 1-D blocks; thread i < n writes out[i], the f64 sum over the splits in order.
extern "C" __global__ void __launch_bounds__(256)
    center_dist_reduce(const double* __restrict__ partial, int splits, int n, double* __restrict__ out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double s = 0.0;
  for (int z = 0; z < splits; ++z) s += partial[(u64)z * n + i];
  out[i] = s;
}

// ---- center_dist_wide (variant `center_mix=wide`, src/cuda/variant.rs) ----
//
// Launch: a persistent grid (x, y) of CW_THREADS-thread blocks, x sized by the launcher to one
// wave (resident blocks per multiprocessor x multiprocessors, divided among the row groups,
// no more than the coordinates need), y = ceil(n / CW_ROWS) row groups. Block (x, y) walks
// the chunk in steps of gridDim.x * CW_THREADS * 4 coordinates; per step a thread takes 4
// consecutive coordinates (one 16-byte load per row where `aligned`: every row pointer and
// the center 16-byte aligned; four 4-byte loads otherwise), reads the center's 4 values once
// and uses them for all CW_ROWS rows of its group (today's kernel reads the center once per 4
// rows). The row pointers sit in shared memory. The block reduces its sums (warp shuffles,
// then shared memory, in warp order) into partial[x][i]; the last block of group y to finish
// (an atomic count in done[y], which the caller zeroed) adds the partials in block order and
// writes out[i]: no second kernel. Every row of a group is summed by the same operations on
// the same coordinates, so equal rows get bit-identical sums. Accuracy as center_dist_partial.

#define CW_ROWS 16
#define CW_THREADS 256

// Values t .. t + 3 of p (0 past len).
template <bool ALIGNED>
__device__ __forceinline__ void cw_load4(const float* p, u64 t, u64 len, float (&v)[4]) {
  if (ALIGNED && t + 3 < len) {
    const float4 q = *reinterpret_cast<const float4*>(p + t);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
#pragma unroll
    for (int u = 0; u < 4; ++u) v[u] = t + u < len ? p[t + u] : 0.0f;
  }
}

template <bool ALIGNED>
__device__ __forceinline__ void center_dist_wide_impl(const float* const* __restrict__ rows, int n,
                                                      const float* __restrict__ center, u64 len,
                                                      double* __restrict__ partial,
                                                      unsigned* __restrict__ done, double* __restrict__ out) {
  const int i0 = blockIdx.y * CW_ROWS;
  const int m = n - i0 < CW_ROWS ? n - i0 : CW_ROWS;
  __shared__ const float* row[CW_ROWS];
  __shared__ double warp_sums[CW_THREADS / 32][CW_ROWS];
  __shared__ bool last;
  if (threadIdx.x < CW_ROWS) row[threadIdx.x] = (int)threadIdx.x < m ? rows[i0 + threadIdx.x] : nullptr;
  __syncthreads();
  double acc[CW_ROWS];
#pragma unroll
  for (int q = 0; q < CW_ROWS; ++q) acc[q] = 0.0;
  const u64 stride = (u64)gridDim.x * CW_THREADS * 4;
  for (u64 t = ((u64)blockIdx.x * CW_THREADS + threadIdx.x) * 4; t < len; t += stride) {
    float c[4];
    cw_load4<ALIGNED>(center, t, len, c);
#pragma unroll
    for (int q = 0; q < CW_ROWS; ++q) {
      if (q < m) {
        float x[4];
        cw_load4<ALIGNED>(row[q], t, len, x);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const double diff = (double)x[u] - (double)c[u];
          acc[q] += diff * diff;
        }
      }
    }
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int q = 0; q < CW_ROWS; ++q) {
    double v = acc[q];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) warp_sums[warp][q] = v;
  }
  __syncthreads();
  if ((int)threadIdx.x < m) {
    double s = 0.0;
    for (int k = 0; k < CW_THREADS / 32; ++k) s += warp_sums[k][threadIdx.x];
    partial[(u64)blockIdx.x * n + i0 + threadIdx.x] = s;
  }
  // Publish the partials before counting this block done; the last block reads them all.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&done[blockIdx.y], 1u) == gridDim.x - 1;
  __syncthreads();
  if (last && (int)threadIdx.x < m) {
    __threadfence();
    double s = 0.0;
    for (unsigned x = 0; x < gridDim.x; ++x) s += __ldcg(&partial[(u64)x * n + i0 + threadIdx.x]);
    out[i0 + threadIdx.x] = s;
  }
}

// Arguments: rows, n, center, len, aligned (1 when every row pointer and the center are
// 16-byte aligned), partial (gridDim.x * n doubles), done (gridDim.y zeroed counters), out (n).
extern "C" __global__ void __launch_bounds__(CW_THREADS, 2)
    center_dist_wide(const float* const* __restrict__ rows, int n, const float* __restrict__ center, u64 len,
                     int aligned, double* __restrict__ partial, unsigned* __restrict__ done,
                     double* __restrict__ out) {
  if (aligned)
    center_dist_wide_impl<true>(rows, n, center, len, partial, done, out);
  else
    center_dist_wide_impl<false>(rows, n, center, len, partial, done, out);
}

// ---- center_dist_slices (variant `center_dist=slices`, src/cuda/variant.rs) ----
//
// center_dist_partial's sums bit for bit, arranged to read the center once and keep more loads
// in flight. The splits (x, span) and the row groups of ROWS rows are those of
// center_dist_partial; a work item is (split x, set of blockDim.y consecutive row groups),
// numbered with the set fastest, so that the items of one split run side by side.
//
// Launch: a persistent grid of gridDim.x blocks (one wave: resident blocks per multiprocessor
// x multiprocessors, no more than the items), blocks of THREADS x blockDim.y threads
// (blockDim.y <= CS_SLICES). Block b takes items b, b + gridDim.x, ...; slice y of the block
// sums row group set * blockDim.y + y over the split, its thread threadIdx.x walking the same
// coordinates begin + threadIdx.x + k THREADS as center_dist_partial's thread, four steps at a
// time: the four center values and the 4 x ROWS row values are loaded before any is used (16
// loads in flight per thread where center_dist_partial has 5), then added to each row's f64
// sum in the order k, so every row's sum sees the same operations in the same order. The
// slices of a block load the same center values at the same time, so the center leaves DRAM
// about once per split instead of once per row group. The block reduction is
// center_dist_partial's (warp shuffles, warp sums added in warp order by lane 0 of the slice's
// first warp), into the same partial[x][i]; center_dist_reduce then adds the splits.

#define CS_SLICES 4
#define CS_STEPS 4

// Arguments: rows, n, center, len, span and splits (center_dist_partial's split of the
// coordinates), partial (splits * n doubles).
extern "C" __global__ void __launch_bounds__(THREADS * CS_SLICES)
    center_dist_slices(const float* const* __restrict__ rows, int n, const float* __restrict__ center,
                       u64 len, u64 span, unsigned splits, double* __restrict__ partial) {
  __shared__ double cs_sums[CS_SLICES][THREADS / 32][ROWS];
  const unsigned slices = blockDim.y, y = threadIdx.y;
  const unsigned groups = (unsigned)(n + ROWS - 1) / ROWS;
  const unsigned sets = (groups + slices - 1) / slices;
  const u64 items = (u64)splits * sets;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (u64 item = blockIdx.x; item < items; item += gridDim.x) {
    const u64 x = item / sets;
    const int i0 = (int)((item % sets) * slices + y) * ROWS;
    const u64 begin = x * span;
    const u64 end = begin + span < len ? begin + span : len;
    const float* r[ROWS];
    double acc[ROWS];
#pragma unroll
    for (int q = 0; q < ROWS; ++q) {
      r[q] = i0 + q < n ? rows[i0 + q] : nullptr;
      acc[q] = 0.0;
    }
    for (u64 t = begin + threadIdx.x; t < end; t += CS_STEPS * THREADS) {
      float c[CS_STEPS], v[CS_STEPS][ROWS];
#pragma unroll
      for (int k = 0; k < CS_STEPS; ++k) {
        const u64 tk = t + (u64)k * THREADS;
        c[k] = tk < end ? center[tk] : 0.0f;
#pragma unroll
        for (int q = 0; q < ROWS; ++q) v[k][q] = r[q] != nullptr && tk < end ? r[q][tk] : 0.0f;
      }
#pragma unroll
      for (int k = 0; k < CS_STEPS; ++k) {
        if (t + (u64)k * THREADS < end) {
          const double ck = (double)c[k];
#pragma unroll
          for (int q = 0; q < ROWS; ++q) {
            if (r[q] != nullptr) {
              const double diff = (double)v[k][q] - ck;
              acc[q] += diff * diff;
            }
          }
        }
      }
    }
#pragma unroll
    for (int q = 0; q < ROWS; ++q) {
      double s = acc[q];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
      if (lane == 0) cs_sums[y][warp][q] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
#pragma unroll
      for (int q = 0; q < ROWS; ++q) {
        if (i0 + q < n) {
          double s = 0.0;
          for (int k = 0; k < THREADS / 32; ++k) s += cs_sums[y][k][q];
          partial[x * n + i0 + q] = s;
        }
      }
    }
    // cs_sums is written again by the next item.
    __syncthreads();
  }
}
