// Monte Carlo barrier pricing: the op. One CPU implementation (mc_cpu.cpp, OpenMP x SIMD) and
// one CUDA implementation (mc_cuda.cu) with the same signature and the same math (mc_model.h).
//
// Arguments of price_cpu / price_reference / price_cuda:
//   c        Config (below), validated at the binding (bind/register_mc.cpp)
//   pts      (n,) McPoint, host memory: per-point constants from make_point, one per row of
//            X (n, 5) float64 [strike, barrier, volatility, maturity, rate]
//   n        points, >= 1
//   price    (n,) float64, host memory, written for every point
//   stderr_  (n,) float64, host memory, written for every point
// and of grad_cpu / grad_reference / grad_cuda (pathwise sensitivities, bridge only), also:
//   grad     (n, 5) float64 C-order, host memory: d price / d [K, H, sigma, T, r], written in full
//   grad_se  (n, 5) float64 C-order, host memory: their standard errors, written in full
// The gradient kernels draw the same normals as the price kernels and return bitwise the same
// price and stderr (mc_tangent.h says how the arithmetic is kept identical).
#pragma once
#include <cstddef>
#include <cstdint>

#include "mc/mc_model.h"
#include "mc/mc_tangent.h"

namespace mc {

struct Config {
  int code = 0;             // BarrierOption.code: bit0 up, bit1 in, bit2 put
  double spot = 100.0, dividend = 0.0;
  int model = GBM;          // GBM or HESTON
  double kappa = 0, theta = 0, xi = 0, rho = 0, v0 = 0;  // Heston; theta, v0 NaN: volatility^2
  int64_t paths = 0;        // simulated paths; antithetic: paths/2 draws of two paths each
  int32_t steps = 0;        // time steps per path, 1..2^31 - 1 (loop counters are 64-bit)
  uint64_t seed = 0;        // Philox key
  bool bridge = true, antithetic = true, single = false;  // single: float32 state
  int threads = 0;          // CPU OpenMP threads, 0..MAX_THREADS (0: the OpenMP default)
};

// The bound on Config::threads, the same as limits.MAX_THREADS on the Python side.
constexpr int MAX_THREADS = 1024;

// Draws per (point, chunk) task on the CPU. Fixed, so partial sums and their reduction
// order depend only on (n, paths), never on the thread count.
constexpr int64_t CPU_CHUNK = 2048;
// Draws per CUDA block (256 threads x 4 draws).
constexpr int64_t CUDA_THREADS = 256, CUDA_DPT = 4, CUDA_CHUNK = CUDA_THREADS * CUDA_DPT;

inline int64_t draws(const Config& c) { return c.antithetic ? c.paths / 2 : c.paths; }
inline int64_t chunks(int64_t draws, int64_t chunk) { return (draws + chunk - 1) / chunk; }

// Per-point constants from one row [strike, barrier, volatility, maturity, rate].
McPoint make_point(const Config& c, const double* row);

// pts: (n,) per-point constants; price, stderr_: (n,) float64 outputs.
void price_cpu(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_);
// Slow reference: serial, one draw at a time through draw_value (the scalar path).
void price_reference(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_);
// CUDA: same contract; throws std::runtime_error with the CUDA message on any failure.
void price_cuda(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_);
// Price, stderr and the pathwise gradient with its stderr in one pass (c.bridge must be true).
void grad_cpu(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_, double* grad,
              double* grad_se);
void grad_reference(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_, double* grad,
                    double* grad_se);
void grad_cuda(const Config& c, const McPoint* pts, int64_t n, double* price, double* stderr_, double* grad,
               double* grad_se);
// Free device memory now, in bytes (0 without CUDA or on any error).
size_t cuda_free_bytes();

}  // namespace mc
