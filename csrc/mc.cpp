// CPU Monte Carlo barrier pricer: OpenMP over (point, chunk of draws) tasks, SIMD across
// 64 draws in structure-of-arrays form inside a task; plus the pybind11 boundary (register_mc).
#include "mc.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef SG_WITH_OPENMP
#include <omp.h>
#define MC_SIMD _Pragma("omp simd")
#define MC_SIMD_REDUCE _Pragma("omp simd reduction(+ : a1, a2)")
#else
#define MC_SIMD _Pragma("GCC ivdep")
#define MC_SIMD_REDUCE
#endif

namespace py = pybind11;

namespace mc {

McPoint make_point(const Config& c, const double* row) {
  const double K = row[0], H = row[1], sig = row[2], T = row[3], r = row[4];
  const bool up = (c.code & 1) != 0, is_in = (c.code & 2) != 0, put = (c.code & 4) != 0;
  const double dt = T / c.steps, var = sig * sig * dt;
  McPoint p{};
  p.b = std::log(H / c.spot);
  p.sgn = up ? -1.0 : 1.0;
  p.spot = c.spot;
  p.strike = K;
  p.phi = put ? -1.0 : 1.0;
  p.is_in = is_in ? 1.0 : 0.0;
  p.alive0 = (up ? c.spot < H : c.spot > H) ? 1.0 : 0.0;
  p.dt = dt;
  p.disc = std::exp(-r * T);
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
  return p;
}

void finalize(double s1, double s2, int64_t D, double disc, double* price, double* stderr_) {
  const double mean = s1 / D;
  // Sum-of-squares form: cancellation only matters when stderr < 1e-8 of the price.
  const double var = D > 1 ? std::max(0.0, (s2 - s1 * mean) / (D - 1)) : 0.0;
  *price = disc * mean;
  *stderr_ = disc * std::sqrt(var / D);
}

namespace {

constexpr int L = 64;  // draws per SIMD block: 8 zmm registers of doubles per state array

// Sums over draws [d0, d0 + count) of one point: state in SoA arrays, each loop over lanes
// vectorized; the per-lane arithmetic is the same inline code the scalar reference runs.
template <class T, int MODEL, bool BRIDGE, bool ANTI>
void chunk_sums(const Pt<T>& p, uint64_t d0, int64_t count, int steps, uint32_t k0, uint32_t k1,
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
    for (int s0 = 0; s0 < steps; s0 += PER, ++g) {
      MC_SIMD
      for (int l = 0; l < L; ++l) {
        uint32_t w0, w1, w2, w3;
        draw_normals(g, db + static_cast<uint64_t>(l), MODEL, k0, k1, w0, w1, w2, w3);
        normals4<T>(w0, w1, w2, w3, z[0][l], z[1][l], z[2][l], z[3][l]);
      }
      const int kmax = std::min(PER, steps - s0);
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
#ifdef SG_WITH_OPENMP
  const int nt = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / nch, ch = t % nch;
    const Pt<T> p(pts[i]);
    const int64_t d0 = ch * CPU_CHUNK;
    chunk_sums<T, MODEL, BRIDGE, ANTI>(p, static_cast<uint64_t>(d0), std::min(CPU_CHUNK, D - d0), c.steps,
                                       k0, k1, part[2 * t], part[2 * t + 1]);
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

#ifndef SG_WITH_CUDA
void price_cuda(const Config&, const McPoint*, int64_t, double*, double*) {
  throw std::runtime_error("surrogate_guard was not compiled with CUDA support");
}
size_t cuda_workspace_bytes(const Config&, int64_t) { return 0; }
size_t cuda_free_bytes() { return 0; }
#endif

}  // namespace mc


// ---- pybind11 boundary: strict arrays (no conversion), shapes re-checked, GIL released. ----
namespace {

using DArr = py::array_t<double, py::array::c_style>;

mc::Config make_config(int code, double spot, double dividend, int model, const std::vector<double>& heston,
                       int64_t paths, int32_t steps, uint64_t seed, bool bridge, bool antithetic, bool single,
                       int threads) {
  if (code < 0 || code > 7) throw std::invalid_argument("code: expected 0..7, got " + std::to_string(code));
  if (model != mc::GBM && model != mc::HESTON) throw std::invalid_argument("model: expected 0 (GBM) or 1 (Heston)");
  if (heston.size() != 5) throw std::invalid_argument("heston: expected 5 numbers [kappa, theta, xi, rho, v0]");
  if (steps <= 0) throw std::invalid_argument("steps: expected > 0, got " + std::to_string(steps));
  if (paths <= 0 || paths > (int64_t(1) << 62))
    throw std::invalid_argument("paths: expected 1..2^62, got " + std::to_string(paths));
  const int64_t D = antithetic ? paths / 2 : paths;
  if (D < 2) throw std::invalid_argument("paths: need at least 2 draws for a standard error");
  if (threads < 0) throw std::invalid_argument("threads: expected >= 0");
  mc::Config c;
  c.code = code;
  c.spot = spot;
  c.dividend = dividend;
  c.model = model;
  c.kappa = heston[0];
  c.theta = heston[1];
  c.xi = heston[2];
  c.rho = heston[3];
  c.v0 = heston[4];
  c.paths = paths;
  c.steps = steps;
  c.seed = seed;
  c.bridge = bridge;
  c.antithetic = antithetic;
  c.single = single;
  c.threads = threads;
  return c;
}

void mc_price(DArr X, DArr price, DArr stderr_, int code, double spot, double dividend, int model,
              std::vector<double> heston, int64_t paths, int32_t steps, uint64_t seed, bool bridge, bool antithetic,
              bool single, const std::string& device, int threads, bool reference) {
  const mc::Config c = make_config(code, spot, dividend, model, heston, paths, steps, seed, bridge, antithetic,
                                   single, threads);
  if (X.ndim() != 2 || X.shape(1) != 5) throw std::invalid_argument("X: expected shape (n, 5) float64");
  const int64_t n = X.shape(0);
  for (auto* a : {&price, &stderr_})
    if (a->ndim() != 1 || a->shape(0) != n) throw std::invalid_argument("price/stderr: expected shape (n,) float64");
  if (!price.writeable() || !stderr_.writeable()) throw std::invalid_argument("price/stderr: must be writeable");
  if (device != "cpu" && device != "cuda") throw std::invalid_argument("device: expected 'cpu' or 'cuda'");
  const double* x = X.data();
  double* pr = price.mutable_data();
  double* se = stderr_.mutable_data();
  // The GIL is released: the arrays are owned by the caller's frame for the whole call and
  // nothing here touches Python objects, so other Python threads may run (or price) meanwhile.
  py::gil_scoped_release release;
  std::vector<mc::McPoint> pts(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pts[i] = mc::make_point(c, x + 5 * i);
  if (n == 0) return;
  if (device == "cuda") {
    mc::price_cuda(c, pts.data(), n, pr, se);
  } else if (reference) {
    mc::price_reference(c, pts.data(), n, pr, se);
  } else {
    mc::price_cpu(c, pts.data(), n, pr, se);
  }
}

}  // namespace

void register_mc(py::module_& m) {
  m.def("mc_price", &mc_price, py::arg("X").noconvert(), py::arg("price").noconvert(),
        py::arg("stderr").noconvert(), py::arg("code"), py::arg("spot"), py::arg("dividend"), py::arg("model"),
        py::arg("heston"), py::arg("paths"), py::arg("steps"), py::arg("seed"), py::arg("bridge"),
        py::arg("antithetic"), py::arg("single"), py::arg("device"), py::arg("threads") = 0,
        py::arg("reference") = false,
        "Monte Carlo barrier prices. X: (n, 5) float64 C-contiguous [K, H, sigma, T, r]; price, stderr: "
        "(n,) float64 outputs. heston: [kappa, theta, xi, rho, v0] (theta/v0 NaN: volatility^2).");
  m.def(
      "mc_workspace_bytes",
      [](int64_t n, int64_t paths, bool antithetic, const std::string& device) -> double {
        mc::Config c;
        c.paths = paths;
        c.antithetic = antithetic;
        const double D = static_cast<double>(mc::draws(c));
        const double chunk = static_cast<double>(device == "cuda" ? mc::CUDA_CHUNK : mc::CPU_CHUNK);
        const double per_point = sizeof(mc::McPoint) + 16.0 * std::ceil(D / chunk) + 16.0;
        return static_cast<double>(n) * per_point;  // double: never overflows for absurd requests
      },
      py::arg("n"), py::arg("paths"), py::arg("antithetic"), py::arg("device"),
      "Bytes of workspace (per-point constants and partial sums) a call would allocate.");
  m.def("mc_cuda_free_bytes", []() { return static_cast<double>(mc::cuda_free_bytes()); },
        "Free device memory in bytes (0 without CUDA).");
  m.def(
      "philox4x32_10",
      [](std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
        philox::philox4x32_10(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
        return ctr;
      },
      py::arg("ctr"), py::arg("key"), "Philox4x32-10 of one counter (4 words) under a key (2 words).");
  m.def(
      "mc_normals",
      [](uint64_t seed, uint64_t draw, uint32_t group, int model, bool single) {
        uint32_t w0, w1, w2, w3;
        mc::draw_normals(group, draw, static_cast<uint32_t>(model), static_cast<uint32_t>(seed),
                         static_cast<uint32_t>(seed >> 32), w0, w1, w2, w3);
        std::array<double, 4> out;
        if (single) {
          float z[4];
          mc::normals4<float>(w0, w1, w2, w3, z[0], z[1], z[2], z[3]);
          for (int k = 0; k < 4; ++k) out[k] = z[k];
        } else {
          mc::normals4<double>(w0, w1, w2, w3, out[0], out[1], out[2], out[3]);
        }
        return out;
      },
      py::arg("seed"), py::arg("draw"), py::arg("group"), py::arg("model"), py::arg("single"),
      "The four normals of one Philox block, as the kernels draw them.");
}
