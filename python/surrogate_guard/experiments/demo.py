"""Deprecated module name: the pricing demo is ``surrogate-guard price`` (experiments/price.py);
``surrogate-guard demo`` is now the whole story at demo size (experiments/story.py)."""
from __future__ import annotations

import warnings

from .price import add_arguments, run

__all__ = ["add_arguments", "run"]

warnings.warn("surrogate_guard.experiments.demo is deprecated: the pricing demo is surrogate_guard.experiments.price "
              "(`surrogate-guard price`)", DeprecationWarning, stacklevel=2)
