"""``BudgetedOracle``: counts, caches by exact point, and refuses past a budget; an oracle itself.

Every consumer that pays for oracle calls (the search, the label checks, active learning, the
experiments) goes through one of these. A distinct point is priced once: repeats are served from
the cache. ``child(budget)`` carves a sub-budget that shares the cache and the count with its
parent, so a stage of the defense can be limited without a second ledger. ``known()`` returns
every point paid for, in the order it was priced.
"""
from __future__ import annotations

import threading
import time
from typing import Any, cast

import numpy as np

from .base import Oracle, OracleLike, OracleResult, Spec, check_oracle, frozen_result, has_grad

__all__ = ["BudgetedOracle", "BudgetExhausted"]


class BudgetExhausted(RuntimeError):
    """Raised before an oracle batch that would exceed a budget; nothing is priced."""


class _Ledger:
    """The shared cache of a budgeted oracle and its children: point bytes -> row of the arrays."""

    def __init__(self, dim: int) -> None:
        self.index: dict[bytes, int] = {}
        self.X = np.empty((0, dim))
        self.z = np.empty(0)
        self.se = np.empty(0)
        self.rel = np.empty(0, dtype=bool)  # the oracle's own judgement of each value (MCResult.reliable)
        self.lock = threading.RLock()
        self.seconds = 0.0  # wall seconds inside the wrapped oracle

    def add(self, X: np.ndarray, res: OracleResult) -> None:
        base = len(self.index)
        for i, row in enumerate(X):
            self.index[row.tobytes()] = base + i
        self.X = np.concatenate([self.X, X])
        self.z = np.concatenate([self.z, res.price])
        self.se = np.concatenate([self.se, res.stderr])
        self.rel = np.concatenate([self.rel, res.reliable_mask()])


