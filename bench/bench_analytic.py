"""Closed form: ours (Numba, one thread) against QuantLib's AnalyticBarrierEngine, per option.

Run: .venv/bin/python -m pytest bench/bench_analytic.py --benchmark-only
Target (issue 2): <= 200 ns per option per core on large batches.
Sizes (SG_BENCH_SIZE, bench/conftest.py): full 1 000 000 points ours / 500 QuantLib; ci 10 000 / 50.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.quantlib_ref import quantlib_prices

PRESET = sg.presets.get("paper")
GROUP = "analytic: per option, one core"
N_CHECK = 200  # points checked against QuantLib by test_ours


@pytest.mark.benchmark(group=GROUP)
def test_ours(benchmark, single_thread, size):
    n = size(full=1_000_000, ci=10_000)
    X = PRESET.sample(n, seed=1)
    Z = sg.oracles.Analytic(PRESET.option)
    Z(X[:10])
    prices = benchmark.pedantic(Z, args=(X,), rounds=5, iterations=1, warmup_rounds=1)
    ref = quantlib_prices(PRESET.option, X[:N_CHECK])
    np.testing.assert_allclose(prices[:N_CHECK], ref, rtol=0, atol=1e-7)
    if benchmark.enabled:
        ns = benchmark.stats["min"] / n * 1e9
        benchmark.extra_info["ns_per_option"] = ns
        print(f"\nours: {ns:.1f} ns/option/core")


@pytest.mark.benchmark(group=GROUP)
def test_quantlib(benchmark, size):
    n = size(full=500, ci=50)
    X = PRESET.sample(n, seed=1)
    ref = benchmark.pedantic(quantlib_prices, args=(PRESET.option, X), rounds=3, iterations=1)
    np.testing.assert_allclose(ref, sg.oracles.Analytic(PRESET.option)(X), rtol=0, atol=1e-7)  # as test_ours
    if benchmark.enabled:
        ns = benchmark.stats["min"] / n * 1e9
        benchmark.extra_info["ns_per_option"] = ns
        print(f"\nQuantLib: {ns:.1f} ns/option")
