// register_mlp: the MLP op's Python boundary, one class per (backend, dtype): MlpCpuF32/F64 and,
// in a CUDA build, MlpCudaF32/F64. Arrays are strict (bind/mlp_bind.h); long argument lists
// are keyword-only; the GIL is released around compute.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bind/mlp_bind.h"
#include "mlp/op.h"

namespace {
namespace py = pybind11;
using sg::mlp::bind::Arr;

// The checked arguments of a step call, the same for the CPU and the CUDA host path.
template <typename T>
struct StepCall {
  int64_t n;
  sg::mlp::StepArgs<T> s;
  const T* x;
  T* y;
  T* g;
  StepCall(const Arr<T>& xa, const Arr<T>& z, const Arr<T>& gz, const py::object& eta, double eta0, const Arr<T>& lo,
           const Arr<T>& hi, bool normalized, Arr<T>& out, Arr<T>& ya, const py::object& ga) {
    const int d = static_cast<int>(xa.ndim() == 2 ? xa.shape(1) : -1);
    n = sg::mlp::bind::check_xyg<T>(d, xa, ya, ga);
    s = sg::mlp::bind::make_step<T>(d, n, z, gz, eta, eta0, lo, hi, normalized, out);
    x = xa.data();
    y = ya.mutable_data();
    g = sg::mlp::bind::opt_ptr<T>(ga);
  }
};

template <typename T>
void bind_dtype(py::module_& m, const std::string& sfx) {
  using namespace sg::mlp;
  using namespace sg::mlp::bind;
  const auto ctor = [](const py::list& W, const py::list& b, const std::string& act, const Arr<T>& lo,
                       const Arr<T>& inv, double ys, double yo) { return make_net<T>(W, b, act, lo, inv, ys, yo); };
  py::class_<CpuPlan<T>>(m, ("MlpCpu" + sfx).c_str())
      .def(py::init([ctor](const py::list& W, const py::list& b, const std::string& act, const Arr<T>& lo,
                           const Arr<T>& inv, double ys, double yo) {
             return new CpuPlan<T>(ctor(W, b, act, lo, inv, ys, yo));
           }),
           py::arg("weights"), py::arg("biases"), py::arg("activation"), py::arg("x_lo").noconvert(),
           py::arg("x_inv_range").noconvert(), py::arg("y_scale"), py::arg("y_offset"))
      .def(
          "value_and_grad",
          [](const CpuPlan<T>& p, const Arr<T>& x, Arr<T>& y, const py::object& g, int nt) {
            const int d = static_cast<int>(x.ndim() == 2 ? x.shape(1) : -1);
            const int64_t n = check_xyg<T>(d, x, y, g);
            T* gp = opt_ptr<T>(g);
            T* yp = y.mutable_data();
            const T* xp = x.data();
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.run(xp, n, yp, gp, nullptr, nt);
          },
          py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("g"), py::arg("threads"))
      .def(
          "value",
          // x (B, d), y (B,) written in full: the forward pass only.
          [](const CpuPlan<T>& p, const Arr<T>& x, Arr<T>& y, int nt) {
            const int64_t n = check_xy<T>(p.dim(), x, y);
            T* yp = y.mutable_data();
            const T* xp = x.data();
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.value(xp, n, yp, nt);
          },
          py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("threads"))
      .def(
          "step",
          [](const CpuPlan<T>& p, const Arr<T>& x, const Arr<T>& z, const Arr<T>& gz, const py::object& eta,
             double eta0, const Arr<T>& lo, const Arr<T>& hi, bool normalized, Arr<T>& out, Arr<T>& y,
             const py::object& g, int nt) {
            const StepCall<T> c(x, z, gz, eta, eta0, lo, hi, normalized, out, y, g);
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.run(c.x, c.n, c.y, c.g, &c.s, nt);
          },
          py::arg("x").noconvert(), py::kw_only(), py::arg("z").noconvert(), py::arg("grad_z").noconvert(),
          py::arg("eta"), py::arg("eta0"), py::arg("lo").noconvert(), py::arg("hi").noconvert(),
          py::arg("normalized"), py::arg("out").noconvert(), py::arg("y").noconvert(), py::arg("g"),
          py::arg("threads"));
#ifdef SG_WITH_CUDA
  py::class_<CudaPlan<T>>(m, ("MlpCuda" + sfx).c_str())
      .def(py::init([ctor](const py::list& W, const py::list& b, const std::string& act, const Arr<T>& lo,
                           const Arr<T>& inv, double ys, double yo, int device) {
             return new CudaPlan<T>(ctor(W, b, act, lo, inv, ys, yo), device);
           }),
           py::arg("weights"), py::arg("biases"), py::arg("activation"), py::arg("x_lo").noconvert(),
           py::arg("x_inv_range").noconvert(), py::arg("y_scale"), py::arg("y_offset"), py::arg("device"))
      .def_property_readonly("device", &CudaPlan<T>::device)
      .def_property_readonly("points_per_block", &CudaPlan<T>::points_per_block)
      .def_property_readonly("weights_in_shared", &CudaPlan<T>::weights_in_shared)
      .def(
          "value_and_grad_host",
          [](CudaPlan<T>& p, const Arr<T>& x, Arr<T>& y, const py::object& g) {
            const int d = static_cast<int>(x.ndim() == 2 ? x.shape(1) : -1);
            const int64_t n = check_xyg<T>(d, x, y, g);
            T* gp = opt_ptr<T>(g);
            T* yp = y.mutable_data();
            const T* xp = x.data();
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.run_host(xp, n, yp, gp, nullptr);
          },
          py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("g"))
      .def(
          "value_host",
          [](CudaPlan<T>& p, const Arr<T>& x, Arr<T>& y) {
            const int64_t n = check_xy<T>(p.dim(), x, y);
            T* yp = y.mutable_data();
            const T* xp = x.data();
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.value_host(xp, n, yp);
          },
          py::arg("x").noconvert(), py::arg("y").noconvert())
      .def(
          "value_ptr",
          // Device pointers (torch CUDA tensors' data_ptr()), validated in Python: x (n, d), y (n,).
          [](CudaPlan<T>& p, uintptr_t x, int64_t n, uintptr_t y, uintptr_t stream) {
            need(n >= 0 && (n == 0 || (x != 0 && y != 0)), "X, Y: expected device pointers and B >= 0");
            // Safe without the GIL: device memory owned by tensors the caller keeps alive.
            py::gil_scoped_release nogil;
            p.value_device(reinterpret_cast<const T*>(x), n, reinterpret_cast<T*>(y), stream);
          },
          py::kw_only(), py::arg("x"), py::arg("n"), py::arg("y"), py::arg("stream"))
      .def(
          "step_host",
          [](CudaPlan<T>& p, const Arr<T>& x, const Arr<T>& z, const Arr<T>& gz, const py::object& eta, double eta0,
             const Arr<T>& lo, const Arr<T>& hi, bool normalized, Arr<T>& out, Arr<T>& y, const py::object& g) {
            const StepCall<T> c(x, z, gz, eta, eta0, lo, hi, normalized, out, y, g);
            // Safe without the GIL: only raw buffers of arrays the caller keeps alive are touched.
            py::gil_scoped_release nogil;
            p.run_host(c.x, c.n, c.y, c.g, &c.s);
          },
          py::arg("x").noconvert(), py::kw_only(), py::arg("z").noconvert(), py::arg("grad_z").noconvert(),
          py::arg("eta"), py::arg("eta0"), py::arg("lo").noconvert(), py::arg("hi").noconvert(),
          py::arg("normalized"), py::arg("out").noconvert(), py::arg("y").noconvert(), py::arg("g"))
      .def(
          "run_ptr",
          // Device pointers (torch CUDA tensors' data_ptr()), validated in Python; 0 = absent.
          [](CudaPlan<T>& p, uintptr_t x, int64_t n, uintptr_t y, uintptr_t g, uintptr_t z, uintptr_t gz,
             uintptr_t eta, double eta0, const Arr<T>& lo, const Arr<T>& hi, bool normalized, uintptr_t out,
             uintptr_t stream) {
            need(n >= 0 && (n == 0 || x != 0), "X: expected a device pointer and B >= 0");
            StepArgs<T> s;
            const bool step = out != 0;
            if (step) {
              need(z != 0 && gz != 0 && y != 0, "step: z, grad_z and Y pointers are required");
              need(lo.ndim() == 1 && lo.shape(0) == p.dim() && hi.ndim() == 1 && hi.shape(0) == p.dim(),
                   "lo/hi: expected shape (d,)");
              s.z = reinterpret_cast<const T*>(z);
              s.gz = reinterpret_cast<const T*>(gz);
              s.eta = reinterpret_cast<const T*>(eta);
              s.eta0 = static_cast<T>(eta0);
              s.lo = lo.data();
              s.hi = hi.data();
              s.normalized = normalized;
              s.x_out = reinterpret_cast<T*>(out);
            }
            // Safe without the GIL: device memory owned by tensors the caller keeps alive.
            py::gil_scoped_release nogil;
            p.run_device(reinterpret_cast<const T*>(x), n, reinterpret_cast<T*>(y), reinterpret_cast<T*>(g),
                         step ? &s : nullptr, stream);
          },
          py::kw_only(), py::arg("x"), py::arg("n"), py::arg("y"), py::arg("g"), py::arg("z"), py::arg("grad_z"),
          py::arg("eta"), py::arg("eta0"), py::arg("lo").noconvert(), py::arg("hi").noconvert(),
          py::arg("normalized"), py::arg("out"), py::arg("stream"));
#endif
}
}  // namespace

void register_mlp(py::module_& m) {
  bind_dtype<float>(m, "F32");
  bind_dtype<double>(m, "F64");
}
