"""FiniteDifference sensitivities (issue 13): central differences on grids aligned with the base
point's, against the exact closed-form derivatives (``Analytic.evaluate(X, grad=True)``), and the
protocol around them (counts, stderr, the price unchanged, refusals outside the domain).
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import kind_points

import surrogate_guard as sg
from surrogate_guard.oracles._fd_grad import bumps
from surrogate_guard.oracles.base import has_grad

TOL = 1e-4  # the price contract: |FD - closed form| <= 1e-4 max(price, S0 / 100)
COLUMNS = ("strike", "barrier", "volatility", "maturity", "rate")


def _away_from_kinks(option: sg.BarrierOption, X: np.ndarray) -> np.ndarray:
    """Points at least two bumps from the kinks of the price surface, K = H (the payoff's kink meets the
    barrier) and H = S0 (knocked out at the start): there a central difference straddles a kink and
    measures a one-sided mix, not the derivative."""
    h = bumps(X, option.spot)
    far_kh = np.abs(X[:, 0] - X[:, 1]) > 2.0 * (h[:, 0] + 1e-3 * X[:, 1])
    far_hs = np.abs(X[:, 1] - option.spot) > 2.0 * 1e-3 * X[:, 1]
    return far_kh & far_hs


def test_gradient_matches_closed_form(option):
    """On 240 paper-box points per kind (the few within two bumps of a kink dropped, >= 200 kept).

    Tolerance per entry, derived: FD(theta) = V(theta) + e(theta) with |e| <= TOL max(V, S0/100) (the
    contract), so the central difference of FD is that of V (whose distance from the exact derivative,
    the truncation h^2 V''' / 6 + ..., is measured exactly by differencing the closed form at the same
    bumps) plus (e(theta + h) - e(theta - h)) / 2h, at most (tol(theta + h) + tol(theta - h)) / 2h."""
    X = kind_points(option, 240, seed=61)
    X = X[_away_from_kinks(option, X)]
    assert X.shape[0] >= 200
    fd = sg.oracles.FiniteDifference(option).evaluate(X, grad=True)
    an = sg.oracles.Analytic(option)
    exact = an.evaluate(X, grad=True).grad
    h = bumps(X, option.spot)
    for c, name in enumerate(COLUMNS):
        up, dn = X.copy(), X.copy()
        up[:, c] += h[:, c]
        dn[:, c] -= h[:, c]
        vu, vd = an(up), an(dn)
        trunc = np.abs((vu - vd) / (2.0 * h[:, c]) - exact[:, c])
        noise = TOL * (np.maximum(vu, option.spot / 100) + np.maximum(vd, option.spot / 100)) / (2.0 * h[:, c])
        err = np.abs(fd.grad[:, c] - exact[:, c])
        ratio = err / (trunc + noise)
        i = int(np.argmax(ratio))
        assert ratio[i] <= 1.0, (
            f"{option}: d/d{name} off by {err[i]:.3e} > bound {trunc[i] + noise[i]:.3e} (truncation {trunc[i]:.2e}, "
            f"contract/2h {noise[i]:.2e}) at {X[i].tolist()} (fd {fd.grad[i, c]!r}, exact {exact[i, c]!r})")


def test_gradient_protocol():
    opt = sg.BarrierOption("up-and-in", "put")
    X = np.array([[100.0, 120.0, 0.2, 1.0, 0.05], [90.0, 100.0, 0.3, 0.5, 0.02], [110.0, 150.0, 0.5, 2.0, 0.0]])
    fd = sg.oracles.FiniteDifference(opt)
    assert fd.has_grad and has_grad(fd)
    r = fd.evaluate(X, grad=True)
    assert r.grad.shape == (3, 5) and not r.grad.flags.writeable
    np.testing.assert_array_equal(r.grad_stderr, np.zeros((3, 5)))  # deterministic
    np.testing.assert_array_equal(r.price, fd(X))  # the same grids: the same prices
    assert fd.calls == 6 and fd.grad_calls == 3
    # Breached at the start (row 1, H = S0): in = vanilla, which does not depend on the barrier.
    assert r.grad[1, 1] == 0.0
    with pytest.raises(ValueError, match=r"volatility must lie in \[0.005, 2\]"):
        fd.evaluate(np.array([[100.0, 120.0, 3.0, 1.0, 0.05]]), grad=True)
