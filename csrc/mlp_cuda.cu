// CUDA half of the fused MLP kernels (issue 5): one launch for every point, a persistent grid of
// blocks that each take tiles of np points through all layers and back to the input, activations
// and saved derivatives in shared memory, weights resident in shared memory when they fit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <string>

#include "mlp.h"
#include "mlp_act.h"

namespace sg::mlp {
namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

template <typename T>
struct DevMath {
  static __host__ __device__ __forceinline__ T exp_neg(T x) {
    if constexpr (sizeof(T) == 4) return expf(x); else return exp(x);
  }
  static __host__ __device__ __forceinline__ T expm1_neg(T x) {
    if constexpr (sizeof(T) == 4) return expm1f(x); else return expm1(x);
  }
  static __host__ __device__ __forceinline__ T log1p_unit(T e) {
    if constexpr (sizeof(T) == 4) return log1pf(e); else return log1p(e);
  }
};

// Kernel parameters (by value). Offsets index the packed weights (elements, multiples of 4):
//   f[m]:  (kin_m, WP) forward, kin_0 = d, else WP; column q = ug*TU + j holds unit ug + 16 j
//   bias[m]: (WP,)   b[m], m >= 1: (WP, WP) backward, row o = out unit, column q = in unit (permuted)
//   w0n: (WP, d) first layer in natural order;  wl: (WP,);  xlo, xinv: (d,)
template <typename T>
struct KP {
  const T* w;
  int w_total, resident, d, nh, act, np, nps, hr;
  int off_f[kMaxHidden], off_bias[kMaxHidden], off_b[kMaxHidden], off_w0n, off_wl, off_xlo, off_xinv;
  T bL, y_scale, y_offset;
  int64_t n;
  const T* x;  // not __restrict__: the step may write x in place (x_out == x)
  T* y;
  T* g;
  int step, normalized;
  const T* z;
  const T* gz;
  const T* eta;
  T eta0;
  const T* box;  // lo (d,) then hi (d,), device
  T* x_out;
};

// N consecutive elements through 16-byte (or 8-byte) accesses; alignment is guaranteed by the
// layouts. Unpacked field by field (not memcpy) so the arrays stay in registers.
__device__ __forceinline__ void unpack(const float4& v, float* o) { o[0] = v.x; o[1] = v.y; o[2] = v.z; o[3] = v.w; }
__device__ __forceinline__ void unpack(const double2& v, double* o) { o[0] = v.x; o[1] = v.y; }
__device__ __forceinline__ float4 pack(const float* o) { return make_float4(o[0], o[1], o[2], o[3]); }
__device__ __forceinline__ double2 pack(const double* o) { return make_double2(o[0], o[1]); }
template <typename T>
using Vec16 = std::conditional_t<sizeof(T) == 4, float4, double2>;

template <typename T, int N>
__device__ __forceinline__ void ldv(const T* p, T (&o)[N]) {
  constexpr int E = 16 / static_cast<int>(sizeof(T));
  if constexpr (N % E == 0) {
#pragma unroll
    for (int i = 0; i < N / E; ++i) unpack(reinterpret_cast<const Vec16<T>*>(p)[i], o + i * E);
  } else if constexpr (sizeof(T) == 4 && N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    o[0] = v.x;
    o[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) o[i] = p[i];
  }
}
template <typename T, int N>
__device__ __forceinline__ void stv(T* p, const T (&v)[N]) {
  constexpr int E = 16 / static_cast<int>(sizeof(T));
  static_assert(N % E == 0, "stores are of 4 points");
#pragma unroll
  for (int i = 0; i < N / E; ++i) reinterpret_cast<Vec16<T>*>(p)[i] = pack(v + i * E);
}

// acc[i][j] += sum_k A[k][p0 + i] * B[k][ug*TU + j]: the thread's 4 points x TU units tile.
// A: activations (k rows, stride nps) in shared memory; B: weights, shared or global (L1).
template <typename T, int TU>
__device__ __forceinline__ void tile_gemm(const T* A, int nps, const T* B, int K, int p0, int ug, T (&acc)[4][TU]) {
  constexpr int WP = 16 * TU;
  const T* a = A + p0;
  const T* b = B + ug * TU;
#pragma unroll 4
  for (int k = 0; k < K; ++k) {
    T av[4], bv[TU];
    ldv<T, 4>(a + k * nps, av);
    ldv<T, TU>(b + k * WP, bv);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < TU; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
}

template <typename T, int WP>
__global__ void __launch_bounds__(256) mlp_kernel(const KP<T> P) {
  constexpr int TU = WP / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sm = reinterpret_cast<T*>(smem_raw);
  const int tid = threadIdx.x, nt = blockDim.x, ug = tid % 16, p0 = (tid / 16) * 4;
  const int d = P.d, nh = P.nh, np = P.np, nps = P.nps;
  const T* W = P.w;
  if (P.resident) {  // copy all weights once per block; tiles below reuse them
    const int n16 = P.w_total * static_cast<int>(sizeof(T)) / 16;  // w_total is a multiple of 4
    for (int i = tid; i < n16; i += nt) reinterpret_cast<float4*>(sm)[i] = reinterpret_cast<const float4*>(P.w)[i];
    W = sm;
    sm += P.w_total;
  }
  T* H0 = sm;
  T* H1 = H0 + P.hr * nps;
  T* D = H1 + P.hr * nps;  // (nh, WP, nps): act'(z) of every hidden layer
  T* Ys = D + nh * WP * nps;
  T* Gs = Ys + np;  // (np, d)
  const T* xlo = W + P.off_xlo;
  const T* xinv = W + P.off_xinv;
  const T* wl = W + P.off_wl;
  const T* w0n = W + P.off_w0n;
  const int64_t ntiles = (P.n + np - 1) / np;
  for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    const int64_t base = tile * np;
    const int cnt = static_cast<int>(min(static_cast<int64_t>(np), P.n - base));
    __syncthreads();  // the previous tile is done with every buffer (and the weight copy is done)
    for (int e = tid; e < np * d; e += nt) {
      const int p = e / d, c = e - p * d;
      const T v = p < cnt ? P.x[(base + p) * d + c] : xlo[c];
      H0[c * nps + p] = (v - xlo[c]) * xinv[c];
    }
    __syncthreads();
    T* hin = H0;
    T* hout = H1;
    for (int m = 0; m < nh; ++m) {
      T acc[4][TU];
      const T* bias = W + P.off_bias[m];
#pragma unroll
      for (int j = 0; j < TU; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[i][j] = bias[ug + 16 * j];
      tile_gemm<T, TU>(hin, nps, W + P.off_f[m], m == 0 ? d : WP, p0, ug, acc);
#pragma unroll
      for (int j = 0; j < TU; ++j) {
        const int u = ug + 16 * j;
        T h[4], dh[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) act_eval<DevMath<T>>(P.act, acc[i][j], h[i], dh[i]);
        stv<T, 4>(hout + u * nps + p0, h);
        stv<T, 4>(D + (m * WP + u) * nps + p0, dh);
      }
      __syncthreads();
      T* t = hin;
      hin = hout;
      hout = t;
    }
    // value, and the backward seed dY/dh = y_scale * w_L * act'(z) (into the free buffer)
    for (int p = tid; p < np; p += nt) {
      T s = 0;
      for (int u = 0; u < WP; ++u) s = fma(wl[u], hin[u * nps + p], s);
      Ys[p] = s + P.bL;
    }
    const T* dl = D + (nh - 1) * WP * nps;
    for (int e = tid; e < WP * np; e += nt) {
      const int u = e / np, p = e - u * np;
      hout[u * nps + p] = P.y_scale * wl[u] * dl[u * nps + p];
    }
    __syncthreads();
    T* gin = hout;
    T* gout = hin;
    for (int m = nh - 1; m >= 1; --m) {
      T acc[4][TU];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < TU; ++j) acc[i][j] = T(0);
      tile_gemm<T, TU>(gin, nps, W + P.off_b[m], WP, p0, ug, acc);
#pragma unroll
      for (int j = 0; j < TU; ++j) {
        const int u = ug + 16 * j;
        T dv[4], o[4];
        ldv<T, 4>(D + ((m - 1) * WP + u) * nps + p0, dv);
#pragma unroll
        for (int i = 0; i < 4; ++i) o[i] = acc[i][j] * dv[i];
        stv<T, 4>(gout + u * nps + p0, o);
      }
      __syncthreads();
      T* t = gin;
      gin = gout;
      gout = t;
    }
    // input gradient, one (point, input) pair per thread: coalesced writes of G
    for (int e = tid; e < np * d; e += nt) {
      const int p = e / d, c = e - p * d;
      T s = 0;
      for (int o = 0; o < WP; ++o) s = fma(w0n[o * d + c], gin[o * nps + p], s);
      s *= xinv[c];
      Gs[e] = s;
      if (P.g && p < cnt) P.g[base * d + e] = s;
    }
    __syncthreads();
    for (int p = tid; p < cnt; p += nt) {
      const int64_t gp = base + p;
      const T yq = P.y_scale * Ys[p] + P.y_offset;
      if (P.y) P.y[gp] = yq;
      if (!P.step) continue;
      const T e2 = T(2) * (yq - P.z[gp]);
      const T eta = P.eta ? P.eta[gp] : P.eta0;
      const T* lo = P.box;
      const T* hi = P.box + d;
      T scale = eta;
      if (P.normalized) {
        T s2 = 0;
        for (int c = 0; c < d; ++c) {
          const T s = e2 * (Gs[p * d + c] - P.gz[gp * d + c]) * (hi[c] - lo[c]);
          s2 = fma(s, s, s2);
        }
        scale = s2 > T(0) ? eta / sqrt(s2) : T(0);
      }
      for (int c = 0; c < d; ++c) {
        const T gc = e2 * (Gs[p * d + c] - P.gz[gp * d + c]);
        const T w = P.normalized ? (hi[c] - lo[c]) * (hi[c] - lo[c]) : T(1);
        const T xn = P.x[gp * d + c] + scale * w * gc;
        P.x_out[gp * d + c] = min(max(xn, lo[c]), hi[c]);
      }
    }
  }
}

int pad4(int v) { return (v + 3) / 4 * 4; }

}  // namespace

