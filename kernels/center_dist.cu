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
