"""Training data: sample a preset's box and label the points through an oracle, in batches.

The cost of a data set is the number of oracle calls it took, read off the oracle's own
counter (so a caller that shares one oracle between steps sees every call).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import as_points, check_int
from .oracles.base import Oracle
from .presets import Preset

__all__ = ["Labelled", "label", "make_dataset"]


@dataclass(frozen=True)
class Labelled:
    """Labelled points: ``X`` (n, 5) float64, ``y`` (n,) float64, ``oracle_calls`` spent on them."""

    X: np.ndarray
    y: np.ndarray
    oracle_calls: int

    def __len__(self) -> int:
        return int(self.X.shape[0])


def label(oracle: Oracle, X, *, batch_size: int = 4096) -> Labelled:
    """Price ``X`` (n, 5) through ``oracle`` in batches of ``batch_size`` points.

    Returns read-only copies; ``oracle_calls`` is the increase of ``oracle.calls``. Raises
    ValueError when the oracle returns a non-finite label (naming the row and its inputs).
    """
    if not isinstance(oracle, Oracle):
        raise TypeError(f"oracle: expected an sg.oracles.Oracle, got {type(oracle).__name__}")
    X = as_points(X).copy()
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    before = oracle.calls
    y = np.empty(X.shape[0], dtype=np.float64)
    for s in range(0, X.shape[0], batch_size):
        y[s:s + batch_size] = oracle(X[s:s + batch_size])
    bad = ~np.isfinite(y)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"oracle: returned {y[row]!r} for row {row} of X ({X[row].tolist()})")
    X.setflags(write=False)
    y.setflags(write=False)
    return Labelled(X, y, oracle.calls - before)


def make_dataset(preset: Preset, oracle: Oracle, n: int, *, seed: int = 0, method: str = "uniform",
                 batch_size: int = 4096) -> Labelled:
    """``n`` points of ``preset``'s box (``method`` "uniform" or "sobol", seeded), labelled by ``oracle``."""
    if not isinstance(preset, Preset):
        raise TypeError(f"preset: expected sg.presets.Preset, got {type(preset).__name__}")
    n = check_int(n, "n", minimum=0)
    return label(oracle, preset.sample(n, seed=seed, method=method), batch_size=batch_size)
