"""Fixtures shared by the benchmarks.

Sizes: SG_BENCH_SIZE=full (the default; `make bench`, and every figure in bench/RESULTS.md) or
SG_BENCH_SIZE=ci (small inputs, for `.ci/bench`: `pytest bench --benchmark-disable` runs each
bench once as a test, its correctness assertion included, in seconds on a 2-core box without a
GPU; GPU benches skip there). A bench takes its sizes from the `size` fixture:
``n = size(full=1_000_000, ci=10_000)``. With --benchmark-disable, `benchmark.pedantic` calls
the function once and `benchmark.stats` is None: benches read timings only under
``if benchmark.enabled:`` and assert their results either way.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import numba
import pytest

T = TypeVar("T")
SIZES = ("full", "ci")


def _bench_size() -> str:
    size = os.environ.get("SG_BENCH_SIZE", "full")
    if size not in SIZES:
        raise pytest.UsageError(f"SG_BENCH_SIZE: expected one of {SIZES}, got {size!r}; "
                                "unset it for the full sizes or set SG_BENCH_SIZE=ci")
    return size


def pytest_configure(config):
    _bench_size()  # a bad value is a usage error before anything runs


def pytest_report_header(config):
    return f"bench size: {_bench_size()} (SG_BENCH_SIZE)"


@pytest.fixture(scope="session")
def size() -> Callable[..., object]:
    """size(full=..., ci=...): the value for this run's SG_BENCH_SIZE."""
    current = _bench_size()

    def pick(*, full: T, ci: T) -> T:
        return full if current == "full" else ci
    return pick


@pytest.fixture(scope="module")
def single_thread():
    """Numba kernels on one thread for the duration of a module: per-core figures."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


TORCH_THREADS = 2  # the dev box's cores: torch baselines run on as many threads as ours


@pytest.fixture
def torch_threads():
    """torch on TORCH_THREADS threads for one benchmark (the baselines of bench_mlp and bench_inference)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    yield
    torch.set_num_threads(old)
