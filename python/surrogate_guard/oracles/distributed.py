"""``Distributed``: an oracle that prices a batch in chunks on an executor, in the batch's order.

Any ``concurrent.futures.Executor`` (threads, processes, ``mpi4py.futures.MPIPoolExecutor``) or a
``dask.distributed.Client`` (dask is imported only when one is passed, or by ``connect``). The
wrapped oracle travels as its configuration (``spec()``, oracles/base.py); chunk sizes follow the
oracle's cost (``chunk_size``, oracles/_chunking.py); a failed chunk is retried, then named by its
rows. Budgets sit above it: ``BudgetedOracle(Distributed(...))``. Guide: docs/scale_out.md.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_float, check_int
from ._chunking import CHUNK_SECONDS, CHUNKS_PER_WORKER, chunk_size, point_seconds
from ._pools import Outcome, Pool, pool_for
from .base import Oracle, OracleLike, Spec, check_oracle
from .budgeted import BudgetedOracle
from .function import Function, OracleFunctionError, _rows_text

__all__ = ["Distributed", "ChunkError", "connect", "chunk_size", "point_seconds", "CHUNK_SECONDS",
           "CHUNKS_PER_WORKER"]


class ChunkError(RuntimeError):
    """A chunk of a distributed batch failed on every attempt. ``rows``: its rows of the batch (a
    ``range``); ``attempts``: how many times it ran. The last error is its ``__cause__``."""

    def __init__(self, message: str, rows: range, attempts: int) -> None:
        super().__init__(message)
        self.rows = rows
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.rows, self.attempts)


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (e.g. "tcp://10.0.0.5:8786"),
    or a ``ConnectionError`` naming the address after ``timeout`` seconds. Close it when done
    (``with connect(address) as client: ...``)."""
    if not isinstance(address, str) or not address:
        raise TypeError(f"address: expected a scheduler address such as 'tcp://host:8786', got {address!r}")
    timeout = check_float(timeout, "timeout", positive=True)
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is a declared extra
        raise ImportError("connect: needs dask.distributed: pip install 'surrogate-guard[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"connect: no Dask scheduler answered at {address!r} within {timeout:g} s "
                              f"({type(exc).__name__}: {exc})") from None


def _travel_error(oracle: Any, pool: Pool, exc: Exception) -> TypeError:
    """The error for an oracle that cannot be sent to ``pool``'s workers."""
    where = f"{pool.describe()} workers run in other processes and receive the oracle pickled"
    if isinstance(oracle, Function):
        try:
            pool.dumps(oracle.fn)
        except Exception as fn_exc:
            return TypeError(f"Distributed: the fn {oracle.fn!r} of Function {oracle.name!r} does not pickle "
                             f"({type(fn_exc).__name__}: {fn_exc}); {where}. Define it with def at module level "
                             "(or a functools.partial of one) and pass that, or use a ThreadPoolExecutor")
    return TypeError(f"Distributed: {type(oracle).__name__} does not pickle ({type(exc).__name__}: {exc}); {where}. "
                     "Give it a spec() (oracles/base.py), or use a ThreadPoolExecutor")


