"""Consumers of oracle gradients and of reliability flags (issues 12 and 13): the defense's ascent
uses an oracle's native gradient when it has one and reports its cost in calls and
price-equivalents; label checks never convict a row on an unreliable oracle value."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.data import label
from surrogate_guard.defense import SearchSettings, find_error_maximizers
from surrogate_guard.defense.checks import LabelChecker
from surrogate_guard.defense.settings import CheckSettings
from surrogate_guard.defense.training import TrainingView
from surrogate_guard.oracles import BudgetedOracle, Function
from surrogate_guard.oracles.base import Oracle, frozen_result

BOX = sg.Box([-2.0, -2.0], [2.0, 2.0])


def bump(X):
    return np.exp(-4.0 * ((X[:, 0] - 0.5) ** 2 + (X[:, 1] + 0.3) ** 2)) + 0.1 * X[:, 0]


def bump_grad(X):
    e = np.exp(-4.0 * ((X[:, 0] - 0.5) ** 2 + (X[:, 1] + 0.3) ** 2))
    return np.column_stack([-8.0 * (X[:, 0] - 0.5) * e + 0.1, -8.0 * (X[:, 1] + 0.3) * e])


@pytest.fixture(scope="module")
def fitted():
    X = BOX.sample(300, seed=1)
    s = sg.Surrogate(BOX, widths=(16, 16), seed=0)
    s.fit(X, bump(X), epochs=30)
    return s


def test_search_uses_native_gradients_and_finds_the_same_maximizers(fitted):
    seeds = BOX.sample(40, seed=5)
    runs = {}
    for mode in ("differences", "native"):
        oracle = Function(bump, BOX, grad=bump_grad)
        runs[mode] = find_error_maximizers(fitted, oracle, seeds=seeds,
                                           search=SearchSettings(steps=15, oracle_gradient=mode))
    cd, nat = runs["differences"], runs["native"]
    assert cd.oracle_gradient == "differences" and cd.grad_calls == 0
    assert nat.oracle_gradient == "native" and nat.grad_calls == 40 * 15
    # Differences price 2d + 1 = 5 points per seed and step (fewer where the stencil is cached);
    # native ones evaluate 1.
    assert cd.oracle_calls > 4 * 40 * 15 and nat.oracle_calls == 40 * 15
    assert np.isfinite(nat.price_equivalents) and nat.grad_ratio is not None and nat.grad_ratio > 0
    # The same ascent up to the gradient's O(h^2) difference error (h = 1e-3 of the box): the
    # largest error found agrees closely.
    assert nat.error[0] == pytest.approx(cd.error[0], rel=1e-3)


def test_grad_cost_ratio_is_measured_once_and_not_counted():
    f = Function(bump, BOX, grad=bump_grad)
    r = f.grad_cost_ratio()
    assert r > 0 and f.calls == 0 and f.grad_calls == 0
    assert f.grad_cost_ratio() == r  # cached
    assert sg.oracles.base.grad_cost_ratio(BudgetedOracle(f)) == r  # through wrappers
    assert sg.oracles.base.grad_cost_ratio(BudgetedOracle(Function(bump, BOX))) is None
    with pytest.raises(ValueError, match="has no native gradient"):
        Function(bump, BOX).grad_cost_ratio()


def test_auto_falls_back_to_differences_and_native_is_required_when_asked(fitted):
    oracle = Function(bump, BOX)
    mx = find_error_maximizers(fitted, oracle, seeds=4, search=SearchSettings(steps=2))
    assert mx.oracle_gradient == "differences" and mx.grad_calls == 0 and mx.price_equivalents == mx.oracle_calls
    with pytest.raises(ValueError, match="has no native gradient"):
        find_error_maximizers(fitted, oracle, seeds=4, search=SearchSettings(steps=2, oracle_gradient="native"))
    with pytest.raises(ValueError, match="oracle_gradient: expected"):
        SearchSettings(oracle_gradient="adjoint")


def test_detect_reports_gradient_cost(fitted):
    X = BOX.sample(300, seed=1)
    oracle = Function(bump, BOX, grad=bump_grad)
    rep = sg.defense.detect(fitted, oracle, X, bump(X), oracle_budget=400, seed=0)
    c = rep.cost
    assert c.grad_calls > 0 and c.grad_calls <= c.oracle_calls_search
    assert c.oracle_calls <= 400 and np.isfinite(c.price_equivalents)


class HalfReliable(Oracle):
    """A real oracle of the protocol whose own verdict marks rows with x0 > 0 unreliable."""

    def __init__(self) -> None:
        super().__init__(2, BOX)

    def evaluate(self, X, grad=False):
        X = self.check_points(X)
        self._count(len(X))
        return frozen_result(bump(X), np.full(len(X), 1e-3), reliable=X[:, 0] <= 0)

    def _evaluate(self, X):
        return bump(X), np.full(len(X), 1e-3)


def test_label_checks_never_convict_on_unreliable_values():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-0.5, 0.5], [0.5, 0.5]])
    y = bump(X) + 10.0  # every label wrong by far
    view = TrainingView.build(BOX, X, y)
    Z = BudgetedOracle(HalfReliable())
    checker = LabelChecker(view, Z, CheckSettings())
    wrong = checker.check(range(4))
    assert wrong.tolist() == [0, 2] and sorted(checker.inconclusive) == [1, 3]
    # the ledger keeps the verdict: asking again (cached) still says unreliable
    assert Z.evaluate(X).reliable.tolist() == [True, False, True, False]
    lab = label(Z, X)
    assert lab.reliable.tolist() == [True, False, True, False] and lab.oracle_calls == 0


def test_monte_carlo_reliability_reaches_labels():
    opt = sg.BarrierOption("up-and-out", "call")
    mc = sg.oracles.MonteCarlo(opt, paths=64, steps=4, seed=1, device="cpu")
    X = sg.presets.get("paper").sample(8, seed=3)
    lab = label(mc, X)
    res = mc.evaluate(X)
    np.testing.assert_array_equal(lab.reliable, res.reliable)
