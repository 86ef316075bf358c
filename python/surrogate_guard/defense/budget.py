"""Cost accounting for the defense: an oracle wrapper that counts, caches and enforces a budget.

Every distinct point priced counts once; repeated points are served from the cache (the
search revisits seeds and the checks revisit maximizers).
"""
from __future__ import annotations

import numpy as np

from .._validate import as_points


class BudgetExhausted(RuntimeError):
    """Raised before an oracle batch that would exceed the budget; nothing is priced."""


class CountingOracle:
    """Wraps an oracle: ``calls`` counts distinct points priced; ``budget`` caps them (None: no cap)."""

    def __init__(self, oracle, budget: int | None = None) -> None:
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
                raise TypeError(f"oracle_budget: expected an int or None, got {type(budget).__name__}")
            if budget <= 0:
                raise ValueError(f"oracle_budget: expected > 0, got {budget}")
        self.oracle = oracle
        self.budget = None if budget is None else int(budget)
        self.calls = 0
        self._cache: dict[bytes, float] = {}

    @property
    def remaining(self) -> float:
        return np.inf if self.budget is None else self.budget - self.calls

    def __call__(self, X) -> np.ndarray:
        X = as_points(X)
        keys = [row.tobytes() for row in X]
        missing = {}
        for i, k in enumerate(keys):
            if k not in self._cache and k not in missing:
                missing[k] = i
        if len(missing) > self.remaining:
            raise BudgetExhausted(f"oracle budget {self.budget}: {self.calls} used, {len(missing)} more requested")
        if missing:
            rows = np.fromiter(missing.values(), dtype=np.int64)
            vals = self.oracle(X[rows])
            for k, v in zip(missing, vals):
                self._cache[k] = float(v)
            self.calls += len(missing)
        return np.array([self._cache[k] for k in keys])
