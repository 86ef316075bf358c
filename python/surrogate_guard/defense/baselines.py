"""Baselines reported in the same format as ``detect`` (``DetectionReport``).

- ``neighbour_outliers``: no oracle; a row is suspect when its label is far from the median of
  its k nearest neighbours' labels, in robust standard deviations of that disagreement.
- ``random_relabel``: spend the same oracle budget checking uniformly random training rows.
- ``trimmed_retraining``: TRIM-style; retrain on the (1 - eps) share of rows with the smallest
  residual, a few rounds; the trimmed rows are the suspects. No oracle.
"""
from __future__ import annotations

import time

import numpy as np

from .._validate import as_points, check_float, check_int
from .budget import CountingOracle
from .detect import DetectionReport, _default_label_tol
from .search import Maximizers


def _no_maximizers(d: int) -> Maximizers:
    e = np.empty(0)
    return Maximizers(np.empty((0, d)), np.empty((0, d)), e, e, e, np.empty(0, np.int64), np.empty(0, np.int64),
                      0, 0, 0, 0.0, np.empty((0, 0)))


def _report(d, suspects, checked, zc, calls, n, wall, settings, X, y) -> DetectionReport:
    cost = {"oracle_calls": int(calls), "oracle_calls_search": 0, "oracle_calls_check": int(calls),
            "relabel_all_calls": int(n), "fraction_of_relabel_all": float(calls / n) if n else 0.0,
            "kernel_steps": 0, "total_s": float(wall)}
    suspects = np.asarray(suspects, np.int64)
    checked = np.asarray(checked, np.int64)
    confirmed = suspects if len(checked) else np.empty(0, np.int64)
    return DetectionReport(_no_maximizers(d), np.empty(0, np.int64), suspects, checked, np.asarray(zc, float),
                           cost, settings, X, y, confirmed=confirmed,
                           inferred=np.empty(0, np.int64) if len(checked) else suspects)


def _inputs(surrogate, X_train, y_train):
    X = as_points(X_train, "X_train")
    y = np.asarray(y_train, dtype=np.float64)
    if y.shape != (X.shape[0],) or not np.isfinite(y).all():
        raise ValueError(f"y_train: expected ({X.shape[0]},) finite labels, got shape {y.shape}")
    lo, hi = surrogate.bounds[:, 0], surrogate.bounds[:, 1]
    return X, y, (X - lo) / (hi - lo)


def neighbour_outliers(surrogate, X_train, y_train, *, k: int = 16, z_threshold: float = 6.0) -> DetectionReport:
    """Rows whose label disagrees with their neighbours' median by > z_threshold robust SDs (no oracle)."""
    from scipy.spatial import cKDTree

    t = time.perf_counter()
    X, y, U = _inputs(surrogate, X_train, y_train)
    k = check_int(k, "k", minimum=1)
    z_threshold = check_float(z_threshold, "z_threshold", positive=True)
    _, nbr = cKDTree(U).query(U, k=min(k + 1, len(U)))
    dis = y - np.median(y[nbr[:, 1:]], axis=1)
    scale = 1.4826 * np.median(np.abs(dis - np.median(dis))) + 1e-12
    suspects = np.flatnonzero(np.abs(dis - np.median(dis)) > z_threshold * scale)
    return _report(X.shape[1], suspects, [], [], 0, len(y), time.perf_counter() - t,
                   {"baseline": "neighbour_outliers", "k": k, "z_threshold": z_threshold}, X, y)


def random_relabel(surrogate, oracle, X_train, y_train, *, oracle_budget: int, seed: int = 0,
                   label_tol=None) -> DetectionReport:
    """Check ``oracle_budget`` uniformly random rows against the oracle."""
    t = time.perf_counter()
    X, y, _ = _inputs(surrogate, X_train, y_train)
    Z = CountingOracle(oracle, budget=oracle_budget)
    rows = np.random.default_rng(check_int(seed, "seed", minimum=0)).permutation(len(y))[: int(oracle_budget)]
    z = Z(X[rows]) if len(rows) else np.empty(0)
    tol = _default_label_tol(z) if label_tol is None else np.full_like(z, float(label_tol))
    suspects = np.sort(rows[np.abs(y[rows] - z) > tol])
    return _report(X.shape[1], suspects, rows, z, Z.calls, len(y), time.perf_counter() - t,
                   {"baseline": "random_relabel", "seed": seed}, X, y)


def trimmed_retraining(surrogate, X_train, y_train, *, trim: float = 0.1, rounds: int = 3, seed: int = 0,
                       **fit_kwargs) -> DetectionReport:
    """TRIM-style: alternately fit on the kept rows and keep the (1 - trim) share with the smallest residual."""
    from ..surrogate import Surrogate

    t = time.perf_counter()
    X, y, _ = _inputs(surrogate, X_train, y_train)
    trim = check_float(trim, "trim", positive=True)
    if trim >= 0.5:
        raise ValueError(f"trim: expected a share in (0, 0.5), got {trim}")
    rounds = check_int(rounds, "rounds", minimum=1)
    keep = np.ones(len(y), dtype=bool)
    model = surrogate
    for r in range(rounds):
        res = np.abs(model.predict(X) - y)
        keep = res <= np.quantile(res, 1.0 - trim)
        model = Surrogate(surrogate.bounds, surrogate.y_scale, widths=surrogate.widths,
                          activation=surrogate.activation, seed=seed + r)
        model.fit(X[keep], y[keep], seed=seed + r, **fit_kwargs)
    res = np.abs(model.predict(X) - y)
    suspects = np.flatnonzero(res > np.quantile(res, 1.0 - trim))
    return _report(X.shape[1], suspects, [], [], 0, len(y), time.perf_counter() - t,
                   {"baseline": "trimmed_retraining", "trim": trim, "rounds": rounds}, X, y)
