"""The barrier-option family of oracles: five columns (strike, barrier, volatility, maturity,
rate) of one ``BarrierOption``, validated here and nowhere else.

``Analytic``, ``FiniteDifference`` and ``MonteCarlo`` are ``BarrierOracle``s; everything
downstream (surrogate, attacks, defense) sees only the generic ``Oracle`` protocol.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import COLUMNS, as_points
from ..box import Box
from ..options import BarrierOption
from .base import Oracle

__all__ = ["BarrierOracle", "COLUMNS"]


class BarrierOracle(Oracle):
    """Base of the barrier oracles: ``option`` fixed, X (n, 5) [strike, barrier, volatility,
    maturity, rate]. ``box``: the domain (e.g. ``preset.box``), optional; points outside it
    but financially valid are priced."""

    def __init__(self, option: BarrierOption, box: Box | None = None) -> None:
        if not isinstance(option, BarrierOption):
            raise TypeError(f"option: expected sg.BarrierOption, got {type(option).__name__}")
        if box is not None and not isinstance(box, Box):
            box = Box.of(box)
        super().__init__(len(COLUMNS), box)
        self.option = option

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        """X (n, 5) as C-contiguous float64; strike, barrier, volatility, maturity > 0, all finite."""
        return as_points(X, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.option}, calls={self.calls})"
