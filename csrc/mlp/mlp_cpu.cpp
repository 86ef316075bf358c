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

// Whether a kernel variant has FMA instructions (where GCC fuses a * b + c in vector code): the
// baseline one only when the build flags give it FMA (e.g. -march=native), the v3 / v4 clones always.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
constexpr bool kBaseFma = true;
#else
constexpr bool kBaseFma = false;
#endif
constexpr bool kCloneFma = SG_ISA_CLONES ? true : kBaseFma;

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
  // The one-point path (value only): wt[m]: (kin[m], rv[m]) = the padded W_m^T with rows rounded up
  // to whole vectors (rv[m] = rp[m] rounded up to the lane count), bv[m]: (rv[m],); pads are zero.
  std::vector<std::vector<T>> wt, bv;
  std::vector<int> rv;

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
    constexpr int lanes = simd::Lanes<T>::n;
    for (int m = 0; m < nh; ++m) {
      rv.push_back((rp[m] + lanes - 1) / lanes * lanes);
      std::vector<T> t(static_cast<size_t>(kin[m]) * rv[m], T(0)), bb(rv[m], T(0));
      for (int r = 0; r < rp[m]; ++r) {
        bb[r] = bf[m][r];
        for (int k = 0; k < kin[m]; ++k) t[static_cast<size_t>(k) * rv[m] + r] = wf[m][static_cast<size_t>(r) * kin[m] + k];
      }
      wt.push_back(std::move(t));
      bv.push_back(std::move(bb));
    }
  }

  // out[j0 .. j0 + G) = bias + sum_k W^T[k] in[k] (vectors of units), layer m of the one-point path.
  template <int G>
  void point_rows(int j0, int m, const T* in, typename simd::Lanes<T>::V* out) const {
    using V = typename simd::Lanes<T>::V;
    constexpr int lanes = simd::Lanes<T>::n;
    const T* w = wt[m].data() + static_cast<size_t>(j0) * lanes;
    V acc[G];
    for (int g = 0; g < G; ++g) __builtin_memcpy(&acc[g], bv[m].data() + (j0 + g) * lanes, sizeof(V));
    for (int k = 0; k < kin[m]; ++k) {
      const T hk = in[k];
      const T* wk = w + static_cast<size_t>(k) * rv[m];
      for (int g = 0; g < G; ++g) {
        V wv;
        __builtin_memcpy(&wv, wk + g * lanes, sizeof(V));
        acc[g] += wv * hk;
      }
    }
    for (int g = 0; g < G; ++g) out[j0 + g] = acc[g];
  }

  // Value of one point xp (d,) -> *yp, vectorized over units instead of points (a block would
  // compute kNV * lanes points for it). Every sum runs over the same padded k range in the same
  // order as gemm_rows, every activation is the same lane-wise act_eval, so *yp has the bits of
  // block_value's result for this point. A, B: scratch of at least maxrows vectors each.
  // Fma: the clone has FMA instructions (v3, v4), where forward()'s vector sums are fused.
  template <bool Fma>
  void point_value(const T* xp, T* yp, typename simd::Lanes<T>::V* A, typename simd::Lanes<T>::V* B) const {
    using V = typename simd::Lanes<T>::V;
    constexpr int lanes = simd::Lanes<T>::n;
    const int d = net.d, nh = net.nh;
    T* in = reinterpret_cast<T*>(A);
    for (int c = 0; c < d; ++c) in[c] = (xp[c] - net.x_lo[c]) * net.x_inv[c];
    V* outv = B;
    for (int m = 0; m < nh; ++m) {
      const int nv = rv[m] / lanes;
      int j = 0;
      for (; j + 8 <= nv; j += 8) point_rows<8>(j, m, in, outv);
      switch (nv - j) {  // accumulators stay in registers: a whole number of them per call
        case 7: point_rows<7>(j, m, in, outv); break;
        case 6: point_rows<6>(j, m, in, outv); break;
        case 5: point_rows<5>(j, m, in, outv); break;
        case 4: point_rows<4>(j, m, in, outv); break;
        case 3: point_rows<3>(j, m, in, outv); break;
        case 2: point_rows<2>(j, m, in, outv); break;
        case 1: point_rows<1>(j, m, in, outv); break;
        default: break;
      }
      V unused;
      for (int j = 0; j < nv; ++j) act_eval<simd::VecMath<T>>(net.act, outv[j], outv[j], unused);
      in = reinterpret_cast<T*>(outv);
      outv = outv == B ? A : B;
    }
    // forward() runs the last sum on vectors, which GCC contracts into FMAs where the ISA has them;
    // a scalar chain is not contracted the same way (measured), so the FMA is explicit here.
    T y = net.bL;
    for (int k = 0; k < rp[nh - 1]; ++k) {
      if constexpr (Fma)
        y = std::fma(wl[k], in[k], y);  // T overload: fmaf for float
      else
        y += wl[k] * in[k];
    }
    *yp = net.y_scale * y + net.y_offset;
  }

  // The forward half of a block of P = kNV * lanes points starting at p0 (cnt <= P valid; the rest
  // repeat the last): normalized inputs into A, the hidden layers through A/B, act'(z) of every
  // hidden layer into D when Keep (the backward pass needs it). Returns the last hidden layer's
  // activations (A or B) and the output sums yv (before y_scale / y_offset). block() and
  // block_value() share it, so the value of both is the same arithmetic in the same order.
  template <bool Keep>
  typename simd::Lanes<T>::V* forward(const T* x, int64_t p0, int cnt, typename simd::Lanes<T>::V* A,
                                      typename simd::Lanes<T>::V* B, typename simd::Lanes<T>::V* D,
                                      typename simd::Lanes<T>::V (&yv)[kNV]) const {
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
      if constexpr (Keep) {
        V* dm = D + static_cast<size_t>(m) * maxrows * kNV;
        for (int i = 0; i < rp[m] * kNV; ++i) act_eval<simd::VecMath<T>>(net.act, out[i], out[i], dm[i]);
      } else {
        V unused;  // act'(z) is dead code here: the compiler drops its arithmetic
        for (int i = 0; i < rp[m] * kNV; ++i) act_eval<simd::VecMath<T>>(net.act, out[i], out[i], unused);
      }
      std::swap(in, out);
    }
    for (int v = 0; v < kNV; ++v) yv[v] = V{} + net.bL;
    for (int k = 0; k < rp[nh - 1]; ++k)
      for (int v = 0; v < kNV; ++v) yv[v] += wl[k] * in[k * kNV + v];
    return in;
  }

  // Value only: y[p0 .. p0 + cnt) of one block; A, B: scratch of maxrows * kNV vectors each.
  // A block of few points goes point by point (point_value: the same bits, a fraction of the work).
  template <bool Fma>
  void block_value(const T* x, int64_t p0, int cnt, T* y, typename simd::Lanes<T>::V* A,
                   typename simd::Lanes<T>::V* B) const {
    using V = typename simd::Lanes<T>::V;
    constexpr int lanes = simd::Lanes<T>::n;
    if (cnt <= kPointwiseMax) {
      for (int q = 0; q < cnt; ++q) point_value<Fma>(x + (p0 + q) * net.d, y + p0 + q, A, B);
      return;
    }
    V yv[kNV];
    forward<false>(x, p0, cnt, A, B, nullptr, yv);
    for (int q = 0; q < cnt; ++q) y[p0 + q] = net.y_scale * yv[q / lanes][q % lanes] + net.y_offset;
  }

  // Value, input gradient and the optional step of one block (see forward()); D: nh * maxrows * kNV.
  void block(const T* x, int64_t p0, int cnt, T* y, T* g, const StepArgs<T>* st, typename simd::Lanes<T>::V* A,
             typename simd::Lanes<T>::V* B, typename simd::Lanes<T>::V* D) const {
    using V = typename simd::Lanes<T>::V;
    constexpr int lanes = simd::Lanes<T>::n;
    const int d = net.d, nh = net.nh;
    V yv[kNV];
    V* in = forward<true>(x, p0, cnt, A, B, D, yv);
    V* out = in == A ? B : A;
    const V* dl = D + static_cast<size_t>(nh - 1) * maxrows * kNV;
    for (int k = 0; k < rp[nh - 1]; ++k)
      for (int v = 0; v < kNV; ++v) out[k * kNV + v] = (net.y_scale * wl[k]) * dl[k * kNV + v];  // dY/dh_{nh-1}
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
  // Blocks of at most this many points go point by point: one point costs ~1/16 of a full block
  // (float32: 0.55 vs 8.6 us, float64: 1.1 vs 10.5 us, default net, one core; docs/mlp_kernel.md).
  static constexpr int kPointwiseMax = kNV * simd::Lanes<T>::n * 2 / 5;  // float32: 12, float64: 6

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
  using ValueFn = void (*)(const Impl&, const T*, int64_t, int, T*, V*, V*);
  SG_TARGET_BASE static void value_base(const Impl& L, const T* x, int64_t p0, int cnt, T* y, V* A, V* B) {
    L.block_value<kBaseFma>(x, p0, cnt, y, A, B);
  }
  SG_TARGET_V3 static void value_v3(const Impl& L, const T* x, int64_t p0, int cnt, T* y, V* A, V* B) {
    L.block_value<kCloneFma>(x, p0, cnt, y, A, B);
  }
  SG_TARGET_V4 static void value_v4(const Impl& L, const T* x, int64_t p0, int cnt, T* y, V* A, V* B) {
    L.block_value<kCloneFma>(x, p0, cnt, y, A, B);
  }
};

