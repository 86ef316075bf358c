"""The oracle protocol: ``prices = Z(X)`` for X (n, 5) float64, with a call counter.

Every oracle validates its input once here, counts the points it priced (the cost every
defense and active-learning step reports), and is safe to call from several threads.
"""
from __future__ import annotations

import threading

import numpy as np

from .._validate import as_points
from ..options import BarrierOption


class Oracle:
    """Base class: subclasses implement ``_price(X) -> (n,) float64`` on validated input."""

    def __init__(self, option: BarrierOption) -> None:
        if not isinstance(option, BarrierOption):
            raise TypeError(f"option: expected sg.BarrierOption, got {type(option).__name__}")
        self.option = option
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """Number of parameter points this oracle has priced so far."""
        return self._calls

    def reset_calls(self) -> None:
        with self._lock:
            self._calls = 0

    def _count(self, n: int) -> None:
        with self._lock:
            self._calls += n

    def __call__(self, X) -> np.ndarray:
        """Price X (n, 5) [strike, barrier, volatility, maturity, rate]: returns (n,) float64."""
        X = as_points(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        out = self._price(X)
        self._count(X.shape[0])
        return out

    def _price(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.option}, calls={self.calls})"
