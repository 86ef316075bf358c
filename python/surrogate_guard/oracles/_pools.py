"""How ``Distributed`` talks to an executor: one small adapter per kind, the same four verbs.

``concurrent.futures`` executors (threads, processes, ``mpi4py.futures``) and a
``dask.distributed.Client`` (recognised by its class, never imported unless one is passed) both
submit a chunk, wait for a round of chunks up to a deadline, read a finished chunk's outcome and
cancel an unfinished one. Threads share the live oracle; every other kind pickles it (its
``spec()``, oracles/base.py), checked once up front so the error comes before any work.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import pickle
from typing import Any, Callable

import numpy as np

__all__ = ["Pool", "pool_for", "price_chunk", "is_dask_client"]

Outcome = tuple[tuple[np.ndarray, np.ndarray] | None, BaseException | None]


def price_chunk(oracle: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a worker runs: ``oracle.evaluate`` on one chunk, (price, stderr) (m,) float64."""
    res = oracle.evaluate(X)
    return np.asarray(res.price), np.asarray(res.stderr)


def is_dask_client(obj: Any) -> bool:
    """A ``distributed.Client`` (or a subclass), told by its class so dask is never imported here."""
    return any(c.__name__ == "Client" and c.__module__.split(".")[0] == "distributed" for c in type(obj).__mro__)


class Pool:
    """A ``concurrent.futures.Executor``: ``submit``, ``wait``, ``outcome``, ``cancel``."""

    kind = "executor"

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.pickles = not isinstance(executor, cf.ThreadPoolExecutor)
        self.dumps: Callable[[Any], bytes] = pickle.dumps

    def describe(self) -> str:
        return type(self.executor).__name__

    def workers(self) -> int:
        """Workers of the executor (its own count when it tells, else the CPU count)."""
        n = getattr(self.executor, "_max_workers", None) or getattr(self.executor, "num_workers", None)
        return int(n) if n else (os.cpu_count() or 1)

    def submit(self, oracle: Any, X: np.ndarray) -> Any:
        return self.executor.submit(price_chunk, oracle, X)

    def wait(self, futures: list[Any], timeout: float | None) -> None:
        cf.wait(futures, timeout=timeout)

    def outcome(self, future: Any) -> Outcome:
        """(result, None) for a chunk done well, (None, error) for one failed or unfinished."""
        if not future.done():
            return None, TimeoutError("not finished within the timeout")
        try:
            return future.result(), None
        except (Exception, asyncio.CancelledError) as exc:  # a worker's error, re-raised here
            return None, exc

    def cancel(self, future: Any) -> None:
        future.cancel()


class DaskPool(Pool):
    """A ``dask.distributed.Client``: tasks are impure (a retry is a new task, never the erred
    one again) and pickled with cloudpickle, as dask itself does."""

    kind = "dask"

    def __init__(self, client: Any) -> None:
        import cloudpickle
        import distributed

        super().__init__(client)
        self.pickles = True
        self.dumps = cloudpickle.dumps
        self._wait = distributed.wait

    def describe(self) -> str:
        return f"dask Client({self.executor.scheduler.address})"

    def workers(self) -> int:
        return max(1, sum(self.executor.nthreads().values()))

    def submit(self, oracle: Any, X: np.ndarray) -> Any:
        return self.executor.submit(price_chunk, oracle, X, pure=False)

    def wait(self, futures: list[Any], timeout: float | None) -> None:
        try:
            self._wait(futures, timeout=timeout)
        except TimeoutError:  # the unfinished chunks are read as failed attempts
            pass


def pool_for(executor: Any) -> Pool:
    """The adapter for ``executor``, or a TypeError saying what is accepted."""
    if isinstance(executor, cf.Executor):
        return Pool(executor)
    if is_dask_client(executor):
        return DaskPool(executor)
    if isinstance(executor, str):
        raise TypeError(f"executor: got the string {executor!r}; for a Dask scheduler's address connect first: "
                        "client = sg.oracles.distributed.connect(address), then Distributed(oracle, client)")
    raise TypeError("executor: expected a concurrent.futures.Executor (ThreadPoolExecutor, ProcessPoolExecutor, "
                    f"mpi4py.futures.MPIPoolExecutor) or a dask.distributed.Client, got {type(executor).__name__}")
