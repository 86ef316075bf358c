// register_info: what the build holds (CUDA or not) and the CUDA device probe, as data.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "common/device.h"
#include "common/isa.h"

namespace py = pybind11;

#ifndef SG_WITH_CUDA
namespace sg {
int cuda_device_count() { return 0; }
std::string cuda_status() { return "surrogate_guard was not compiled with CUDA support"; }
}  // namespace sg
#endif

void register_info(py::module_& m) {
#ifdef SG_WITH_CUDA
  m.attr("compiled_with_cuda") = true;
#else
  m.attr("compiled_with_cuda") = false;
#endif
  m.def("cuda_device_count", &sg::cuda_device_count,
        "Number of CUDA devices this build can run on (0 without a CUDA build, a new enough driver, "
        "a GPU, or a kernel image for the GPU's architecture).");
  m.def("cpu_isa", []() { return sg::isa::name(sg::isa::current()); },
        "The CPU kernel variant in use: x86-64, x86-64-v3 or x86-64-v4 (portable build), or native.");
  m.def("cuda_status", &sg::cuda_status, "One line on the CUDA devices and why each is or is not usable.");
}
