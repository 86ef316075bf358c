// The one CUDA error checker, and a guard that restores the caller's current device.
// Included by .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace sg::cuda {

// Throws std::runtime_error("CUDA error in <what>: <message>") on failure. The runtime's
// last-error slot is cleared first: a later, healthy call must not inherit this failure
// (a sticky error, one that corrupts the context, stays sticky whatever is done here).
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
  }
}

// Makes `device` current for its scope; the caller's device (torch's, for instance) is
// restored on every exit path.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&prev_) != cudaSuccess) {
      cudaGetLastError();
      prev_ = -1;
    }
    if (prev_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (prev_ >= 0 && cudaGetDevice(&now) == cudaSuccess && now != prev_) cudaSetDevice(prev_);
    cudaGetLastError();
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

}  // namespace sg::cuda
