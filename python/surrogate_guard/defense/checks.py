"""Label checks: is a training label what the oracle says, within the noise of both?

``LabelChecker`` owns the rows checked so far, their oracle values, the suspects found, and the
one tolerance rule. The default is noise-aware: a label y is wrong at x when

    |y - Z(x)| > k sqrt(se_y^2 + se_Z^2) + rel_tol max(1, |Z(x)|)

with se_Z the oracle's standard error at x and se_y the label's (given, or assumed equal to the
oracle's own when not given: labels made by an oracle of the same kind). For a deterministic
oracle se = 0 and the rule is the rounding floor rel_tol; for Monte Carlo k = 5 standard
errors of the difference make an honest label's false alarm rate 5.7e-7 (two-sided normal).

An oracle value the oracle itself judges unreliable (``MCResult.reliable`` False: too few effective
paths for its standard error to mean anything) convicts no label: the row is recorded as
``inconclusive`` (its call is spent and counted) and never reported as poisoned on that evidence.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..oracles.budgeted import BudgetedOracle
from .settings import CheckSettings
from .training import TrainingView

__all__ = ["LabelChecker", "label_tolerance"]


def label_tolerance(settings: CheckSettings, X: np.ndarray, z: np.ndarray, z_se: np.ndarray,
                    y_se: np.ndarray | None) -> np.ndarray:
    """Tolerances (n,) for |y - z| at points X (n, d), oracle values z and standard errors."""
    tol = settings.label_tol
    if callable(tol):
        out = np.asarray(tol(X, z, z_se, z_se if y_se is None else y_se), dtype=np.float64)
        if out.shape != z.shape or not np.isfinite(out).all() or (out < 0).any():
            raise ValueError(f"label_tol: expected ({len(z)},) finite tolerances >= 0 from the callable, got "
                             f"shape {out.shape}")
        return out
    if tol is not None:
        return np.full_like(z, float(tol))
    se_y = z_se if y_se is None else y_se
    return settings.k_sigma * np.sqrt(z_se**2 + se_y**2) + settings.rel_tol * np.maximum(1.0, np.abs(z))


class LabelChecker:
    """Checks training rows against ``oracle`` (a ``BudgetedOracle``; cached points are free)."""

    def __init__(self, view: TrainingView, oracle: BudgetedOracle, settings: CheckSettings) -> None:
        self.view = view
        self.oracle = oracle
        self.settings = settings
        self.checked: dict[int, float] = {}  # row -> oracle value, in the order checked
        self.suspects: list[int] = []  # rows found wrong, in the order found
        self.inconclusive: list[int] = []  # rows whose oracle value was unreliable: not judged

    @property
    def remaining(self) -> float:
        return self.oracle.remaining

    def is_checked(self, row: int) -> bool:
        return row in self.checked

    def check(self, rows: Any) -> np.ndarray:
        """Price ``rows`` (training-row indices, at most ``remaining`` new points) and judge their
        labels; returns the rows found wrong (in the order given). Rows already checked are skipped."""
        rows = [int(i) for i in rows if int(i) not in self.checked]
        if not rows:
            return np.empty(0, dtype=np.int64)
        r = np.asarray(rows, dtype=np.int64)
        res = self.oracle.evaluate(self.view.X[r])
        y_se = None if self.view.y_stderr is None else self.view.y_stderr[r]
        tol = label_tolerance(self.settings, self.view.X[r], res.price, res.stderr, y_se)
        rel = getattr(res, "reliable", None)
        ok = np.ones(len(r), dtype=bool) if rel is None else np.asarray(rel, dtype=bool)
        bad = (np.abs(self.view.y[r] - res.price) > tol) & ok
        self.inconclusive.extend(int(i) for i in r[~ok])
        for i, z in zip(rows, res.price):
            self.checked[i] = float(z)
        wrong = r[bad]
        self.suspects.extend(int(i) for i in wrong)
        return wrong

    def confirmed(self) -> np.ndarray:
        """Rows confirmed wrong by the oracle, sorted."""
        return np.array(sorted(set(self.suspects)), dtype=np.int64)

    def checked_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows (k,), oracle values (k,)) of every check, in the order checked."""
        rows = np.fromiter(self.checked.keys(), dtype=np.int64, count=len(self.checked))
        return rows, np.fromiter(self.checked.values(), dtype=np.float64, count=len(self.checked))