class BudgetedOracle(Oracle):
    """Wraps any oracle: ``calls`` counts distinct points priced through it (cache hits are free);
    ``budget`` caps them (None: no cap). ``child(budget)`` shares the cache and the count."""

    def __init__(self, oracle: OracleLike, budget: int | None = None, *, _parent: "BudgetedOracle | None" = None) -> None:
        oracle = check_oracle(oracle)
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
                raise TypeError(f"budget: expected an int or None, got {type(budget).__name__}")
            if budget <= 0:
                raise ValueError(f"budget: expected > 0 oracle calls, got {budget}")
        super().__init__(oracle.dim, oracle.box)
        self.oracle = oracle
        self.budget = None if budget is None else int(budget)
        self._parent = _parent
        self._ledger: _Ledger = _parent._ledger if _parent is not None else _Ledger(oracle.dim)

    # -- budget ----------------------------------------------------------------------------------
    @property
    def remaining(self) -> float:
        """New points this oracle may still price: the least over itself and its ancestors (inf: no cap)."""
        own = np.inf if self.budget is None else float(self.budget - self._calls)
        return own if self._parent is None else min(own, self._parent.remaining)

    def child(self, budget: int | None = None) -> "BudgetedOracle":
        """A budgeted view sharing this one's cache; what it prices counts here too."""
        return BudgetedOracle(self.oracle, budget, _parent=self)

    def _count(self, n: int, grad: bool = False, seconds: float = 0.0) -> None:
        super()._count(n, grad, seconds)
        if self._parent is not None:
            self._parent._count(n, grad, seconds)

    @property
    def has_grad(self) -> bool:
        """The wrapped oracle's: gradients pass through (counted, never cached)."""
        return has_grad(self.oracle)

    def spec(self) -> Spec:
        """Refused: the ledger (cache, count, budget) must stay in one process."""
        raise TypeError("BudgetedOracle cannot be pickled or distributed: its cache and budget must stay in one place; "
                        "budget the distributed oracle instead, BudgetedOracle(Distributed(oracle, executor), budget), "
                        "so that counting stays above distribution")

    # -- the protocol ----------------------------------------------------------------------------
    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        return self.oracle.check_points(X, name)

    def evaluate(self, X: Any, grad: bool = False) -> OracleResult:
        """Values and standard errors at X; only points never priced before are sent to the oracle
        (and counted); refused with ``BudgetExhausted`` before any pricing if they exceed the budget.

        ``grad=True`` (a ``has_grad`` oracle): every distinct row of X is evaluated with its gradient
        and counted, one call and one grad call each, even where its value is cached (the cache holds
        values only); the values of points new to the ledger are added to it."""
        if not isinstance(grad, (bool, np.bool_)):
            raise TypeError(f"grad: expected a bool, got {type(grad).__name__} {grad!r}")
        if grad:
            return self._grad(X)
        z, se, rel = self._lookup(X, True)
        return frozen_result(z, se, reliable=rel)

    def _grad(self, X: Any) -> OracleResult:
        self._require_grad()
        X = self.check_points(X)
        led = self._ledger
        with led.lock:
            keys = [r.tobytes() for r in X]
            slot: dict[bytes, int] = {}
            first: list[int] = []
            rows = np.empty(X.shape[0], dtype=np.int64)
            for i, k in enumerate(keys):
                j = slot.get(k)
                if j is None:
                    j = slot[k] = len(first)
                    first.append(i)
                rows[i] = j
            if len(first) > self.remaining:
                raise BudgetExhausted(f"oracle budget {self.budget}: {self.calls} used, {len(first)} more gradient "
                                      f"evaluations requested ({self.remaining:g} left here or in a parent budget)")
            if not first:
                return frozen_result(np.empty(0), None, np.empty((0, self.dim)))
            t0 = time.perf_counter()
            try:
                res = cast(Any, self.oracle).evaluate(X[first], grad=True)  # has_grad checked above
            finally:
                dt = time.perf_counter() - t0
                led.seconds += dt
            unseen = [j for j, i in enumerate(first) if keys[i] not in led.index]
            if unseen:
                led.add(X[first][unseen], OracleResult(np.asarray(res.price)[unseen], np.asarray(res.stderr)[unseen]))
            self._count(len(first), True, dt)
            assert res.grad is not None
            return frozen_result(res.price[rows], res.stderr[rows], res.grad[rows],
                                 None if res.grad_stderr is None else res.grad_stderr[rows], res.reliable_mask()[rows])

    def __call__(self, X: Any) -> np.ndarray:
        return self._lookup(X)[0]

    def _lookup(self, X: Any, with_reliable: bool = False) -> tuple[np.ndarray, ...]:
        """(values, stderr[, reliable]) at X as new arrays, pricing the points never seen before."""
        X = self.check_points(X)
        led = self._ledger
        with led.lock:
            rows = np.empty(X.shape[0], dtype=np.int64)
            new: dict[bytes, int] = {}  # key -> -1 - (order of first appearance)
            first: list[int] = []  # row of each new point's first appearance
            for i, r in enumerate(X):
                k = r.tobytes()
                j = led.index.get(k)
                if j is None:
                    j = new.get(k)
                    if j is None:
                        j = new[k] = -1 - len(first)
                        first.append(i)
                rows[i] = j
            if len(first) > self.remaining:
                raise BudgetExhausted(f"oracle budget {self.budget}: {self.calls} used, {len(first)} more requested"
                                      f" ({self.remaining:g} left here or in a parent budget)")
            if first:
                t0 = time.perf_counter()
                try:
                    res = self.oracle.evaluate(X[first])
                finally:
                    dt = time.perf_counter() - t0
                    led.seconds += dt
                base = len(led.index)
                led.add(X[first], res)
                self._count(len(first), False, dt)
                rows = np.where(rows < 0, base - 1 - rows, rows)
            if with_reliable:
                return led.z[rows], led.se[rows], led.rel[rows]
            return led.z[rows], led.se[rows]

    def restore(self, X: Any, z: Any, stderr: Any) -> None:
        """Refill a fresh root oracle's ledger with points paid for earlier (a checkpoint): they count
        as calls and are served from the cache, exactly as if priced here. The wrapped oracle's own
        ``calls`` is not changed."""
        if self._parent is not None or self.calls or len(self._ledger.index):
            raise ValueError("restore: expected a fresh BudgetedOracle (no parent, nothing priced yet)")
        X = self.check_points(X)
        z, se = np.asarray(z, dtype=np.float64), np.asarray(stderr, dtype=np.float64)
        if z.shape != (len(X),) or se.shape != (len(X),) or not (np.isfinite(z).all() and np.isfinite(se).all()):
            raise ValueError(f"restore: expected finite z and stderr of shape ({len(X)},), got {z.shape}, {se.shape}")
        if len({r.tobytes() for r in X}) != len(X):
            raise ValueError("restore: the points must be distinct (a ledger prices each point once)")
        if self.budget is not None and len(X) > self.budget:
            raise BudgetExhausted(f"oracle budget {self.budget}: restoring {len(X)} points exceeds it")
        with self._ledger.lock:
            self._ledger.add(X, OracleResult(z, se))
            self._count(len(X))

    @property
    def seconds(self) -> float:
        """Wall seconds spent inside the wrapped oracle by this family (parent and children)."""
        return self._ledger.seconds

    def known(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every point priced through this oracle family: (X (k, d), z (k,), stderr (k,)), copies."""
        led = self._ledger
        with led.lock:
            return led.X.copy(), led.z.copy(), led.se.copy()

    def __repr__(self) -> str:
        return f"BudgetedOracle({self.oracle!r}, budget={self.budget}, calls={self.calls})"
