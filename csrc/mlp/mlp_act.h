// The four activations and their derivatives, written once for the CPU (SIMD vector types) and
// CUDA (scalars). `M` supplies exp_neg(x) = e^x for x <= 0, expm1_neg(x) = e^x - 1 for x <= 0 and
// log1p_unit(e) = log(1 + e) for e in [0, 1], each to a few ulp; every formula is the stable one.
#pragma once

#include "common/hd.h"
#include "mlp/op.h"

namespace sg::mlp {

// h = act(z), dh = act'(z). V is a scalar or a vector type; comparisons select lane-wise.
template <class M, class V>
SG_HD void act_eval(int act, V z, V& h, V& dh) {
  const V zero = V{};
  const V one = zero + 1;
  const V az = z < zero ? -z : z;
  if (act == kRelu) {
    h = z > zero ? z : zero;
    dh = z > zero ? one : zero;  // torch's convention: relu'(0) = 0
  } else if (act == kTanh) {
    // tanh|z| = -expm1(-2|z|) / (2 + expm1(-2|z|)): no cancellation for small |z|
    const V em = M::expm1_neg(-(az + az));
    const V t = -em / (em + 2);
    h = z < zero ? -t : t;
    dh = one - t * t;
  } else {
    // sigmoid(z) from e = exp(-|z|) in (0, 1]: never overflows
    const V e = M::exp_neg(-az);
    const V s = (z < zero ? e : one) / (one + e);
    if (act == kSilu) {
      h = z * s;
      dh = s * (one + z * (one - s));
    } else {  // softplus(z) = max(z, 0) + log1p(exp(-|z|)), exact (no threshold)
      h = (z > zero ? z : zero) + M::log1p_unit(e);
      dh = s;
    }
  }
}

}  // namespace sg::mlp
