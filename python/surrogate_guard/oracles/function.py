"""``Function``: a user's callable ``(n, d) -> (n,)`` over a ``Box``, behind the oracle protocol.

This is how anything that is not a barrier option (a simulation code, a test function, another
library's model) becomes an oracle the surrogate, the attacks, the defense and the budget layer
accept. Rows the function fails on are named: when it raises on a batch, the batch is retried
row by row to find them; when it returns NaN or inf, those rows are reported. It pickles as
``(fn, box, stderr, name)`` (oracles/base.py), so ``fn`` must pickle to reach worker processes: a
module-level function (or a ``functools.partial`` of one) does, a lambda or a local function
does not.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

import numpy as np

from ..box import Box
from .base import Oracle, Spec

__all__ = ["Function", "OracleFunctionError"]

_MAX_ROWS_NAMED = 10  # rows listed in an error message
_MAX_ROWS_RETRIED = 1000  # a failing batch is retried row by row up to this many rows


FailureKind = Literal["raised", "non-finite"]


class OracleFunctionError(ValueError):
    """A user oracle raised (``kind`` "raised") or returned a non-finite value (``kind``
    "non-finite"); ``rows`` are the offending row indices of the batch. Pickles intact (it crosses
    processes from a worker), rows and kind included."""

    def __init__(self, message: str, rows: np.ndarray, kind: FailureKind = "raised") -> None:
        super().__init__(message)
        self.rows = rows
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.rows, self.kind)


def _rows_text(rows: np.ndarray) -> str:
    head = ", ".join(str(int(r)) for r in rows[:_MAX_ROWS_NAMED])
    return f"[{head}{', ...' if len(rows) > _MAX_ROWS_NAMED else ''}] ({len(rows)} of them)"


class Function(Oracle):
    """An oracle from ``fn(X (n, d) float64) -> (n,)`` over ``box`` (an ``sg.Box`` or (d, 2) bounds).

    Args:
        fn: vectorized callable; it receives a read-only C-contiguous float64 array.
        box: the domain; fixes ``dim`` and the unit box every distance is measured in.
        stderr: None (exact values: standard errors 0), a number (the same standard error for
            every point) or a callable ``(X) -> (n,)`` (a noisy oracle reporting its own).
        name: shown in ``repr`` and in error messages.
        grad: None, or a callable ``(X) -> (n, d)``, the derivatives of ``fn`` in every input (exact:
            its standard errors are 0). With it ``has_grad`` is True and ``evaluate(X, grad=True)``
            calls ``fn`` and ``grad`` once each on the batch.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], box: Any, stderr: Any = None, *, name: str | None = None,
                 grad: Callable[[np.ndarray], Any] | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a callable (n, d) -> (n,), got {type(fn).__name__}")
        b = Box.of(box)
        super().__init__(b.dim, b)
        self.fn = fn
        if stderr is not None and not callable(stderr):
            if isinstance(stderr, bool) or not isinstance(stderr, (int, float, np.integer, np.floating)):
                raise TypeError(f"stderr: expected None, a number or a callable, got {type(stderr).__name__}")
            if not np.isfinite(stderr) or stderr < 0:
                raise ValueError(f"stderr: expected a finite number >= 0, got {stderr!r}")
            stderr = float(stderr)
        self.stderr = stderr
        if grad is not None and not callable(grad):
            raise TypeError(f"grad: expected None or a callable (n, d) -> (n, d), got {type(grad).__name__}")
        self.grad = grad
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def spec(self) -> Spec:
        """``(Function, kwargs)``: what pickles (oracles/base.py); ``fn`` must pickle too."""
        return Function, {"fn": self.fn, "box": self.box, "stderr": self.stderr, "name": self.name, "grad": self.grad}

    @property
    def has_grad(self) -> bool:
        return self.grad is not None

    def _call_values(self, fn: Callable, X: np.ndarray, what: str) -> np.ndarray:
        X = X.view()  # read-only view: the caller's own array keeps its flags
        X.setflags(write=False)
        try:
            out = fn(X)
        except Exception as exc:
            rows = self._failing_rows(fn, X)
            msg = f"oracle {self.name!r}: {what} raised {type(exc).__name__}: {exc}"
            if len(rows):
                msg += f"; it fails on rows {_rows_text(rows)} of this batch of {X.shape[0]}"
            raise OracleFunctionError(msg, rows) from exc
        try:
            arr = np.array(out, dtype=np.float64)  # a copy: the caller's buffer is never handed on
        except (TypeError, ValueError):
            raise TypeError(f"oracle {self.name!r}: {what} returned {type(out).__name__}, expected ({X.shape[0]},) "
                            "real values") from None
        if arr.shape != (X.shape[0],):
            if arr.shape == (X.shape[0], 1):
                arr = arr[:, 0]
            else:
                raise ValueError(f"oracle {self.name!r}: {what} returned shape {arr.shape}, expected ({X.shape[0]},)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise OracleFunctionError(f"oracle {self.name!r}: {what} returned non-finite values on rows "
                                      f"{_rows_text(bad)}; first: row {int(bad[0])} at {X[bad[0]].tolist()} "
                                      f"gave {arr[bad[0]]!r}", bad, "non-finite")
        return arr

    def _failing_rows(self, fn: Callable, X: np.ndarray) -> np.ndarray:
        """Rows on which ``fn`` raises when called one row at a time (the first 1000 rows at most)."""
        bad = []
        for i in range(min(X.shape[0], _MAX_ROWS_RETRIED)):
            try:
                fn(X[i:i + 1])
            except Exception:
                bad.append(i)
        return np.array(bad, dtype=np.int64)

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        price = self._call_values(self.fn, X, "fn")
        if self.stderr is None:
            return price, None
        if callable(self.stderr):
            se = self._call_values(self.stderr, X, "stderr")
            if (se < 0).any():
                raise ValueError(f"oracle {self.name!r}: stderr returned negative values on rows "
                                 f"{_rows_text(np.flatnonzero(se < 0))}")
            return price, se
        return price, np.full(X.shape[0], self.stderr)

    def _evaluate_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, None]:
        price, se = self._evaluate(X)
        assert self.grad is not None
        Xr = X.view()
        Xr.setflags(write=False)
        try:
            g = np.array(self.grad(Xr), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise OracleFunctionError(f"oracle {self.name!r}: grad raised {type(exc).__name__}: {exc}",
                                      np.arange(0), "raised") from exc
        if g.shape != X.shape:
            raise ValueError(f"oracle {self.name!r}: grad returned shape {g.shape}, expected {X.shape}")
        bad = np.flatnonzero(~np.isfinite(g).all(axis=1))
        if bad.size:
            raise OracleFunctionError(f"oracle {self.name!r}: grad returned non-finite values on rows "
                                      f"{_rows_text(bad)}", bad, "non-finite")
        return price, se, g, None

    def __repr__(self) -> str:
        return f"Function({self.name}, {self.box}, calls={self.calls})"
