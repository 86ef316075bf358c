// Device facts the Python layer reports as data (never raising at import).
#pragma once
#include <string>

namespace sg {

// CUDA devices this build can run kernels on now: the driver is new enough for the statically
// linked runtime and the module holds a kernel image (SASS or PTX) for the device's compute
// capability. 0 without a CUDA build, a driver or a GPU.
int cuda_device_count();

// One line on why no device is usable, or on which are ("" without a CUDA build).
std::string cuda_status();

}  // namespace sg
