// Run-time CPU level for the kernels' target clones (common/isa.h).
#include "common/isa.h"

#include <cstdlib>
#include <cstring>

namespace sg::isa {
namespace {

Level detect() {
#if SG_ISA_CLONES
  __builtin_cpu_init();
  Level l = kBase;
  if (__builtin_cpu_supports("x86-64-v3")) l = kV3;
  if (__builtin_cpu_supports("x86-64-v4")) l = kV4;
#else
  Level l = kV4;  // one native (or non-x86) variant: every "level" is that one
#endif
  if (const char* env = std::getenv("SG_CPU_ISA")) {
    const Level want = std::strcmp(env, "base") == 0 ? kBase : std::strcmp(env, "v3") == 0 ? kV3 : kV4;
    if (want < l) l = want;
  }
  return l;
}

}  // namespace

Level current() {
  static const Level level = detect();  // a fact of the machine, fixed for the process
  return level;
}

std::string name(Level l) {
#if SG_ISA_CLONES
  return l == kV4 ? "x86-64-v4" : l == kV3 ? "x86-64-v3" : "x86-64";
#else
  (void)l;
  return "native";
#endif
}

}  // namespace sg::isa