class Distributed(Oracle):
    """``oracle`` priced on ``executor`` in chunks; results in the original row order.

    Args:
        oracle: any oracle but a ``BudgetedOracle`` (budget this one instead). With a thread pool
            the live oracle is shared; otherwise each chunk gets a copy rebuilt from its
            ``spec()``, so the wrapped oracle's own ``calls`` do not move: read this one's.
        executor: a ``concurrent.futures.Executor`` or a ``dask.distributed.Client``
            (``connect(address)`` for a running scheduler). Not owned: the caller closes it.
        chunk: points per chunk; None: ``chunk_size(oracle, n, workers)`` per batch.
        retries: further attempts of a failed chunk (raised, lost with its worker, or past the
            timeout) before a ``ChunkError`` naming its rows. Non-finite values are not retried:
            an ``OracleFunctionError`` names their rows in the batch.
        timeout: seconds one attempt at the batch may take (like ``Executor.map``, from the round's
            start); chunks unfinished by then are cancelled and retried. None: no limit.

    ``calls`` counts the points priced through it (only for batches that succeed). Monte Carlo
    results are bitwise those of a serial call: its random numbers follow (seed, path, step).
    """

    def __init__(self, oracle: OracleLike, executor: Any, *, chunk: int | None = None, retries: int = 2,
                 timeout: float | None = None) -> None:
        oracle = check_oracle(oracle)
        if isinstance(oracle, BudgetedOracle):
            raise TypeError("oracle: a BudgetedOracle cannot be distributed (its cache and budget must stay in one "
                            "place); budget the distributed oracle instead: "
                            "BudgetedOracle(Distributed(oracle, executor), budget)")
        super().__init__(oracle.dim, oracle.box)
        self.oracle = oracle
        self.executor = executor
        self._pool = pool_for(executor)
        self.chunk = None if chunk is None else check_int(chunk, "chunk", minimum=1)
        self.retries = check_int(retries, "retries", minimum=0)
        self.timeout = None if timeout is None else check_float(timeout, "timeout", positive=True)
        if self._pool.pickles:
            try:
                self._pool.dumps(oracle)
            except Exception as exc:
                raise _travel_error(oracle, self._pool, exc) from exc

    def spec(self) -> Spec:
        raise TypeError("Distributed holds a live executor and does not pickle; send its .oracle instead")

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        return self.oracle.check_points(X, name)

    def chunks(self, n: int) -> list[range]:
        """The row ranges a batch of ``n`` points is cut into, in order."""
        size = self.chunk or chunk_size(self.oracle, n, self._pool.workers())
        return [range(a, min(a + size, n)) for a in range(0, n, size)]

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = self.chunks(X.shape[0])
        done: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        todo = list(range(len(parts)))
        failed: dict[int, BaseException] = {}
        for _ in range(self.retries + 1):
            outcomes = self._round(X, parts, todo)
            self._raise_non_finite(outcomes, parts, X.shape[0])
            failed = {i: exc for i, (_, exc) in outcomes.items() if exc is not None}
            done.update({i: res for i, (res, exc) in outcomes.items() if res is not None})
            todo = sorted(failed)
            if not todo:
                break
        if todo:
            raise self._chunk_error(todo, failed, parts, X.shape[0])
        price = np.concatenate([done[i][0] for i in range(len(parts))])
        stderr = np.concatenate([done[i][1] for i in range(len(parts))])
        return price, stderr

    def _round(self, X: np.ndarray, parts: list[range], todo: list[int]) -> dict[int, Outcome]:
        """One attempt at the chunks ``todo``: their outcomes; unfinished ones cancelled."""
        futures: dict[int, Any] = {}
        try:
            for i in todo:
                r = parts[i]
                try:
                    futures[i] = self._pool.submit(self.oracle, X[r.start:r.stop])
                except Exception as exc:  # a broken or closed executor: retrying cannot help
                    raise ChunkError(f"{self._name()}: the executor refused chunk {i} (rows {r.start}-{r.stop - 1} "
                                     f"of {X.shape[0]}): {type(exc).__name__}: {exc}", r, 0) from exc
            self._pool.wait(list(futures.values()), self.timeout)
            out: dict[int, Outcome] = {}
            for i, f in futures.items():
                res, err = self._pool.outcome(f)
                if res is not None and res[0].shape != (len(parts[i]),):
                    err = ValueError(f"expected ({len(parts[i])},) prices, got shape {res[0].shape}")
                    res = None
                out[i] = (res, err)
            return out
        finally:
            for f in futures.values():
                if not f.done():
                    self._pool.cancel(f)

    def _raise_non_finite(self, outcomes: dict[int, Outcome], parts: list[range], n: int) -> None:
        """Non-finite values are the oracle's answer, not a failure: named by their rows of the batch."""
        bad = sorted((i, exc) for i, (_, exc) in outcomes.items()
                     if isinstance(exc, OracleFunctionError) and exc.kind == "non-finite")
        if not bad:
            return
        rows = np.concatenate([parts[i].start + np.asarray(exc.rows, dtype=np.int64) for i, exc in bad])
        i, first = bad[0]
        raise OracleFunctionError(f"{self._name()}: non-finite values on rows {_rows_text(rows)} of this batch of "
                                  f"{n}; chunk {i} (rows {parts[i].start}-{parts[i].stop - 1}) said: {first}",
                                  rows, "non-finite") from first

    def _chunk_error(self, todo: list[int], failed: dict[int, BaseException], parts: list[range],
                     n: int) -> ChunkError:
        i = todo[0]
        r, exc = parts[i], failed[i]
        msg = (f"{self._name()}: chunk {i} of {len(parts)} (rows {r.start}-{r.stop - 1} of this batch of {n}) "
               f"failed on all {self.retries + 1} attempts; last: {type(exc).__name__}: {exc}")
        if isinstance(exc, OracleFunctionError) and len(exc.rows):
            msg += f" (rows {_rows_text(r.start + np.asarray(exc.rows))} of the batch)"
        if len(todo) > 1:
            msg += f"; {len(todo) - 1} more chunk(s) failed too: {todo[1:6]}{' ...' if len(todo) > 6 else ''}"
        err = ChunkError(msg, r, self.retries + 1)
        err.__cause__ = exc
        return err

    def _name(self) -> str:
        return f"Distributed({type(self.oracle).__name__} on {self._pool.describe()})"

    def __repr__(self) -> str:
        return (f"Distributed({self.oracle!r}, {self._pool.describe()}, chunk={self.chunk}, retries={self.retries}, "
                f"timeout={self.timeout}, calls={self.calls})")
