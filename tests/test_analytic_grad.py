"""Analytic.evaluate(X, grad=True): exact derivatives (forward mode through the formulas) against
Richardson-extrapolated central differences of the price itself, on the paper box, the domain's
edges (tiny volatility: the log-space branch) and breached barriers, for all 8 kinds."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg

EPS = np.finfo(np.float64).eps
# Relative steps per column [strike, barrier, volatility, maturity, rate]: large enough that rounding
# (eps |f| / h) stays small, small enough that the h^4 truncation of the extrapolation is negligible.
REL_STEP = np.array([1e-3, 1e-3, 1e-3, 1e-3, 1e-3])


def central(f, X: np.ndarray, j: int, h: np.ndarray) -> np.ndarray:
    Xp, Xm = X.copy(), X.copy()
    Xp[:, j] += h
    Xm[:, j] -= h
    return (f(Xp) - f(Xm)) / (2.0 * h)


def check_against_differences(option: sg.BarrierOption, X: np.ndarray) -> None:
    oracle = sg.oracles.Analytic(option, check_domain=False)
    res = oracle.evaluate(X, grad=True)
    np.testing.assert_array_equal(res.price, oracle(X))  # the same operations on the value part
    assert res.grad.shape == X.shape and np.isfinite(res.grad).all()
    for j in range(5):
        h = REL_STEP[j] * np.maximum(np.abs(X[:, j]), 0.01 if j == 4 else 1e-12)
        d1, d2 = central(oracle, X, j, h), central(oracle, X, j, h / 2)
        rich = (4.0 * d2 - d1) / 3.0
        # Error bound of the reference: its truncation, estimated by the Richardson difference |d2 - d1|
        # (a bound on d2's own O(h^2) error, far above the extrapolation's O(h^4)), plus rounding of the
        # prices divided by the step: 4 prices of |error| <= 1e-12 (S0 + K) (the closed form's contract)
        # combined with weights up to 5/3 over h/2.
        tol = np.abs(d2 - d1) + 20.0 * 1e-12 * (option.spot + X[:, 0]) / h + 64 * EPS * np.abs(rich)
        # Points within a step of a kink (strike = barrier, barrier = spot) have one-sided derivatives.
        near_kink = (np.abs(X[:, 0] - X[:, 1]) < 2 * h) if j in (0, 1) else np.zeros(len(X), bool)
        near_kink |= np.abs(X[:, 1] - option.spot) < (2 * h if j == 1 else 0)
        bad = (np.abs(res.grad[:, j] - rich) > tol) & ~near_kink
        assert not bad.any(), (f"{option} column {j}: {int(bad.sum())} of {len(X)} rows off, e.g. row "
                               f"{int(np.argmax(bad))} {X[np.argmax(bad)].tolist()}: grad {res.grad[bad][0, j]!r}, "
                               f"differences {rich[bad][0]!r} +- {tol[bad][0]!r}")


def test_gradient_matches_differences_on_the_paper_box(option):
    X = sg.presets.get("paper").sample(400, seed=11)
    check_against_differences(option, X)


def test_gradient_in_the_log_space_branch_and_at_breached_barriers(option):
    # volatility 0.01 at rate 0.1: |2 mu log(H/S)| > 600 for barriers away from the spot
    H = [60.0, 80.0, 99.0] if option.is_down else [101.0, 120.0, 150.0]
    rows = [[K, h, s, T, r] for K in (90.0, 110.0) for h in H for s in (0.003, 0.01, 0.5)
            for T in (0.25, 2.0) for r in (-0.05, 0.1)]
    X = np.array(rows)
    check_against_differences(option, X)
    # breached at the start: out 0 with zero gradient, in = vanilla with the vanilla's gradient
    Xb = X.copy()
    Xb[:, 1] = 120.0 if option.is_down else 80.0
    res = sg.oracles.Analytic(option).evaluate(Xb, grad=True)
    if option.is_in:
        van = sg.BarrierOption("down-and-out", option.type)
        far = Xb.copy()
        far[:, 1] = 1e-3  # a barrier that is practically never hit: out = the vanilla
        np.testing.assert_allclose(res.grad[:, [0, 2, 3, 4]],
                                   sg.oracles.Analytic(van).evaluate(far, grad=True).grad[:, [0, 2, 3, 4]],
                                   rtol=1e-10, atol=1e-12 * option.spot)
        assert np.all(res.grad[:, 1] == 0.0)
    else:
        assert np.all(res.grad == 0.0) and np.all(res.price == 0.0)


def test_zero_volatility_limit_has_the_forward_payoffs_gradient():
    opt = sg.BarrierOption("down-and-out", "call")
    X = np.array([[90.0, 50.0, 1e-120, 2.0, 0.05]])
    res = sg.oracles.Analytic(opt, check_domain=False).evaluate(X, grad=True)
    # price (S e^{rT} - K) e^{-rT} = S - K e^{-rT}: d/dK = -e^{-rT}, d/dT = r K e^{-rT}, d/dr = T K e^{-rT}
    d = np.exp(-0.1)
    np.testing.assert_allclose(res.grad[0], [-d, 0.0, 0.0, 0.05 * 90 * d, 2.0 * 90 * d], rtol=1e-14, atol=1e-15)


def test_gradient_call_is_counted_and_checked():
    opt = sg.BarrierOption("up-and-in", "put")
    o = sg.oracles.Analytic(opt)
    assert o.has_grad
    X = sg.presets.get("paper").sample(10, seed=2)
    o.evaluate(X, grad=True)
    assert o.calls == 10 and o.grad_calls == 10
    with pytest.raises(ValueError, match="volatility"):
        o.evaluate(np.array([[100.0, 110.0, 20.0, 1.0, 0.0]]), grad=True)
    assert o.calls == 10
