// CPU half of the fused MLP op: blocks of 2 SIMD vectors of points (32 float or
// 16 double), the layer loop inside with the block's activations in L1 and the weights in L2;
// OpenMP across blocks. The Python bindings of the CPU and CUDA plans: bind/register_mlp.cpp.
#include <algorithm>
#include <cmath>
#include <memory>

#include "common/isa.h"
#include "mlp/mlp_act.h"
#include "mlp/op.h"
#include "mlp/mlp_simd.h"
#include "mlp/mlp_step.h"

#ifdef SG_WITH_OPENMP
#include <omp.h>
#endif

namespace sg::mlp {
namespace {

constexpr int kR = 8;   // rows (units) per register tile
constexpr int kNV = 2;  // SIMD vectors per row: points per block = kNV * lanes

int round_rows(int v) { return (v + kR - 1) / kR * kR; }

// out[r] = bias[r] + sum_k M[r][k] in[k] for r < rows (rows % kR == 0); in, out: kNV vectors per row
template <typename T, typename V>
inline void gemm_rows(const T* M, int rows, int K, const T* bias, const V* in, V* out) {
  for (int r0 = 0; r0 < rows; r0 += kR) {
    const T* m = M + static_cast<size_t>(r0) * K;
    V acc[kR][kNV];
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < kNV; ++v) acc[r][v] = V{} + (bias ? bias[r0 + r] : T(0));
    for (int k = 0; k < K; ++k) {
      const V* xk = in + static_cast<size_t>(k) * kNV;
#pragma GCC unroll 8
      for (int r = 0; r < kR; ++r) {
        const T w = m[static_cast<size_t>(r) * K + k];
#pragma GCC unroll 2
        for (int v = 0; v < kNV; ++v) acc[r][v] += w * xk[v];
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < kNV; ++v) out[static_cast<size_t>(r0 + r) * kNV + v] = acc[r][v];
  }
}

}  // namespace

// Padded copies: every row count a multiple of kR (8), pads zero (so padded units never contribute).
//   wf[m]: (rp[m], kin[m]) forward, kin[0] = d, kin[m] = rp[m-1];  bf[m]: (rp[m],)
//   wb[m]: (kin_p[m], rp[m]) = W_m^T, kin_p[0] = round_rows(d);  wl: (rp[nh-1],)
template <typename T>
struct CpuPlan<T>::Impl {
  Net<T> net;
  std::vector<int> rp, kin;
  std::vector<std::vector<T>> wf, bf, wb;
  std::vector<T> wl;
  int dp = 0, maxrows = 0;

  explicit Impl(const Net<T>& n) : net(n) {
    const int nh = net.nh;
    dp = round_rows(net.d);
    maxrows = dp;
    for (int m = 0; m < nh; ++m) {
      rp.push_back(round_rows(net.width[m]));
      kin.push_back(m == 0 ? net.d : rp[m - 1]);
      maxrows = std::max(maxrows, rp[m]);
    }
    for (int m = 0; m < nh; ++m) {
      const int rows = net.width[m], cols = net.in_dim(m), kp = m == 0 ? dp : rp[m - 1];
      std::vector<T> f(static_cast<size_t>(rp[m]) * kin[m], T(0)), bb(rp[m], T(0));
      std::vector<T> t(static_cast<size_t>(kp) * rp[m], T(0));
      for (int r = 0; r < rows; ++r) {
        bb[r] = net.b[m][r];
        for (int c = 0; c < cols; ++c) {
          const T w = net.W[m][static_cast<size_t>(r) * cols + c];
          f[static_cast<size_t>(r) * kin[m] + c] = w;
          t[static_cast<size_t>(c) * rp[m] + r] = w;
        }
      }
      wf.push_back(std::move(f));
      bf.push_back(std::move(bb));
      wb.push_back(std::move(t));
    }
    wl.assign(rp[nh - 1], T(0));
    std::copy(net.wL.begin(), net.wL.end(), wl.begin());
  }

