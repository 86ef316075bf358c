// CPU Monte Carlo barrier pricer: OpenMP over (point, chunk of draws) tasks, SIMD across
// 64 draws in structure-of-arrays form inside a task; the scalar reference beside it.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "common/isa.h"
#include "mc/op.h"

#ifdef SG_WITH_OPENMP
#include <omp.h>
#define MC_SIMD _Pragma("omp simd")
#define MC_SIMD_REDUCE _Pragma("omp simd reduction(+ : a1, a2)")
#else
#define MC_SIMD _Pragma("GCC ivdep")
#define MC_SIMD_REDUCE
#endif

namespace mc {

McPoint make_point(const Config& c, const double* row) {
  const double K = row[0], H = row[1], sig = row[2], T = row[3], r = row[4];
  const bool up = (c.code & 1) != 0, is_in = (c.code & 2) != 0, put = (c.code & 4) != 0;
  const double dt = T / c.steps, var = sig * sig * dt;
  McPoint p{};
  p.b = std::log(H / c.spot);
  p.sgn = up ? -1.0 : 1.0;
  // Paths are simulated in units of the spot (S0 = 1, strike K / S0) and the spot goes into disc:
  // the sums then stay near 1 whatever the price scale, so float32 state and the float64 sum of
  // squares cannot overflow for any spot.
  p.spot = 1.0;
  p.strike = K / c.spot;
  p.phi = put ? -1.0 : 1.0;
  p.is_in = is_in ? 1.0 : 0.0;
  p.alive0 = (up ? c.spot < H : c.spot > H) ? 1.0 : 0.0;
  p.dt = dt;
  p.disc = std::exp(-r * T) * c.spot;
  if (c.model == GBM) {
    p.drift = (r - c.dividend - 0.5 * sig * sig) * dt;
    p.sd = std::sqrt(var);
    // Capped so that 0 * inv2var stays 0 in float32 (a cap this large means p_cross = 0 anyway).
    p.inv2var = std::min(2.0 / std::max(var, 1e-300), 1e30);
  } else {
    p.drift = (r - c.dividend) * dt;
    p.kdt = c.kappa * dt;
    p.theta = std::isnan(c.theta) ? sig * sig : c.theta;
    p.v0 = std::isnan(c.v0) ? sig * sig : c.v0;
    p.xi = c.xi;
    p.rho = c.rho;
    p.rhoc = std::sqrt(std::max(0.0, 1.0 - c.rho * c.rho));
  }
  // Tangent constants (mc_tangent.h): dt = T / steps, so d dt / dT = 1 / steps.
  const double n = static_cast<double>(c.steps);
  p.db_h = 1.0 / H;
  p.dk_k = 1.0 / c.spot;
  p.c_t = -r;
  p.c_r = -T;
  p.ax_r = dt;
  p.ddt_t = 1.0 / n;
  if (c.model == GBM) {
    p.ax_s = -sig * dt;
    p.bx_s = std::sqrt(dt);
    p.ax_t = (r - c.dividend - 0.5 * sig * sig) / n;
    p.bx_t = 0.5 * p.sd / T;
    // d log(var) = 2 dsigma / sigma + dT / T, where inv2var varies (not at its cap or floor)
    const bool varies = var >= 1e-300 && 2.0 / var <= 1e30;
    p.dlv_s = varies ? 2.0 / sig : 0.0;
    p.dlv_t = varies ? 1.0 / T : 0.0;
  } else {
    p.ax_t = (r - c.dividend) / n;
    p.dkdt_t = c.kappa / n;
    p.dth_s = std::isnan(c.theta) ? 2.0 * sig : 0.0;
    p.dv0_s = std::isnan(c.v0) ? 2.0 * sig : 0.0;
  }
  return p;
}

namespace {

constexpr int L = 64;  // draws per SIMD block: 8 zmm registers of doubles per state array

// Sums over draws [d0, d0 + count) of one point: state in SoA arrays, each loop over lanes
// vectorized; the per-lane arithmetic is the same inline code the scalar reference runs.
template <class T, int MODEL, bool BRIDGE, bool ANTI>
inline void chunk_sums(const Pt<T>& p, uint64_t d0, int64_t count, int64_t steps, uint32_t k0, uint32_t k1,
                       double& s1, double& s2) {
  constexpr int PER = Per<MODEL>::steps;
  alignas(64) T xp[L], xm[L], wp[L], wm[L], vp[L], vm[L];
  alignas(64) T z[4][L];
  s1 = 0.0;
  s2 = 0.0;
  for (int64_t base = 0; base < count; base += L) {
    for (int l = 0; l < L; ++l) {
      xp[l] = xm[l] = T(0);
      wp[l] = wm[l] = p.alive0;
      vp[l] = vm[l] = p.v0;
    }
    const uint64_t db = d0 + static_cast<uint64_t>(base);
    uint32_t g = 0;
    for (int64_t s0 = 0; s0 < steps; s0 += PER, ++g) {  // 64-bit: s0 + PER never overflows
      MC_SIMD
      for (int l = 0; l < L; ++l) {
        group_normals<T>(g, db + static_cast<uint64_t>(l), MODEL, k0, k1, z[0][l], z[1][l], z[2][l], z[3][l]);
      }
      const int kmax = static_cast<int>(std::min<int64_t>(PER, steps - s0));
      for (int k = 0; k < kmax; ++k) {
        if (MODEL == GBM) {
          const T* zk = z[k];
          MC_SIMD
          for (int l = 0; l < L; ++l) {
            gbm_step<T, BRIDGE>(xp[l], wp[l], zk[l], p);
            if (ANTI) gbm_step<T, BRIDGE>(xm[l], wm[l], -zk[l], p);
          }
        } else {
          const T* z1 = z[2 * k];
          const T* z2 = z[2 * k + 1];
          MC_SIMD
          for (int l = 0; l < L; ++l) {
            heston_step<T, BRIDGE>(xp[l], vp[l], wp[l], z1[l], z2[l], p);
            if (ANTI) heston_step<T, BRIDGE>(xm[l], vm[l], wm[l], -z1[l], -z2[l], p);
          }
        }
      }
    }
    const int valid = static_cast<int>(std::min<int64_t>(L, count - base));
    double a1 = 0.0, a2 = 0.0;
    MC_SIMD_REDUCE
    for (int l = 0; l < L; ++l) {
      T val = payoff(xp[l], wp[l], p);
      if (ANTI) val = T(0.5) * (val + payoff(xm[l], wm[l], p));
      const double v = l < valid ? static_cast<double>(val) : 0.0;
      a1 += v;
      a2 += v * v;
    }
    s1 += a1;
    s2 += a2;
  }
}

// The gradient task: chunk_sums' state and loops (the price arithmetic and its sum loop are the
// same statements, so its s[0], s[1] are bitwise chunk_sums' s1, s2), plus each lane's tangents in
// SoA form, stepped in the same lane loop on the same normals. s: GRAD_SUMS sums (mc_tangent.h).
template <class T, int MODEL, bool ANTI>
inline void chunk_grad_sums(const Pt<T>& p, const PtG<T>& g, uint64_t d0, int64_t count, int64_t steps, uint32_t k0,
                            uint32_t k1, double* s) {
  constexpr int PER = Per<MODEL>::steps;
  alignas(64) T xp[L], xm[L], wp[L], wm[L], vp[L], vm[L];
  alignas(64) T z[4][L];
  alignas(64) T tp[TAN_FIELDS][L], tm[TAN_FIELDS][L];
  alignas(64) T y[NDIR][L];
  for (int j = 0; j < GRAD_SUMS; ++j) s[j] = 0.0;
  const auto load = [](const T (&a)[TAN_FIELDS][L], int l) {
    return Tan<T>{a[0][l], a[1][l], a[2][l], a[3][l], a[4][l], a[5][l], a[6][l], a[7][l], a[8][l]};
  };
  const auto store = [](T (&a)[TAN_FIELDS][L], int l, const Tan<T>& d) {
    a[0][l] = d.xs, a[1][l] = d.xt, a[2][l] = d.xr, a[3][l] = d.vs, a[4][l] = d.vt;
    a[5][l] = d.wh, a[6][l] = d.ws, a[7][l] = d.wt, a[8][l] = d.wr;
  };
  const Tan<T> t0 = tan_start(g);
  for (int64_t base = 0; base < count; base += L) {
    for (int l = 0; l < L; ++l) {
      xp[l] = xm[l] = T(0);
      wp[l] = wm[l] = p.alive0;
      vp[l] = vm[l] = p.v0;
      store(tp, l, t0);
      store(tm, l, t0);
    }
    const uint64_t db = d0 + static_cast<uint64_t>(base);
    uint32_t gr = 0;
    for (int64_t s0 = 0; s0 < steps; s0 += PER, ++gr) {
      MC_SIMD
      for (int l = 0; l < L; ++l) {
        group_normals<T>(gr, db + static_cast<uint64_t>(l), MODEL, k0, k1, z[0][l], z[1][l], z[2][l], z[3][l]);
      }
      const int kmax = static_cast<int>(std::min<int64_t>(PER, steps - s0));
      for (int k = 0; k < kmax; ++k) {
        if (MODEL == GBM) {
          const T* zk = z[k];
          MC_SIMD
          for (int l = 0; l < L; ++l) {
            Tan<T> a = load(tp, l);
            gbm_step_grad(xp[l], wp[l], a, zk[l], p, g);
            store(tp, l, a);
            if (ANTI) {
              Tan<T> b = load(tm, l);
              gbm_step_grad(xm[l], wm[l], b, -zk[l], p, g);
              store(tm, l, b);
            }
          }
        } else {
          const T* z1 = z[2 * k];
          const T* z2 = z[2 * k + 1];
          MC_SIMD
          for (int l = 0; l < L; ++l) {
            Tan<T> a = load(tp, l);
            heston_step_grad(xp[l], vp[l], wp[l], a, z1[l], z2[l], p, g);
            store(tp, l, a);
            if (ANTI) {
              Tan<T> b = load(tm, l);
              heston_step_grad(xm[l], vm[l], wm[l], b, -z1[l], -z2[l], p, g);
              store(tm, l, b);
            }
          }
        }
      }
    }
    const int valid = static_cast<int>(std::min<int64_t>(L, count - base));
    double a1 = 0.0, a2 = 0.0;
    MC_SIMD_REDUCE
    for (int l = 0; l < L; ++l) {
      T val = payoff(xp[l], wp[l], p);
      if (ANTI) val = T(0.5) * (val + payoff(xm[l], wm[l], p));
      const double v = l < valid ? static_cast<double>(val) : 0.0;
      a1 += v;
      a2 += v * v;
    }
    s[0] += a1;
    s[1] += a2;
    MC_SIMD
    for (int l = 0; l < L; ++l) {
      T val = payoff(xp[l], wp[l], p);
      if (ANTI) val = T(0.5) * (val + payoff(xm[l], wm[l], p));
      T yl[NDIR] = {T(0), T(0), T(0), T(0), T(0)};
      payoff_tangent(xp[l], wp[l], load(tp, l), p, g, ANTI ? T(0.5) : T(1), yl);
      if (ANTI) payoff_tangent(xm[l], wm[l], load(tm, l), p, g, T(0.5), yl);
      discount_tangent(val, g, yl);
      for (int j = 0; j < NDIR; ++j) y[j][l] = yl[j];
    }
    for (int j = 0; j < NDIR; ++j) {
      const T* yj = y[j];
      a1 = 0.0;
      a2 = 0.0;
      MC_SIMD_REDUCE
      for (int l = 0; l < L; ++l) {
        const double v = l < valid ? static_cast<double>(yj[l]) : 0.0;
        a1 += v;
        a2 += v * v;
      }
      s[2 + 2 * j] += a1;
      s[3 + 2 * j] += a2;
    }
  }
}

// The chunk task compiled three times (common/isa.h); the OpenMP loop calls the one for this CPU.
template <class T, int MODEL, bool BRIDGE, bool ANTI>
using ChunkFn = void (*)(const Pt<T>&, uint64_t, int64_t, int64_t, uint32_t, uint32_t, double&, double&);
#define SG_MC_CHUNK_CLONE(NAME, ATTR)                                                                        \
  template <class T, int MODEL, bool BRIDGE, bool ANTI>                                                       \
  ATTR void NAME(const Pt<T>& p, uint64_t d0, int64_t count, int64_t steps, uint32_t k0, uint32_t k1, double& s1, \
                 double& s2) {                                                                                \
    chunk_sums<T, MODEL, BRIDGE, ANTI>(p, d0, count, steps, k0, k1, s1, s2);                                  \
  }
SG_MC_CHUNK_CLONE(chunk_base, SG_TARGET_BASE)
SG_MC_CHUNK_CLONE(chunk_v3, SG_TARGET_V3)
SG_MC_CHUNK_CLONE(chunk_v4, SG_TARGET_V4)
#undef SG_MC_CHUNK_CLONE

template <class T, int MODEL, bool ANTI>
using GradFn = void (*)(const Pt<T>&, const PtG<T>&, uint64_t, int64_t, int64_t, uint32_t, uint32_t, double*);
#define SG_MC_GRAD_CLONE(NAME, ATTR)                                                                        \
  template <class T, int MODEL, bool ANTI>                                                                  \
  ATTR void NAME(const Pt<T>& p, const PtG<T>& g, uint64_t d0, int64_t count, int64_t steps, uint32_t k0,   \
                 uint32_t k1, double* s) {                                                                  \
    chunk_grad_sums<T, MODEL, ANTI>(p, g, d0, count, steps, k0, k1, s);                                     \
  }
SG_MC_GRAD_CLONE(grad_base, SG_TARGET_BASE)
SG_MC_GRAD_CLONE(grad_v3, SG_TARGET_V3)
SG_MC_GRAD_CLONE(grad_v4, SG_TARGET_V4)
#undef SG_MC_GRAD_CLONE

template <class T, int MODEL, bool BRIDGE, bool ANTI>
void run(const Config& c, const McPoint* pts, int64_t n, double* price, double* se, bool reference) {
  const int64_t D = draws(c);
  const uint32_t k0 = static_cast<uint32_t>(c.seed), k1 = static_cast<uint32_t>(c.seed >> 32);
  if (reference) {
    for (int64_t i = 0; i < n; ++i) {
      const Pt<T> p(pts[i]);
      double s1 = 0.0, s2 = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        const double v = draw_value<T, MODEL, BRIDGE, ANTI>(p, static_cast<uint64_t>(d), c.steps, k0, k1);
        s1 += v;
        s2 += v * v;
      }
      finalize(s1, s2, D, pts[i].disc, price + i, se + i);
    }
    return;
  }
  const int64_t nch = chunks(D, CPU_CHUNK), tasks = n * nch;
  std::vector<double> part(static_cast<size_t>(2 * tasks));
  const ChunkFn<T, MODEL, BRIDGE, ANTI> chunk = sg_isa_pick<ChunkFn<T, MODEL, BRIDGE, ANTI>>(
      &chunk_base<T, MODEL, BRIDGE, ANTI>, &chunk_v3<T, MODEL, BRIDGE, ANTI>, &chunk_v4<T, MODEL, BRIDGE, ANTI>);
#ifdef SG_WITH_OPENMP
  const int nt = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / nch, ch = t % nch;
    const Pt<T> p(pts[i]);
    const int64_t d0 = ch * CPU_CHUNK;
    chunk(p, static_cast<uint64_t>(d0), std::min(CPU_CHUNK, D - d0), c.steps, k0, k1, part[2 * t], part[2 * t + 1]);
  }
  for (int64_t i = 0; i < n; ++i) {  // fixed order: chunk 0, 1, ... of each point
    double s1 = 0.0, s2 = 0.0;
    for (int64_t ch = 0; ch < nch; ++ch) {
      s1 += part[2 * (i * nch + ch)];
      s2 += part[2 * (i * nch + ch) + 1];
    }
    finalize(s1, s2, D, pts[i].disc, price + i, se + i);
  }
}

