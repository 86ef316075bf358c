"""Oracles: the expensive functions a surrogate stands in for. ``prices = Z(X)``."""
from .analytic import Analytic
from .base import Oracle
from .finite_difference import FiniteDifference
from .monte_carlo import MCResult, MonteCarlo

__all__ = ["Oracle", "Analytic", "MonteCarlo", "MCResult", "FiniteDifference"]
