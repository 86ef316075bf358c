// CPU kernels are compiled once for baseline x86-64 and, in the same translation unit, as
// target clones for x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512); the best one the running
// CPU supports is picked at run time. A wheel built on one x86-64 machine so runs on any other
// at its own speed. `flatten` inlines the whole kernel body into each clone, so no baseline-
// compiled code runs on the hot path and no clone's code is shared with another (nothing is
// left for the linker to merge across ISAs). With -DSG_NATIVE_ARCH=ON (-march=native) there is
// one variant, the native one.
#pragma once
#include <string>

namespace sg::isa {

enum Level : int { kBase = 0, kV3 = 1, kV4 = 2 };

// The level kernels run at: the best the CPU supports, lowered (never raised) by the
// environment variable SG_CPU_ISA=base|v3|v4 (read once, for benchmarks and tests).
Level current();
std::string name(Level l);

}  // namespace sg::isa

#if defined(__x86_64__) && !defined(SG_NATIVE_ARCH) && (defined(__GNUC__) || defined(__clang__))
#define SG_ISA_CLONES 1
// Feature lists, not arch=: GCC inlines a callee into a target clone only when the arch and
// tuning match and the callee's ISA is a subset, so the clones keep the default arch.
#define SG_V3_FEATURES "avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe,popcnt,sse3,sse4.1,sse4.2,ssse3,xsave"
#define SG_TARGET_V3 __attribute__((target(SG_V3_FEATURES), flatten))
#define SG_TARGET_V4 \
  __attribute__((target(SG_V3_FEATURES ",avx512f,avx512bw,avx512cd,avx512dq,avx512vl,prefer-vector-width=512"), flatten))
#else
#define SG_ISA_CLONES 0
#define SG_TARGET_V3 __attribute__((flatten))
#define SG_TARGET_V4 __attribute__((flatten))
#endif
#define SG_TARGET_BASE __attribute__((flatten))

// pick(a, b, c): the baseline, v3 or v4 variant of a kernel entry point for the current CPU.
template <class F>
F sg_isa_pick(F base, F v3, F v4) {
  const sg::isa::Level l = sg::isa::current();
  return l == sg::isa::kV4 ? v4 : l == sg::isa::kV3 ? v3 : base;
}
