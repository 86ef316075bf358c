// CUDA Monte Carlo barrier pricer: one fused kernel (Philox in registers, the whole path and
// its bridge survival weight per thread, block partial sums), then a fixed-order reduction.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "mc/op.h"

namespace mc {
namespace {

using sg::cuda::check;

// Warp shuffle then shared-memory sum of (s1, s2) over the block; thread 0 gets the total.
__device__ void block_sum(double& s1, double& s2) {
  __shared__ double sh[2][CUDA_THREADS / 32];
  for (int o = 16; o > 0; o >>= 1) {
    s1 += __shfl_down_sync(0xffffffffu, s1, o);
    s2 += __shfl_down_sync(0xffffffffu, s2, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sh[0][warp] = s1;
    sh[1][warp] = s2;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    s1 = 0.0;
    s2 = 0.0;
    for (int w = 0; w < CUDA_THREADS / 32; ++w) {
      s1 += sh[0][w];
      s2 += sh[1][w];
    }
  }
}

// Block b of point i = b / bpp simulates draws [(b % bpp) * CUDA_CHUNK, +CUDA_CHUNK); a thread's
// draws are CUDA_THREADS apart so that neighbouring threads hold neighbouring counters.
template <class T, int MODEL, bool BRIDGE, bool ANTI>
__global__ void __launch_bounds__(CUDA_THREADS) mc_kernel(const McPoint* __restrict__ pts, int64_t D, int64_t bpp,
                                                           int64_t steps, uint32_t k0, uint32_t k1,
                                                           double2* __restrict__ part) {
  const int64_t blk = blockIdx.x;
  const int64_t i = blk / bpp, c = blk % bpp;
  const Pt<T> p(pts[i]);
  double s1 = 0.0, s2 = 0.0;
#pragma unroll 1
  for (int j = 0; j < CUDA_DPT; ++j) {
    const int64_t d = c * CUDA_CHUNK + j * CUDA_THREADS + threadIdx.x;
    if (d < D) {
      const double v = draw_value<T, MODEL, BRIDGE, ANTI>(p, static_cast<uint64_t>(d), steps, k0, k1);
      s1 += v;
      s2 += v * v;
    }
  }
  block_sum(s1, s2);
  if (threadIdx.x == 0) part[blk] = make_double2(s1, s2);
}

// One warp per point: lane l sums partials l, l + 32, ... in order, then a fixed shuffle tree
// adds the lanes; the order depends only on (n, paths), so results are bitwise reproducible.
// The finalize arithmetic is the CPU's (mc_model.h).
constexpr int FIN_WARPS = 4;  // points per finalize block

__global__ void __launch_bounds__(32 * FIN_WARPS) mc_finalize(const McPoint* __restrict__ pts,
                                                              const double2* __restrict__ part, int64_t n,
                                                              int64_t bpp, int64_t D, double* __restrict__ price,
                                                              double* __restrict__ se) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * FIN_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (i >= n) return;  // whole warps exit together: i is uniform within a warp
  double s1 = 0.0, s2 = 0.0;
  for (int64_t c = lane; c < bpp; c += 32) {
    s1 += part[i * bpp + c].x;
    s2 += part[i * bpp + c].y;
  }
  for (int o = 16; o > 0; o >>= 1) {
    s1 += __shfl_down_sync(0xffffffffu, s1, o);
    s2 += __shfl_down_sync(0xffffffffu, s2, o);
  }
  if (lane == 0) finalize(s1, s2, D, pts[i].disc, price + i, se + i);
}

template <class T, int MODEL, bool BRIDGE, bool ANTI>
void launch(const McPoint* pts, int64_t n, int64_t D, int64_t bpp, int64_t steps, uint32_t k0, uint32_t k1,
            double2* part, cudaStream_t s) {
  mc_kernel<T, MODEL, BRIDGE, ANTI><<<static_cast<unsigned>(n * bpp), CUDA_THREADS, 0, s>>>(pts, D, bpp, steps,
                                                                                           k0, k1, part);
}

template <class T, int MODEL>
void launch_flags(const Config& c, const McPoint* pts, int64_t n, int64_t D, int64_t bpp, double2* part,
                  cudaStream_t s) {
  const uint32_t k0 = static_cast<uint32_t>(c.seed), k1 = static_cast<uint32_t>(c.seed >> 32);
  if (c.bridge) {
    c.antithetic ? launch<T, MODEL, true, true>(pts, n, D, bpp, c.steps, k0, k1, part, s)
                 : launch<T, MODEL, true, false>(pts, n, D, bpp, c.steps, k0, k1, part, s);
  } else {
    c.antithetic ? launch<T, MODEL, false, true>(pts, n, D, bpp, c.steps, k0, k1, part, s)
                 : launch<T, MODEL, false, false>(pts, n, D, bpp, c.steps, k0, k1, part, s);
  }
}

// The gradient kernel: mc_kernel's layout, with draw_grad (bitwise draw_value's value plus its NDIR
// tangents) and GRAD_SUMS block sums per block, each reduced in block_sum's order.
__device__ void block_sum_grad(double* s) {
  __shared__ double sh[GRAD_SUMS][CUDA_THREADS / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k < GRAD_SUMS; ++k) {
    for (int o = 16; o > 0; o >>= 1) s[k] += __shfl_down_sync(0xffffffffu, s[k], o);
    if (lane == 0) sh[k][warp] = s[k];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int k = 0; k < GRAD_SUMS; ++k) {
      s[k] = 0.0;
      for (int w = 0; w < CUDA_THREADS / 32; ++w) s[k] += sh[k][w];
    }
  }
}

template <class T, int MODEL, bool ANTI>
__global__ void __launch_bounds__(CUDA_THREADS) mc_grad_kernel(const McPoint* __restrict__ pts, int64_t D, int64_t bpp,
                                                                int64_t steps, uint32_t k0, uint32_t k1,
                                                                double* __restrict__ part) {
  const int64_t blk = blockIdx.x;
  const int64_t i = blk / bpp, c = blk % bpp;
  const Pt<T> p(pts[i]);
  const PtG<T> g(pts[i]);
  double s[GRAD_SUMS];
#pragma unroll
  for (int k = 0; k < GRAD_SUMS; ++k) s[k] = 0.0;
#pragma unroll 1
  for (int j = 0; j < CUDA_DPT; ++j) {
    const int64_t d = c * CUDA_CHUNK + j * CUDA_THREADS + threadIdx.x;
    if (d < D) {
      T y[NDIR];
      const double v = draw_grad<T, MODEL, ANTI>(p, g, static_cast<uint64_t>(d), steps, k0, k1, y);
      s[0] += v;
      s[1] += v * v;
#pragma unroll
      for (int k = 0; k < NDIR; ++k) {
        const double u = y[k];
        s[2 + 2 * k] += u;
        s[3 + 2 * k] += u * u;
      }
    }
  }
  block_sum_grad(s);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int k = 0; k < GRAD_SUMS; ++k) part[GRAD_SUMS * blk + k] = s[k];
  }
}

