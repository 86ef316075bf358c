// register_mc: the Monte Carlo op's Python boundary. A bound config struct (keywords, checked
// here), strict arrays (no conversion, shapes re-checked), the GIL released around compute;
// plus the Philox and normals probes the tests compare against independent references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "mc/op.h"

namespace py = pybind11;

namespace {

using DArr = py::array_t<double, py::array::c_style>;

void validate(const mc::Config& c) {
  auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
  if (c.code < 0 || c.code > 7) bad("code: expected 0..7, got " + std::to_string(c.code));
  if (c.model != mc::GBM && c.model != mc::HESTON) bad("model: expected 0 (GBM) or 1 (Heston)");
  if (c.steps <= 0) bad("steps: expected 1..2^31 - 1, got " + std::to_string(c.steps));
  if (c.paths <= 0 || c.paths > (int64_t(1) << 62)) bad("paths: expected 1..2^62, got " + std::to_string(c.paths));
  if (mc::draws(c) < 2) bad("paths: need at least 2 draws for a standard error");
  if (c.threads < 0 || c.threads > mc::MAX_THREADS)
    bad("threads: expected 0 (the OpenMP default) .. " + std::to_string(mc::MAX_THREADS) + ", got " +
        std::to_string(c.threads));
  for (double v : {c.spot, c.dividend, c.kappa, c.xi, c.rho})
    if (!std::isfinite(v)) bad("config: expected finite spot, dividend, kappa, xi, rho");
}

void mc_price(DArr X, DArr price, DArr stderr_, const mc::Config& c, const std::string& device, bool reference) {
  validate(c);
  if (X.ndim() != 2 || X.shape(1) != 5) throw std::invalid_argument("X: expected shape (n, 5) float64");
  const int64_t n = X.shape(0);
  for (auto* a : {&price, &stderr_})
    if (a->ndim() != 1 || a->shape(0) != n) throw std::invalid_argument("price/stderr: expected shape (n,) float64");
  if (!price.writeable() || !stderr_.writeable()) throw std::invalid_argument("price/stderr: must be writeable");
  if (device != "cpu" && device != "cuda") throw std::invalid_argument("device: expected 'cpu' or 'cuda'");
  if (reference && device != "cpu") throw std::invalid_argument("reference: only on device 'cpu'");
  const double* x = X.data();
  double* pr = price.mutable_data();
  double* se = stderr_.mutable_data();
  // The GIL is released: the arrays are owned by the caller's frame for the whole call and
  // nothing here touches Python objects, so other Python threads may run (or price) meanwhile.
  py::gil_scoped_release release;
  if (n == 0) return;
  std::vector<mc::McPoint> pts(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pts[i] = mc::make_point(c, x + 5 * i);
  if (device == "cuda") {
    mc::price_cuda(c, pts.data(), n, pr, se);
  } else if (reference) {
    mc::price_reference(c, pts.data(), n, pr, se);
  } else {
    mc::price_cpu(c, pts.data(), n, pr, se);
  }
}

// Prices and pathwise gradients in one pass: mc_price's checks plus grad, grad_se (n, 5) float64
// C-contiguous writeable outputs (every entry written); gradients need the bridge.
void mc_grad(DArr X, DArr price, DArr stderr_, DArr grad, DArr grad_se, const mc::Config& c, const std::string& device,
             bool reference) {
  validate(c);
  if (!c.bridge)
    throw std::invalid_argument("grad: pathwise gradients need bridge=True (the discretely monitored indicator is "
                                "discontinuous in the barrier)");
  if (X.ndim() != 2 || X.shape(1) != 5) throw std::invalid_argument("X: expected shape (n, 5) float64");
  const int64_t n = X.shape(0);
  for (auto* a : {&price, &stderr_})
    if (a->ndim() != 1 || a->shape(0) != n) throw std::invalid_argument("price/stderr: expected shape (n,) float64");
  for (auto* a : {&grad, &grad_se})
    if (a->ndim() != 2 || a->shape(0) != n || a->shape(1) != mc::NDIR)
      throw std::invalid_argument("grad/grad_stderr: expected shape (n, 5) float64");
  for (auto* a : {&price, &stderr_, &grad, &grad_se})
    if (!a->writeable()) throw std::invalid_argument("price/stderr/grad/grad_stderr: must be writeable");
  if (device != "cpu" && device != "cuda") throw std::invalid_argument("device: expected 'cpu' or 'cuda'");
  if (reference && device != "cpu") throw std::invalid_argument("reference: only on device 'cpu'");
  const double* x = X.data();
  double* pr = price.mutable_data();
  double* se = stderr_.mutable_data();
  double* g = grad.mutable_data();
  double* gs = grad_se.mutable_data();
  // The GIL is released: as in mc_price, the arrays outlive the call and no Python object is touched.
  py::gil_scoped_release release;
  if (n == 0) return;
  std::vector<mc::McPoint> pts(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pts[i] = mc::make_point(c, x + 5 * i);
  if (device == "cuda") {
    mc::grad_cuda(c, pts.data(), n, pr, se, g, gs);
  } else if (reference) {
    mc::grad_reference(c, pts.data(), n, pr, se, g, gs);
  } else {
    mc::grad_cpu(c, pts.data(), n, pr, se, g, gs);
  }
}

// Bytes of workspace (per-point constants and partial sums; with grad, GRAD_SUMS sums per chunk and
// the gradient outputs on the device) a call would allocate, as a double so that absurd requests
// never overflow.
double workspace_bytes(int64_t n, const mc::Config& c, const std::string& device, bool grad) {
  const double D = static_cast<double>(mc::draws(c));
  const double chunk = static_cast<double>(device == "cuda" ? mc::CUDA_CHUNK : mc::CPU_CHUNK);
  const double sums = grad ? mc::GRAD_SUMS : 2.0, outs = grad ? mc::GRAD_SUMS : 2.0;
  return static_cast<double>(n) * (sizeof(mc::McPoint) + 8.0 * sums * std::ceil(D / chunk) + 8.0 * outs);
}

std::array<uint32_t, 4> philox_block(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  philox::philox4x32_10(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
  return ctr;
}

std::array<double, 4> normals(uint64_t seed, uint64_t draw, uint32_t group, int model, bool single) {
  uint32_t w0, w1, w2, w3;
  mc::draw_normals(group, draw, static_cast<uint32_t>(model), static_cast<uint32_t>(seed),
                   static_cast<uint32_t>(seed >> 32), w0, w1, w2, w3);
  std::array<double, 4> out;
  if (single) {
    float z[4];
    mc::normals4<float>(w0, w1, w2, w3, z[0], z[1], z[2], z[3]);
    for (int k = 0; k < 4; ++k) out[k] = z[k];
  } else {
    mc::normals4<double>(w0, w1, w2, w3, out[0], out[1], out[2], out[3]);
  }
  return out;
}

}  // namespace

void register_mc(py::module_& m) {
  py::class_<mc::Config>(m, "McConfig", "Monte Carlo settings (see csrc/mc/op.h); keywords only.")
      .def(py::init([](int code, double spot, double dividend, int model, double kappa, double theta, double xi,
                       double rho, double v0, int64_t paths, int32_t steps, uint64_t seed, bool bridge,
                       bool antithetic, bool single, int threads) {
             mc::Config c;
             c.code = code, c.spot = spot, c.dividend = dividend, c.model = model;
             c.kappa = kappa, c.theta = theta, c.xi = xi, c.rho = rho, c.v0 = v0;
             c.paths = paths, c.steps = steps, c.seed = seed;
             c.bridge = bridge, c.antithetic = antithetic, c.single = single, c.threads = threads;
             validate(c);
             return c;
           }),
           py::kw_only(), py::arg("code"), py::arg("spot"), py::arg("dividend") = 0.0, py::arg("model") = 0,
           py::arg("kappa") = 0.0, py::arg("theta") = 0.0, py::arg("xi") = 0.0, py::arg("rho") = 0.0,
           py::arg("v0") = 0.0, py::arg("paths"), py::arg("steps"), py::arg("seed") = 0, py::arg("bridge") = true,
           py::arg("antithetic") = true, py::arg("single") = false, py::arg("threads") = 0)
      .def_readonly("paths", &mc::Config::paths)
      .def_readonly("steps", &mc::Config::steps)
      .def_readonly("antithetic", &mc::Config::antithetic);
  m.def("mc_price", &mc_price, py::arg("X").noconvert(), py::arg("price").noconvert(),
        py::arg("stderr").noconvert(), py::arg("config"), py::kw_only(), py::arg("device") = "cpu",
        py::arg("reference") = false,
        "Monte Carlo barrier prices. X: (n, 5) float64 C-contiguous [K, H, sigma, T, r]; price, stderr: "
        "(n,) float64 outputs, every entry written.");
  m.def("mc_grad", &mc_grad, py::arg("X").noconvert(), py::arg("price").noconvert(), py::arg("stderr").noconvert(),
        py::arg("grad").noconvert(), py::arg("grad_stderr").noconvert(), py::arg("config"), py::kw_only(),
        py::arg("device") = "cpu", py::arg("reference") = false,
        "Monte Carlo barrier prices and their pathwise gradients in one pass (same normals; bridge only). "
        "X: (n, 5) float64 C-contiguous [K, H, sigma, T, r]; price, stderr: (n,) float64; grad, grad_stderr: "
        "(n, 5) float64 C-contiguous, d price / d column; every entry written.");
  m.def("mc_workspace_bytes", &workspace_bytes, py::arg("n"), py::arg("config"), py::arg("device"),
        py::arg("grad") = false,
        "Bytes of workspace (per-point constants and partial sums) a call would allocate.");
  m.def("mc_cuda_free_bytes", []() { return static_cast<double>(mc::cuda_free_bytes()); },
        "Free device memory in bytes (0 without CUDA).");
  m.def("philox4x32_10", &philox_block, py::arg("ctr"), py::arg("key"),
        "Philox4x32-10 of one counter (4 words) under a key (2 words).");
  m.def("mc_normals", &normals, py::arg("seed"), py::arg("draw"), py::arg("group"), py::arg("model"),
        py::arg("single"), "The four normals of one Philox block, as the kernels draw them.");
}
