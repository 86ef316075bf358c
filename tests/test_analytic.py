"""The closed form against QuantLib's AnalyticBarrierEngine, and its edge cases."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import kind_points
from surrogate_guard.quantlib_ref import quantlib_prices

import surrogate_guard as sg
from surrogate_guard.oracles.analytic import vanilla_price

SPOT = 100.0


def test_matches_quantlib(option):
    X = kind_points(option, 1000, seed=11)
    ours = sg.oracles.Analytic(option)(X)
    ref = quantlib_prices(option, X)
    ok = np.isfinite(ref)
    # QuantLib evaluates (H/S)^(2 mu) directly and overflows for tiny sigma^2 T (mu in the
    # hundreds); those few points are checked against in-out parity and bounds below instead.
    assert ok.mean() > 0.98, f"QuantLib failed on {np.count_nonzero(~ok)} of {len(ok)} points"
    err = np.abs(ours[ok] - ref[ok])
    i = int(np.argmax(err))
    assert err[i] <= 1e-9 * SPOT, f"max |ours - QuantLib| = {err[i]:.3e} at X = {X[ok][i]} ({ours[ok][i]} vs {ref[ok][i]})"
    assert np.all(np.isfinite(ours))


@pytest.mark.parametrize("kind", ["down", "up"])
@pytest.mark.parametrize("otype", ["call", "put"])
def test_in_out_parity(kind, otype):
    """in + out = vanilla at every point, including the tiny-vol points QuantLib cannot price."""
    out = sg.BarrierOption(f"{kind}-and-out", otype)
    inn = sg.BarrierOption(f"{kind}-and-in", otype)
    X = kind_points(out, 2000, seed=3)
    X = np.vstack([X, _corners(out)])
    v = vanilla_price(out.is_call, SPOT, 0.0, X)
    s = sg.oracles.Analytic(out)(X) + sg.oracles.Analytic(inn)(X)
    # Each price is a sum of a handful of O(S) terms: rounding is a few ulps of S.
    tol = 64 * np.finfo(float).eps * (SPOT + X[:, 0])
    bad = np.abs(s - v) > tol
    assert not bad.any(), f"parity broken at {X[bad][:3]}: {s[bad][:3]} vs {v[bad][:3]}"


def _corners(option) -> np.ndarray:
    up = not option.is_down
    H = 101.0 if up else 99.0
    rows = []
    for K in (50.0, H, 100.0, 200.0):
        for sig in (0.01, 1.0):
            for T in (0.002, 5.0):
                for r in (0.0, 0.1):
                    rows.append([K, H, sig, T, r])
    return np.array(rows)


def test_corners_finite_and_bounded(option):
    X = _corners(option)
    p = sg.oracles.Analytic(option)(X)
    v = vanilla_price(option.is_call, SPOT, 0.0, X)
    assert np.all(np.isfinite(p))
    assert np.all(p >= 0.0)
    assert np.all(p <= v + 1e-12 * SPOT), "a barrier option is worth at most its vanilla"


@pytest.mark.parametrize("kind", sg.BARRIER_KINDS)
def test_breached_barrier(kind):
    opt = sg.BarrierOption(kind, "call")
    H = 100.0 if True else 0.0  # at spot counts as breached, for down and up alike
    X = np.array([[90.0, H, 0.3, 1.0, 0.05], [110.0, 80.0 if opt.is_down is False else 120.0, 0.3, 1.0, 0.05]])
    p = sg.oracles.Analytic(opt)(X)
    v = vanilla_price(True, SPOT, 0.0, X)
    if opt.is_in:
        np.testing.assert_allclose(p, v, rtol=0, atol=0)
    else:
        np.testing.assert_array_equal(p, 0.0)


def test_dividend_matches_quantlib():
    opt = sg.BarrierOption("down-and-out", "call", spot=100.0, dividend=0.03)
    X = kind_points(opt, 200, seed=5)
    ref = quantlib_prices(opt, X)
    ok = np.isfinite(ref)
    np.testing.assert_allclose(sg.oracles.Analytic(opt)(X)[ok], ref[ok], rtol=0, atol=1e-9 * 100.0)


def test_call_counter_and_empty():
    Z = sg.oracles.Analytic(sg.BarrierOption("down-and-out", "put"))
    assert Z(np.empty((0, 5))).shape == (0,)
    Z(np.ones((3, 5)))
    Z(np.ones((4, 5)))
    assert Z.calls == 7
    Z.reset_calls()
    assert Z.calls == 0


def test_outside_box_is_priced():
    Z = sg.oracles.Analytic(sg.BarrierOption("down-and-out", "put"))
    p = Z(np.array([[500.0, 5.0, 3.0, 30.0, -0.02]]))
    assert np.isfinite(p).all() and p[0] > 0