template <typename T>
CpuPlan<T>::CpuPlan(const Net<T>& net) : impl_(std::make_shared<Impl>(net)) {}

namespace {
// f(block, scratch) for every block in [0, nblocks): OpenMP schedule(static) over blocks, each
// thread with its own `scratch` vectors (64-byte aligned). A block's result depends on its points
// only, so every thread count gives the same bits. One block or one thread: no parallel region.
template <typename V, class F>
void for_blocks(int64_t nblocks, int num_threads, size_t scratch, const F& f) {
  if (nblocks <= 0) return;
  int nt = 1;
  (void)num_threads;  // unused without OpenMP
#ifdef SG_WITH_OPENMP
  nt = num_threads > 0 ? num_threads : omp_get_max_threads();
  nt = static_cast<int>(std::min<int64_t>(nt, nblocks));
#endif
  if (nt <= 1) {
    std::unique_ptr<V[]> buf(new V[scratch]);
    for (int64_t blk = 0; blk < nblocks; ++blk) f(blk, buf.get());
    return;
  }
#ifdef SG_WITH_OPENMP
#pragma omp parallel num_threads(nt)
  {
    std::unique_ptr<V[]> buf(new V[scratch]);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblocks; ++blk) f(blk, buf.get());
  }
#endif
}
}  // namespace

