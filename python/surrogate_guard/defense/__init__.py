"""The defense as a library: local maximizers of the surrogate-oracle error, detection in stages,
inference, baselines, and their cost. No plots, files or processes (those live in ``experiments``)."""
from __future__ import annotations

import warnings
from typing import Any

from ..oracles.budgeted import BudgetedOracle, BudgetExhausted
from .baselines import neighbour_outliers, random_relabel, trimmed_retraining
from .checks import LabelChecker, label_tolerance
from .detect import detect
from .report import DetectionCost, DetectionReport
from .search import Maximizers, find_error_maximizers, merge_maximizers
from .seeding import SEED_STRATEGIES
from .settings import DETECT_SEARCH, CheckSettings, SearchSettings

__all__ = ["detect", "find_error_maximizers", "merge_maximizers", "Maximizers", "DetectionReport", "DetectionCost",
           "SearchSettings", "CheckSettings", "DETECT_SEARCH", "LabelChecker", "label_tolerance", "SEED_STRATEGIES",
           "neighbour_outliers", "random_relabel", "trimmed_retraining", "BudgetExhausted"]


def __getattr__(name: str) -> Any:
    if name == "CountingOracle":  # renamed in 0.2.0, see CHANGELOG.md
        warnings.warn("surrogate_guard.defense.CountingOracle is deprecated; use sg.oracles.BudgetedOracle",
                      DeprecationWarning, stacklevel=2)
        return BudgetedOracle
    raise AttributeError(f"module 'surrogate_guard.defense' has no attribute {name!r}")
