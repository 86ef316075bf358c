// The one private extension module, surrogate_guard._core. Each area registers its
// functions from its own file (register_<area>); this file only wires them together.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_info(py::module_& m);
void register_mc(py::module_& m);
void register_mlp(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "surrogate_guard native core (private; use the surrogate_guard package)";
  register_info(m);
  register_mc(m);
  register_mlp(m);
}