// mc_finalize for GRAD_SUMS sums: out holds price (n), stderr (n), grad (n, NDIR), grad stderr (n, NDIR).
__global__ void __launch_bounds__(32 * FIN_WARPS) mc_finalize_grad(const McPoint* __restrict__ pts,
                                                                   const double* __restrict__ part, int64_t n,
                                                                   int64_t bpp, int64_t D, double* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * FIN_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (i >= n) return;  // whole warps exit together: i is uniform within a warp
  double s[GRAD_SUMS];
#pragma unroll
  for (int k = 0; k < GRAD_SUMS; ++k) s[k] = 0.0;
  for (int64_t c = lane; c < bpp; c += 32) {
#pragma unroll
    for (int k = 0; k < GRAD_SUMS; ++k) s[k] += part[GRAD_SUMS * (i * bpp + c) + k];
  }
#pragma unroll
  for (int k = 0; k < GRAD_SUMS; ++k)
    for (int o = 16; o > 0; o >>= 1) s[k] += __shfl_down_sync(0xffffffffu, s[k], o);
  if (lane == 0) {
    const double disc = pts[i].disc;
    finalize(s[0], s[1], D, disc, out + i, out + n + i);
    for (int k = 0; k < NDIR; ++k)
      finalize(s[2 + 2 * k], s[3 + 2 * k], D, disc, out + 2 * n + NDIR * i + k, out + (2 + NDIR) * n + NDIR * i + k);
  }
}

