"""The oracle protocol, for any function of any dimension: ``Z(X) -> (n,)``, ``Z.evaluate(X)``.

An oracle knows its input dimension (``dim``), optionally its domain (``box``), counts the
points it priced (``calls``, the cost unit every defense and active-learning step reports),
validates its input once, and is safe to call from several threads. ``evaluate`` returns the
values with their standard errors (zeros for deterministic oracles). Wrappers (budget, cache,
executor) are oracles too, so they compose.

Pickling: an oracle travels as its configuration, never as live state. ``spec()`` returns
``(class, kwargs)`` such that ``class(**kwargs)`` builds an equal oracle, and ``Oracle.__reduce__``
pickles exactly that, so the copy a worker process unpickles is rebuilt from constructor arguments
(native settings recreated there, a fresh lock, ``calls`` back to 0). Every built-in oracle has a
``spec()``; ``BudgetedOracle`` refuses (its ledger must stay in one place: budget the
``Distributed`` oracle instead), and so does a subclass that defines none.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..box import Box

__all__ = ["Oracle", "OracleLike", "OracleResult", "ReliabilityWarning", "check_oracle"]

Spec = tuple[type, dict[str, Any]]


class ReliabilityWarning(UserWarning):
    """Some values of a call rest on too little evidence for their standard errors to mean anything
    (Monte Carlo: ``MCResult.reliable`` False); the message names how many rows."""


@dataclass(frozen=True)
class OracleResult:
    """One evaluation: ``price`` and ``stderr`` (n,) float64, read-only (stderr 0: exact)."""

    price: np.ndarray
    stderr: np.ndarray

    def __len__(self) -> int:
        return int(self.price.shape[0])


@runtime_checkable
class OracleLike(Protocol):
    """What every consumer of an oracle relies on (``isinstance`` checks these attributes)."""

    dim: int
    box: Box | None

    @property
    def calls(self) -> int: ...

    def __call__(self, X: Any) -> np.ndarray: ...

    def evaluate(self, X: Any) -> OracleResult: ...

    def check_points(self, X: Any, name: str = "X") -> np.ndarray: ...


def check_oracle(oracle: Any, name: str = "oracle", dim: int | None = None) -> OracleLike:
    """``oracle`` if it follows the protocol (and has ``dim`` inputs when given), else a clear error."""
    if not isinstance(oracle, OracleLike):
        raise TypeError(f"{name}: expected an oracle (sg.oracles.Oracle, e.g. sg.oracles.Function(fn, box)), "
                        f"got {type(oracle).__name__}")
    if dim is not None and oracle.dim != dim:
        raise ValueError(f"{name}: expected an oracle of {dim} inputs, got one of {oracle.dim}")
    return oracle


def frozen_result(price: np.ndarray, stderr: np.ndarray | None = None) -> OracleResult:
    """An OracleResult over read-only float64 copies-or-views; stderr None means zeros."""
    p = np.ascontiguousarray(price, dtype=np.float64)
    s = np.zeros_like(p) if stderr is None else np.ascontiguousarray(stderr, dtype=np.float64)
    p.setflags(write=False)
    s.setflags(write=False)
    return OracleResult(p, s)


class Oracle:
    """Base class: subclasses set ``dim`` (and ``box`` if they have one) and implement
    ``_evaluate(X) -> (price (n,), stderr (n,) or None)`` on validated input, returning arrays
    they do not keep (``__call__`` hands the price array to the caller).

    ``__call__`` returns writable prices; ``evaluate`` the read-only result with standard errors.
    A subclass that overrides ``evaluate`` (a wrapper) overrides ``__call__`` too.
    """

    dim: int
    box: Box | None = None

    def __init__(self, dim: int, box: Box | None = None) -> None:
        if box is not None and box.dim != dim:
            raise ValueError(f"box: expected {dim} columns for this oracle, got a box of {box.dim}")
        self.dim = int(dim)
        self.box = box
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """Number of points this oracle has priced so far."""
        return self._calls

    def reset_calls(self) -> None:
        with self._lock:
            self._calls = 0

    def _count(self, n: int) -> None:
        with self._lock:
            self._calls += n

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        """Validate X (n, dim): C-contiguous float64, finite (subclasses add their own rules)."""
        from .._validate import check_matrix

        return check_matrix(X, name, self.dim)

    def evaluate(self, X: Any) -> OracleResult:
        """Values and standard errors at X (n, dim); counts n calls."""
        X = self.check_points(X)
        if X.shape[0] == 0:
            return frozen_result(np.empty(0))
        price, stderr = self._evaluate(X)
        price = self._check_output(X, price, stderr)
        self._count(X.shape[0])
        return frozen_result(price, stderr)

    def __call__(self, X: Any) -> np.ndarray:
        """Values at X (n, dim): (n,) float64, a new writable array (the hot path: no stderr kept)."""
        X = self.check_points(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        price, stderr = self._evaluate(X)
        price = self._check_output(X, price, stderr)
        self._count(X.shape[0])
        price = np.asarray(price, dtype=np.float64)
        return price if price.flags.writeable and price.flags.c_contiguous else np.array(price)

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_output(self, X: np.ndarray, price: np.ndarray, stderr: np.ndarray | None) -> np.ndarray:
        """Hook on every result before it is counted or returned: the prices to return (the barrier
        family checks them); unchanged here."""
        return price

    def spec(self) -> Spec:
        """``(class, kwargs)`` that rebuild this oracle from its constructor arguments (what pickles)."""
        raise TypeError(f"{type(self).__name__}: this oracle has no picklable description; define "
                        "spec() -> (class, kwargs) so that class(**kwargs) rebuilds it from its constructor arguments")

    def __reduce__(self) -> tuple[Any, tuple[type, dict[str, Any]]]:
        return _rebuild, self.spec()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, calls={self.calls})"


def _rebuild(cls: type, kwargs: dict[str, Any]) -> Any:
    """Unpickling: a new oracle from its ``spec()``."""
    return cls(**kwargs)
