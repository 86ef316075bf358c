// Math shared by the CPU and CUDA Monte Carlo kernels: branch-free log/exp/sincos written
// once (so both devices compute the same normals, and the CPU loop vectorizes), Box-Muller
// on Philox words, and the GBM/Heston steps with the Brownian-bridge survival weight.
#pragma once
#include <cstdint>
#include <cmath>
#include <cstring>

#include "common/hd.h"
#include "common/philox.h"

namespace mc {

template <class T> struct Tr;
template <> struct Tr<double> {
  using U = uint64_t;
  using I = int64_t;
  static constexpr int MANT = 52;
  static constexpr int BIAS = 1023;
  static constexpr U MANT_MASK = 0x000FFFFFFFFFFFFFull;
  static constexpr double SHIFT = 6755399441055744.0;  // 1.5 * 2^52: round-to-nearest trick
  static constexpr double EXP_LO = -708.0, EXP_HI = 709.0;
  static constexpr double TINY = 1e-300;
  static constexpr double PAY_MAX = 1e100;  // payoff cap (units of spot): D * PAY_MAX^2 stays finite
};
template <> struct Tr<float> {
  using U = uint32_t;
  using I = int32_t;
  static constexpr int MANT = 23;
  static constexpr int BIAS = 127;
  static constexpr U MANT_MASK = 0x007FFFFFu;
  static constexpr float SHIFT = 12582912.0f;  // 1.5 * 2^23
  static constexpr float EXP_LO = -87.0f, EXP_HI = 88.0f;
  static constexpr float TINY = 1e-30f;
  static constexpr float PAY_MAX = 1e30f;
};

SG_HD uint64_t bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, 8);
  return u;
#endif
}
SG_HD uint32_t bits(float x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint32_t>(__float_as_int(x));
#else
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
#endif
}
template <class T> SG_HD T from_bits(typename Tr<T>::U u);
template <> SG_HD double from_bits<double>(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, 8);
  return x;
#endif
}
template <> SG_HD float from_bits<float>(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(static_cast<int>(u));
#else
  float x;
  std::memcpy(&x, &u, 4);
  return x;
#endif
}

template <class T> SG_HD T vsqrt(T x) {
#if defined(__CUDA_ARCH__)
  return sqrt(x);  // IEEE-rounded on the device too (nvcc's default -prec-sqrt=true)
#else
  return std::sqrt(x);
#endif
}
template <class T> SG_HD T vmax(T a, T b) { return a > b ? a : b; }
template <class T> SG_HD T vmin(T a, T b) { return a < b ? a : b; }

// log(x) for finite normal x > 0: exponent split, mantissa in [sqrt(1/2), sqrt(2)), then
// log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716; series truncated below the T epsilon.
template <class T> SG_HD T log_pos(T x) {
  using U = typename Tr<T>::U;
  using I = typename Tr<T>::I;
  const U b = bits(x);
  I e = static_cast<I>(b >> Tr<T>::MANT) - Tr<T>::BIAS;
  T m = from_bits<T>((b & Tr<T>::MANT_MASK) | (static_cast<U>(Tr<T>::BIAS) << Tr<T>::MANT));
  const bool big = m > T(1.4142135623730951);
  m = big ? m * T(0.5) : m;
  e = big ? e + 1 : e;
  const T f = m - T(1);
  const T s = f / (T(2) + f);
  const T z = s * s;
  T p;
  if (sizeof(T) == 8) {  // terms to z^9: next term 0.0295^10/21 ~ 2e-17
    p = T(1.0 / 19);
    p = p * z + T(1.0 / 17);
    p = p * z + T(1.0 / 15);
    p = p * z + T(1.0 / 13);
    p = p * z + T(1.0 / 11);
    p = p * z + T(1.0 / 9);
    p = p * z + T(1.0 / 7);
    p = p * z + T(1.0 / 5);
    p = p * z + T(1.0 / 3);
  } else {  // terms to z^4: next 0.0295^5/11 ~ 2e-9
    p = T(1.0 / 9);
    p = p * z + T(1.0 / 7);
    p = p * z + T(1.0 / 5);
    p = p * z + T(1.0 / 3);
  }
  const T logm = T(2) * s + T(2) * s * z * p;
  const T ef = static_cast<T>(e);
  // ln 2 split so that ef * LN2_HI is exact (ef has <= 11 significant bits).
  return ef * T(0.693145751953125) + (ef * T(1.4286068203094172321e-6) + logm);
}

// exp(x), x clamped to the normal range; Cody-Waite reduction to |r| <= ln2/2 and Taylor.
template <class T> SG_HD T exp_clamped(T x) {
  using U = typename Tr<T>::U;
  using I = typename Tr<T>::I;
  x = vmin(vmax(x, T(Tr<T>::EXP_LO)), T(Tr<T>::EXP_HI));
  const T n = (x * T(1.4426950408889634) + T(Tr<T>::SHIFT)) - T(Tr<T>::SHIFT);
  const T r = (x - n * T(0.693145751953125)) - n * T(1.4286068203094172321e-6);
  T p;
  if (sizeof(T) == 8) {  // degree 13: next term 0.347^14/14! ~ 4e-18
    p = T(1.0 / 6227020800.0);
    p = p * r + T(1.0 / 479001600.0);
    p = p * r + T(1.0 / 39916800.0);
    p = p * r + T(1.0 / 3628800.0);
    p = p * r + T(1.0 / 362880.0);
    p = p * r + T(1.0 / 40320.0);
    p = p * r + T(1.0 / 5040.0);
    p = p * r + T(1.0 / 720.0);
    p = p * r + T(1.0 / 120.0);
    p = p * r + T(1.0 / 24.0);
  } else {  // degree 7: next 0.347^8/8! ~ 5e-9
    p = T(1.0 / 5040.0);
    p = p * r + T(1.0 / 720.0);
    p = p * r + T(1.0 / 120.0);
    p = p * r + T(1.0 / 24.0);
  }
  p = p * r + T(1.0 / 6.0);
  p = p * r + T(0.5);
  p = p * r + T(1);
  p = p * r + T(1);
  const I ni = static_cast<I>(n);
  return p * from_bits<T>(static_cast<U>(ni + Tr<T>::BIAS) << Tr<T>::MANT);
}

