"""``TrainingView``: the training set as the defense sees it, built once per ``detect``.

The unit-box coordinates and the KD-tree over them are computed here, once, and passed to
every stage (signals, search density, checks, inference) instead of being rebuilt by each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_labels
from ..box import Box

__all__ = ["TrainingView"]


@dataclass(frozen=True)
class TrainingView:
    """``X`` (n, d) raw, ``unit`` (n, d) in ``box``'s unit box, labels ``y`` (n,), their standard
    errors ``y_stderr`` (n,) or None (unknown), and ``tree`` (a scipy cKDTree over ``unit``)."""

    box: Box
    X: np.ndarray
    y: np.ndarray
    y_stderr: np.ndarray | None
    unit: np.ndarray = field(repr=False)
    tree: Any = field(repr=False)

    @classmethod
    def build(cls, box: Box, X: Any, y: Any, y_stderr: Any = None, *, name: str = "X_train") -> "TrainingView":
        from scipy.spatial import cKDTree

        X = box.check_points(X, name)
        yname = "y_train" if name == "X_train" else "y"
        y = check_labels(y, X.shape[0], yname)
        se = None
        if y_stderr is not None:
            se = check_labels(y_stderr, X.shape[0], "y_stderr")
            if (se < 0).any():
                raise ValueError(f"y_stderr: expected standard errors >= 0; row {int(np.argmax(se < 0))} is negative")
        if X.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one training row, got 0")
        unit = box.normalize(X)
        return cls(box, X, y, se, unit, cKDTree(unit))

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def count_near(self, U: np.ndarray, radius: float) -> np.ndarray:
        """Training rows within ``radius`` of each row of U (unit box): (k,) int64."""
        if len(U) == 0:
            return np.empty(0, dtype=np.int64)
        return np.asarray(self.tree.query_ball_point(U, r=radius, return_length=True), dtype=np.int64)

    def nearest(self, rows: Any, k: int) -> set[int]:
        """The k nearest training rows (themselves included) of each of ``rows``."""
        _, nb = self.tree.query(self.unit[np.asarray(rows, dtype=np.int64)], k=min(k, len(self)))
        return set(int(j) for j in np.atleast_2d(nb).ravel())

    def around(self, centre: np.ndarray, radius: float) -> list[int]:
        """Training rows within ``radius`` of a unit-box ``centre``, nearest first."""
        rows = self.tree.query_ball_point(centre, r=radius)
        return sorted(rows, key=lambda i: float(np.linalg.norm(self.unit[i] - centre)))
