"""The default chunk size of a distributed batch, from what one point of the oracle costs.

A chunk should carry enough work to hide the executor's per-task overhead (about 1-5 ms for a
Dask task, less for a local pool) and little enough to balance the load over the workers and to
lose little when one is retried: ``CHUNK_SECONDS`` = (0.05, 0.5) s of work, and at least
``CHUNKS_PER_WORKER`` chunks per worker when that keeps a chunk above the lower bound. The costs
per point are per-core rates measured on the dev box (bench/results_mc.md, bench/results_fd.md,
bench/RESULTS.md), conservative on purpose: a faster worker only makes a chunk shorter.
"""
from __future__ import annotations

import math
from typing import Any

from .analytic import Analytic
from .finite_difference import FiniteDifference
from .monte_carlo import MonteCarlo

__all__ = ["CHUNK_SECONDS", "CHUNKS_PER_WORKER", "chunk_size", "point_seconds"]

CHUNK_SECONDS = (0.05, 0.5)
CHUNKS_PER_WORKER = 4
ANALYTIC_SECONDS = 2e-7  # 143 ns per point per core measured, rounded up
MC_PATH_STEPS_PER_S = 2e8  # GBM float64 with the bridge, per core (208-293 M measured)
MC_CUDA_PATH_STEPS_PER_S = 5e10  # a third of the GPU target: the GPU path is not yet measured
FD_NODE_STEPS_PER_S = 1e9  # 0.6-1 ns per node-step per core measured


def point_seconds(oracle: Any) -> float | None:
    """Estimated seconds of one core per point for a built-in oracle; None when unknown
    (a ``Function`` or any other oracle: its cost is the user's secret).

    - ``MonteCarlo``: paths x steps path-steps at 2e8 per s (float32 twice as fast, Heston 1.33x
      slower, CUDA at 5e10).
    - ``FiniteDifference``: ``node_steps`` per solve at 1e9 per s, two solves for an in option.
    - ``Analytic``: 2e-7 s.
    """
    if isinstance(oracle, MonteCarlo):
        rate = MC_CUDA_PATH_STEPS_PER_S if oracle.device == "cuda" else MC_PATH_STEPS_PER_S
        rate *= 2.0 if oracle.precision == "float32" else 1.0
        rate *= 0.75 if oracle.model.code == 1 else 1.0  # Heston: two normals per step
        return oracle.paths * oracle.steps / rate
    if isinstance(oracle, FiniteDifference):
        return oracle.node_steps * (2 if oracle.option.is_in else 1) / FD_NODE_STEPS_PER_S
    if isinstance(oracle, Analytic):
        return ANALYTIC_SECONDS
    return None


def chunk_size(oracle: Any, n: int, workers: int, *, seconds: tuple[float, float] = CHUNK_SECONDS,
               per_worker: int = CHUNKS_PER_WORKER) -> int:
    """Points per chunk for a batch of ``n`` points on ``workers`` workers (>= 1, <= max(n, 1)).

    With ``s`` = ``point_seconds(oracle)``: ``ceil(n / (per_worker * workers))`` points (the load
    balance), raised to ``ceil(seconds[0] / s)`` (the chunk hides its overhead) and cut to
    ``floor(seconds[1] / s)`` (a retry or a slow worker costs little). Cheap oracles thus get
    large chunks (``Analytic``: 250 000 points at least, so usually one chunk per batch), costly
    ones small chunks (``MonteCarlo`` at its defaults, 0.021 s a point: 3 to 23 points). Unknown
    cost: the load balance alone.
    """
    n, workers = max(int(n), 1), max(int(workers), 1)
    balance = math.ceil(n / (per_worker * workers))
    s = point_seconds(oracle)
    if s is None or s <= 0.0:
        return min(n, balance)
    low = math.ceil(seconds[0] / s)
    high = max(1, math.floor(seconds[1] / s))
    return max(1, min(n, high, max(low, balance)))
