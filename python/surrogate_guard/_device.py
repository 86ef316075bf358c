"""Device resolution in one place: ``device="auto" | "cpu" | "cuda"``, per component.

The native core and torch are separate builds: a CUDA-enabled ``_core`` beside a CPU-only
torch is normal. ``"auto"`` therefore resolves per component: native parts (Monte Carlo, the
fused MLP kernels) by ``has_cuda()``, torch parts (surrogate training) by torch's own CUDA
availability, so "auto" never picks a device a component cannot use.
"""
from __future__ import annotations

from typing import Literal

from . import _core

__all__ = ["Device", "Backend", "DEVICES", "has_cuda", "resolve_device"]

Device = Literal["auto", "cpu", "cuda"]
Backend = Literal["native", "torch"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def has_cuda() -> bool:
    """True when the native core was built with CUDA *and* a GPU is usable now."""
    return bool(_core.compiled_with_cuda) and _core.cuda_device_count() > 0


def _torch_cuda() -> bool:
    import torch  # already imported by every torch part that asks

    return bool(torch.cuda.is_available())


def resolve_device(device: Device, backend: Backend = "native") -> str:
    """Map a user's ``device`` to ``"cpu"`` or ``"cuda"`` for ``backend``, or explain why it cannot be had."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device: expected one of {DEVICES}, got {device!r}")
    if backend not in ("native", "torch"):
        raise ValueError(f"backend: expected 'native' or 'torch', got {backend!r}")
    if backend == "torch":
        if device == "auto":
            return "cuda" if _torch_cuda() else "cpu"
        if device == "cuda" and not _torch_cuda():
            import torch

            raise RuntimeError(f"device='cuda': this torch build ({torch.__version__}) has no usable CUDA "
                               "(CPU-only build or no GPU); install a CUDA build of torch or use device='cpu'")
        return device
    if device == "auto":
        return "cuda" if has_cuda() else "cpu"
    if device == "cuda" and not has_cuda():
        if not _core.compiled_with_cuda:
            raise RuntimeError(
                "device='cuda': surrogate_guard was not compiled with CUDA support (no CUDA compiler "
                "at build time); rebuild with nvcc on PATH or use device='cpu'"
            )
        raise RuntimeError(
            "device='cuda': surrogate_guard was compiled with CUDA support but no GPU here can run it "
            f"({_core.cuda_status()}); use device='cpu' or 'auto'"
        )
    return device
