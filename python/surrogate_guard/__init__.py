"""surrogate-guard: surrogates of barrier-option oracles, backdoor attacks, and defenses.

Importing never needs a GPU; ``has_cuda()`` reports availability as data. The parts that need
PyTorch (surrogates, attacks, metrics, kernels, defense) are imported on first use, so pricing
code pays nothing for them.
"""
import importlib

from . import oracles, presets
from ._device import has_cuda, resolve_device
from .box import Box
from .models import GBM, Heston
from .options import BARRIER_KINDS, OPTION_TYPES, BarrierOption
from .oracles.base import ReliabilityWarning

__version__ = "0.1.0"

_LAZY_MODULES = ("attacks", "data", "metrics", "kernels", "defense", "active")

__all__ = [
    "Box",
    "BarrierOption",
    "GBM",
    "Heston",
    "BARRIER_KINDS",
    "OPTION_TYPES",
    "has_cuda",
    "resolve_device",
    "ReliabilityWarning",
    "oracles",
    "presets",
    "Surrogate",
    *_LAZY_MODULES,
]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "Surrogate":
        return importlib.import_module(".surrogate", __name__).Surrogate
    raise AttributeError(f"module 'surrogate_guard' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