template <typename T>
void CpuPlan<T>::run(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, int num_threads) const {
  using V = typename simd::Lanes<T>::V;
  const Impl& L = *impl_;
  if (!g && L.net.d > Impl::kMaxStackDim)
    throw std::invalid_argument("d: inputs wider than 256 need the gradient output");
  constexpr int P = kNV * simd::Lanes<T>::n;
  const typename Impl::BlockFn block = sg_isa_pick<typename Impl::BlockFn>(&Impl::block_base, &Impl::block_v3,
                                                                         &Impl::block_v4);
  // scratch: two activation buffers and the saved derivatives
  const size_t rowv = static_cast<size_t>(L.maxrows) * kNV;
  for_blocks<V>((n + P - 1) / P, num_threads, rowv * (2 + L.net.nh), [&](int64_t blk, V* buf) {
    const int64_t p0 = blk * P;
    block(L, x, p0, static_cast<int>(std::min<int64_t>(P, n - p0)), y, g, step, buf, buf + rowv, buf + 2 * rowv);
  });
}

template <typename T>
void CpuPlan<T>::value(const T* x, int64_t n, T* y, int num_threads) const {
  using V = typename simd::Lanes<T>::V;
  const Impl& L = *impl_;
  constexpr int P = kNV * simd::Lanes<T>::n;
  const typename Impl::ValueFn fn = sg_isa_pick<typename Impl::ValueFn>(&Impl::value_base, &Impl::value_v3,
                                                                      &Impl::value_v4);
  constexpr int lanes = simd::Lanes<T>::n, kStack = 256;  // scalars per stack buffer (>= d, >= kMaxWidth)
  if (n > 0 && n <= Impl::kPointwiseMax && L.net.d <= kStack) {
    // A few points (one predict call): the one-point path on stack scratch, no allocation, no threads.
    V a[kStack / lanes], b[kStack / lanes];
    fn(L, x, 0, static_cast<int>(n), y, a, b);
    return;
  }
  const size_t rowv = static_cast<size_t>(L.maxrows) * kNV;  // scratch: two activation buffers
  for_blocks<V>((n + P - 1) / P, num_threads, 2 * rowv, [&](int64_t blk, V* buf) {
    const int64_t p0 = blk * P;
    fn(L, x, p0, static_cast<int>(std::min<int64_t>(P, n - p0)), y, buf, buf + rowv);
  });
}

template <typename T>
int CpuPlan<T>::dim() const {
  return impl_->net.d;
}

template class CpuPlan<float>;
template class CpuPlan<double>;

}  // namespace sg::mlp
