"""Closed form: ours (Numba, one thread) against QuantLib's AnalyticBarrierEngine, per option.

Run: .venv/bin/python -m pytest bench/bench_analytic.py --benchmark-only
Target (issue 2): <= 200 ns per option per core on large batches.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.quantlib_ref import quantlib_prices

PRESET = sg.presets.get("paper")
N_OURS = 1_000_000
N_QL = 500


@pytest.mark.benchmark(group="analytic: per option, one core")
def test_ours(benchmark, single_thread):
    X = PRESET.sample(N_OURS, seed=1)
    Z = sg.oracles.Analytic(PRESET.option)
    Z(X[:10])
    prices = benchmark.pedantic(Z, args=(X,), rounds=5, iterations=1, warmup_rounds=1)
    ns = benchmark.stats["min"] / N_OURS * 1e9
    benchmark.extra_info["ns_per_option"] = ns
    ref = quantlib_prices(PRESET.option, X[:200])
    np.testing.assert_allclose(prices[:200], ref, rtol=0, atol=1e-7)
    print(f"\nours: {ns:.1f} ns/option/core")


@pytest.mark.benchmark(group="analytic: per option, one core")
def test_quantlib(benchmark):
    X = PRESET.sample(N_QL, seed=1)
    benchmark.pedantic(quantlib_prices, args=(PRESET.option, X), rounds=3, iterations=1)
    ns = benchmark.stats["min"] / N_QL * 1e9
    benchmark.extra_info["ns_per_option"] = ns
    print(f"\nQuantLib: {ns:.1f} ns/option")