// From a point's GRAD_SUMS sums: price, stderr and the NDIR gradient components with their
// stderr (each tangent's draws y discounted like the value's: grad = disc E[y]).
void finalize_grad(const double* s, int64_t D, double disc, double* price, double* se, double* grad, double* gse) {
  finalize(s[0], s[1], D, disc, price, se);
  for (int j = 0; j < NDIR; ++j) finalize(s[2 + 2 * j], s[3 + 2 * j], D, disc, grad + j, gse + j);
}

template <class T, int MODEL, bool ANTI>
void run_grad(const Config& c, const McPoint* pts, int64_t n, double* price, double* se, double* grad, double* gse,
              bool reference) {
  const int64_t D = draws(c);
  const uint32_t k0 = static_cast<uint32_t>(c.seed), k1 = static_cast<uint32_t>(c.seed >> 32);
  if (reference) {
    for (int64_t i = 0; i < n; ++i) {
      const Pt<T> p(pts[i]);
      const PtG<T> g(pts[i]);
      double s[GRAD_SUMS] = {};
      for (int64_t d = 0; d < D; ++d) {
        T y[NDIR];
        const double v = draw_grad<T, MODEL, ANTI>(p, g, static_cast<uint64_t>(d), c.steps, k0, k1, y);
        s[0] += v;
        s[1] += v * v;
        for (int j = 0; j < NDIR; ++j) {
          const double u = y[j];
          s[2 + 2 * j] += u;
          s[3 + 2 * j] += u * u;
        }
      }
      finalize_grad(s, D, pts[i].disc, price + i, se + i, grad + NDIR * i, gse + NDIR * i);
    }
    return;
  }
  const int64_t nch = chunks(D, CPU_CHUNK), tasks = n * nch;
  std::vector<double> part(static_cast<size_t>(GRAD_SUMS * tasks));
  const GradFn<T, MODEL, ANTI> chunk = sg_isa_pick<GradFn<T, MODEL, ANTI>>(
      &grad_base<T, MODEL, ANTI>, &grad_v3<T, MODEL, ANTI>, &grad_v4<T, MODEL, ANTI>);
#ifdef SG_WITH_OPENMP
  const int nt = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / nch, ch = t % nch;
    const Pt<T> p(pts[i]);
    const PtG<T> g(pts[i]);
    const int64_t d0 = ch * CPU_CHUNK;
    chunk(p, g, static_cast<uint64_t>(d0), std::min(CPU_CHUNK, D - d0), c.steps, k0, k1, &part[GRAD_SUMS * t]);
  }
  for (int64_t i = 0; i < n; ++i) {  // fixed order: chunk 0, 1, ... of each point (as the price's)
    double s[GRAD_SUMS] = {};
    for (int64_t ch = 0; ch < nch; ++ch)
      for (int j = 0; j < GRAD_SUMS; ++j) s[j] += part[GRAD_SUMS * (i * nch + ch) + j];
    finalize_grad(s, D, pts[i].disc, price + i, se + i, grad + NDIR * i, gse + NDIR * i);
  }
}