// sin(2 pi u), cos(2 pi u) for u in [0, 1): quadrant by rounding 4u (exact), then Taylor on
// |a| <= pi/4 and a branch-free rotation.
template <class T> SG_HD void sincos_2pi(T u, T& s, T& c) {
  using I = typename Tr<T>::I;
  const T qf = (u * T(4) + T(Tr<T>::SHIFT)) - T(Tr<T>::SHIFT);
  const T a = (u - qf * T(0.25)) * T(6.283185307179586);
  const T a2 = a * a;
  T sp, cp;
  if (sizeof(T) == 8) {  // to a^15 / a^16: truncation < 1e-16 at pi/4
    sp = T(-1.0 / 1307674368000.0);
    sp = sp * a2 + T(1.0 / 6227020800.0);
    sp = sp * a2 + T(-1.0 / 39916800.0);
    sp = sp * a2 + T(1.0 / 362880.0);
    sp = sp * a2 + T(-1.0 / 5040.0);
    cp = T(1.0 / 20922789888000.0);
    cp = cp * a2 + T(-1.0 / 87178291200.0);
    cp = cp * a2 + T(1.0 / 479001600.0);
    cp = cp * a2 + T(-1.0 / 3628800.0);
    cp = cp * a2 + T(1.0 / 40320.0);
    cp = cp * a2 + T(-1.0 / 720.0);
  } else {  // to a^9 / a^8: truncation ~ 3e-9 / 2.5e-8
    sp = T(1.0 / 362880.0);
    sp = sp * a2 + T(-1.0 / 5040.0);
    cp = T(1.0 / 40320.0);
    cp = cp * a2 + T(-1.0 / 720.0);
  }
  sp = sp * a2 + T(1.0 / 120.0);
  sp = sp * a2 + T(-1.0 / 6.0);
  sp = a + a * a2 * sp;
  cp = cp * a2 + T(1.0 / 24.0);
  cp = cp * a2 + T(-0.5);
  cp = cp * a2 + T(1);
  const I q = static_cast<I>(qf) & 3;
  const bool swap = (q & 1) != 0;
  const T s1 = swap ? cp : sp;
  const T c1 = swap ? sp : cp;
  s = (q & 2) ? -s1 : s1;
  c = (q == 1 || q == 2) ? -c1 : c1;
}

// Four standard normals from one Philox block (two Box-Muller pairs); scalar outputs, not an
// array, so the caller's loop over draws vectorizes. Uniforms: double uses
// all 32 bits (tail cut at 6.7 sigma), float the top 24 (odd numerators, so u1 in (0, 1)).
template <class T>
SG_HD void normals4(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3, T& z0, T& z1, T& z2, T& z3) {
  T u1a, u2a, u1b, u2b;
  if (sizeof(T) == 8) {
    const T sc = T(2.3283064365386963e-10);  // 2^-32
    u1a = (static_cast<T>(w0) + T(0.5)) * sc;
    u2a = static_cast<T>(w1) * sc;
    u1b = (static_cast<T>(w2) + T(0.5)) * sc;
    u2b = static_cast<T>(w3) * sc;
  } else {
    const T sc = T(5.9604644775390625e-8);  // 2^-24
    u1a = static_cast<T>(static_cast<int32_t>((w0 >> 8) | 1u)) * sc;
    u2a = static_cast<T>(static_cast<int32_t>(w1 >> 8)) * sc;
    u1b = static_cast<T>(static_cast<int32_t>((w2 >> 8) | 1u)) * sc;
    u2b = static_cast<T>(static_cast<int32_t>(w3 >> 8)) * sc;
  }
  T sa, ca, sb, cb;
  const T ra = vsqrt(T(-2) * log_pos(u1a));
  const T rb = vsqrt(T(-2) * log_pos(u1b));
  sincos_2pi(u2a, sa, ca);
  sincos_2pi(u2b, sb, cb);
  z0 = ra * ca;
  z1 = ra * sa;
  z2 = rb * cb;
  z3 = rb * sb;
}

// The Philox counter of a draw: (step group, draw low, draw high, stream); key = seed.
SG_HD void draw_normals(uint32_t group, uint64_t draw, uint32_t stream, uint32_t k0, uint32_t k1,
                        uint32_t& w0, uint32_t& w1, uint32_t& w2, uint32_t& w3) {
  w0 = group;
  w1 = static_cast<uint32_t>(draw);
  w2 = static_cast<uint32_t>(draw >> 32);
  w3 = stream;
  philox::philox4x32_10(w0, w1, w2, w3, k0, k1);
}

// The four standard normals of step group `group` of one draw: its Philox block, then Box-Muller.
// Every kernel (CPU SIMD chunks, the scalar reference, CUDA threads; price and gradient) draws
// through this one function, so they see the same numbers.
template <class T>
SG_HD void group_normals(uint32_t group, uint64_t draw, uint32_t stream, uint32_t k0, uint32_t k1, T& z0, T& z1,
                         T& z2, T& z3) {
  uint32_t w0, w1, w2, w3;
  draw_normals(group, draw, stream, k0, k1, w0, w1, w2, w3);
  normals4<T>(w0, w1, w2, w3, z0, z1, z2, z3);
}

}  // namespace mc
