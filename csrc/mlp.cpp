// Fused MLP value + input gradient (issue 5): placeholder registration until the kernels land.
#include <pybind11/pybind11.h>
namespace py = pybind11;
void register_mlp(py::module_& m) { (void)m; }
