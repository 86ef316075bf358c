// register_info: compiled-with flags and the CUDA device probe.
#include "info.h"

#include <pybind11/pybind11.h>

#ifdef SG_WITH_OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

#ifndef SG_WITH_CUDA
namespace sg {
int cuda_device_count() { return 0; }
}  // namespace sg
#endif

void register_info(py::module_& m) {
#ifdef SG_WITH_CUDA
  m.attr("compiled_with_cuda") = true;
#else
  m.attr("compiled_with_cuda") = false;
#endif
#ifdef SG_WITH_OPENMP
  m.attr("compiled_with_openmp") = true;
  m.def("max_threads", []() { return omp_get_max_threads(); });
#else
  m.attr("compiled_with_openmp") = false;
  m.def("max_threads", []() { return 1; });
#endif
  m.def("cuda_device_count", &sg::cuda_device_count,
        "Number of usable CUDA devices (0 without a CUDA build, driver or GPU).");
}
