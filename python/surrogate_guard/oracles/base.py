"""The oracle protocol, for any function of any dimension: ``Z(X) -> (n,)``, ``Z.evaluate(X)``.

An oracle knows its input dimension (``dim``), optionally its domain (``box``), counts the
points it priced (``calls``, the cost unit every defense and active-learning step reports),
validates its input once, and is safe to call from several threads. ``evaluate`` returns the
values with their standard errors (zeros for deterministic oracles). Wrappers (budget, cache,
executor) are oracles too, so they compose.

Gradients (optional): an oracle with ``has_grad`` True also answers ``evaluate(X, grad=True)``
with ``.grad`` (n, dim), the derivatives of the value in every input, and ``.grad_stderr``
(n, dim) (zeros when exact), computed natively for a small multiple of one price. Such a call
counts n calls and n ``grad_calls``; ``cost()`` keeps the points and seconds of value calls and of
gradient calls apart, and ``grad_cost_ratio()`` measures once, at equal batch sizes, what a
gradient point costs in prices, so a consumer reports its cost in calls and in price-equivalents
(value calls plus gradient calls times that ratio).

Pickling: an oracle travels as its configuration, never as live state. ``spec()`` returns
``(class, kwargs)`` such that ``class(**kwargs)`` builds an equal oracle, and ``Oracle.__reduce__``
pickles exactly that, so the copy a worker process unpickles is rebuilt from constructor arguments
(native settings recreated there, a fresh lock, ``calls`` back to 0). Every built-in oracle has a
``spec()``; ``BudgetedOracle`` refuses (its ledger must stay in one place: budget the
``Distributed`` oracle instead), and so does a subclass that defines none.
"""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..box import Box

__all__ = ["Oracle", "OracleCost", "OracleLike", "OracleResult", "ReliabilityWarning", "check_oracle", "grad_cost_ratio",
           "has_grad", "price_equivalents"]

Spec = tuple[type, dict[str, Any]]


class ReliabilityWarning(UserWarning):
    """Some values of a call rest on too little evidence for their standard errors to mean anything
    (Monte Carlo: ``MCResult.reliable`` False); the message names how many rows."""


@dataclass(frozen=True)
class OracleResult:
    """One evaluation: ``price`` and ``stderr`` (n,) float64, read-only (stderr 0: exact); with
    ``grad=True``, ``grad`` and ``grad_stderr`` (n, dim) float64, read-only (else None);
    ``reliable`` (n,) bool where the oracle judges its own values (Monte Carlo), None: all reliable."""

    price: np.ndarray
    stderr: np.ndarray
    grad: np.ndarray | None = None
    grad_stderr: np.ndarray | None = None
    reliable: np.ndarray | None = None

    def reliable_mask(self) -> np.ndarray:
        """(n,) bool: ``reliable``, or all True when the oracle does not judge its values."""
        return np.ones(len(self), dtype=bool) if self.reliable is None else np.asarray(self.reliable, dtype=bool)

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


@dataclass(frozen=True)
class OracleCost:
    """What an oracle has spent: points and wall seconds of value calls and of gradient calls
    (``price_equivalents(ratio)``: value points plus gradient points weighted by ``ratio``, e.g. the
    oracle's ``grad_cost_ratio()``; per-point seconds of calls of different batch sizes are not
    comparable, so the ratio is not taken from these sums)."""

    price_points: int
    price_seconds: float
    grad_points: int
    grad_seconds: float

    def price_equivalents(self, ratio: float | None) -> float:
        return price_equivalents(self.price_points + self.grad_points, self.grad_points, ratio)


def price_equivalents(calls: int, grad_calls: int, ratio: float | None) -> float:
    """``calls`` with each of its ``grad_calls`` weighted by ``ratio`` (a gradient point's measured time
    over a price point's; None counts them as 1, as ``calls`` does)."""
    return float(calls - grad_calls + grad_calls * (1.0 if ratio is None else ratio))


def has_grad(oracle: Any) -> bool:
    """Whether ``oracle`` computes gradients natively (``evaluate(X, grad=True)``)."""
    return bool(getattr(oracle, "has_grad", False))


