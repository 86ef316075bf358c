// Helpers of the MLP plans' bindings (included once, by register_mlp.cpp): the strict boundary.
// Arrays are C-contiguous of the plan's dtype or a TypeError (.noconvert()); shapes are checked
// again here (std::invalid_argument -> ValueError) even though Python validated them first.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "mlp/op.h"

namespace sg::mlp::bind {
namespace py = pybind11;

template <typename T>
using Arr = py::array_t<T, py::array::c_style>;

template <typename T>
Arr<T> as_arr(const py::handle& o, const std::string& name) {
  if (!py::isinstance<Arr<T>>(o))
    throw py::type_error(name + ": expected a C-contiguous " + (sizeof(T) == 4 ? "float32" : "float64") + " array");
  return py::reinterpret_borrow<Arr<T>>(o);
}

inline void need(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

template <typename T>
Net<T> make_net(const py::list& W, const py::list& b, const std::string& act, const Arr<T>& x_lo,
                const Arr<T>& x_inv, double y_scale, double y_offset) {
  Net<T> net;
  net.act = parse_act(act);
  need(W.size() == b.size(), "weights/biases: expected equal counts");
  need(W.size() >= 2 && W.size() <= kMaxHidden + 1, "hidden layers: expected 1.." + std::to_string(kMaxHidden));
  need(x_lo.ndim() == 1 && x_inv.ndim() == 1 && x_lo.shape(0) == x_inv.shape(0) && x_lo.shape(0) >= 1,
       "x_lo/x_inv_range: expected equal (d,) shapes, d >= 1");
  net.d = static_cast<int>(x_lo.shape(0));
  net.nh = static_cast<int>(W.size()) - 1;
  net.x_lo.assign(x_lo.data(), x_lo.data() + net.d);
  net.x_inv.assign(x_inv.data(), x_inv.data() + net.d);
  int prev = net.d;
  for (int m = 0; m <= net.nh; ++m) {
    const auto w = as_arr<T>(W[m], "weights[" + std::to_string(m) + "]");
    const auto bb = as_arr<T>(b[m], "biases[" + std::to_string(m) + "]");
    need(w.ndim() == 2 && w.shape(1) == prev && bb.ndim() == 1 && bb.shape(0) == w.shape(0),
         "weights[" + std::to_string(m) + "]: expected shape (out, " + std::to_string(prev) + ") with bias (out,)");
    const int out = static_cast<int>(w.shape(0));
    if (m < net.nh) {
      need(out >= 1 && out <= kMaxWidth, "widths: expected 1.." + std::to_string(kMaxWidth) + ", got " + std::to_string(out));
      net.width.push_back(out);
      net.W.emplace_back(w.data(), w.data() + w.size());
      net.b.emplace_back(bb.data(), bb.data() + bb.size());
    } else {
      need(out == 1, "weights[-1]: expected a scalar output (1 row)");
      net.wL.assign(w.data(), w.data() + w.size());
      net.bL = bb.data()[0];
    }
    prev = out;
  }
  net.y_scale = static_cast<T>(y_scale);
  net.y_offset = static_cast<T>(y_offset);
  return net;
}

// Checks x (n, d), y (n,), g (n, d) or None; returns n.
template <typename T>
int64_t check_xyg(int d, const Arr<T>& x, const Arr<T>& y, const py::object& g) {
  need(x.ndim() == 2 && x.shape(1) == d, "X: expected shape (B, " + std::to_string(d) + ")");
  const int64_t n = x.shape(0);
  need(y.ndim() == 1 && y.shape(0) == n, "Y: expected shape (B,)");
  if (!g.is_none()) {
    const auto ga = as_arr<T>(g, "G");
    need(ga.ndim() == 2 && ga.shape(0) == n && ga.shape(1) == d, "G: expected shape (B, d)");
  }
  return n;
}

// Checks x (n, d) and y (n,) of the value-only forward; returns n.
template <typename T>
int64_t check_xy(int d, const Arr<T>& x, const Arr<T>& y) {
  need(x.ndim() == 2 && x.shape(1) == d, "X: expected shape (B, " + std::to_string(d) + ")");
  need(y.ndim() == 1 && y.shape(0) == x.shape(0), "Y: expected shape (B,)");
  return x.shape(0);
}

template <typename T>
T* opt_ptr(const py::object& o) {
  return o.is_none() ? nullptr : as_arr<T>(o, "G").mutable_data();
}

// The step's arrays: z (n,), gz (n, d), eta (n,) or None, lo/hi (d,), x_out (n, d).
template <typename T>
StepArgs<T> make_step(int d, int64_t n, const Arr<T>& z, const Arr<T>& gz, const py::object& eta, double eta0,
                      const Arr<T>& lo, const Arr<T>& hi, bool normalized, Arr<T>& x_out) {
  need(z.ndim() == 1 && z.shape(0) == n, "z: expected shape (B,)");
  need(gz.ndim() == 2 && gz.shape(0) == n && gz.shape(1) == d, "grad_z: expected shape (B, d)");
  need(lo.ndim() == 1 && lo.shape(0) == d && hi.ndim() == 1 && hi.shape(0) == d, "lo/hi: expected shape (d,)");
  need(x_out.ndim() == 2 && x_out.shape(0) == n && x_out.shape(1) == d, "out: expected shape (B, d)");
  StepArgs<T> s;
  s.z = z.data();
  s.gz = gz.data();
  if (!eta.is_none()) {
    const auto e = as_arr<T>(eta, "eta");
    need(e.ndim() == 1 && e.shape(0) == n, "eta: expected a scalar or shape (B,)");
    s.eta = e.data();
  }
  s.eta0 = static_cast<T>(eta0);
  s.lo = lo.data();
  s.hi = hi.data();
  s.normalized = normalized;
  s.x_out = x_out.mutable_data();
  return s;
}

}  // namespace sg::mlp::bind
