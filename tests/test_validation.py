"""Bad input at the oracle boundary: clear errors naming column and first offending row."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg

GOOD = np.array([[100.0, 80.0, 0.2, 1.0, 0.05]] * 4)


@pytest.fixture
def Z():
    return sg.oracles.Analytic(sg.BarrierOption("down-and-out", "put"))


@pytest.mark.parametrize("col,name", [(0, "strike"), (1, "barrier"), (2, "volatility"), (3, "maturity"), (4, "rate")])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_names_column_and_row(Z, col, name, bad):
    X = GOOD.copy()
    X[2, col] = bad
    X[3, col] = bad
    with pytest.raises(ValueError, match=rf"column {col} \({name}\) must be finite; row 2 "):
        Z(X)


@pytest.mark.parametrize("col,name", [(0, "strike"), (1, "barrier"), (2, "volatility"), (3, "maturity")])
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive(Z, col, name, bad):
    X = GOOD.copy()
    X[1, col] = bad
    with pytest.raises(ValueError, match=rf"column {col} \({name}\) must be > 0; row 1 "):
        Z(X)


def test_negative_rate_is_valid(Z):
    X = GOOD.copy()
    X[:, 4] = -0.01
    assert np.isfinite(Z(X)).all()


@pytest.mark.parametrize("X", [np.ones(5), np.ones((2, 5, 1)), np.float64(3.0)])
def test_wrong_ndim(Z, X):
    with pytest.raises(ValueError, match="expected a 2-d array of shape"):
        Z(X)


@pytest.mark.parametrize("cols", [4, 6, 0])
def test_wrong_columns(Z, cols):
    with pytest.raises(ValueError, match="expected 5 columns"):
        Z(np.ones((3, cols)))


@pytest.mark.parametrize("X", [np.array([["a"] * 5]), np.ones((2, 5), dtype=bool), np.ones((2, 5), dtype=complex),
                               np.array([[object()] * 5])])
def test_non_numeric_dtype(Z, X):
    with pytest.raises(TypeError, match="expected a real numeric dtype"):
        Z(X)


def test_ragged_list(Z):
    with pytest.raises(TypeError, match="could not convert"):
        Z([[1, 2, 3, 4, 5], [1, 2]])


def test_empty_batch(Z):
    out = Z(np.empty((0, 5)))
    assert out.shape == (0,) and out.dtype == np.float64
    assert Z.calls == 0


def test_ints_lists_float32_and_noncontiguous_are_priced(Z):
    ref = Z(GOOD)
    np.testing.assert_array_equal(Z(GOOD.tolist()), ref)
    np.testing.assert_allclose(Z(GOOD.astype(np.float32)), ref, rtol=1e-5)
    wide = np.zeros((4, 10))
    wide[:, ::2] = GOOD
    np.testing.assert_array_equal(Z(wide[:, ::2]), ref)
    np.testing.assert_array_equal(Z(np.asfortranarray(GOOD)), ref)
    assert Z(np.array([[100, 80, 1, 1, 0]])).shape == (1,)


def test_option_validation():
    with pytest.raises(ValueError, match="kind: expected one of"):
        sg.BarrierOption("sideways", "call")
    with pytest.raises(ValueError, match="type: expected one of"):
        sg.BarrierOption("down-and-out", "straddle")
    with pytest.raises(ValueError, match="spot: expected > 0"):
        sg.BarrierOption("down-and-out", "put", spot=0.0)
    with pytest.raises(ValueError, match="dividend: expected a finite"):
        sg.BarrierOption("down-and-out", "put", dividend=float("nan"))
    with pytest.raises(TypeError, match="spot: expected a real number"):
        sg.BarrierOption("down-and-out", "put", spot="100")
    with pytest.raises(TypeError, match="option: expected sg.BarrierOption"):
        sg.oracles.Analytic("down-and-out put")


def test_presets():
    p = sg.presets.get("paper")
    assert p.bounds.shape == (5, 2) and p.names[0] == "strike"
    X = p.sample(100, seed=0)
    assert X.shape == (100, 5) and X.dtype == np.float64
    assert np.all(X >= p.bounds[:, 0]) and np.all(X <= p.bounds[:, 1])
    np.testing.assert_array_equal(X, p.sample(100, seed=0))
    assert not np.array_equal(X, p.sample(100, seed=1))
    S = sg.presets.get("mild").sample(64, seed=0, method="sobol")
    assert S.shape == (64, 5)
    np.testing.assert_allclose(p.denormalize(p.normalize(X)), X, rtol=1e-15)
    with pytest.raises(ValueError, match="name: expected one of"):
        sg.presets.get("wild")
    with pytest.raises(ValueError, match="method: expected"):
        p.sample(3, method="halton")
    with pytest.raises(ValueError, match="n: expected an int >= 0"):
        p.sample(-1)
    assert p.sample(0).shape == (0, 5)
    with pytest.raises(ValueError, match="read-only"):
        p.bounds[0, 0] = 1.0


def test_device_resolution():
    assert sg.resolve_device("cpu") == "cpu"
    assert sg.resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device: expected one of"):
        sg.resolve_device("tpu")
    if not sg.has_cuda():
        with pytest.raises(RuntimeError, match="device='cuda'"):
            sg.resolve_device("cuda")
