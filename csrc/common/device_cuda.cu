// The CUDA device probe. Every error (no driver, a driver older than the static runtime, no
// kernel image for the GPU's architecture) means "not usable"; nothing here throws, and the
// caller's current device is left as it was.
#include <cuda_runtime.h>

#include <string>

#include "common/cuda_check.h"
#include "common/device.h"

#ifndef SG_CUDA_ARCHS
#define SG_CUDA_ARCHS "unknown"
#endif

namespace sg {
namespace {

__global__ void probe_kernel() {}

// cudaSuccess when this module has an image of probe_kernel that device `i` can run.
cudaError_t probe(int i) {
  try {
    cuda::DeviceGuard guard(i);
    cudaFuncAttributes attr{};
    const cudaError_t e = cudaFuncGetAttributes(&attr, probe_kernel);
    cudaGetLastError();
    return e;
  } catch (const std::exception&) {
    return cudaErrorInvalidDevice;
  }
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later probes start clean
    return 0;
  }
  int usable = 0;
  for (int i = 0; i < n; ++i) usable += probe(i) == cudaSuccess ? 1 : 0;
  return usable;
}

std::string cuda_status() {
  int n = 0, driver = 0;
  cudaDriverGetVersion(&driver);
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  const std::string built = std::string("built for CUDA architectures ") + SG_CUDA_ARCHS + ", runtime " +
                            std::to_string(CUDART_VERSION) + ", driver " + std::to_string(driver);
  if (e != cudaSuccess) return std::string("no usable CUDA driver or device (") + cudaGetErrorString(e) + "); " + built;
  if (n == 0) return "no CUDA device visible; " + built;
  std::string out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    const bool got = cudaGetDeviceProperties(&prop, i) == cudaSuccess;
    cudaGetLastError();
    const cudaError_t pe = probe(i);
    out += "device " + std::to_string(i) + (got ? " (" + std::string(prop.name) + ", sm_" +
                                                      std::to_string(prop.major * 10 + prop.minor) + ")" : "") +
           (pe == cudaSuccess ? ": usable" : std::string(": not usable (") + cudaGetErrorString(pe) + ")") + "; ";
  }
  return out + built;
}

}  // namespace sg
