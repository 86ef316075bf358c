// CUDA half of register_info: counts devices through the runtime, treating every error
// (no driver, no device) as "zero devices" so that import never fails.
#include <cuda_runtime.h>

#include "info.h"

namespace sg {
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later probes start clean
    return 0;
  }
  return n;
}
}  // namespace sg
