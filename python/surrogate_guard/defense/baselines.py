"""Baselines reported in the same format as ``detect`` (``DetectionReport``).

- ``neighbour_outliers``: no oracle; a row is suspect when its label is far from the median of
  its k nearest neighbours' labels, in robust standard deviations of that disagreement.
- ``random_relabel``: spend the same oracle budget checking uniformly random training rows.
- ``trimmed_retraining``: TRIM-style; retrain on the (1 - eps) share of rows with the smallest
  residual, a few rounds; the trimmed rows are the suspects. No oracle.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._validate import check_float, check_int
from ..oracles.base import OracleLike, check_oracle
from ..oracles.budgeted import BudgetedOracle
from .checks import LabelChecker
from .report import DetectionCost, DetectionReport
from .search import Maximizers
from .settings import CheckSettings
from .training import TrainingView


def _report(view: TrainingView, suspects, checked, zc, calls: int, wall: float, settings: dict,
            budget: int = 0) -> DetectionReport:
    cost = DetectionCost(oracle_calls=int(calls), oracle_calls_search=0, oracle_calls_check=int(calls),
                         oracle_budget=int(budget), relabel_all_calls=len(view), total_s=float(wall),
                         check_s=float(wall))
    suspects = np.asarray(suspects, np.int64)
    checked = np.asarray(checked, np.int64)
    confirmed = suspects if len(checked) else np.empty(0, np.int64)
    return DetectionReport(Maximizers.empty(view.box.dim), np.empty(0, np.int64), suspects, checked,
                           np.asarray(zc, float), cost, settings, view.X, view.y, confirmed=confirmed,
                           inferred=np.empty(0, np.int64) if len(checked) else suspects)


def neighbour_outliers(surrogate, X_train, y_train, *, k: int = 16, z_threshold: float = 6.0) -> DetectionReport:
    """Rows whose label disagrees with their neighbours' median by > z_threshold robust SDs (no oracle)."""
    t = time.perf_counter()
    view = TrainingView.build(surrogate.box, X_train, y_train)
    k = check_int(k, "k", minimum=1)
    z_threshold = check_float(z_threshold, "z_threshold", positive=True)
    _, nbr = view.tree.query(view.unit, k=min(k + 1, len(view)))
    y = view.y
    dis = y - np.median(y[np.atleast_2d(nbr)[:, 1:]], axis=1) if k + 1 <= len(view) else np.zeros(len(y))
    scale = 1.4826 * np.median(np.abs(dis - np.median(dis))) + 1e-12
    suspects = np.flatnonzero(np.abs(dis - np.median(dis)) > z_threshold * scale)
    return _report(view, suspects, [], [], 0, time.perf_counter() - t,
                   {"baseline": "neighbour_outliers", "k": k, "z_threshold": z_threshold})


def random_relabel(surrogate: Any, oracle: OracleLike, X_train: Any, y_train: Any, *, oracle_budget: int,
                   seed: int = 0, y_stderr: Any = None, check: CheckSettings | None = None) -> DetectionReport:
    """Check ``oracle_budget`` uniformly random rows against the oracle (the same label rule as ``detect``)."""
    t = time.perf_counter()
    view = TrainingView.build(surrogate.box, X_train, y_train, y_stderr)
    budget = check_int(oracle_budget, "oracle_budget", minimum=1)
    Z = BudgetedOracle(check_oracle(oracle, "oracle", view.box.dim), budget)
    checker = LabelChecker(view, Z, check or CheckSettings())
    rows = np.random.default_rng(check_int(seed, "seed", minimum=0)).permutation(len(view))[:budget]
    checker.check(rows)
    checked, z = checker.checked_rows()
    return _report(view, checker.confirmed(), checked, z, Z.calls, time.perf_counter() - t,
                   {"baseline": "random_relabel", "seed": seed}, budget)


def trimmed_retraining(surrogate, X_train, y_train, *, trim: float = 0.1, rounds: int = 3, seed: int = 0,
                       **fit_kwargs) -> DetectionReport:
    """TRIM-style: alternately fit on the kept rows and keep the (1 - trim) share with the smallest residual."""
    t = time.perf_counter()
    view = TrainingView.build(surrogate.box, X_train, y_train)
    X, y = view.X, view.y
    trim = check_float(trim, "trim", positive=True)
    if trim >= 0.5:
        raise ValueError(f"trim: expected a share in (0, 0.5), got {trim}")
    rounds = check_int(rounds, "rounds", minimum=1)
    keep = np.ones(len(y), dtype=bool)
    model = surrogate
    for r in range(rounds):
        res = np.abs(model.predict(X) - y)
        keep = res <= np.quantile(res, 1.0 - trim)
        model = surrogate.like(seed=seed + r)
        model.fit(X[keep], y[keep], seed=seed + r, **fit_kwargs)
    res = np.abs(model.predict(X) - y)
    suspects = np.flatnonzero(res > np.quantile(res, 1.0 - trim))
    return _report(view, suspects, [], [], 0, time.perf_counter() - t,
                   {"baseline": "trimmed_retraining", "trim": trim, "rounds": rounds})
