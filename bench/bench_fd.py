"""Finite difference: ours (Numba, one thread) against QuantLib's FdBlackScholesBarrierEngine at
800x800, per option, at equal or better accuracy (both measured against the closed form).

Run: .venv/bin/python -m pytest bench/bench_fd.py --benchmark-only -s
Targets (issue 2): >= 100x faster per option than QuantLib at equal or better accuracy, and
<= 2 ns per grid node-step per option per thread. Also: JIT compile time of the first call
in a fresh process with an empty vs a warm Numba cache.
Sizes (SG_BENCH_SIZE, bench/conftest.py): full 512 points ours at the bench grid, 64 at the default
grid, 24 for QuantLib; ci 64, 8 and 8 (the same worst QuantLib error, 2.5e-3, as the full 24).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.quantlib_ref import quantlib_prices

PRESET = sg.presets.get("paper")
OPT = PRESET.option
GRID = dict(space_steps=160, time_steps=160)  # the coarsest grid we found at QuantLib's accuracy or better
GROUP = "finite difference: per option, one thread"


def _points(n: int, seed: int) -> np.ndarray:
    X = PRESET.sample(n, seed=seed)
    X[:, 3] = np.maximum(np.round(X[:, 3] * 365.0), 1.0) / 365.0  # whole days
    return X


def _rel_err(y, X):
    ref = sg.oracles.Analytic(OPT)(X)
    return float(np.max(np.abs(y - ref) / np.maximum(ref, 1.0)))


@pytest.fixture(scope="module")
def n_ql(size):
    return size(full=24, ci=8)


@pytest.fixture(scope="module")
def ql_error(n_ql):
    X = _points(n_ql, seed=5)
    return _rel_err(quantlib_prices(OPT, X, engine="fd", grid=(800, 800)), X)


@pytest.mark.benchmark(group=GROUP)
def test_ours(benchmark, single_thread, size, n_ql, ql_error):
    n = size(full=512, ci=64)
    X = _points(n, seed=6)
    fd = sg.oracles.FiniteDifference(OPT, **GRID)
    fd(X[:2])
    prices = benchmark.pedantic(fd, args=(X,), rounds=3, iterations=1, warmup_rounds=1)
    err = _rel_err(prices, X)
    ql_pts = _points(n_ql, seed=5)
    err_ql_pts = _rel_err(fd(ql_pts), ql_pts)
    assert err <= ql_error and err_ql_pts <= ql_error, (err, err_ql_pts, ql_error)
    if benchmark.enabled:
        per_opt = benchmark.stats["min"] / n
        # Knocked-out points (barrier >= spot) cost nothing; count node-steps of the solved ones.
        solved = np.count_nonzero(X[:, 1] < OPT.spot)
        ns_node = benchmark.stats["min"] / (solved * fd.node_steps) * 1e9
        benchmark.extra_info.update(us_per_option=per_opt * 1e6, ns_per_node_step=ns_node, max_rel_err=err,
                                    max_rel_err_on_ql_points=err_ql_pts, ql_max_rel_err=ql_error)
        print(f"\nours {GRID}: {per_opt * 1e6:.1f} us/option, {ns_node:.2f} ns/node-step, "
              f"max rel err {err:.2e} ({n} pts), {err_ql_pts:.2e} on QuantLib's points; QuantLib {ql_error:.2e}")


@pytest.mark.benchmark(group=GROUP)
def test_ours_default_grid(benchmark, single_thread, size):
    """The default grid (1000 x 1000 with Richardson): cost per node-step where the steps dominate."""
    X = _points(size(full=64, ci=8), seed=7)
    fd = sg.oracles.FiniteDifference(OPT)
    fd(X[:2])
    prices = benchmark.pedantic(fd, args=(X,), rounds=3, iterations=1, warmup_rounds=1)
    err = _rel_err(prices, X)
    assert err <= 1e-4, err
    if benchmark.enabled:
        t = benchmark.stats["min"]
        solved = np.count_nonzero(X[:, 1] < OPT.spot)
        ns_node = t / (solved * fd.node_steps) * 1e9
        benchmark.extra_info.update(us_per_option=t / len(X) * 1e6, ns_per_node_step=ns_node, max_rel_err=err)
        print(f"\nours default grid: {t / len(X) * 1e6:.1f} us/option, {ns_node:.2f} ns/node-step, "
              f"max rel err {err:.2e} ({len(X)} pts)")


@pytest.mark.benchmark(group=GROUP)
def test_quantlib_800x800(benchmark, n_ql):
    X = _points(n_ql, seed=5)
    prices = benchmark.pedantic(quantlib_prices, args=(OPT, X), kwargs=dict(engine="fd", grid=(800, 800)),
                                rounds=2, iterations=1)
    err = _rel_err(prices, X)
    assert err < 0.05, err
    if benchmark.enabled:
        per_opt = benchmark.stats["min"] / n_ql
        benchmark.extra_info.update(us_per_option=per_opt * 1e6, max_rel_err=err)
        print(f"\nQuantLib FD 800x800: {per_opt * 1e6:.1f} us/option, max rel err {err:.2e}")


_FIRST_CALL = (
    "import time, numpy as np; t = time.perf_counter(); import surrogate_guard as sg; "
    "fd = sg.oracles.FiniteDifference(sg.BarrierOption('down-and-out', 'put'), space_steps=40, time_steps=40); "
    "t1 = time.perf_counter(); fd(np.array([[100.0, 80.0, 0.2, 1.0, 0.05]])); "
    "print(time.perf_counter() - t1, t1 - t)"
)


def _first_call_seconds(cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def test_jit_compile_paid_once():
    """First call in a fresh process: empty Numba cache (compiles) vs warm cache (loads)."""
    with tempfile.TemporaryDirectory() as d:
        cold = _first_call_seconds(d)
        warm = _first_call_seconds(d)
    print(f"\nfirst FiniteDifference call: empty cache {cold:.2f} s, warm cache {warm:.3f} s")
    assert warm < 0.5 * cold


# Issue 13: the adaptive default grid against the old fixed default (1000 x 1000 + Richardson) and
# QuantLib, in the same run, on held-out points (seeds not used in any calibration), one thread.
GROUP13 = "finite difference: default grid vs old default vs QuantLib, per option, one thread"
OLD_DEFAULT = dict(space_steps=1000, time_steps=1000)


def _domain_points(n: int, seed: int) -> np.ndarray:
    """Random points of FiniteDifference's stated domain for the paper option (q = 0): the
    distribution of tests/test_fd_domain.py's domain_sample (log-uniform ratios, volatility and
    maturity, uniform rate; maturities shortened onto the derived bounds)."""
    from surrogate_guard.oracles import finite_difference as fdm

    rng = np.random.default_rng(seed)
    S = OPT.spot
    X = np.column_stack([S * np.exp(rng.uniform(np.log(0.05), np.log(20.0), n)),
                         S * np.exp(rng.uniform(np.log(0.05), 0.0, n)),
                         np.exp(rng.uniform(np.log(0.005), np.log(2.0), n)),
                         np.exp(rng.uniform(np.log(0.001), np.log(30.0), n)), rng.uniform(-0.1, 0.3, n)])
    X[:, 3] = np.minimum(X[:, 3], fdm.VARIANCE_MAX / X[:, 2] ** 2)
    mu = np.abs(X[:, 4] - OPT.dividend - 0.5 * X[:, 2] ** 2)
    with np.errstate(divide="ignore"):
        X[:, 3] = np.minimum(X[:, 3], np.where(mu > 0, (0.999 * fdm.DRIFT_MAX * X[:, 2] / mu) ** 2, np.inf))
    return X


def _contract_err(y, X):
    ref = sg.oracles.Analytic(OPT)(X)
    return float(np.max(np.abs(y - ref) / np.maximum(ref, OPT.spot / 100)))


_SETS13 = {"paper": lambda n: _points(n, seed=2026), "domain": lambda n: _domain_points(n, seed=2027)}


@pytest.mark.benchmark(group=GROUP13)
@pytest.mark.parametrize("points", ["paper", "domain"])
@pytest.mark.parametrize("grid", ["adaptive", "old 1000x1000"])
def test_default_grid_vs_old(benchmark, single_thread, size, points, grid):
    """Per option and max contract error, the adaptive default against the old fixed default on the
    same held-out points; both must meet the contract there."""
    n = size(full=512, ci=64) if grid == "adaptive" else size(full=64, ci=8)
    X = _SETS13[points](n)
    fd = sg.oracles.FiniteDifference(OPT, **({} if grid == "adaptive" else OLD_DEFAULT))
    fd(X[:2])
    prices = benchmark.pedantic(fd, args=(X,), rounds=3, iterations=1, warmup_rounds=0)
    err = _contract_err(prices, X)
    assert err <= 1e-4, err
    if benchmark.enabled:
        per = benchmark.stats["min"] / n
        benchmark.extra_info.update(us_per_option=per * 1e6, max_contract_err=err, points=n)
        print(f"\n{grid} on {n} {points} points: {per * 1e6:.1f} us/option, max |err| / max(price, S0/100) {err:.2e}")


@pytest.mark.benchmark(group=GROUP13)
def test_quantlib_on_held_out_paper_points(benchmark, size):
    """QuantLib's FdBlackScholesBarrierEngine at 800 x 800 on the first held-out paper points: it does
    not meet the 1e-4 contract there (first order in space: 800 -> 2000 -> 4000 nodes measured
    2.5e-3 -> 1.0e-3 -> 5.2e-4, so 1e-4 needs ~20 000 nodes, seconds per option); the adaptive default
    on the same points, for the error beside it."""
    X = _SETS13["paper"](size(full=24, ci=8))
    prices = benchmark.pedantic(quantlib_prices, args=(OPT, X), kwargs=dict(engine="fd", grid=(800, 800)),
                                rounds=2, iterations=1)
    err = _contract_err(prices, X)
    ours = _contract_err(sg.oracles.FiniteDifference(OPT)(X), X)
    assert ours <= 1e-4 and ours < err < 0.05, (ours, err)
    if benchmark.enabled:
        per = benchmark.stats["min"] / len(X)
        benchmark.extra_info.update(us_per_option=per * 1e6, max_contract_err=err, ours_max_contract_err=ours)
        print(f"\nQuantLib FD 800x800 on {len(X)} paper points: {per * 1e6:.1f} us/option, max err {err:.2e} "
              f"(adaptive default on the same points {ours:.2e})")
