// pairwise_dist.cu: primitive 2 of SPEC section 5, the n x n squared Euclidean distances
// between rows (Krum, Multi-Krum, NNM). Launched by src/cuda/pairwise_dist.rs.
//
// Layout: `rows` is a device array of n pointers, each offset to the first coordinate of this
// chunk; row i's value at chunk coordinate t is rows[i][t], t < len.
//
// Launch of pairwise_dist_partial: blocks of 16 x 16 threads; blockIdx.x is a tile of 16 rows
// j, blockIdx.y a tile of 16 rows i, blockIdx.z a split of the coordinates
// [z * span, min(len, (z + 1) * span)). Tiles below the diagonal return at once (the matrix is
// symmetric). Per step the block stages 32 coordinates of its 2 x 16 rows in shared memory
// (a warp loads 32 consecutive coordinates of one row: coalesced), then thread (ty, tx) adds
// the squared differences of pair (i, j) = (16 by + ty, 16 bx + tx), i <= j. It writes
// partial[z][i][j] only for i <= j < n; other entries are left as the caller zeroed them.
// pairwise_dist_reduce then sums the splits: out[e] = sum over z of partial[z][e], e < n * n.
//
// Accuracy: each 32-coordinate step is summed in f32 with fma, then added to an f64
// accumulator, and the splits are added in f64. A step whose f32 sum is below 1e-30 (squares
// may have underflowed), infinite (finite inputs up to 3.4e38 overflow in f32) or NaN is
// redone in f64 from shared memory, so finite inputs never overflow and tiny ones keep their
// relative accuracy. A row holding NaN or an infinity makes every sum it enters non-finite
// (its diagonal included: x - x is NaN); the caller maps non-finite sums to +inf.

typedef unsigned long long u64;

#define TILE 16
#define STEP 32
#define TINY 1e-30f

extern "C" __global__ void __launch_bounds__(TILE * TILE)
    pairwise_dist_partial(const float* const* __restrict__ rows, int n, u64 len, u64 span,
                          double* __restrict__ partial) {
  const int ti = blockIdx.y, tj = blockIdx.x;
  if (ti > tj) return;  // the whole block leaves: no barrier is skipped by part of it
  __shared__ float a[TILE][STEP + 1];  // + 1: rows of b read by 16 lanes fall in distinct banks
  __shared__ float b[TILE][STEP + 1];
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * TILE + tx;
  const int i = ti * TILE + ty, j = tj * TILE + tx;
  const bool mine = i < n && j < n && i <= j;
  const u64 begin = (u64)blockIdx.z * span;
  const u64 end = begin + span < len ? begin + span : len;
  double acc = 0.0;
  for (u64 c0 = begin; c0 < end; c0 += STEP) {
#pragma unroll
    for (int q = 0; q < (TILE * STEP) / (TILE * TILE); ++q) {
      const int e = tid + q * TILE * TILE;
      const int r = e / STEP, col = e % STEP;
      const u64 cc = c0 + col;
      const int ri = ti * TILE + r, rj = tj * TILE + r;
      a[r][col] = (ri < n && cc < end) ? rows[ri][cc] : 0.0f;
      b[r][col] = (rj < n && cc < end) ? rows[rj][cc] : 0.0f;
    }
    __syncthreads();
    if (mine) {
      float s = 0.0f;
#pragma unroll
      for (int c = 0; c < STEP; ++c) {
        const float diff = a[ty][c] - b[tx][c];
        s = fmaf(diff, diff, s);
      }
      if (!(s >= TINY) || isinf(s)) {
        double sd = 0.0;
        for (int c = 0; c < STEP; ++c) {
          const double diff = (double)a[ty][c] - (double)b[tx][c];
          sd += diff * diff;
        }
        acc += sd;
      } else {
        acc += (double)s;
      }
    }
    __syncthreads();
  }
  if (mine) partial[((u64)blockIdx.z * n + i) * n + j] = acc;
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
