"""Fixtures shared by the benchmarks."""
from __future__ import annotations

import numba
import pytest


@pytest.fixture(scope="module")
def single_thread():
    """Numba kernels on one thread for the duration of a module: per-core figures."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)
