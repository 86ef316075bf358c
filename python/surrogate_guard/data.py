"""Training data: sample a box and label the points through an oracle, in batches.

The cost of a data set is the number of oracle calls it took, read off the oracle's own
counter (so a caller that shares one oracle, or one ``BudgetedOracle``, between steps sees
every call). Labels keep the oracle's standard errors, which the defense's label checks need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_int
from .box import Box, SamplingMethod
from .oracles.base import OracleLike, check_oracle

__all__ = ["Labelled", "label", "make_dataset"]


@dataclass(frozen=True)
class Labelled:
    """Labelled points: ``X`` (n, d), ``y`` (n,) and ``y_stderr`` (n,) float64 (read-only), the
    ``oracle_calls`` spent on them, and ``reliable`` (n,) bool (read-only; None: all reliable): False
    where the oracle judged its own value unreliable (``MCResult.reliable``)."""

    X: np.ndarray
    y: np.ndarray
    oracle_calls: int
    y_stderr: np.ndarray | None = None
    reliable: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])


def label(oracle: OracleLike, X: Any, *, batch_size: int = 4096) -> Labelled:
    """Price ``X`` (n, d) through ``oracle`` in batches of ``batch_size`` points.

    Returns read-only copies; ``oracle_calls`` is the increase of ``oracle.calls``. Raises
    ValueError when the oracle returns a non-finite label (naming the row and its inputs).
    """
    oracle = check_oracle(oracle)
    X = np.array(oracle.check_points(X), dtype=np.float64)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    before = oracle.calls
    y = np.empty(X.shape[0], dtype=np.float64)
    se = np.empty(X.shape[0], dtype=np.float64)
    rel = np.ones(X.shape[0], dtype=bool)
    for s in range(0, X.shape[0], batch_size):
        res = oracle.evaluate(X[s:s + batch_size])
        y[s:s + batch_size] = res.price
        se[s:s + batch_size] = res.stderr
        r = getattr(res, "reliable", None)
        if r is not None:
            rel[s:s + batch_size] = r
    bad = ~np.isfinite(y)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"oracle: returned {y[row]!r} for row {row} of X ({X[row].tolist()})")
    for a in (X, y, se, rel):
        a.setflags(write=False)
    return Labelled(X, y, oracle.calls - before, se, rel)


def make_dataset(box: Any, oracle: OracleLike, n: int, *, seed: int = 0, method: SamplingMethod = "uniform",
                 batch_size: int = 4096) -> Labelled:
    """``n`` points of ``box`` (an ``sg.Box``, a preset, or anything with a ``.box``; ``method``
    "uniform" or "sobol", seeded), labelled by ``oracle``."""
    b = Box.of(box, "box")
    n = check_int(n, "n", minimum=0)
    return label(oracle, b.sample(n, seed=seed, method=method), batch_size=batch_size)