void dispatch_grad(const Config& c, const McPoint* pts, int64_t n, double* pr, double* se, double* g, double* gs,
                   bool ref) {
  if (!c.bridge) throw std::invalid_argument("grad: pathwise gradients need bridge=True");
  if (c.single) {
    if (c.model == GBM) {
      c.antithetic ? run_grad<float, GBM, true>(c, pts, n, pr, se, g, gs, ref)
                   : run_grad<float, GBM, false>(c, pts, n, pr, se, g, gs, ref);
    } else {
      c.antithetic ? run_grad<float, HESTON, true>(c, pts, n, pr, se, g, gs, ref)
                   : run_grad<float, HESTON, false>(c, pts, n, pr, se, g, gs, ref);
    }
  } else {
    if (c.model == GBM) {
      c.antithetic ? run_grad<double, GBM, true>(c, pts, n, pr, se, g, gs, ref)
                   : run_grad<double, GBM, false>(c, pts, n, pr, se, g, gs, ref);
    } else {
      c.antithetic ? run_grad<double, HESTON, true>(c, pts, n, pr, se, g, gs, ref)
                   : run_grad<double, HESTON, false>(c, pts, n, pr, se, g, gs, ref);
    }
  }
}

template <class T, int MODEL>
void dispatch_flags(const Config& c, const McPoint* pts, int64_t n, double* pr, double* se, bool ref) {
  if (c.bridge) {
    c.antithetic ? run<T, MODEL, true, true>(c, pts, n, pr, se, ref) : run<T, MODEL, true, false>(c, pts, n, pr, se, ref);
  } else {
    c.antithetic ? run<T, MODEL, false, true>(c, pts, n, pr, se, ref) : run<T, MODEL, false, false>(c, pts, n, pr, se, ref);
  }
}

