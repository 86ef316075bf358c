"""surrogate-guard: surrogates of barrier-option oracles, backdoor attacks, and defenses.

Importing never needs a GPU; ``has_cuda()`` reports availability as data.
"""
from . import oracles, presets
from ._device import has_cuda, resolve_device
from .models import GBM, Heston
from .options import BARRIER_KINDS, OPTION_TYPES, BarrierOption
from . import attacks, data, metrics
from .surrogate import Surrogate

__version__ = "0.1.0"

__all__ = [
    "BarrierOption",
    "GBM",
    "Heston",
    "BARRIER_KINDS",
    "OPTION_TYPES",
    "has_cuda",
    "resolve_device",
    "oracles",
    "presets",
    "Surrogate",
    "attacks",
    "data",
    "metrics",
]
