"""The defense: local maximizers of the surrogate-oracle error, detection, repair, and their cost."""
from .budget import BudgetExhausted, CountingOracle
from .detect import DetectionReport, detect
from .search import Maximizers, find_error_maximizers, merge_maximizers

__all__ = ["DetectionReport", "detect", "BudgetExhausted", "CountingOracle", "Maximizers", "find_error_maximizers", "merge_maximizers"]
