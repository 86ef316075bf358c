// SIMD vector types (GCC/Clang vector extensions: 64-byte vectors, one AVX-512 register, split
// by the compiler on narrower CPUs) and the vector exp/expm1/log1p that mlp_act.h needs on the
// CPU: libm calls would not vectorize. Cody-Waite reduction + Taylor polynomials, few-ulp accurate.
#pragma once
#include <cstdint>

namespace sg::mlp::simd {

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t VI __attribute__((vector_size(64)));
  static constexpr int n = 16;
  static constexpr float shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  static constexpr int32_t shift_bits = 0x4B400000, bias = 127, mant = 23;
  static constexpr float lo = -87.0f;  // e^lo stays a normal number
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;  // n * ln2_hi exact
  static constexpr int exp_terms = 7, log_terms = 6;
};
template <>
struct Lanes<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t VI __attribute__((vector_size(64)));
  static constexpr int n = 8;
  static constexpr double shift = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int64_t shift_bits = 0x4338000000000000LL, bias = 1023, mant = 52;
  static constexpr double lo = -708.0;
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.42860682030941723212e-6;
  static constexpr int exp_terms = 13, log_terms = 12;
};

// x = n ln2 + r, |r| <= ln2/2; returns 2^n in `scale` and expm1(r) (Taylor, no constant term).
template <typename T>
inline typename Lanes<T>::V exp_reduce(typename Lanes<T>::V x, typename Lanes<T>::V& scale) {
  using L = Lanes<T>;
  using V = typename L::V;
  using VI = typename L::VI;
  const T log2e = T(1.4426950408889634), ln2_hi = L::ln2_hi, ln2_lo = L::ln2_lo;
  x = x < L::lo ? V{} + L::lo : x;
  const V t = x * log2e + L::shift;
  const V nf = t - L::shift;
  const V r = (x - nf * ln2_hi) - nf * ln2_lo;
  const VI ni = (VI)t - L::shift_bits;
  scale = (V)((ni + L::bias) << L::mant);
  // r (1 + r/2 (1 + r/3 (1 + ...))): Horner from the highest term
  V p = V{} + T(1);
  for (int k = L::exp_terms; k >= 2; --k) p = p * (r * (T(1) / T(k))) + T(1);
  return p * r;
}

template <typename T>
struct VecMath {
  using V = typename Lanes<T>::V;
  static inline V exp_neg(V x) {
    V s;
    const V p = exp_reduce<T>(x, s);
    return s + s * p;
  }
  // 2^n expm1(r) + (2^n - 1): exact when n = 0, no cancellation otherwise
  static inline V expm1_neg(V x) {
    V s;
    const V p = exp_reduce<T>(x, s);
    return s * p + (s - T(1));
  }
  // log(1 + e), e in [0, 1]: u = fl(1 + e), log(u) * e / (u - 1) cancels the rounding of u
  static inline V log1p_unit(V e) {
    const V u = e + T(1);
    const V big = V{} + T(1.4142135623730951);
    const V m = u > big ? u * T(0.5) : u;
    const V k = u > big ? V{} + T(0.6931471805599453) : V{};
    const V s = (m - T(1)) / (m + T(1));
    const V s2 = s * s;
    V p = V{} + T(1) / T(2 * Lanes<T>::log_terms + 1);
    for (int j = Lanes<T>::log_terms - 1; j >= 0; --j) p = p * s2 + T(1) / T(2 * j + 1);
    const V logu = k + T(2) * s * p;
    const V um1 = u - T(1);
    return um1 == V{} ? e : logu * (e / (um1 == V{} ? V{} + T(1) : um1));
  }
};

}  // namespace sg::mlp::simd
