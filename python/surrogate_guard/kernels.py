"""Fused MLP ops on the CPU and CUDA: value + input gradient, the ascent step (issue 5), value only (issue 13).

``mlp_value_and_grad`` gives Y(X) (B,) and grad_x Y(X) (B, d) of an ``MLPWeights`` network;
``ascent_step`` moves every seed one projected step up e(x) = (Y(x) - z)^2; ``mlp_value`` is the
forward pass alone (``Surrogate.predict``). The reference versions (torch in float64) are the test
oracle. Design notes: docs/mlp_kernel.md.
"""
from __future__ import annotations

import sys
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._device import Device, resolve_device
from .limits import check_memory, check_threads
from .mlp_weights import MAX_HIDDEN_LAYERS, MAX_WIDTH, MLPWeights

__all__ = ["ValueGrad", "AscentStep", "mlp_value", "mlp_value_and_grad", "ascent_step", "native_plan",
           "reference_value", "reference_value_and_grad", "reference_ascent_step"]


@dataclass(frozen=True)
class ValueGrad:
    """Y: (B,) and grad: (B, d), both of the weights' dtype, numpy or torch as X was."""

    y: Any
    grad: Any
    device: str

    def __iter__(self):  # ``Y, G = mlp_value_and_grad(...)``
        return iter((self.y, self.grad))


@dataclass(frozen=True)
class AscentStep:
    """x: (B, d) the new iterates (``out`` when given); y: (B,) Y at the *old* iterates."""

    x: Any
    y: Any
    device: str


_PLANS: dict[tuple, Any] = {}


def _plan(weights: MLPWeights, kind: str, device_index: int = 0):
    """The native plan (padded weights, uploaded once for CUDA), cached while ``weights`` lives."""
    key = (id(weights), kind, device_index)
    plan = _PLANS.get(key)
    if plan is None:
        sfx = "F32" if weights.dtype == np.float32 else "F64"
        args = (list(weights.weights), list(weights.biases), weights.activation, weights.x_lo,
                weights.x_inv_range, weights.y_scale, weights.y_offset)
        plan = getattr(_core, f"MlpCpu{sfx}")(*args) if kind == "cpu" else \
            getattr(_core, f"MlpCuda{sfx}")(*args, device_index)
        _PLANS[key] = plan
        weakref.finalize(weights, _PLANS.pop, key, None)
    return plan


def _check_weights(weights: Any) -> MLPWeights:
    if not isinstance(weights, MLPWeights):
        raise TypeError(f"weights: expected an MLPWeights, got {type(weights).__name__}")
    nh = len(weights.weights) - 1
    if not 1 <= nh <= MAX_HIDDEN_LAYERS:
        raise ValueError(f"weights: the kernels support 1..{MAX_HIDDEN_LAYERS} hidden layers, got {nh}")
    if max(weights.widths) > MAX_WIDTH:
        raise ValueError(f"weights: the kernels support hidden widths up to {MAX_WIDTH}, got {weights.widths}")
    return weights


def _torch_tensor(a: Any):
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(a, torch.Tensor) else None


def _check_array(a: Any, name: str, shape: tuple, dtype: np.dtype, finite: bool, ref_kind: str,
                 ref_device: Any = None, writable: bool = False) -> None:
    """Check dtype, shape, layout and values of an array argument (numpy or torch)."""
    torch = _torch_tensor(a)
    kind = ("cuda" if a.is_cuda else "cpu-torch") if torch else ("numpy" if isinstance(a, np.ndarray) else None)
    if kind is None:
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(a).__name__}")
    if kind != ref_kind:
        raise TypeError(f"{name}: expected the same array kind as X ({ref_kind}), got {kind}")
    if ref_device is not None and a.device != ref_device:
        # A kernel reading memory of another GPU faults and poisons the CUDA context: refuse it here.
        raise ValueError(f"{name}: expected a tensor on X's device ({ref_device}), got {a.device}; "
                         f"move it with {name}.to(X.device)")
    same = (a.dtype == getattr(torch, str(dtype))) if torch else (a.dtype == dtype)
    if not same:
        got = str(a.dtype).replace("torch.", "")
        raise TypeError(f"{name}: expected dtype {dtype} (the weights' dtype; no silent conversion), got {got}; "
                        f"convert {name} or use weights.astype(...)")
    if tuple(a.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(a.shape)}")
    if writable and not torch and not a.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array, got a read-only one")
    if not (a.is_contiguous() if torch else a.flags.c_contiguous):
        raise ValueError(f"{name}: expected a C-contiguous array; use np.ascontiguousarray / .contiguous()")
    if finite and (a.numel() if torch else a.size):
        ok = bool(torch.isfinite(a).all()) if torch else bool(np.isfinite(a).all())
        if not ok:
            raise ValueError(f"{name}: expected finite values (found NaN or inf)")