def check_oracle(oracle: Any, name: str = "oracle", dim: int | None = None) -> OracleLike:
    """``oracle`` if it follows the protocol (and has ``dim`` inputs when given), else a clear error."""
    if not isinstance(oracle, OracleLike):
        raise TypeError(f"{name}: expected an oracle (sg.oracles.Oracle, e.g. sg.oracles.Function(fn, box)), "
                        f"got {type(oracle).__name__}")
    if dim is not None and oracle.dim != dim:
        raise ValueError(f"{name}: expected an oracle of {dim} inputs, got one of {oracle.dim}")
    return oracle


def frozen_result(price: np.ndarray, stderr: np.ndarray | None = None, grad: np.ndarray | None = None,
                  grad_stderr: np.ndarray | None = None, reliable: np.ndarray | None = None) -> OracleResult:
    """An OracleResult over read-only float64 copies-or-views; stderr None means zeros, and so does
    grad_stderr when grad is given."""
    p = np.ascontiguousarray(price, dtype=np.float64)
    s = np.zeros_like(p) if stderr is None else np.ascontiguousarray(stderr, dtype=np.float64)
    arrays = [p, s]
    g = gs = None
    if grad is not None:
        g = np.ascontiguousarray(grad, dtype=np.float64)
        gs = np.zeros_like(g) if grad_stderr is None else np.ascontiguousarray(grad_stderr, dtype=np.float64)
        arrays += [g, gs]
    rel = None
    if reliable is not None:
        rel = np.array(reliable, dtype=bool)
        arrays.append(rel)
    for a in arrays:
        a.setflags(write=False)
    return OracleResult(p, s, g, gs, rel)


