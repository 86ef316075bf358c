// The ascent step of one point, written once for the CPU kernel (mlp_cpu.cpp) and the CUDA
// kernel (mlp_kernel.cuh): the arithmetic, its order and the projection are the same on both.
#pragma once
#include <cmath>

#include "common/hd.h"

namespace sg::mlp {

template <typename T>
SG_HD T step_sqrt(T v) {
#if defined(__CUDA_ARCH__)
  return sqrt(v);
#else
  return std::sqrt(v);
#endif
}

// With e2 = 2 (Y - z) and g_c = e2 (dY/dx_c - dz/dx_c) (raw coordinates):
//   plain:      x_c <- clamp(x_c + eta g_c, lo_c, hi_c)
//   normalized: s_c = g_c (hi_c - lo_c);  x_c <- clamp(x_c + eta (hi_c - lo_c) s_c / |s|, lo_c, hi_c)
//               (no move when |s| = 0)
// gy, gz, lo, hi, x, x_out: (d,); x_out may alias x (each x_c is read before x_out_c is written).
template <typename T>
SG_HD void ascent_point(int d, T y, T z, T eta, bool normalized, const T* gy, const T* gz, const T* lo, const T* hi,
                        const T* x, T* x_out) {
  const T e2 = T(2) * (y - z);
  T scale = eta;
  if (normalized) {
    T s2 = 0;
    for (int c = 0; c < d; ++c) {
      const T s = e2 * (gy[c] - gz[c]) * (hi[c] - lo[c]);
      s2 += s * s;
    }
    scale = s2 > T(0) ? eta / step_sqrt(s2) : T(0);
  }
  for (int c = 0; c < d; ++c) {
    const T gc = e2 * (gy[c] - gz[c]);
    const T w = normalized ? (hi[c] - lo[c]) * (hi[c] - lo[c]) : T(1);
    const T xn = x[c] + scale * w * gc;
    x_out[c] = xn < lo[c] ? lo[c] : (xn > hi[c] ? hi[c] : xn);
  }
}

}  // namespace sg::mlp