def _x_kind(X: Any, device: Device) -> tuple[str, str]:
    """(array kind, resolved device) for X and the user's ``device``."""
    t = _torch_tensor(X)
    if t is not None and X.is_cuda:
        if device == "cpu":
            raise ValueError("device='cpu': X is a CUDA tensor; move it with X.cpu() or use device='cuda'")
        return "cuda", resolve_device("cuda")
    if t is None and not isinstance(X, np.ndarray):
        raise TypeError(f"X: expected a numpy array or torch tensor, got {type(X).__name__}")
    return ("cpu-torch" if t is not None else "numpy"), resolve_device(device)


def _run(weights, X, device, threads, check_finite, step=None):
    w = _check_weights(weights)
    kind, dev = _x_kind(X, device)
    n, d = _rows(X, w.in_dim), w.in_dim
    _check_array(X, "X", (n, d), w.dtype, check_finite, kind)
    check_memory(float(n) * (d + 1) * w.dtype.itemsize, f"the MLP kernel's outputs for {n} rows")
    nt = 0 if threads is None else int(threads)
    if kind == "cuda":
        import torch
        y = torch.empty(n, dtype=X.dtype, device=X.device)
        g = torch.empty((n, d), dtype=X.dtype, device=X.device)
        plan = _plan(w, "cuda", X.device.index or 0)
        stream = torch.cuda.current_stream(X.device).cuda_stream
        if step is None:
            plan.run_ptr(x=X.data_ptr(), n=n, y=y.data_ptr(), g=g.data_ptr(), z=0, grad_z=0, eta=0, eta0=0.0,
                         lo=_zero_box(w), hi=_zero_box(w), normalized=False, out=0, stream=stream)
        else:
            z, gz, eta_arr, eta0, lo, hi, normalized, out = step
            # The step returns x and y only: no gradient is written (g = 0).
            plan.run_ptr(x=X.data_ptr(), n=n, y=y.data_ptr(), g=0, z=z.data_ptr(), grad_z=gz.data_ptr(),
                         eta=0 if eta_arr is None else eta_arr.data_ptr(), eta0=eta0, lo=lo, hi=hi,
                         normalized=normalized, out=out.data_ptr(), stream=stream)
        return y, g, dev
    Xn = X.detach().numpy() if kind == "cpu-torch" else X  # detach: a tensor that requires grad is read only
    y = np.empty(n, dtype=w.dtype)
    g = np.empty((n, d), dtype=w.dtype)
    if step is not None:
        z, gz, eta_arr, eta0, lo, hi, normalized, out = step
        if kind == "cpu-torch":
            z, gz, out = z.detach().numpy(), gz.detach().numpy(), out.detach().numpy()
            eta_arr = None if eta_arr is None else eta_arr.detach().numpy()
        kw = dict(z=z, grad_z=gz, eta=eta_arr, eta0=eta0, lo=lo, hi=hi, normalized=normalized, out=out, y=y)
        if dev == "cpu":
            _plan(w, "cpu").step(Xn, g=g, threads=nt, **kw)
        else:  # the gradient the step discards is not copied back from the GPU
            _plan(w, "cuda").step_host(Xn, g=None, **kw)
    elif dev == "cpu":
        _plan(w, "cpu").value_and_grad(Xn, y, g, nt)
    else:
        _plan(w, "cuda").value_and_grad_host(Xn, y, g)
    if kind == "cpu-torch":
        import torch
        y, g = torch.from_numpy(y), torch.from_numpy(g)
    return y, g, dev


def _rows(X: Any, d: int) -> int:
    """B of an X of shape (B, d), checked before any other argument is compared with it."""
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"X: expected shape (B, {d}) (B rows of the weights' input dimension), got {tuple(X.shape)}")
    return int(X.shape[0])


def _zero_box(w: MLPWeights) -> np.ndarray:  # unused by the kernel when there is no step
    return np.zeros(w.in_dim, dtype=w.dtype)


def _threads(threads: int | None, num_threads: int | None) -> int | None:
    """None or an int in [1, limits.MAX_THREADS], checked before it reaches pybind11 (any int size)."""
    name = "threads"
    if num_threads is not None:  # deprecated name (0.1.0), see CHANGELOG.md
        warnings.warn("num_threads= is deprecated; use threads=", DeprecationWarning, stacklevel=3)
        threads, name = (num_threads, "num_threads") if threads is None else (threads, name)
    return check_threads(threads, name)