template <class T, int MODEL>
void launch_grad(const Config& c, const McPoint* pts, int64_t n, int64_t D, int64_t bpp, double* part,
                 cudaStream_t s) {
  const uint32_t k0 = static_cast<uint32_t>(c.seed), k1 = static_cast<uint32_t>(c.seed >> 32);
  const unsigned grid = static_cast<unsigned>(n * bpp);
  if (c.antithetic) {
    mc_grad_kernel<T, MODEL, true><<<grid, CUDA_THREADS, 0, s>>>(pts, D, bpp, c.steps, k0, k1, part);
  } else {
    mc_grad_kernel<T, MODEL, false><<<grid, CUDA_THREADS, 0, s>>>(pts, D, bpp, c.steps, k0, k1, part);
  }
}

// Frees everything on every exit path (stream-ordered on the per-thread stream), so an
// exception never leaks device memory.
struct Buffers {
  cudaStream_t stream = cudaStreamPerThread;
  McPoint* pts = nullptr;
  double2* part = nullptr;
  double* gpart = nullptr;
  double* out = nullptr;
  ~Buffers() {
    if (pts) cudaFreeAsync(pts, stream);
    if (part) cudaFreeAsync(part, stream);
    if (gpart) cudaFreeAsync(gpart, stream);
    if (out) cudaFreeAsync(out, stream);
    cudaStreamSynchronize(stream);
    cudaGetLastError();
  }
};

// The device's default pool keeps what it allocated across synchronizations (by default it
// returns memory to the driver at every sync, which makes each call pay cudaMalloc again).
void keep_pool_memory() {
  int dev = 0;
  cudaMemPool_t pool;
  if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
    uint64_t keep = UINT64_MAX;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
  }
  cudaGetLastError();
}

}  // namespace

size_t cuda_free_bytes() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return free_b;
}

// One call: per-thread stream (never the legacy stream other libraries' work waits on), three
// stream-ordered allocations from a pool that keeps its memory, one launch, one finalize.
void price_cuda(const Config& c, const McPoint* pts, int64_t n, double* price, double* se) {
  if (n <= 0) return;
  const int64_t D = draws(c), bpp = chunks(D, CUDA_CHUNK);
  // Checked before multiplying: n * bpp blocks must fit one launch's grid (2^31 - 1).
  if (bpp > INT32_MAX / n) throw std::runtime_error("mc CUDA: too many blocks (n * paths too large for one launch)");
  keep_pool_memory();
  Buffers b;
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.pts), n * sizeof(McPoint), b.stream), "cudaMallocAsync(points)");
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.part), n * bpp * sizeof(double2), b.stream),
        "cudaMallocAsync(partials)");
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.out), 2 * n * sizeof(double), b.stream), "cudaMallocAsync(out)");
  check(cudaMemcpyAsync(b.pts, pts, n * sizeof(McPoint), cudaMemcpyHostToDevice, b.stream), "copy in");
  if (c.single) {
    c.model == GBM ? launch_flags<float, GBM>(c, b.pts, n, D, bpp, b.part, b.stream)
                   : launch_flags<float, HESTON>(c, b.pts, n, D, bpp, b.part, b.stream);
  } else {
    c.model == GBM ? launch_flags<double, GBM>(c, b.pts, n, D, bpp, b.part, b.stream)
                   : launch_flags<double, HESTON>(c, b.pts, n, D, bpp, b.part, b.stream);
  }
  check(cudaGetLastError(), "mc kernel launch");
  mc_finalize<<<static_cast<unsigned>((n + FIN_WARPS - 1) / FIN_WARPS), 32 * FIN_WARPS, 0, b.stream>>>(
      b.pts, b.part, n, bpp, D, b.out, b.out + n);
  check(cudaGetLastError(), "mc finalize launch");
  check(cudaMemcpyAsync(price, b.out, n * sizeof(double), cudaMemcpyDeviceToHost, b.stream), "copy out");
  check(cudaMemcpyAsync(se, b.out + n, n * sizeof(double), cudaMemcpyDeviceToHost, b.stream), "copy out");
  check(cudaStreamSynchronize(b.stream), "mc kernel");
}