  // One block of P = kNV * lanes points starting at p0 (cnt <= P valid; the rest repeat the last).
  void block(const T* x, int64_t p0, int cnt, T* y, T* g, const StepArgs<T>* st, typename simd::Lanes<T>::V* A,
             typename simd::Lanes<T>::V* B, typename simd::Lanes<T>::V* D) const {
    using V = typename simd::Lanes<T>::V;
    constexpr int lanes = simd::Lanes<T>::n;
    const int d = net.d, nh = net.nh;
    for (int q = 0; q < kNV * lanes; ++q) {
      const T* xq = x + (p0 + std::min(q, cnt - 1)) * d;
      for (int c = 0; c < d; ++c) A[c * kNV + q / lanes][q % lanes] = (xq[c] - net.x_lo[c]) * net.x_inv[c];
    }
    V* in = A;
    V* out = B;
    for (int m = 0; m < nh; ++m) {
      gemm_rows<T, V>(wf[m].data(), rp[m], kin[m], bf[m].data(), in, out);
      V* dm = D + static_cast<size_t>(m) * maxrows * kNV;
      for (int i = 0; i < rp[m] * kNV; ++i) act_eval<simd::VecMath<T>>(net.act, out[i], out[i], dm[i]);
      std::swap(in, out);
    }
    V yv[kNV];
    for (int v = 0; v < kNV; ++v) yv[v] = V{} + net.bL;
    const V* dl = D + static_cast<size_t>(nh - 1) * maxrows * kNV;
    for (int k = 0; k < rp[nh - 1]; ++k)
      for (int v = 0; v < kNV; ++v) {
        yv[v] += wl[k] * in[k * kNV + v];
        out[k * kNV + v] = (net.y_scale * wl[k]) * dl[k * kNV + v];  // dY/dh_{nh-1}
      }
    std::swap(in, out);  // in: gradient w.r.t. the last hidden layer
    for (int m = nh - 1; m >= 1; --m) {
      gemm_rows<T, V>(wb[m].data(), rp[m - 1], rp[m], nullptr, in, out);
      const V* dm = D + static_cast<size_t>(m - 1) * maxrows * kNV;
      for (int i = 0; i < rp[m - 1] * kNV; ++i) out[i] *= dm[i];
      std::swap(in, out);
    }
    gemm_rows<T, V>(wb[0].data(), dp, rp[0], nullptr, in, out);  // out[c]: dY/dh_0[c]
    for (int q = 0; q < cnt; ++q) {
      const int64_t p = p0 + q;
      const int v = q / lanes, l = q % lanes;
      const T yq = net.y_scale * yv[v][l] + net.y_offset;
      if (y) y[p] = yq;
      T gq[kMaxStackDim];
      T* gp = g ? g + p * d : gq;
      for (int c = 0; c < d; ++c) gp[c] = out[c * kNV + v][l] * net.x_inv[c];
      if (st) step_point(*st, p, yq, gp, x + p * d);
    }
  }

  void step_point(const StepArgs<T>& st, int64_t p, T yq, const T* gp, const T* xp) const {
    const int d = net.d;
    ascent_point<T>(d, yq, st.z[p], st.eta ? st.eta[p] : st.eta0, st.normalized, gp, st.gz + p * d, st.lo, st.hi, xp,
                    st.x_out + p * d);
  }
  static constexpr int kMaxStackDim = 256;

  // The block kernel compiled three times (common/isa.h); run() calls the one for this CPU.
  using V = typename simd::Lanes<T>::V;
  using BlockFn = void (*)(const Impl&, const T*, int64_t, int, T*, T*, const StepArgs<T>*, V*, V*, V*);
  SG_TARGET_BASE static void block_base(const Impl& L, const T* x, int64_t p0, int cnt, T* y, T* g,
                                        const StepArgs<T>* st, V* A, V* B, V* D) {
    L.block(x, p0, cnt, y, g, st, A, B, D);
  }
  SG_TARGET_V3 static void block_v3(const Impl& L, const T* x, int64_t p0, int cnt, T* y, T* g,
                                    const StepArgs<T>* st, V* A, V* B, V* D) {
    L.block(x, p0, cnt, y, g, st, A, B, D);
  }
  SG_TARGET_V4 static void block_v4(const Impl& L, const T* x, int64_t p0, int cnt, T* y, T* g,
                                    const StepArgs<T>* st, V* A, V* B, V* D) {
    L.block(x, p0, cnt, y, g, st, A, B, D);
  }
};

template <typename T>
CpuPlan<T>::CpuPlan(const Net<T>& net) : impl_(std::make_shared<Impl>(net)) {}

template <typename T>
void CpuPlan<T>::run(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, int num_threads) const {
  using V = typename simd::Lanes<T>::V;
  const Impl& L = *impl_;
  if (!g && L.net.d > Impl::kMaxStackDim)
    throw std::invalid_argument("d: inputs wider than 256 need the gradient output");
  constexpr int P = kNV * simd::Lanes<T>::n;
  const int64_t nblocks = (n + P - 1) / P;
  if (nblocks == 0) return;
  const typename Impl::BlockFn block = sg_isa_pick<typename Impl::BlockFn>(&Impl::block_base, &Impl::block_v3,
                                                                         &Impl::block_v4);
  int nt = 1;
#ifdef SG_WITH_OPENMP
  nt = num_threads > 0 ? num_threads : omp_get_max_threads();
  nt = static_cast<int>(std::min<int64_t>(nt, nblocks));
#pragma omp parallel num_threads(nt)
#endif
  {
    // per-thread block scratch: two activation buffers and the saved derivatives, 64-byte aligned
    const size_t rowv = static_cast<size_t>(L.maxrows) * kNV;
    std::unique_ptr<V[]> buf(new V[rowv * (2 + L.net.nh)]);
#ifdef SG_WITH_OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t p0 = blk * P;
      const int cnt = static_cast<int>(std::min<int64_t>(P, n - p0));
      block(L, x, p0, cnt, y, g, step, buf.get(), buf.get() + rowv, buf.get() + 2 * rowv);
    }
  }
  (void)nt;
}

template class CpuPlan<float>;
template class CpuPlan<double>;

}  // namespace sg::mlp