void dispatch(const Config& c, const McPoint* pts, int64_t n, double* pr, double* se, bool ref) {
  if (c.single) {
    c.model == GBM ? dispatch_flags<float, GBM>(c, pts, n, pr, se, ref) : dispatch_flags<float, HESTON>(c, pts, n, pr, se, ref);
  } else {
    c.model == GBM ? dispatch_flags<double, GBM>(c, pts, n, pr, se, ref) : dispatch_flags<double, HESTON>(c, pts, n, pr, se, ref);
  }
}

}  // namespace

void price_cpu(const Config& c, const McPoint* pts, int64_t n, double* price, double* se) {
  dispatch(c, pts, n, price, se, false);
}
void price_reference(const Config& c, const McPoint* pts, int64_t n, double* price, double* se) {
  dispatch(c, pts, n, price, se, true);
}

void grad_cpu(const Config& c, const McPoint* pts, int64_t n, double* price, double* se, double* grad, double* gse) {
  dispatch_grad(c, pts, n, price, se, grad, gse, false);
}
void grad_reference(const Config& c, const McPoint* pts, int64_t n, double* price, double* se, double* grad,
                    double* gse) {
  dispatch_grad(c, pts, n, price, se, grad, gse, true);
}

#ifndef SG_WITH_CUDA
void price_cuda(const Config&, const McPoint*, int64_t, double*, double*) {
  throw std::runtime_error("surrogate_guard was not compiled with CUDA support");
}
void grad_cuda(const Config&, const McPoint*, int64_t, double*, double*, double*, double*) {
  throw std::runtime_error("surrogate_guard was not compiled with CUDA support");
}
size_t cuda_free_bytes() { return 0; }
#endif

}  // namespace mc