// Price and pathwise gradient: price_cuda's sequence with the gradient kernel and its finalize.
void grad_cuda(const Config& c, const McPoint* pts, int64_t n, double* price, double* se, double* grad, double* gse) {
  if (n <= 0) return;
  if (!c.bridge) throw std::invalid_argument("grad: pathwise gradients need bridge=True");
  const int64_t D = draws(c), bpp = chunks(D, CUDA_CHUNK);
  if (bpp > INT32_MAX / n) throw std::runtime_error("mc CUDA: too many blocks (n * paths too large for one launch)");
  keep_pool_memory();
  Buffers b;
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.pts), n * sizeof(McPoint), b.stream), "cudaMallocAsync(points)");
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.gpart), n * bpp * GRAD_SUMS * sizeof(double), b.stream),
        "cudaMallocAsync(partials)");
  check(cudaMallocAsync(reinterpret_cast<void**>(&b.out), GRAD_SUMS * n * sizeof(double), b.stream),
        "cudaMallocAsync(out)");
  check(cudaMemcpyAsync(b.pts, pts, n * sizeof(McPoint), cudaMemcpyHostToDevice, b.stream), "copy in");
  if (c.single) {
    c.model == GBM ? launch_grad<float, GBM>(c, b.pts, n, D, bpp, b.gpart, b.stream)
                   : launch_grad<float, HESTON>(c, b.pts, n, D, bpp, b.gpart, b.stream);
  } else {
    c.model == GBM ? launch_grad<double, GBM>(c, b.pts, n, D, bpp, b.gpart, b.stream)
                   : launch_grad<double, HESTON>(c, b.pts, n, D, bpp, b.gpart, b.stream);
  }
  check(cudaGetLastError(), "mc grad kernel launch");
  mc_finalize_grad<<<static_cast<unsigned>((n + FIN_WARPS - 1) / FIN_WARPS), 32 * FIN_WARPS, 0, b.stream>>>(
      b.pts, b.gpart, n, bpp, D, b.out);
  check(cudaGetLastError(), "mc grad finalize launch");
  check(cudaMemcpyAsync(price, b.out, n * sizeof(double), cudaMemcpyDeviceToHost, b.stream), "copy out");
  check(cudaMemcpyAsync(se, b.out + n, n * sizeof(double), cudaMemcpyDeviceToHost, b.stream), "copy out");
  check(cudaMemcpyAsync(grad, b.out + 2 * n, NDIR * n * sizeof(double), cudaMemcpyDeviceToHost, b.stream), "copy out");
  check(cudaMemcpyAsync(gse, b.out + (2 + NDIR) * n, NDIR * n * sizeof(double), cudaMemcpyDeviceToHost, b.stream),
        "copy out");
  check(cudaStreamSynchronize(b.stream), "mc grad kernel");
}

}  // namespace mc
