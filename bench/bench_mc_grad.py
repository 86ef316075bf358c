"""Monte Carlo sensitivities (issue 13): the price with all five pathwise sensitivities in one pass
against the price alone, and against central differences of the price (1 + 2 x 5 = 11 prices),
one thread, CPU float64 and float32, GBM and Heston. The ratios come from one run.

Run: .venv/bin/python -m pytest bench/bench_mc_grad.py --benchmark-only -s
Target (issue 13): price + 5 sensitivities <= 2.5x the price's time (central differences: 11x).
Sizes (SG_BENCH_SIZE, bench/conftest.py), points x paths x steps: full 16 x 65536 x 64, ci 2 x 4096 x 64.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg

OPT = sg.BarrierOption("down-and-out", "call")
ROW = np.array([[100.0, 80.0, 0.2, 1.0, 0.03]])
STEPS = 64
MODELS = {"gbm": sg.GBM(), "heston": sg.Heston(kappa=2.0, xi=0.5, rho=-0.7)}  # v0 = theta = sigma^2 = 0.04
SECONDS: dict[tuple[str, str, str], float] = {}
MODES = ("price", "price+grad", "central differences")


def _bumped(X: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    """(11 n, 5): X, then X -+ h in each column (h relative; the rate's absolute)."""
    rows = [X]
    for j in range(5):
        h = rel * (X[:, j] if j < 4 else np.ones(len(X)))
        for s in (1.0, -1.0):
            Y = X.copy()
            Y[:, j] += s * h
            rows.append(Y)
    return np.concatenate(rows)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
def test_mc_grad_cost(benchmark, size, model, precision, mode):
    n_points, paths = size(full=(16, 65536), ci=(2, 4096))
    benchmark.group = f"mc sensitivities: {model} {precision}, DOC {STEPS} steps, {n_points} x {paths} paths, one thread"
    Z = sg.oracles.MonteCarlo(OPT, model=MODELS[model], paths=paths, steps=STEPS, device="cpu",
                              precision=precision, threads=1)
    X = np.repeat(ROW, n_points, axis=0)
    if mode == "price":
        res = benchmark.pedantic(Z.evaluate, args=(X,), rounds=3, iterations=1, warmup_rounds=1)
    elif mode == "price+grad":
        res = benchmark.pedantic(Z.evaluate, args=(X,), kwargs={"grad": True}, rounds=3, iterations=1,
                                 warmup_rounds=1)
        # One pass: the price is bitwise the price alone's; the gradient is finite with a standard error.
        plain = Z.evaluate(X)
        assert np.array_equal(res.price, plain.price) and np.array_equal(res.stderr, plain.stderr)
        assert np.all(np.isfinite(res.grad)) and np.all(res.grad_stderr > 0)
        if model == "gbm":  # against the closed form's central differences: 5 SE plus the reference's O(h^2)
            A = sg.oracles.Analytic(OPT)
            P = A(_bumped(ROW))
            h = 1e-4 * np.array([100.0, 80.0, 0.2, 1.0, 1.0])
            ref = (P[1::2] - P[2::2]) / (2 * h)
            assert np.all(np.abs(res.grad[0] - ref) <= 5 * res.grad_stderr[0] + 1e-6 * (1 + np.abs(ref))), (res.grad[0], ref)
    else:
        XB = _bumped(X)
        prices = benchmark.pedantic(Z, args=(XB,), rounds=3, iterations=1, warmup_rounds=1)
        assert prices.shape == (11 * n_points,) and np.all(np.isfinite(prices))
        res = None
    if res is not None:
        cf = sg.oracles.Analytic(OPT)(ROW)[0]
        if model == "gbm":
            assert abs(res.price[0] - cf) <= 4 * res.stderr[0], (res.price[0], res.stderr[0], cf)
    if benchmark.enabled:
        SECONDS[(model, precision, mode)] = benchmark.stats["min"]
        base = SECONDS.get((model, precision, "price"))
        if base and mode != "price":
            ratio = benchmark.stats["min"] / base
            benchmark.extra_info["ratio_to_price"] = ratio
            print(f"\n{model} {precision} {mode}: {ratio:.2f}x the price's time")
