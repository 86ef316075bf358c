"""The barrier-option family of oracles: five columns (strike, barrier, volatility, maturity,
rate) of one ``BarrierOption``, validated here and nowhere else.

``Analytic``, ``FiniteDifference`` and ``MonteCarlo`` are ``BarrierOracle``s; everything
downstream (surrogate, attacks, defense) sees only the generic ``Oracle`` protocol.
"""
from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from .._validate import COLUMNS, as_points
from ..box import Box
from ..options import BarrierOption
from .base import Oracle

__all__ = ["BarrierOracle", "COLUMNS", "DomainRule", "out_of_domain", "check_in_domain", "spot_ratio", "column"]

# One rule of an oracle's stated domain: (label, column, divided by the spot?, low, high), closed.
DomainRule = tuple[str, int, bool, float, float]


def spot_ratio(col: int, label: str, lo: float, hi: float) -> DomainRule:
    """Column ``col`` over the spot (strike / spot, barrier / spot: the scale-free moneyness) in [lo, hi]."""
    return (label, col, True, lo, hi)


def column(col: int, label: str, lo: float, hi: float) -> DomainRule:
    return (label, col, False, lo, hi)


@nb.njit(cache=True)
def _scan(X: np.ndarray, spot: float, cols: np.ndarray, ratio: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          mask: np.ndarray) -> tuple[int, int, int]:
    """One pass over X: mask[i] = row i breaks a rule; returns (first row, its first rule, rows outside)."""
    first, rule, count = -1, -1, 0
    for i in range(X.shape[0]):
        for k in range(cols.shape[0]):
            v = X[i, cols[k]] / spot if ratio[k] else X[i, cols[k]]
            if not (v >= lo[k] and v <= hi[k]):
                mask[i] = True
                count += 1
                if first < 0:
                    first, rule = i, k
                break
    return first, rule, count


def _run_scan(X: np.ndarray, spot: float, rules: tuple[DomainRule, ...]) -> tuple[np.ndarray, int, int, int]:
    cols = np.array([r[1] for r in rules], dtype=np.int64)
    ratio = np.array([r[2] for r in rules], dtype=np.bool_)
    lo = np.array([r[3] for r in rules], dtype=np.float64)
    hi = np.array([r[4] for r in rules], dtype=np.float64)
    mask = np.zeros(X.shape[0], dtype=np.bool_)
    first, rule, count = _scan(X, float(spot), cols, ratio, lo, hi, mask)
    return mask, first, rule, count


def out_of_domain(X: np.ndarray, spot: float, rules: tuple[DomainRule, ...]) -> np.ndarray:
    """(n,) bool: rows of validated X (n, 5) outside the domain ``rules`` (one compiled pass)."""
    return _run_scan(X, spot, rules)[0]


def check_in_domain(X: np.ndarray, spot: float, rules: tuple[DomainRule, ...], who: str) -> None:
    """Raise ``ValueError`` naming the rule (column), its domain and the first row outside it."""
    _, row, k, count = _run_scan(X, spot, rules)
    if row >= 0:
        label, col, ratio, lo, hi = rules[k]
        v = X[row, col] / spot if ratio else X[row, col]
        raise ValueError(f"X: {label} must lie in [{lo:g}, {hi:g}] (the stated domain of {who}); row {row} holds "
                         f"{float(v)!r} ({count} rows outside); pass check_domain=False to price outside it "
                         f"without the accuracy contract")


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

    def _check_output(self, X: np.ndarray, price: np.ndarray, stderr: np.ndarray | None) -> np.ndarray:
        """The last guard of every barrier oracle: a price or stderr that is negative, NaN or inf is an
        error naming the rows, never a return value. Inside an oracle's stated domain it never fires.

        A negative price no further below 0 than 1e-9 (spot + strike) is the rounding of a zero price
        by a numerical scheme (far inside every oracle's accuracy contract) and is returned as 0."""
        tiny = (price < 0.0) & (price >= -1e-9 * (self.option.spot + X[:, 0]))
        if tiny.any():
            price = np.where(tiny, 0.0, price)
        ok = np.isfinite(price) & (price >= 0.0)
        if stderr is not None:
            ok &= np.isfinite(stderr) & (stderr >= 0.0)
        if not ok.all():
            rows = np.flatnonzero(~ok)
            r = int(rows[0])
            se = "" if stderr is None else f", stderr {float(stderr[r])!r}"
            raise ValueError(f"{type(self).__name__}: the kernel produced a negative or non-finite value at {rows.size} "
                             f"rows (first: rows {rows[:5].tolist()}; row {r} = {X[r].tolist()} gave price "
                             f"{float(price[r])!r}{se}); with check_domain=False such inputs are not refused, "
                             f"otherwise this is a bug: please report it with the row")
        return price

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.option}, calls={self.calls})"
