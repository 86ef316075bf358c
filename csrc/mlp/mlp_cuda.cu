// CUDA half of the fused MLP op: one launch for every point, a persistent grid of
// blocks that each take tiles of np points through all layers and back to the input, activations
// and saved derivatives in shared memory, weights resident in shared memory when they fit.
// The value-only forward (value_device / value_host) is the same kernel without its backward half.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>

#include "common/cuda_check.h"
#include "mlp/mlp_kernel.cuh"
#include "mlp/op.h"

namespace sg::mlp {
namespace {

using kernel::KP;
using kernel::mlp_kernel;
using sg::cuda::check;
using sg::cuda::DeviceGuard;

int pad4(int v) { return (v + 3) / 4 * 4; }

}  // namespace

// A plan is shared by every thread and stream that uses it; what it owns is read-only after
// construction (weights, launch shape) except the host-path staging buffer, guarded by `mu`.
// The box of a step is per launch: copied into stream-ordered memory for that launch only.
template <typename T>
struct CudaPlan<T>::Impl {
  int dev = 0, sms = 0, wp = 0, threads = 0, blocks_per_sm = 0, value_blocks_per_sm = 0;
  size_t smem = 0, value_smem = 0;  // dynamic shared memory of the gradient / value-only kernel
  int value_resident = 0;           // the value-only kernel's KP::resident (it needs less room)
  KP<T> kp{};
  T* dw = nullptr;
  std::mutex mu;  // guards the staging buffers (run_host)
  T* dbuf = nullptr;  // device staging: x | y | g | z | gz | eta | x_out
  T* hbuf = nullptr;  // pinned host staging, the same layout: the copies are true DMA, asynchronous
  size_t dbuf_elems = 0;

