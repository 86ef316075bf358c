// Pathwise (forward-mode) tangents of the Monte Carlo price in the five columns [strike, barrier,
// volatility, maturity, rate], carried beside the path on the same normals (docs/monte_carlo.md,
// "Pathwise sensitivities"). Host/device math shared by the CPU and CUDA gradient kernels; the
// price arithmetic inside these steps is the very expressions of mc_model.h (bitwise the price).
//
// Rounding rule that keeps the price bitwise unchanged under FMA contraction: tangent code never
// reads a price product that the price feeds into an add (compilers fuse a product into an add
// only when all its uses are adds), so it reads sums, max, sqrt and products used by products.
#pragma once
#include <cstdint>

#include "mc/mc_model.h"

namespace mc {

// Gradient components (the columns of X) and the per-draw sums a gradient task accumulates:
// s1, s2 of the value, then s1, s2 of each of the NDIR tangents.
enum Dir : int { DK = 0, DH = 1, DS = 2, DT = 3, DR = 4, NDIR = 5 };
constexpr int GRAD_SUMS = 2 + 2 * NDIR;

template <class T> struct PtG {
  T ax_s, bx_s, ax_t, bx_t, ax_r, dlv_s, dlv_t, db_h, dk_k, c_t, c_r, ddt_t, dkdt_t, dth_s, dv0_s;
  SG_HD explicit PtG(const McPoint& p)
      : ax_s(T(p.ax_s)), bx_s(T(p.bx_s)), ax_t(T(p.ax_t)), bx_t(T(p.bx_t)), ax_r(T(p.ax_r)), dlv_s(T(p.dlv_s)),
        dlv_t(T(p.dlv_t)), db_h(T(p.db_h)), dk_k(T(p.dk_k)), c_t(T(p.c_t)), c_r(T(p.c_r)), ddt_t(T(p.ddt_t)),
        dkdt_t(T(p.dkdt_t)), dth_s(T(p.dth_s)), dv0_s(T(p.dv0_s)) {}
};

// One path's tangents. x does not depend on K or H, v (Heston) not on K, H or r, w not on K.
template <class T> struct Tan {
  T xs, xt, xr;      // d x / d(sigma, T, r)
  T vs, vt;          // d v / d(sigma, T) (Heston)
  T wh, ws, wt, wr;  // d w / d(H, sigma, T, r)
};
constexpr int TAN_FIELDS = 9;

template <class T> SG_HD Tan<T> tan_start(const PtG<T>& g) {
  Tan<T> d;
  d.xs = d.xt = d.xr = T(0);
  d.vs = g.dv0_s;  // v0 = sigma^2 when the column sets it
  d.vt = T(0);
  d.wh = d.ws = d.wt = d.wr = T(0);  // alive0 is a step function of H: derivative 0 a.e.
  return d;
}

// w1 = w om, om = 1 - e, e = exp(ng), ng = -d0 d1 inv2var. Along each direction:
//   dw1 = dw om + w e dg,  dg = d(d0 d1 inv2var) = u0 (dx0 - db) + u1 (dx1 - db) + ng dlv,
//   u0 = [d0 > 0] sgn inv2var d1, u1 = [d1 > 0] sgn inv2var d0 (max(., 0) differentiated a.e.),
// dlv = d log(var) (d inv2var = -inv2var dlv, so d0 d1 d inv2var = ng dlv); e is taken as 0 where
// exp's argument was clamped (there the computed weight is constant). x1* are x1's tangents.
template <class T>
SG_HD void bridge_tangent(T w, const Cross<T>& c, T inv2var, T x1s, T x1t, T x1r, T lvs, T lvt, const Pt<T>& p,
                          const PtG<T>& g, Tan<T>& d) {
  const T si = p.sgn * inv2var;
  const T u0 = c.d0 > T(0) ? si * c.d1 : T(0);
  const T u1 = c.d1 > T(0) ? si * c.d0 : T(0);
  const T we = c.ng > T(Tr<T>::EXP_LO) ? w * c.e : T(0);
  const T dgh = -(u0 + u1) * g.db_h;
  const T dgs = u0 * d.xs + u1 * x1s + c.ng * lvs;
  const T dgt = u0 * d.xt + u1 * x1t + c.ng * lvt;
  const T dgr = u0 * d.xr + u1 * x1r;
  d.wh = d.wh * c.om + we * dgh;
  d.ws = d.ws * c.om + we * dgs;
  d.wt = d.wt * c.om + we * dgt;
  d.wr = d.wr * c.om + we * dgr;
}

// GBM with the bridge: x1 = x + drift + sd z, so d x1 = d x + a + b z per direction (mc.h constants).
template <class T> SG_HD void gbm_step_grad(T& x, T& w, Tan<T>& d, T z, const Pt<T>& p, const PtG<T>& g) {
  const T x1 = gbm_x1(x, z, p);
  const Cross<T> c = cross(x, x1, p.inv2var, p);
  const T x1s = d.xs + (g.ax_s + g.bx_s * z);
  const T x1t = d.xt + (g.ax_t + g.bx_t * z);
  const T x1r = d.xr + g.ax_r;
  bridge_tangent(w, c, p.inv2var, x1s, x1t, x1r, g.dlv_s, g.dlv_t, p, g, d);
  w = w * c.om;
  x = x1;
  d.xs = x1s;
  d.xt = x1t;
  d.xr = x1r;
}

// Heston with the bridge: tangents of vp = max(v, 0) ([v > 0] dv), var = vp dt, sq = sqrt(var)
// (dsq = sq dlv / 2, dlv = dvar / var; 0 where var is floored), x1, v1 and the bridge with the
// step's variance.
template <class T>
SG_HD void heston_step_grad(T& x, T& v, T& w, Tan<T>& d, T z1, T z2, const Pt<T>& p, const PtG<T>& g) {
  const HStep<T> h = heston_core(x, v, z1, z2, p);
  const Cross<T> c = cross(x, h.x1, h.inv2var, p);
  const T hv = T(0.5) * h.inv2var;  // 1 / var
  const bool big = h.var > T(Tr<T>::TINY);
  const T dvps = v > T(0) ? d.vs : T(0);
  const T dvpt = v > T(0) ? d.vt : T(0);
  const T dvars = dvps * p.dt;
  const T dvart = dvpt * p.dt + h.vp * g.ddt_t;
  const T lvs = big ? dvars * hv : T(0);
  const T lvt = big ? dvart * hv : T(0);
  const T dsqs = T(0.5) * h.sq * lvs;
  const T dsqt = T(0.5) * h.sq * lvt;
  const T x1s = d.xs + (dsqs * z1 - T(0.5) * dvars);
  const T x1t = d.xt + ((g.ax_t - T(0.5) * dvart) + dsqt * z1);
  const T x1r = d.xr + g.ax_r;
  const T v1s = d.vs + (p.kdt * (g.dth_s - dvps) + p.xi * dsqs * h.corr);
  const T v1t = d.vt + ((g.dkdt_t * (p.theta - h.vp) - p.kdt * dvpt) + p.xi * dsqt * h.corr);
  bridge_tangent(w, c, h.inv2var, x1s, x1t, x1r, lvs, lvt, p, g, d);
  w = w * c.om;
  v = h.v1;
  x = h.x1;
  d.xs = x1s;
  d.xt = x1t;
  d.xr = x1r;
  d.vs = v1s;
  d.vt = v1t;
}

// Tangents of one path's value pay * ws (ws = w out, 1 - w in), added times `scale` into y[NDIR]:
// d pay = [0 < raw < cap] phi (S_T dx - d strike) (the payoff's kink and cap a.e.).
template <class T>
SG_HD void payoff_tangent(T x, T w, const Tan<T>& d, const Pt<T>& p, const PtG<T>& g, T scale, T* y) {
  T e, raw;
  const T pay = payoff_parts(x, p, e, raw);
  const bool live = raw > T(0) && raw < T(Tr<T>::PAY_MAX);
  const bool in = p.is_in != T(0);
  const T pe = live ? p.phi * e : T(0);
  const T ws = (in ? T(1) - w : w) * scale;
  const T sp = (in ? T(0) - pay : pay) * scale;
  y[DK] += (live ? T(0) - p.phi * g.dk_k : T(0)) * ws;
  y[DH] += sp * d.wh;
  y[DS] += pe * d.xs * ws + sp * d.ws;
  y[DT] += pe * d.xt * ws + sp * d.wt;
  y[DR] += pe * d.xr * ws + sp * d.wr;
}

// The discount's share: price = disc E[v] with disc = S0 exp(-r T), so y += d log(disc) v.
template <class T> SG_HD void discount_tangent(T val, const PtG<T>& g, T* y) {
  y[DT] += g.c_t * val;
  y[DR] += g.c_r * val;
}

// One draw's value (bitwise draw_value's) and its NDIR tangents y (undiscounted): the scalar
// reference and the CUDA thread's work. Bridge only (mc.h: gradients need the bridge).
template <class T, int MODEL, bool ANTI>
SG_HD T draw_grad(const Pt<T>& p, const PtG<T>& g, uint64_t draw, int64_t steps, uint32_t k0, uint32_t k1, T* y) {
  T xp = T(0), xm = T(0), wp = p.alive0, wm = p.alive0, vp = p.v0, vm = p.v0;
  Tan<T> tp = tan_start(g), tm = tan_start(g);
  constexpr int PER = Per<MODEL>::steps;
  uint32_t gr = 0;
  for (int64_t s0 = 0; s0 < steps; s0 += PER, ++gr) {
    T z[4];
    group_normals<T>(gr, draw, MODEL, k0, k1, z[0], z[1], z[2], z[3]);
    if (MODEL == GBM) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int k = 0; k < 4; ++k) {
        if (s0 + k < steps) {
          gbm_step_grad(xp, wp, tp, z[k], p, g);
          if (ANTI) gbm_step_grad(xm, wm, tm, -z[k], p, g);
        }
      }
    } else {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int k = 0; k < 2; ++k) {
        if (s0 + k < steps) {
          heston_step_grad(xp, vp, wp, tp, z[2 * k], z[2 * k + 1], p, g);
          if (ANTI) heston_step_grad(xm, vm, wm, tm, -z[2 * k], -z[2 * k + 1], p, g);
        }
      }
    }
  }
  T val = payoff(xp, wp, p);
  if (ANTI) val = T(0.5) * (val + payoff(xm, wm, p));
  for (int j = 0; j < NDIR; ++j) y[j] = T(0);
  payoff_tangent(xp, wp, tp, p, g, ANTI ? T(0.5) : T(1), y);
  if (ANTI) payoff_tangent(xm, wm, tm, p, g, T(0.5), y);
  discount_tangent(val, g, y);
  return val;
}

}  // namespace mc