def check_grad(name: str, X: np.ndarray, grad: Any, grad_stderr: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A gradient result checked: (n, dim) float64, finite; grad_stderr None or (n, dim), finite, >= 0.
    A ValueError naming ``name`` and the first bad row otherwise (never a NaN handed on)."""
    n, d = X.shape
    g = np.asarray(grad, dtype=np.float64)
    if g.shape != (n, d):
        raise ValueError(f"{name}: the gradient has shape {g.shape}, expected ({n}, {d})")
    arrays = [("gradient", g)]
    gs = None
    if grad_stderr is not None:
        gs = np.asarray(grad_stderr, dtype=np.float64)
        if gs.shape != (n, d):
            raise ValueError(f"{name}: the gradient's standard error has shape {gs.shape}, expected ({n}, {d})")
        arrays.append(("gradient's standard error", gs))
    for what, a in arrays:
        bad = ~np.isfinite(a).all(axis=1)
        if what != "gradient":
            bad |= (a < 0).any(axis=1)
        if bad.any():
            r = int(np.argmax(bad))
            raise ValueError(f"{name}: the {what} is not finite{'' if what == 'gradient' else ' and >= 0'} at "
                             f"{int(bad.sum())} rows (first: row {r} at {X[r].tolist()} gave {a[r].tolist()})")
    return g, gs


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
        self._grad_calls = 0
        self._seconds = [0.0, 0.0]  # wall seconds of value calls, of gradient calls
        self._grad_ratio: float | None = None  # grad_cost_ratio(), measured once
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """Number of points this oracle has priced so far (with or without gradient)."""
        return self._calls

    @property
    def grad_calls(self) -> int:
        """How many of ``calls`` were gradient evaluations (``evaluate(X, grad=True)``)."""
        return self._grad_calls

    @property
    def has_grad(self) -> bool:
        """Whether ``evaluate(X, grad=True)`` is offered natively (subclasses implement ``_evaluate_grad``)."""
        return False

    def cost(self) -> OracleCost:
        """Points and wall seconds spent so far, value calls and gradient calls apart."""
        with self._lock:
            return OracleCost(self._calls - self._grad_calls, self._seconds[0], self._grad_calls, self._seconds[1])

    def reset_calls(self) -> None:
        with self._lock:
            self._calls = 0
            self._grad_calls = 0
            self._seconds = [0.0, 0.0]

    def _count(self, n: int, grad: bool = False, seconds: float = 0.0) -> None:
        with self._lock:
            self._calls += n
            self._grad_calls += n if grad else 0
            self._seconds[1 if grad else 0] += seconds

    def grad_cost_ratio(self) -> float:
        """Seconds per point of a gradient evaluation over a value evaluation, on this machine:
        measured once (then cached) on calibration points of the oracle's box, in batches doubled
        from 16 points until a value call takes 2 ms (at most 4 096 points); each time is the best
        of 5 means over enough calls to last ~10 ms (robust to a busy machine's stalls).
        The calibration is not counted in ``calls``: its values are discarded, it buys no
        information, only the price-equivalents a consumer reports."""
        self._require_grad()
        if self._grad_ratio is None:
            if self.box is None:
                raise ValueError(f"{type(self).__name__}: grad_cost_ratio needs the oracle's box for its calibration points")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ReliabilityWarning)
                n = 16
                while True:
                    X = self.box.sample(n, seed=0)
                    tp = _per_call(self._evaluate, X, 1, 1)
                    if tp >= 2e-3 or n >= 4096:
                        break
                    n *= 2
                k = max(1, int(np.ceil(1e-2 / max(tp, 1e-9))))  # calls per timing: at least ~10 ms
                tp = _per_call(self._evaluate, X, k, 5)
                tg = _per_call(self._evaluate_grad, X, k, 5)
            self._grad_ratio = tg / max(tp, 1e-9)
        return self._grad_ratio

    def _require_grad(self) -> None:
        if not self.has_grad:
            raise ValueError(f"grad: {type(self).__name__} has no native gradient (has_grad is False); evaluate "
                             "with grad=False, or difference its values (what the defense does for such oracles)")

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        """Validate X (n, dim): C-contiguous float64, finite (subclasses add their own rules)."""
        from .._validate import check_matrix

        return check_matrix(X, name, self.dim)

    def evaluate(self, X: Any, grad: bool = False) -> OracleResult:
        """Values and standard errors at X (n, dim), with ``grad=True`` also their gradients
        (``has_grad`` oracles only); counts n calls (and n ``grad_calls``)."""
        X = self.check_points(X)
        if not isinstance(grad, (bool, np.bool_)):
            raise TypeError(f"grad: expected a bool, got {type(grad).__name__} {grad!r}")
        if grad:
            self._require_grad()
        if X.shape[0] == 0:
            return frozen_result(np.empty(0), None, np.empty((0, self.dim)) if grad else None)
        t0 = time.perf_counter()
        if grad:
            price, stderr, g, gs = self._evaluate_grad(X)
            g, gs = check_grad(type(self).__name__, X, g, gs)
        else:
            (price, stderr), g, gs = self._evaluate(X), None, None
        price = self._check_output(X, price, stderr)
        self._count(X.shape[0], bool(grad), time.perf_counter() - t0)
        return frozen_result(price, stderr, g, gs)

    def __call__(self, X: Any) -> np.ndarray:
        """Values at X (n, dim): (n,) float64, a new writable array (the hot path: no stderr kept)."""
        X = self.check_points(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        t0 = time.perf_counter()
        price, stderr = self._evaluate(X)
        price = self._check_output(X, price, stderr)
        self._count(X.shape[0], False, time.perf_counter() - t0)
        price = np.asarray(price, dtype=np.float64)
        return price if price.flags.writeable and price.flags.c_contiguous else np.array(price)

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _evaluate_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
        """``(price, stderr or None, grad (n, dim), grad_stderr (n, dim) or None)`` on validated X;
        subclasses with ``has_grad`` True implement it."""
        raise NotImplementedError  # pragma: no cover - guarded by _require_grad

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


def _per_call(fn: Any, X: np.ndarray, calls: int, repeats: int) -> float:
    """Seconds per call of fn(X): the best over ``repeats`` of the mean over ``calls`` calls."""
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn(X)
        best = min(best, (time.perf_counter() - t) / calls)
    return float(best)


def grad_cost_ratio(oracle: Any) -> float | None:
    """``oracle.grad_cost_ratio()`` through wrappers (``.oracle``), or None when no oracle in the
    chain measures one (a user's ``OracleLike`` without it: its gradients are counted as 1 price)."""
    o = oracle
    for _ in range(16):
        if not has_grad(o):
            return None
        inner = getattr(o, "oracle", None)
        if inner is None or not hasattr(inner, "has_grad"):
            fn = getattr(o, "grad_cost_ratio", None)
            return None if fn is None else float(fn())
        o = inner
    return None


def _rebuild(cls: type, kwargs: dict[str, Any]) -> Any:
    """Unpickling: a new oracle from its ``spec()``."""
    return cls(**kwargs)
