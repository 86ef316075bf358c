"""Device resolution in one place: ``device="auto" | "cpu" | "cuda"``."""
from __future__ import annotations

from . import _core

DEVICES = ("auto", "cpu", "cuda")


def has_cuda() -> bool:
    """True when the native core was built with CUDA *and* a GPU is usable now."""
    return bool(_core.compiled_with_cuda) and _core.cuda_device_count() > 0


def resolve_device(device: str) -> str:
    """Map a user's ``device`` to ``"cpu"`` or ``"cuda"``, or explain why it cannot be had."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device: expected one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if has_cuda() else "cpu"
    if device == "cuda" and not has_cuda():
        if not _core.compiled_with_cuda:
            raise RuntimeError(
                "device='cuda': surrogate_guard was not compiled with CUDA support (no CUDA compiler "
                "at build time); rebuild with nvcc on PATH or use device='cpu'"
            )
        raise RuntimeError(
            "device='cuda': surrogate_guard was compiled with CUDA support but this machine has no "
            "usable GPU (no driver or no device); use device='cpu' or 'auto'"
        )
    return device