def mlp_value_and_grad(weights: MLPWeights, X: Any, *, device: Device = "auto", threads: int | None = None,
                       check_finite: bool = True, num_threads: int | None = None) -> ValueGrad:
    """Y(X): (B,) and grad_x Y(X): (B, d) for X: (B, d) of the weights' dtype (float32 or float64).

    X is a numpy array (results are numpy; device="cuda" copies through the GPU), a CPU torch tensor
    (results are CPU tensors), or a CUDA torch tensor (results stay on its device, computed on the
    current torch stream, no host round trip). ``threads``: CPU threads (None: OpenMP default).
    ``check_finite=False`` skips the NaN scan (for CUDA tensors that scan synchronizes the stream).
    """
    y, g, dev = _run(weights, X, device, _threads(threads, num_threads), check_finite)
    return ValueGrad(y, g, dev)


def mlp_value(weights: MLPWeights, X: Any, *, device: Device = "auto", threads: int | None = None,
              out: Any = None, check_finite: bool = True) -> Any:
    """Y(X): (B,) for X: (B, d) of the weights' dtype (float32 or float64): the forward pass alone.

    The same network, kinds and devices as ``mlp_value_and_grad`` (numpy in, numpy out; CPU or CUDA
    torch tensors stay where they are), at about half its cost: no act'(z) is kept and there is no
    backward pass. Y has the bits of ``mlp_value_and_grad(...).y`` on the same device.
    ``out``: None for a new array, or a writeable (B,) array of the same kind and dtype, not
    overlapping X, written in full and returned. ``threads``: CPU threads (None: OpenMP's default);
    the result does not depend on it.
    """
    w = _check_weights(weights)
    kind, dev = _x_kind(X, device)
    n, d = _rows(X, w.in_dim), w.in_dim
    nt = check_threads(threads, "threads")
    _check_array(X, "X", (n, d), w.dtype, check_finite, kind)
    if out is None:
        check_memory(float(n) * w.dtype.itemsize, f"the MLP value of {n} rows")
        out = np.empty(n, dtype=w.dtype) if kind == "numpy" else X.new_empty((n,))
    else:
        _check_array(out, "out", (n,), w.dtype, False, kind, X.device if kind == "cuda" else None, writable=True)
        a, b = (X.detach().numpy(), out.detach().numpy()) if kind == "cpu-torch" else (X, out)
        if kind != "cuda" and np.may_share_memory(a, b):
            raise ValueError("out: expected an array that does not overlap X (a block reads X after writing Y)")
    if kind == "cuda":
        import torch
        stream = torch.cuda.current_stream(X.device).cuda_stream
        _plan(w, "cuda", X.device.index or 0).value_ptr(x=X.data_ptr(), n=n, y=out.data_ptr(), stream=stream)
        return out
    Xn, yn = (X.detach().numpy(), out.detach().numpy()) if kind == "cpu-torch" else (X, out)
    if dev == "cpu":
        _plan(w, "cpu").value(Xn, yn, 0 if nt is None else nt)
    else:
        _plan(w, "cuda").value_host(Xn, yn)
    return out


def native_plan(weights: MLPWeights, device: Device = "cpu") -> Any:
    """The native plan of ``weights`` (padded copies; for CUDA uploaded to device 0), cached while they live.

    For callers that validated their arrays already (``Surrogate.predict``): ``plan.value(X, Y, threads)``
    (CPU) or ``plan.value_host(X, Y)`` (CUDA) with X (B, d) and Y (B,) C-contiguous of the weights'
    dtype. The plan re-checks dtype, layout and shapes (TypeError / ValueError), not values.
    """
    return _plan(_check_weights(weights), resolve_device(device))


