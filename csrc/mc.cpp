// Monte Carlo barrier pricing (issue 3): placeholder registration until the kernels land.
#include <pybind11/pybind11.h>
namespace py = pybind11;
void register_mc(py::module_& m) { (void)m; }
