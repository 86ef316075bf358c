"""The optional gradient part of the oracle protocol (issue 13): ``has_grad``, ``evaluate(X, grad=True)``
with ``.grad`` / ``.grad_stderr``, its counting (``grad_calls``, ``cost()``), and the wrappers."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.oracles import BudgetedOracle, BudgetExhausted, Function
from surrogate_guard.oracles.base import OracleCost, has_grad, price_equivalents

BOX = sg.Box([-1.0, 0.0, -3.0], [1.0, 2.0, 3.0])


def quad(X):
    return X[:, 0] ** 2 + np.sin(X[:, 1]) * X[:, 2]


def quad_grad(X):
    return np.column_stack([2 * X[:, 0], np.cos(X[:, 1]) * X[:, 2], np.sin(X[:, 1])])


def points(n=7, seed=0):
    return BOX.sample(n, seed=seed)


def test_function_gradient_is_returned_checked_and_counted():
    f = Function(quad, BOX, grad=quad_grad)
    assert f.has_grad and has_grad(f)
    X = points()
    res = f.evaluate(X, grad=True)
    np.testing.assert_array_equal(res.price, quad(X))
    np.testing.assert_array_equal(res.grad, quad_grad(X))
    np.testing.assert_array_equal(res.grad_stderr, np.zeros_like(X))
    assert not res.grad.flags.writeable and not res.grad_stderr.flags.writeable
    assert f.calls == 7 and f.grad_calls == 7
    f(X)
    cost = f.cost()
    assert (cost.price_points, cost.grad_points) == (7, 7) and cost.price_seconds > 0 and cost.grad_seconds > 0
    assert cost.price_equivalents(f.grad_cost_ratio()) > 7
    # without grad the result carries none
    assert f.evaluate(X).grad is None
    empty = f.evaluate(np.empty((0, 3)), grad=True)
    assert empty.grad.shape == (0, 3)


def test_price_equivalents_weigh_gradient_points_by_their_measured_time():
    c = OracleCost(price_points=100, price_seconds=1.0, grad_points=10, grad_seconds=0.3)
    assert c.price_equivalents(3.0) == pytest.approx(130.0)
    assert c.price_equivalents(11.0) == pytest.approx(210.0)
    assert c.price_equivalents(None) == 110.0  # no ratio: a gradient counts as one call
    assert price_equivalents(110, 10, 3.0) == pytest.approx(130.0)


def test_no_native_gradient_is_a_clear_error():
    f = Function(quad, BOX)
    assert not f.has_grad
    with pytest.raises(ValueError, match="has no native gradient"):
        f.evaluate(points(), grad=True)
    with pytest.raises(TypeError, match="grad: expected a bool"):
        f.evaluate(points(), grad="yes")
    with pytest.raises(TypeError, match="grad: expected None or a callable"):
        Function(quad, BOX, grad=3)
    assert f.calls == 0


@pytest.mark.parametrize("bad,match", [
    (lambda X: np.ones((len(X), 2)), "grad returned shape"),
    (lambda X: np.where(X > 0.5, np.nan, X), "grad returned non-finite values on rows"),
])
def test_bad_user_gradients_are_named(bad, match):
    f = Function(quad, BOX, grad=bad)
    X = np.array([[0.9, 1.0, 1.0], [0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match=match):
        f.evaluate(X, grad=True)


def test_budgeted_gradients_count_each_distinct_row_and_feed_the_value_cache():
    f = Function(quad, BOX, grad=quad_grad)
    b = BudgetedOracle(f, budget=10)
    assert b.has_grad
    X = points(4)
    b(X[:2])  # two values cached
    res = b.evaluate(np.vstack([X, X[:1]]), grad=True)  # 4 distinct rows, one repeated
    np.testing.assert_array_equal(res.grad, quad_grad(np.vstack([X, X[:1]])))
    assert b.calls == 6 and b.grad_calls == 4 and f.calls == 6
    # the two new points' values joined the cache: asking for them again costs nothing
    b(X)
    assert b.calls == 6
    Xk, z, _ = b.known()
    assert len(Xk) == 4 and np.array_equal(np.sort(z), np.sort(quad(X)))
    with pytest.raises(BudgetExhausted, match="gradient"):
        b.evaluate(points(5, seed=9), grad=True)
    assert b.calls == 6
    child = b.child(3)
    child.evaluate(X[:2], grad=True)
    assert child.grad_calls == 2 and b.grad_calls == 6 and b.calls == 8


def test_budgeted_without_native_gradient_refuses():
    b = BudgetedOracle(Function(quad, BOX))
    with pytest.raises(ValueError, match="has no native gradient"):
        b.evaluate(points(), grad=True)
    assert b.calls == 0