def ascent_step(weights: MLPWeights, X: Any, z: Any, grad_z: Any, *, eta: Any, lo: Any, hi: Any,
                normalized: bool = False, out: Any = None, device: Device = "auto", threads: int | None = None,
                check_finite: bool = True, num_threads: int | None = None) -> AscentStep:
    """One projected ascent step on e(x) = (Y(x) - z)^2 for every seed at once.

    With g = 2 (Y - z) (grad Y - grad_z) (raw coordinates), per seed p:
      normalized=False: x <- clip(x + eta g, lo, hi)
      normalized=True:  s = g * (hi - lo) (the gradient in unit-box coordinates u = (x - lo)/(hi - lo));
                        u <- u + eta s / |s|_2, i.e. x <- clip(x + eta (hi - lo) s / |s|_2, lo, hi);
                        a seed with s = 0 does not move. eta is then a length in the unit box.
    X: (B, d); z: (B,); grad_z: (B, d); eta: a number or a (B,) array (per seed), all of one kind
    (numpy / CPU tensor / CUDA tensor) and of the weights' dtype; lo, hi: (d,) array-likes.
    out: None for a new array, or a (B, d) array to write into (``out=X`` steps in place).
    Returns AscentStep(x=new iterates, y=Y at the old iterates, device).
    """
    w = _check_weights(weights)
    kind, _ = _x_kind(X, device)
    d = w.in_dim
    n = _rows(X, d)
    ref_dev = X.device if kind == "cuda" else None
    _check_array(z, "z", (n,), w.dtype, check_finite, kind, ref_dev)
    _check_array(grad_z, "grad_z", (n, d), w.dtype, check_finite, kind, ref_dev)
    box = []
    for name, v in (("lo", lo), ("hi", hi)):
        raw = np.asarray(v.detach().cpu().numpy() if _torch_tensor(v) is not None else v)
        if raw.dtype.kind not in "iuf":  # no silent conversion of bool, complex, str or object values
            raise TypeError(f"{name}: expected {d} real numbers, got dtype {raw.dtype}")
        a = np.ascontiguousarray(raw, dtype=w.dtype)
        if a.shape != (d,) or not np.isfinite(a).all():
            raise ValueError(f"{name}: expected {d} finite numbers, got {a!r}")
        box.append(a)
    if (box[0] > box[1]).any():
        raise ValueError(f"lo/hi: expected lo <= hi in every column, got lo={box[0]} hi={box[1]}")
    eta_arr, eta0 = None, 0.0
    if isinstance(eta, (int, float, np.integer, np.floating)) and not isinstance(eta, (bool, np.bool_)):
        eta0 = float(eta) if not isinstance(eta, int) or abs(eta) < 2**1000 else float("inf")  # float(10**400) overflows
        if not abs(eta0) <= float(np.finfo(w.dtype).max):  # NaN, inf, or beyond the weights' dtype
            raise ValueError(f"eta: expected a finite number, got {eta!r}")
    else:
        _check_array(eta, "eta", (n,), w.dtype, check_finite, kind, ref_dev)
        eta_arr = eta
    if out is None:
        out = (X.new_empty(X.shape) if kind != "numpy" else np.empty_like(X))
    else:
        _check_array(out, "out", (n, d), w.dtype, False, kind, ref_dev, writable=True)
    step = (z, grad_z, eta_arr, eta0, box[0], box[1], bool(normalized), out)
    y, _, dev = _run(w, X, device, _threads(threads, num_threads), check_finite, step)
    return AscentStep(out, y, dev)


def _reference_torch(weights: MLPWeights, X: Any):
    import torch

    f = {"silu": lambda z: z * torch.sigmoid(z), "tanh": torch.tanh, "relu": torch.relu,
         "softplus": lambda z: torch.logaddexp(z, torch.zeros_like(z))}[weights.activation]
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))  # noqa: E731  (a copy: weights are read-only)
    x = t(X).clone().requires_grad_(True)
    h = (x - t(weights.x_lo)) * t(weights.x_inv_range)
    for W, b in zip(weights.weights[:-1], weights.biases[:-1]):
        h = f(h @ t(W).T + t(b))
    y = weights.y_scale * (h @ t(weights.weights[-1]).T + t(weights.biases[-1]))[:, 0] + weights.y_offset
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach().numpy(), g.numpy()


def reference_value(weights: MLPWeights, X: Any) -> np.ndarray:
    """Slow, obviously correct: the value of ``reference_value_and_grad`` (float64 torch), (B,) float64."""
    return _reference_torch(weights, X)[0]


def reference_value_and_grad(weights: MLPWeights, X: Any) -> ValueGrad:
    """Slow, obviously correct: the same network in float64 torch, grad by torch.autograd."""
    y, g = _reference_torch(weights, X)
    return ValueGrad(y, g, "cpu")


def reference_ascent_step(weights: MLPWeights, X, z, grad_z, *, eta, lo, hi, normalized=False) -> AscentStep:
    """The documented step in float64 numpy on top of ``reference_value_and_grad``."""
    X = np.asarray(X, dtype=np.float64)
    y, gy = _reference_torch(weights, X)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    g = 2.0 * (y - np.asarray(z, np.float64))[:, None] * (gy - np.asarray(grad_z, np.float64))
    eta = np.broadcast_to(np.asarray(eta, np.float64), y.shape)[:, None]
    if normalized:
        s = g * (hi - lo)
        norm = np.sqrt((s * s).sum(axis=1, keepdims=True))
        step = np.where(norm > 0, eta * (hi - lo) * s / np.where(norm > 0, norm, 1.0), 0.0)
    else:
        step = eta * g
    return AscentStep(np.clip(X + step, lo, hi), y, "cpu")
