// The SDE models of the Monte Carlo oracle, shared by CPU and CUDA: per-point constants,
// one GBM or Heston step with the Brownian-bridge survival weight, the payoff, and the value
// of one draw (a path, or an antithetic pair averaged) as the scalar reference.
#pragma once
#include <cstdint>

#include "mc/mc_math.h"

namespace mc {

enum Model : int { GBM = 0, HESTON = 1 };

// Per-point constants, computed once on the host in double from one row of X (see mc.h).
// Log-space state x = log(S/S0) starts at 0, so float32 rounds increments, not log(S0).
struct McPoint {
  double drift;    // GBM: (r - q - sigma^2/2) dt; Heston: (r - q) dt
  double sd;       // GBM: sigma sqrt(dt)
  double inv2var;  // GBM: 2 / (sigma^2 dt), the bridge exponent's scale
  double b;        // log(H / S0)
  double sgn;      // +1 down barrier (alive while x > b), -1 up barrier
  double spot, strike, phi;  // spot 1 and strike K / S0 (paths in units of S0); phi = +1 call, -1 put
  double is_in;    // 1 for knock-in (value = payoff * (1 - survival)), else 0
  double alive0;   // 0 when the barrier is breached at the start
  double dt;
  double kdt, theta, xi, rho, rhoc, v0;  // Heston: kappa dt, theta, xi, rho, sqrt(1-rho^2), v0
  double disc;     // S0 exp(-r T): discount and the spot's scale
  // Pathwise tangents (mc_tangent.h), used only by the gradient kernels:
  double ax_s, bx_s, ax_t, bx_t, ax_r;  // d(x step)/d(sigma, T, r) = a + b z (GBM; Heston: ax_t, ax_r)
  double dlv_s, dlv_t;                  // GBM: d log(sigma^2 dt)/d(sigma, T) (0 where inv2var is capped)
  double db_h, dk_k;                    // d b / dH = 1/H, d strike / dK = 1/S0
  double c_t, c_r;                      // d log(disc) / d(T, r) = -r, -T
  double ddt_t, dkdt_t, dth_s, dv0_s;   // Heston: d dt/dT, d kappa dt/dT, d theta/d sigma, d v0/d sigma
};

template <class T> struct Pt {
  T drift, sd, inv2var, b, sgn, spot, strike, phi, is_in, alive0, dt, kdt, theta, xi, rho, rhoc, v0;
  SG_HD explicit Pt(const McPoint& p)
      : drift(T(p.drift)), sd(T(p.sd)), inv2var(T(p.inv2var)), b(T(p.b)), sgn(T(p.sgn)),
        spot(T(p.spot)), strike(T(p.strike)), phi(T(p.phi)), is_in(T(p.is_in)), alive0(T(p.alive0)),
        dt(T(p.dt)), kdt(T(p.kdt)), theta(T(p.theta)), xi(T(p.xi)), rho(T(p.rho)), rhoc(T(p.rhoc)),
        v0(T(p.v0)) {}
};

// One step's bridge quantities x0 -> x1 with inv2var = 2/var: d = signed distance to the barrier
// (0 at or beyond it), ng = -2 d0 d1 / var, e = exp(ng) the crossing probability, om = 1 - e.
// om is formed from min(e, 1) (= e, as ng <= 0): a product that feeds an add may be fused into an
// FMA, and whether it is depends on its other uses; through the min no kernel ever fuses it, so
// the gradient kernels can read e (mc_tangent.h) and still round om exactly as the price does.
template <class T> struct Cross {
  T d0, d1, ng, e, om;
};
template <class T> SG_HD Cross<T> cross(T x0, T x1, T inv2var, const Pt<T>& p) {
  Cross<T> c;
  c.d0 = vmax(p.sgn * (x0 - p.b), T(0));
  c.d1 = vmax(p.sgn * (x1 - p.b), T(0));
  c.ng = -(c.d0 * c.d1) * inv2var;
  c.e = exp_clamped(c.ng);
  c.om = T(1) - vmin(c.e, T(1));
  return c;
}

// Survival weight update for a step x0 -> x1 with log-variance var_inv2 = 2/var:
// bridge: w *= 1 - exp(-2 d0 d1 / var), d = signed distance to the barrier (Brownian-bridge
// crossing probability); a step ending at or beyond the barrier has d1 = 0, so exp(0) = 1
// zeroes w without a branch. Without the bridge: plain discrete monitoring at step ends.
template <class T, bool BRIDGE>
SG_HD T survive(T w, T x0, T x1, T inv2var, const Pt<T>& p) {
  if (BRIDGE) {
    return w * cross(x0, x1, inv2var, p).om;
  } else {
    return p.sgn * (x1 - p.b) > T(0) ? w : T(0);
  }
}

// GBM: the exact log-space step.
template <class T> SG_HD T gbm_x1(T x, T z, const Pt<T>& p) { return x + (p.drift + p.sd * z); }
template <class T, bool BRIDGE> SG_HD void gbm_step(T& x, T& w, T z, const Pt<T>& p) {
  const T x1 = gbm_x1(x, z, p);
  w = survive<T, BRIDGE>(w, x, x1, p.inv2var, p);
  x = x1;
}

// Heston: full-truncation Euler (variance floored at 0 inside drift and diffusion), log-Euler
// for the spot; the bridge uses the step's variance vp dt (exact if v were constant). The
// step's quantities are named once here for the price and its tangents (mc_tangent.h) alike.
template <class T> struct HStep {
  T vp, var, sq, x1, corr, v1, inv2var;
};
template <class T> SG_HD HStep<T> heston_core(T x, T v, T z1, T z2, const Pt<T>& p) {
  HStep<T> h;
  h.vp = vmax(v, T(0));
  h.var = h.vp * p.dt;
  h.sq = vsqrt(h.var);
  h.x1 = x + ((p.drift - T(0.5) * h.var) + h.sq * z1);
  h.corr = p.rho * z1 + p.rhoc * z2;
  h.v1 = v + (p.kdt * (p.theta - h.vp) + p.xi * h.sq * h.corr);
  h.inv2var = T(2) / vmax(h.var, T(Tr<T>::TINY));
  return h;
}
template <class T, bool BRIDGE>
SG_HD void heston_step(T& x, T& v, T& w, T z1, T z2, const Pt<T>& p) {
  const HStep<T> h = heston_core(x, v, z1, z2, p);
  v = h.v1;
  w = survive<T, BRIDGE>(w, x, h.x1, h.inv2var, p);
  x = h.x1;
}

// The capped payoff at x (units of the spot), with e = exp(x) and raw = phi (S_T - K) for tangents.
// Capped so that a heavy tail or an absurd strike can never make the sum of squares inf (a capped
// path only occurs far outside the oracle's stated domain, where the point is flagged unreliable).
template <class T> SG_HD T payoff_parts(T x, const Pt<T>& p, T& e, T& raw) {
  e = exp_clamped(x);
  const T st = p.spot * e;
  raw = p.phi * (st - p.strike);
  return vmin(vmax(raw, T(0)), T(Tr<T>::PAY_MAX));
}

template <class T> SG_HD T payoff(T x, T w, const Pt<T>& p) {
  T e, raw;
  const T pay = payoff_parts(x, p, e, raw);
  return pay * (p.is_in != T(0) ? T(1) - w : w);
}

// Normals per Philox block: GBM uses 4 steps of one normal, Heston 2 steps of two.
template <int MODEL> struct Per {
  static constexpr int steps = MODEL == GBM ? 4 : 2;
};

// Value of one draw (undiscounted): the scalar reference, and the CUDA thread's work.
template <class T, int MODEL, bool BRIDGE, bool ANTI>
SG_HD T draw_value(const Pt<T>& p, uint64_t draw, int64_t steps, uint32_t k0, uint32_t k1) {
  T xp = T(0), xm = T(0), wp = p.alive0, wm = p.alive0, vp = p.v0, vm = p.v0;
  constexpr int PER = Per<MODEL>::steps;
  uint32_t g = 0;
  for (int64_t s0 = 0; s0 < steps; s0 += PER, ++g) {  // 64-bit: s0 + PER never overflows
    T z[4];
    group_normals<T>(g, draw, MODEL, k0, k1, z[0], z[1], z[2], z[3]);
    if (MODEL == GBM) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int k = 0; k < 4; ++k) {
        if (s0 + k < steps) {
          gbm_step<T, BRIDGE>(xp, wp, z[k], p);
          if (ANTI) gbm_step<T, BRIDGE>(xm, wm, -z[k], p);
        }
      }
    } else {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int k = 0; k < 2; ++k) {
        if (s0 + k < steps) {
          heston_step<T, BRIDGE>(xp, vp, wp, z[2 * k], z[2 * k + 1], p);
          if (ANTI) heston_step<T, BRIDGE>(xm, vm, wm, -z[2 * k], -z[2 * k + 1], p);
        }
      }
    }
  }
  T val = payoff(xp, wp, p);
  if (ANTI) val = T(0.5) * (val + payoff(xm, wm, p));
  return val;
}

// From per-draw sums s1 = sum v, s2 = sum v^2 over D draws: the discounted mean and its standard
// error, on the host (CPU kernels) and on the device (the CUDA reduction) alike. Sum-of-squares
// form: cancellation only matters when the stderr is below 1e-8 of the price.
SG_HD void finalize(double s1, double s2, int64_t D, double disc, double* price, double* stderr_) {
  const double mean = s1 / static_cast<double>(D);
  const double var = D > 1 ? fmax(0.0, (s2 - s1 * mean) / static_cast<double>(D - 1)) : 0.0;
  *price = disc * mean;
  *stderr_ = disc * sqrt(var / static_cast<double>(D));
}

}  // namespace mc
