// Build and device facts the Python layer reports as data (never raising at import).
#pragma once

namespace sg {
// Number of CUDA devices usable now; 0 when the module was built without CUDA, when no
// driver is installed, or when no GPU is visible.
int cuda_device_count();
}  // namespace sg
