"""Stubs of the private native extension (csrc/): hand-written, kept beside the bindings in
csrc/bind/. Shapes and dtypes are those of csrc/mc/op.h and csrc/mlp/op.h."""
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

compiled_with_cuda: bool

def cpu_isa() -> str:
    """CPU kernel variant in use: "x86-64", "x86-64-v3", "x86-64-v4" (portable build) or "native"."""

def cuda_device_count() -> int:
    """CUDA devices this build can run on (a driver new enough and a kernel image for the GPU)."""

def cuda_status() -> str:
    """One line on each CUDA device and why it is or is not usable."""

# -- Monte Carlo (csrc/mc) ---------------------------------------------------------------------
class McConfig:
    """Monte Carlo settings, keywords only, validated on construction (threads 0..1024, 0: the OpenMP
    default; ValueError naming the field otherwise)."""

    paths: int
    steps: int
    antithetic: bool

    def __init__(self, *, code: int, spot: float, dividend: float = 0.0, model: int = 0, kappa: float = 0.0,
                 theta: float = 0.0, xi: float = 0.0, rho: float = 0.0, v0: float = 0.0, paths: int, steps: int,
                 seed: int = 0, bridge: bool = True, antithetic: bool = True, single: bool = False,
                 threads: int = 0) -> None: ...

def mc_price(X: npt.NDArray[np.float64], price: npt.NDArray[np.float64], stderr: npt.NDArray[np.float64],
             config: McConfig, *, device: str = "cpu", reference: bool = False) -> None:
    """X (n, 5) float64 C-contiguous; price, stderr (n,) float64 written in full."""

def mc_grad(X: npt.NDArray[np.float64], price: npt.NDArray[np.float64], stderr: npt.NDArray[np.float64],
            grad: npt.NDArray[np.float64], grad_stderr: npt.NDArray[np.float64], config: McConfig, *,
            device: str = "cpu", reference: bool = False) -> None:
    """Prices and pathwise gradients in one pass (bridge only): X (n, 5) float64 C-contiguous; price,
    stderr (n,); grad, grad_stderr (n, 5) float64 C-contiguous (d price / d column), written in full."""

def mc_workspace_bytes(n: int, config: McConfig, device: str, grad: bool = False) -> float: ...
def mc_cuda_free_bytes() -> float: ...
def philox4x32_10(ctr: list[int], key: list[int]) -> list[int]: ...
def mc_normals(seed: int, draw: int, group: int, model: int, single: bool) -> list[float]: ...

# -- fused MLP (csrc/mlp) ----------------------------------------------------------------------
_T = TypeVar("_T", np.float32, np.float64)

class _MlpCpu(Generic[_T]):
    def __init__(self, weights: list[npt.NDArray[_T]], biases: list[npt.NDArray[_T]], activation: str,
                 x_lo: npt.NDArray[_T], x_inv_range: npt.NDArray[_T], y_scale: float, y_offset: float) -> None: ...
    def value_and_grad(self, x: npt.NDArray[_T], y: npt.NDArray[_T], g: npt.NDArray[_T] | None,
                       threads: int) -> None: ...
    def value(self, x: npt.NDArray[_T], y: npt.NDArray[_T], threads: int) -> None:
        """x (B, d), y (B,) written in full: the forward pass only (threads 0: the OpenMP default)."""
    def step(self, x: npt.NDArray[_T], *, z: npt.NDArray[_T], grad_z: npt.NDArray[_T], eta: npt.NDArray[_T] | None,
             eta0: float, lo: npt.NDArray[_T], hi: npt.NDArray[_T], normalized: bool, out: npt.NDArray[_T],
             y: npt.NDArray[_T], g: npt.NDArray[_T] | None, threads: int) -> None: ...

class _MlpCuda(Generic[_T]):
    device: int
    points_per_block: int
    weights_in_shared: bool

    def __init__(self, weights: list[npt.NDArray[_T]], biases: list[npt.NDArray[_T]], activation: str,
                 x_lo: npt.NDArray[_T], x_inv_range: npt.NDArray[_T], y_scale: float, y_offset: float,
                 device: int) -> None: ...
    def value_and_grad_host(self, x: npt.NDArray[_T], y: npt.NDArray[_T], g: npt.NDArray[_T] | None) -> None: ...
    def value_host(self, x: npt.NDArray[_T], y: npt.NDArray[_T]) -> None:
        """Host arrays x (B, d) -> y (B,), copied through the GPU: the forward pass only."""
    def value_ptr(self, *, x: int, n: int, y: int, stream: int) -> None:
        """Device pointers x (n, d) -> y (n,) on ``stream``: the forward pass only."""
    def step_host(self, x: npt.NDArray[_T], *, z: npt.NDArray[_T], grad_z: npt.NDArray[_T],
                  eta: npt.NDArray[_T] | None, eta0: float, lo: npt.NDArray[_T], hi: npt.NDArray[_T],
                  normalized: bool, out: npt.NDArray[_T], y: npt.NDArray[_T], g: npt.NDArray[_T] | None) -> None: ...
    def run_ptr(self, *, x: int, n: int, y: int, g: int, z: int, grad_z: int, eta: int, eta0: float,
                lo: npt.NDArray[_T], hi: npt.NDArray[_T], normalized: bool, out: int, stream: int) -> None: ...

class MlpCpuF32(_MlpCpu[np.float32]): ...
class MlpCpuF64(_MlpCpu[np.float64]): ...
class MlpCudaF32(_MlpCuda[np.float32]): ...
class MlpCudaF64(_MlpCuda[np.float64]): ...
