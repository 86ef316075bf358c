"""The defense: local maximizers of the surrogate-oracle error, detection, repair, and their cost."""
from .baselines import neighbour_outliers, random_relabel, trimmed_retraining
from .budget import BudgetExhausted, CountingOracle
from .detect import DetectionReport, detect
from .search import Maximizers, find_error_maximizers, merge_maximizers

__all__ = ["neighbour_outliers", "random_relabel", "trimmed_retraining", "DetectionReport", "detect", "BudgetExhausted", "CountingOracle", "Maximizers", "find_error_maximizers", "merge_maximizers"]
