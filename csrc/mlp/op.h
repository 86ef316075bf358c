// Fused MLP value + input gradient, and the fused ascent step: shapes, the checked
// host copy of one network (Net) shared by the CPU kernels (mlp_cpu.cpp) and the CUDA ones
// (mlp_kernel.cuh, mlp_cuda.cu), and the CUDA plan's interface. Network (see python/.../mlp_weights.py):
//   h_0 = (x - x_lo) * x_inv;  h_m = act(W_m h_{m-1} + b_m), m = 0..nh-1;  Y = ys * (w_L . h + b_L) + yo
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sg::mlp {

constexpr int kMaxWidth = 128;  // widest hidden layer supported
constexpr int kMaxHidden = 6;   // most hidden layers supported
enum Act : int { kSilu = 0, kTanh = 1, kRelu = 2, kSoftplus = 3 };

inline int parse_act(const std::string& s) {
  if (s == "silu") return kSilu;
  if (s == "tanh") return kTanh;
  if (s == "relu") return kRelu;
  if (s == "softplus") return kSoftplus;
  throw std::invalid_argument("activation: expected one of silu, tanh, relu, softplus, got '" + s + "'");
}

// One network with shapes checked (see Net::check). Plain row-major copies, unpadded:
//   W[m]: (width[m], in_m) with in_0 = d, in_m = width[m-1];  b[m]: (width[m],)
//   wL: (width[nh-1],)  bL: scalar;  x_lo, x_inv: (d,)
template <typename T>
struct Net {
  int d = 0, nh = 0, act = kSilu;
  std::vector<int> width;               // (nh,)
  std::vector<std::vector<T>> W, b;     // (nh,) matrices and bias vectors
  std::vector<T> wL, x_lo, x_inv;
  T bL = 0, y_scale = 1, y_offset = 0;

  int in_dim(int m) const { return m == 0 ? d : width[m - 1]; }
  int max_width() const {
    int w = 0;
    for (int v : width) w = v > w ? v : w;
    return w;
  }
};

// Optional ascent step fused after the gradient, per point p (all arrays of the same T):
//   e = Y_p - z_p;  g = 2 e (grad Y_p - gz_p)                        (raw-input coordinates)
//   plain:      x_p <- clamp(x_p + eta_p g, lo, hi)
//   normalized: s = g * (hi - lo) (the gradient in unit-box coordinates u = (x - lo) / (hi - lo));
//               x_p <- clamp(x_p + eta_p (hi - lo) s / |s|_2, lo, hi)   (no move when |s| = 0)
//   eta_p = eta ? eta[p] : eta0.  x_out may alias x (each point is read before it is written).
//   z: (B,)  gz: (B, d)  eta: (B,) or null  lo, hi: (d,)  x_out: (B, d)
template <typename T>
struct StepArgs {
  const T* z = nullptr;
  const T* gz = nullptr;
  const T* eta = nullptr;
  T eta0 = 0;
  const T* lo = nullptr;
  const T* hi = nullptr;
  bool normalized = false;
  T* x_out = nullptr;
};

// CPU: the network copied once into padded layouts (mlp_cpu.cpp). run: x (B, d) -> y (B,) or null,
// g (B, d) or null (g may be null only when d <= 256); step optional (null: value and gradient).
// value: x (B, d) -> y (B,), the forward pass only (no act'(z) kept, no backward pass); its y is
// bitwise the y of run (the same forward code). num_threads <= 0: OpenMP's default. Blocks of
// SIMD-lane points, OpenMP across blocks; results do not depend on the thread count.
template <typename T>
class CpuPlan {
 public:
  explicit CpuPlan(const Net<T>& net);
  void run(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, int num_threads) const;
  void value(const T* x, int64_t n, T* y, int num_threads) const;
  int dim() const;  // d, the input dimension

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// CUDA: the network uploaded once, in padded layouts, to `device`; every run is one
// kernel launch on `stream` (a cudaStream_t as an integer, 0 = legacy default stream).
//   run_device: x, y, g, and the StepArgs arrays (z, gz, eta, x_out) are device pointers; lo and
//               hi are host arrays (d,), uploaded only when they change.
//   run_host:   the same with every array on the host: copied in and out, stream synchronized.
template <typename T>
class CudaPlan {
 public:
  CudaPlan(const Net<T>& net, int device);
  ~CudaPlan();
  CudaPlan(const CudaPlan&) = delete;
  CudaPlan& operator=(const CudaPlan&) = delete;
  void run_device(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, uintptr_t stream);
  void run_host(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step);
  // Value only, x (B, d) -> y (B,): the forward half of the same kernel (its y has the bits of run's y).
  void value_device(const T* x, int64_t n, T* y, uintptr_t stream);
  void value_host(const T* x, int64_t n, T* y);
  int device() const;
  int dim() const;                 // d, the input dimension
  int points_per_block() const;   // tile size chosen for this network (16, 32 or 64)
  bool weights_in_shared() const;  // true when all weights are resident in shared memory

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace sg::mlp
