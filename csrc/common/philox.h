// Philox4x32-10 (Salmon et al., SC'11; Random123): a counter-based generator usable on host
// and device. The same (counter, key) gives the same four 32-bit words on every thread count
// and device, which is what makes Monte Carlo results reproducible and CPU/CUDA comparable.
#pragma once
#include <cstdint>

#include "common/hd.h"

namespace philox {

constexpr uint32_t M0 = 0xD2511F53u;  // round multipliers
constexpr uint32_t M1 = 0xCD9E8D57u;
constexpr uint32_t W0 = 0x9E3779B9u;  // Weyl key increments (golden ratio, sqrt(3)-1)
constexpr uint32_t W1 = 0xBB67AE85u;

// One round on the counter; the 32x32->64 product is written as a 64-bit multiply so that
// compilers vectorize it (vpmuludq on x86, IMAD.WIDE on NVIDIA).
SG_HD void round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(M0) * c0;
  const uint64_t p1 = static_cast<uint64_t>(M1) * c2;
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  c0 = hi1 ^ c1 ^ k0;
  c1 = lo1;
  c2 = hi0 ^ c3 ^ k1;
  c3 = lo0;
}

// Philox4x32 with 10 rounds: counter (c0..c3), key (k0, k1) -> four words, in place.
SG_HD void philox4x32_10(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0, uint32_t k1) {
  // Fully unrolled: GCC only vectorizes the caller's loop over draws without an inner loop.
#if defined(__CUDA_ARCH__)
#pragma unroll
#else
#pragma GCC unroll 10
#endif
  for (int r = 0; r < 10; ++r) {
    round(c0, c1, c2, c3, k0, k1);
    k0 += W0;
    k1 += W1;
  }
}

}  // namespace philox