  void* kernel(bool grad = true) const {
    if (!grad) {
      if (wp == 32) return reinterpret_cast<void*>(&mlp_kernel<T, 32, false>);
      if (wp == 64) return reinterpret_cast<void*>(&mlp_kernel<T, 64, false>);
      return reinterpret_cast<void*>(&mlp_kernel<T, 128, false>);
    }
    if (wp == 32) return reinterpret_cast<void*>(&mlp_kernel<T, 32, true>);
    if (wp == 64) return reinterpret_cast<void*>(&mlp_kernel<T, 64, true>);
    return reinterpret_cast<void*>(&mlp_kernel<T, 128, true>);
  }
  void launch(KP<T> k, const StepArgs<T>* step, cudaStream_t s);
  void launch_value(KP<T> k, cudaStream_t s);
  void host(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, bool grad);
};

template <typename T>
CudaPlan<T>::CudaPlan(const Net<T>& net, int device) : impl_(new Impl) {
  Impl& I = *impl_;
  try {
    I.dev = device;
    DeviceGuard guard(device);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    I.sms = prop.multiProcessorCount;
    const int mw = net.max_width(), d = net.d, nh = net.nh;
    I.wp = mw <= 32 ? 32 : mw <= 64 ? 64 : 128;
    const int WP = I.wp, TU = WP / 16;
    // pack the weights (see KP), every segment 16-byte aligned
    std::vector<T> h;
    auto seg = [&h](size_t len) {
      const int off = static_cast<int>(h.size());
      h.resize(h.size() + static_cast<size_t>(pad4(static_cast<int>(len))), T(0));
      return off;
    };
    KP<T>& K = I.kp;
    for (int m = 0; m < nh; ++m) {
      const int rows = net.width[m], cols = net.in_dim(m), kin = m == 0 ? d : WP;
      K.off_f[m] = seg(static_cast<size_t>(kin) * WP);
      for (int q = 0; q < WP; ++q) {
        const int u = q / TU + 16 * (q % TU);
        for (int k = 0; u < rows && k < cols; ++k) h[K.off_f[m] + k * WP + q] = net.W[m][u * cols + k];
      }
      K.off_bias[m] = seg(WP);
      for (int u = 0; u < rows; ++u) h[K.off_bias[m] + u] = net.b[m][u];
      K.off_b[m] = 0;
      if (m >= 1) {
        K.off_b[m] = seg(static_cast<size_t>(WP) * WP);
        for (int q = 0; q < WP; ++q) {
          const int i = q / TU + 16 * (q % TU);
          for (int o = 0; i < cols && o < rows; ++o) h[K.off_b[m] + o * WP + q] = net.W[m][o * cols + i];
        }
      }
    }
    K.off_w0n = seg(static_cast<size_t>(WP) * d);
    for (int o = 0; o < net.width[0]; ++o)
      for (int c = 0; c < d; ++c) h[K.off_w0n + o * d + c] = net.W[0][o * d + c];
    K.off_wl = seg(WP);
    std::copy(net.wL.begin(), net.wL.end(), h.begin() + K.off_wl);
    K.off_xlo = seg(d);
    std::copy(net.x_lo.begin(), net.x_lo.end(), h.begin() + K.off_xlo);
    K.off_xinv = seg(d);
    std::copy(net.x_inv.begin(), net.x_inv.end(), h.begin() + K.off_xinv);
    K.w_total = static_cast<int>(h.size());
    K.d = d;
    K.nh = nh;
    K.act = net.act;
    K.bL = net.bL;
    K.y_scale = net.y_scale;
    K.y_offset = net.y_offset;
    K.hr = std::max(WP, d);
    check(cudaMalloc(&I.dw, h.size() * sizeof(T)), "cudaMalloc(weights)");
    check(cudaMemcpy(I.dw, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
    K.w = I.dw;
    // tile size: the largest np whose activations fit; weights resident when they fit beside them
    const size_t limit = prop.sharedMemPerBlockOptin;
    auto act_bytes = [&](int np) {
      const int nps = np + 16 / static_cast<int>(sizeof(T));  // one 16-byte pad per row: no bank conflicts
      return (static_cast<size_t>(2 * K.hr + nh * WP) * nps + np + static_cast<size_t>(np) * d) * sizeof(T);
    };
    int np = 64;
    while (np > 16 && act_bytes(np) > limit) np /= 2;
    if (act_bytes(np) > limit) throw std::invalid_argument("network too large for the CUDA kernel's shared memory");
    K.np = np;
    K.nps = np + 16 / static_cast<int>(sizeof(T));
    K.resident = act_bytes(np) + h.size() * sizeof(T) <= limit;
    I.smem = act_bytes(np) + (K.resident ? h.size() * sizeof(T) : 0);
    const size_t value_bytes = static_cast<size_t>(2 * K.hr) * K.nps * sizeof(T);  // H0, H1 only
    I.value_resident = value_bytes + h.size() * sizeof(T) <= limit;
    I.value_smem = value_bytes + (I.value_resident ? h.size() * sizeof(T) : 0);
    I.threads = 4 * np;
    // The attribute belongs to the kernel, not the plan: set it to the device's opt-in maximum,
    // so that no plan built later lowers what an earlier one needs.
    for (const bool grad : {true, false})
      check(cudaFuncSetAttribute(I.kernel(grad), cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(limit)),
            "cudaFuncSetAttribute");
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&I.blocks_per_sm, I.kernel(), I.threads, I.smem),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    I.blocks_per_sm = std::max(I.blocks_per_sm, 1);
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&I.value_blocks_per_sm, I.kernel(false), I.threads,
                                                        I.value_smem),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor(value)");
    I.value_blocks_per_sm = std::max(I.value_blocks_per_sm, 1);
  } catch (...) {
    cudaFree(I.dw);
    cudaGetLastError();
    delete impl_;
    throw;
  }
}

template <typename T>
CudaPlan<T>::~CudaPlan() {
  try {
    DeviceGuard guard(impl_->dev);
    cudaFree(impl_->dw);
    cudaFree(impl_->dbuf);
    cudaFreeHost(impl_->hbuf);
  } catch (...) {
  }
  cudaGetLastError();
  delete impl_;
}

// One launch on stream s; a step's box goes to memory allocated and freed in s's order, so a
// later call with another box (on any stream) never changes what this launch reads.
template <typename T>
void CudaPlan<T>::Impl::launch(KP<T> k, const StepArgs<T>* step, cudaStream_t s) {
  T* dbox = nullptr;
  if (step) {
    const size_t d = static_cast<size_t>(k.d);
    std::vector<T> box(step->lo, step->lo + d);
    box.insert(box.end(), step->hi, step->hi + d);
    const T* hb = box.data();
    check(cudaMallocAsync(reinterpret_cast<void**>(&dbox), 2 * d * sizeof(T), s), "cudaMallocAsync(box)");
    // Pageable source: the runtime stages it before cudaMemcpyAsync returns, so hb may go.
    check(cudaMemcpyAsync(dbox, hb, 2 * d * sizeof(T), cudaMemcpyHostToDevice, s), "cudaMemcpyAsync(box)");
    k.z = step->z;
    k.gz = step->gz;
    k.eta = step->eta;
    k.eta0 = step->eta0;
    k.normalized = step->normalized;
    k.box = dbox;
    k.x_out = step->x_out;
  }
  const int64_t tiles = (k.n + k.np - 1) / k.np;
  const int grid = static_cast<int>(std::min<int64_t>(tiles, static_cast<int64_t>(blocks_per_sm) * sms));
  void* args[] = {&k};
  const cudaError_t e = cudaLaunchKernel(kernel(), dim3(grid), dim3(threads), args, smem, s);
  if (dbox) cudaFreeAsync(dbox, s);  // ordered after the kernel
  check(e, "mlp kernel launch");
}

// The value-only kernel: no step, no gradient; its own residency and occupancy.
template <typename T>
void CudaPlan<T>::Impl::launch_value(KP<T> k, cudaStream_t s) {
  k.resident = value_resident;
  k.step = 0;
  k.g = nullptr;
  const int64_t tiles = (k.n + k.np - 1) / k.np;
  const int grid = static_cast<int>(std::min<int64_t>(tiles, static_cast<int64_t>(value_blocks_per_sm) * sms));
  void* args[] = {&k};
  check(cudaLaunchKernel(kernel(false), dim3(grid), dim3(threads), args, value_smem, s), "mlp value kernel launch");
}

template <typename T>
void CudaPlan<T>::run_device(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, uintptr_t stream) {
  Impl& I = *impl_;
  if (n <= 0) return;
  DeviceGuard guard(I.dev);
  KP<T> k = I.kp;
  k.n = n;
  k.x = x;
  k.y = y;
  k.g = g;
  k.step = step != nullptr;
  I.launch(k, step, reinterpret_cast<cudaStream_t>(stream));
}

// Host arrays: staged through one pinned host buffer and one device buffer (locked: a plan may
// be used from several threads), copied asynchronously on the calling thread's per-thread
// stream, which is synchronized alone; the legacy stream and other libraries' streams are never
// waited on.
template <typename T>
void CudaPlan<T>::run_host(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step) {
  impl_->host(x, n, y, g, step, true);
}

template <typename T>
void CudaPlan<T>::value_device(const T* x, int64_t n, T* y, uintptr_t stream) {
  Impl& I = *impl_;
  if (n <= 0) return;
  DeviceGuard guard(I.dev);
  KP<T> k = I.kp;
  k.n = n;
  k.x = x;
  k.y = y;
  I.launch_value(k, reinterpret_cast<cudaStream_t>(stream));
}

template <typename T>
void CudaPlan<T>::value_host(const T* x, int64_t n, T* y) {
  impl_->host(x, n, y, nullptr, nullptr, false);
}

// grad = false: the value-only kernel (y only; g and step must be null).
template <typename T>
void CudaPlan<T>::Impl::host(const T* x, int64_t n, T* y, T* g, const StepArgs<T>* step, bool grad) {
  Impl& I = *this;
  if (n <= 0) return;
  DeviceGuard guard(I.dev);
  std::lock_guard<std::mutex> lock(I.mu);
  const cudaStream_t s = cudaStreamPerThread;
  const size_t d = static_cast<size_t>(I.kp.d), nd = n * d, nn = static_cast<size_t>(n);
  // Segments, the same in both buffers: x | y | g | z | gz | eta | x_out.
  const size_t ox = 0, oy = nd, og = oy + nn, oz = og + nd, ogz = oz + nn, oe = ogz + nd, oxo = oe + nn;
  const size_t need = grad ? oxo + nd : og;  // value only: x | y
  if (need > I.dbuf_elems) {
    cudaFree(I.dbuf);
    cudaFreeHost(I.hbuf);
    I.dbuf = nullptr;
    I.hbuf = nullptr;
    I.dbuf_elems = 0;  // a failed allocation below leaves an empty, consistent plan
    check(cudaMalloc(&I.dbuf, need * sizeof(T)), "cudaMalloc(staging)");
    const cudaError_t e = cudaMallocHost(&I.hbuf, need * sizeof(T));
    if (e != cudaSuccess) {
      cudaFree(I.dbuf);
      I.dbuf = nullptr;
      check(e, "cudaMallocHost(staging)");
    }
    I.dbuf_elems = need;
  }
  T *D = I.dbuf, *H = I.hbuf;
  // Inputs gathered into the pinned buffer, then copied in (at most) two contiguous spans.
  std::memcpy(H + ox, x, nd * sizeof(T));
  StepArgs<T> st;
  if (step) {
    st = *step;
    std::memcpy(H + oz, step->z, nn * sizeof(T));
    std::memcpy(H + ogz, step->gz, nd * sizeof(T));
    if (step->eta) std::memcpy(H + oe, step->eta, nn * sizeof(T));
    st.z = D + oz;
    st.gz = D + ogz;
    st.eta = step->eta ? D + oe : nullptr;
    st.x_out = D + oxo;
  }
  auto copy = [&](size_t off, size_t len, cudaMemcpyKind kind) {
    T* dst = kind == cudaMemcpyHostToDevice ? D + off : H + off;
    const T* src = kind == cudaMemcpyHostToDevice ? H + off : D + off;
    check(cudaMemcpyAsync(dst, src, len * sizeof(T), kind, s), "cudaMemcpyAsync(staging)");
  };
  KP<T> k = I.kp;
  k.n = n;
  k.x = D + ox;
  k.y = D + oy;
  k.g = g ? D + og : nullptr;
  k.step = step != nullptr;
  try {
    copy(ox, nd, cudaMemcpyHostToDevice);
    if (step) copy(oz, oxo - oz, cudaMemcpyHostToDevice);  // z | gz | eta
    if (grad)
      I.launch(k, step ? &st : nullptr, s);
    else
      I.launch_value(k, s);
    if (y) copy(oy, nn, cudaMemcpyDeviceToHost);
    if (g) copy(og, nd, cudaMemcpyDeviceToHost);
    if (step) copy(oxo, nd, cudaMemcpyDeviceToHost);
    check(cudaStreamSynchronize(s), "mlp kernel");
  } catch (...) {
    cudaStreamSynchronize(s);  // nothing enqueued may still use the buffers once the lock is released
    cudaGetLastError();
    throw;
  }
  if (y) std::memcpy(y, H + oy, nn * sizeof(T));
  if (g) std::memcpy(g, H + og, nd * sizeof(T));
  if (step) std::memcpy(step->x_out, H + oxo, nd * sizeof(T));
}

template <typename T>
int CudaPlan<T>::device() const { return impl_->dev; }
template <typename T>
int CudaPlan<T>::dim() const { return impl_->kp.d; }
template <typename T>
int CudaPlan<T>::points_per_block() const { return impl_->kp.np; }
template <typename T>
bool CudaPlan<T>::weights_in_shared() const { return impl_->kp.resident != 0; }

template class CudaPlan<float>;
template class CudaPlan<double>;

}  // namespace sg::mlp