template <typename T>
struct CudaPlan<T>::Impl {
  int dev = 0, sms = 0, wp = 0, threads = 0, blocks_per_sm = 0;
  size_t smem = 0;
  KP<T> kp{};
  T* dw = nullptr;
  T* dbox = nullptr;
  std::vector<T> hbox;
  T* dbuf = nullptr;
  size_t dbuf_elems = 0;

  void* kernel() const {
    if (wp == 32) return reinterpret_cast<void*>(&mlp_kernel<T, 32>);
    if (wp == 64) return reinterpret_cast<void*>(&mlp_kernel<T, 64>);
    return reinterpret_cast<void*>(&mlp_kernel<T, 128>);
  }
};

template <typename T>
CudaPlan<T>::CudaPlan(const Net<T>& net, int device) : impl_(new Impl) {
  Impl& I = *impl_;
  try {
    I.dev = device;
    ck(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp prop{};
    ck(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    I.sms = prop.multiProcessorCount;
    const int mw = net.max_width(), d = net.d, nh = net.nh;
    I.wp = mw <= 32 ? 32 : mw <= 64 ? 64 : 128;
    const int WP = I.wp, TU = WP / 16;
    // pack the weights (see KP), every segment 16-byte aligned
    std::vector<T> h;
    auto seg = [&h](size_t len) {
      const int off = static_cast<int>(h.size());
      h.resize(h.size() + static_cast<size_t>(pad4(static_cast<int>(len))), T(0));
      return off;
    };
    KP<T>& K = I.kp;
    for (int m = 0; m < nh; ++m) {
      const int rows = net.width[m], cols = net.in_dim(m), kin = m == 0 ? d : WP;
      K.off_f[m] = seg(static_cast<size_t>(kin) * WP);
      for (int q = 0; q < WP; ++q) {
        const int u = q / TU + 16 * (q % TU);
        for (int k = 0; u < rows && k < cols; ++k) h[K.off_f[m] + k * WP + q] = net.W[m][u * cols + k];
      }
      K.off_bias[m] = seg(WP);
      for (int u = 0; u < rows; ++u) h[K.off_bias[m] + u] = net.b[m][u];
      K.off_b[m] = 0;
      if (m >= 1) {
        K.off_b[m] = seg(static_cast<size_t>(WP) * WP);
        for (int q = 0; q < WP; ++q) {
          const int i = q / TU + 16 * (q % TU);
          for (int o = 0; i < cols && o < rows; ++o) h[K.off_b[m] + o * WP + q] = net.W[m][o * cols + i];
        }
      }
    }
    K.off_w0n = seg(static_cast<size_t>(WP) * d);
    for (int o = 0; o < net.width[0]; ++o)
      for (int c = 0; c < d; ++c) h[K.off_w0n + o * d + c] = net.W[0][o * d + c];
    K.off_wl = seg(WP);
    std::copy(net.wL.begin(), net.wL.end(), h.begin() + K.off_wl);
    K.off_xlo = seg(d);
    std::copy(net.x_lo.begin(), net.x_lo.end(), h.begin() + K.off_xlo);
    K.off_xinv = seg(d);
    std::copy(net.x_inv.begin(), net.x_inv.end(), h.begin() + K.off_xinv);
    K.w_total = static_cast<int>(h.size());
    K.d = d;
    K.nh = nh;
    K.act = net.act;
    K.bL = net.bL;
    K.y_scale = net.y_scale;
    K.y_offset = net.y_offset;
    K.hr = std::max(WP, d);
    ck(cudaMalloc(&I.dw, h.size() * sizeof(T)), "cudaMalloc(weights)");
    ck(cudaMemcpy(I.dw, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
    K.w = I.dw;
    ck(cudaMalloc(&I.dbox, 2 * static_cast<size_t>(d) * sizeof(T)), "cudaMalloc(box)");
    // tile size: the largest np whose activations fit; weights resident when they fit beside them
    const size_t limit = prop.sharedMemPerBlockOptin;
    auto act_bytes = [&](int np) {
      const int nps = np + 16 / static_cast<int>(sizeof(T));  // one 16-byte pad per row: no bank conflicts
      return (static_cast<size_t>(2 * K.hr + nh * WP) * nps + np + static_cast<size_t>(np) * d) * sizeof(T);
    };
    int np = 64;
    while (np > 16 && act_bytes(np) > limit) np /= 2;
    if (act_bytes(np) > limit) throw std::invalid_argument("network too large for the CUDA kernel's shared memory");
    K.np = np;
    K.nps = np + 16 / static_cast<int>(sizeof(T));
    K.resident = act_bytes(np) + h.size() * sizeof(T) <= limit;
    I.smem = act_bytes(np) + (K.resident ? h.size() * sizeof(T) : 0);
    I.threads = 4 * np;
    ck(cudaFuncSetAttribute(I.kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(I.smem)),
       "cudaFuncSetAttribute");
    ck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&I.blocks_per_sm, I.kernel(), I.threads, I.smem),
       "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    I.blocks_per_sm = std::max(I.blocks_per_sm, 1);
  } catch (...) {
    cudaFree(I.dw);
    cudaFree(I.dbox);
    delete impl_;
    throw;
  }
}

template <typename T>
CudaPlan<T>::~CudaPlan() {
  cudaSetDevice(impl_->dev);
  cudaFree(impl_->dw);
  cudaFree(impl_->dbox);
  cudaFree(impl_->dbuf);
  delete impl_;
}

template <typename T>
void CudaPlan<T>::run_device(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, uintptr_t stream) {
  Impl& I = *impl_;
  if (n <= 0) return;
  ck(cudaSetDevice(I.dev), "cudaSetDevice");
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  KP<T> k = I.kp;
  k.n = n;
  k.x = x;
  k.y = y;
  k.g = g;
  k.step = step != nullptr;
  if (step) {
    const size_t d = static_cast<size_t>(k.d);
    std::vector<T> box(step->lo, step->lo + d);
    box.insert(box.end(), step->hi, step->hi + d);
    if (box != I.hbox) {  // pageable source: the copy is staged before cudaMemcpyAsync returns
      ck(cudaMemcpyAsync(I.dbox, box.data(), 2 * d * sizeof(T), cudaMemcpyHostToDevice, s), "cudaMemcpyAsync(box)");
      I.hbox = box;
    }
    k.z = step->z;
    k.gz = step->gz;
    k.eta = step->eta;
    k.eta0 = step->eta0;
    k.normalized = step->normalized;
    k.box = I.dbox;
    k.x_out = step->x_out;
  }
  const int64_t tiles = (n + k.np - 1) / k.np;
  const int grid = static_cast<int>(std::min<int64_t>(tiles, static_cast<int64_t>(I.blocks_per_sm) * I.sms));
  void* args[] = {&k};
  ck(cudaLaunchKernel(I.kernel(), dim3(grid), dim3(I.threads), args, I.smem, s), "mlp kernel launch");
}

template <typename T>
void CudaPlan<T>::run_host(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step) {
  Impl& I = *impl_;
  if (n <= 0) return;
  ck(cudaSetDevice(I.dev), "cudaSetDevice");
  const size_t d = static_cast<size_t>(I.kp.d), nd = n * d, nn = static_cast<size_t>(n);
  // one device buffer: x | y | g | z | gz | eta | x_out
  const size_t need = nd + nn + nd + nn + nd + nn + nd;
  if (need > I.dbuf_elems) {
    cudaFree(I.dbuf);
    I.dbuf = nullptr;
    ck(cudaMalloc(&I.dbuf, need * sizeof(T)), "cudaMalloc(staging)");
    I.dbuf_elems = need;
  }
  T *dx = I.dbuf, *dy = dx + nd, *dg = dy + nn, *dz = dg + nd, *dgz = dz + nn, *de = dgz + nd, *dxo = de + nn;
  auto up = [](T* dst, const T* src, size_t len) {
    ck(cudaMemcpy(dst, src, len * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy(in)");
  };
  up(dx, x, nd);
  StepArgs<T> s;
  if (step) {
    s = *step;
    up(dz, step->z, nn);
    up(dgz, step->gz, nd);
    if (step->eta) up(de, step->eta, nn);
    s.z = dz;
    s.gz = dgz;
    s.eta = step->eta ? de : nullptr;
    s.x_out = dxo;
  }
  run_device(dx, n, dy, g ? dg : nullptr, step ? &s : nullptr, 0);
  ck(cudaGetLastError(), "mlp kernel");
  ck(cudaDeviceSynchronize(), "mlp kernel");
  auto down = [](T* dst, const T* src, size_t len) {
    ck(cudaMemcpy(dst, src, len * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy(out)");
  };
  if (y) down(y, dy, nn);
  if (g) down(g, dg, nd);
  if (step) down(step->x_out, dxo, nd);
}

template <typename T>
int CudaPlan<T>::device() const { return impl_->dev; }
template <typename T>
int CudaPlan<T>::dim() const { return impl_->kp.d; }
template <typename T>
int CudaPlan<T>::points_per_block() const { return impl_->kp.np; }
template <typename T>
bool CudaPlan<T>::weights_in_shared() const { return impl_->kp.resident != 0; }

template class CudaPlan<float>;
template class CudaPlan<double>;

}  // namespace sg::mlp
