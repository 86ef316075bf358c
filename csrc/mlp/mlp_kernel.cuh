// Device code of the fused MLP op (included once, by mlp_cuda.cu): the packed-weights layout
// KP, the persistent tile kernel mlp_kernel<T, WP, Grad> (value, and with Grad the input gradient
// and the optional ascent step; without it the forward pass alone), and its vector load/store helpers.
#pragma once
#include <cuda_runtime.h>

#include <type_traits>

#include "mlp/mlp_act.h"
#include "mlp/mlp_step.h"
#include "mlp/op.h"

namespace sg::mlp::kernel {

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
  const T* box;  // lo (d,) then hi (d,), device memory owned by the launch (stream-ordered)
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

// Shared memory (after the weights when resident): H0, H1 (hr, nps) activations, then with Grad
// D (nh, WP, nps) act'(z), and Ys (np,), Gs (np, d). Without Grad: H0, H1 only.
template <typename T, int WP, bool Grad>
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
  T* D = H1 + P.hr * nps;  // (nh, WP, nps): act'(z) of every hidden layer (Grad only)
  T* Ys = D + (Grad ? nh * WP * nps : 0);
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
        if constexpr (Grad) stv<T, 4>(D + (m * WP + u) * nps + p0, dh);
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
      if constexpr (Grad) Ys[p] = s + P.bL;
      else if (p < cnt) P.y[base + p] = P.y_scale * (s + P.bL) + P.y_offset;  // as below: the same bits
    }
    if constexpr (!Grad) continue;  // value only: done with this tile
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
      ascent_point<T>(d, yq, P.z[gp], P.eta ? P.eta[gp] : P.eta0, P.normalized != 0, Gs + p * d, P.gz + gp * d, P.box,
                      P.box + d, P.x + gp * d, P.x_out + gp * d);
    }
  }
}

}  // namespace sg::mlp::kernel
