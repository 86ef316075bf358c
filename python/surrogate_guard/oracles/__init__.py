"""Oracles: the expensive functions a surrogate stands in for. ``prices = Z(X)``."""
from .analytic import Analytic
from .base import Oracle

__all__ = ["Oracle", "Analytic"]
