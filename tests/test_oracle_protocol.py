"""The generic layer: ``Box``, the ``Oracle`` protocol, ``Function`` and ``BudgetedOracle``."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.oracles import BudgetedOracle, BudgetExhausted, Function, OracleFunctionError

BOX = sg.Box(np.array([-1.0, 0.0, 10.0]), np.array([1.0, 2.0, 20.0]), ("a", "b", "c"))


# -- Box ------------------------------------------------------------------------------------------
def test_box_maps_and_samples():
    X = BOX.sample(100, seed=3)
    assert X.shape == (100, 3) and BOX.contains(X).all()
    U = BOX.normalize(X)
    assert U.min() >= 0.0 and U.max() <= 1.0
    np.testing.assert_allclose(BOX.denormalize(U), X, rtol=0, atol=4 * np.finfo(float).eps * 20)
    np.testing.assert_array_equal(BOX.denormalize(np.eye(3)[:1] * 0 + 0.5), [[0.0, 1.0, 15.0]])
    np.testing.assert_allclose(BOX.unit_distance([[1.0, 2.0, 20.0]], [0.0, 0.0, 0.0]), [np.sqrt(3.0)])
    S = BOX.sample(64, seed=1, method="sobol")
    assert S.shape == (64, 3) and BOX.contains(S).all()
    np.testing.assert_array_equal(BOX.sample(5, seed=7), BOX.sample(5, seed=7))
    assert sg.Box.of(BOX.bounds) == BOX and sg.Box.of(sg.presets.get("paper")) == sg.presets.get("paper").box
    assert sg.Box.of(sg.Surrogate(BOX)) == BOX
    assert BOX.names == ("a", "b", "c") and sg.Box([0.0], [1.0]).names == ("x0",)


def test_box_bad_input():
    with pytest.raises(ValueError, match=r"box: expected high > low in every column; column 1 has \[2.0, 2.0\]"):
        sg.Box([0.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="box: expected finite bounds"):
        sg.Box([0.0, -np.inf], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"bounds: expected shape \(d, 2\)"):
        sg.Box.from_bounds([[0.0, 1.0, 2.0]])
    with pytest.raises(TypeError, match="bounds: expected a real numeric"):
        sg.Box.from_bounds([["a", "b"]])
    with pytest.raises(TypeError, match="box: expected an sg.Box"):
        sg.Box.of({"lo": 0})
    with pytest.raises(ValueError, match="method: expected one of"):
        BOX.sample(3, method="halton")
    with pytest.raises(ValueError, match=r"X: expected a 2-d array of shape \(n, 3\), got shape \(2, 4\)"):
        BOX.check_points(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X: expected finite values; row 1, column 2"):
        BOX.check_points([[0.0, 0.0, 0.0], [0.0, 0.0, np.nan]])
    with pytest.raises(TypeError, match="X: expected a real numeric dtype"):
        BOX.check_points(np.zeros((2, 3), dtype=bool))


# -- Function -------------------------------------------------------------------------------------
def test_function_oracle_values_stderr_and_count():
    f = Function(lambda X: X.sum(axis=1), BOX)
    X = BOX.sample(7, seed=0)
    res = f.evaluate(X)
    np.testing.assert_array_equal(res.price, X.sum(axis=1))
    np.testing.assert_array_equal(res.stderr, np.zeros(7))
    assert f.calls == 7 and f.dim == 3 and f.box == BOX
    assert not res.price.flags.writeable and f(X).flags.writeable
    assert X.flags.writeable, "the caller's array keeps its flags"
    assert Function(lambda X: X[:, 0], BOX, stderr=0.5).evaluate(X).stderr.tolist() == [0.5] * 7
    g = Function(lambda X: X[:, 0], BOX, stderr=lambda X: np.abs(X[:, 1]))
    np.testing.assert_array_equal(g.evaluate(X).stderr, np.abs(X[:, 1]))
    assert f.evaluate(np.empty((0, 3))).price.shape == (0,)
    assert isinstance(f, sg.oracles.OracleLike)


def test_function_oracle_names_the_failing_rows():
    def fragile(X):
        if np.any(X[:, 0] > 0.5):
            raise ArithmeticError("domain error")
        return X[:, 1]

    X = np.zeros((6, 3))
    X[[1, 4], 0] = 0.9
    f = Function(fragile, BOX, name="fragile")
    with pytest.raises(OracleFunctionError, match=r"oracle 'fragile': fn raised ArithmeticError: domain error; "
                                                  r"it fails on rows \[1, 4\] \(2 of them\)") as err:
        f(X)
    assert err.value.rows.tolist() == [1, 4] and f.calls == 0
    nan = Function(lambda X: np.where(X[:, 0] > 0.5, np.nan, 1.0), BOX)
    with pytest.raises(OracleFunctionError, match=r"returned non-finite values on rows \[1, 4\] \(2 of them\)"):
        nan(X)
    with pytest.raises(ValueError, match=r"returned shape \(6, 2\), expected \(6,\)"):
        Function(lambda X: X[:, :2], BOX)(X)
    with pytest.raises(TypeError, match="fn: expected a callable"):
        Function(3.0, BOX)
    with pytest.raises(ValueError, match="stderr: expected a finite number >= 0"):
        Function(np.sum, BOX, stderr=-1.0)
    with pytest.raises(ValueError, match=r"X: expected a 2-d array of shape \(n, 3\)"):
        Function(np.sum, BOX)(np.zeros((2, 2)))


# -- BudgetedOracle --------------------------------------------------------------------------------
def test_budgeted_oracle_counts_distinct_points_and_refuses_before_pricing():
    f = Function(lambda X: X.sum(axis=1), BOX, stderr=0.25)
    B = BudgetedOracle(f, budget=6)
    X = BOX.sample(4, seed=1)
    res = B.evaluate(np.vstack([X, X[::-1]]))
    np.testing.assert_array_equal(res.price, np.concatenate([X.sum(1), X[::-1].sum(1)]))
    np.testing.assert_array_equal(res.stderr, np.full(8, 0.25))
    assert B.calls == 4 == f.calls and B.remaining == 2
    with pytest.raises(BudgetExhausted, match="oracle budget 6: 4 used, 3 more requested"):
        B(BOX.sample(3, seed=2))
    assert B.calls == 4 == f.calls  # nothing priced when refused
    Xk, zk, sk = B.known()
    np.testing.assert_array_equal(Xk, X)
    np.testing.assert_array_equal(zk, X.sum(1))
    np.testing.assert_array_equal(sk, np.full(4, 0.25))


def test_child_budgets_share_the_cache_and_the_count():
    f = Function(lambda X: X[:, 0] * 2.0, BOX)
    parent = BudgetedOracle(f, budget=10)
    child = parent.child(3)
    X = BOX.sample(5, seed=4)
    child(X[:3])
    assert child.calls == 3 and parent.calls == 3 and child.remaining == 0
    with pytest.raises(BudgetExhausted):
        child(X[3:4])
    np.testing.assert_array_equal(child(X[:3]), 2.0 * X[:3, 0])  # cache hits are free
    parent(X)  # the child's points are cached for the parent too
    assert parent.calls == 5 and f.calls == 5
    big = parent.child(None)
    with pytest.raises(BudgetExhausted):  # the parent's budget still binds
        big(BOX.sample(6, seed=9))
    # A budgeted oracle is an oracle: it composes, and consumers (labelling) take it. The outer
    # one counts the points asked of it; the inner one serves them from its cache.
    outer = BudgetedOracle(parent)
    lab = sg.data.label(outer, X)
    assert lab.oracle_calls == 5 == outer.calls and parent.calls == 5 and f.calls == 5


def test_budgeted_oracle_is_thread_safe():
    f = Function(lambda X: X[:, 2], BOX)
    B = BudgetedOracle(f)
    X = BOX.sample(200, seed=5)

    def work():
        for i in range(0, 200, 10):
            B(X[i:i + 20])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert B.calls == 200 == f.calls  # every point priced exactly once


def test_budgeted_oracle_bad_input():
    f = Function(np.sum, BOX)
    with pytest.raises(ValueError, match="budget: expected > 0"):
        BudgetedOracle(f, 0)
    with pytest.raises(TypeError, match="budget: expected an int or None"):
        BudgetedOracle(f, 2.5)
    with pytest.raises(TypeError, match="oracle: expected an oracle"):
        BudgetedOracle(lambda X: X)


def test_deprecated_counting_oracle_alias():
    with pytest.warns(DeprecationWarning, match="CountingOracle is deprecated"):
        from surrogate_guard.defense import CountingOracle
    assert CountingOracle is BudgetedOracle
