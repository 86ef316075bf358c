"""Property-based tests over every public entry point that reaches native code (issue 12, item 6).

Each case is a correct result (finite; prices and standard errors >= 0; a layout or dtype variant
equal bit for bit to the C-contiguous float64 result) or a clear ValueError / TypeError naming the
argument, never a crash. Profiles (tests/conftest.py): "ci" by default, HYPOTHESIS_PROFILE=fuzz for
`make fuzz`. Oracle sizes are tiny (MC 64 paths x 4 steps, FD 32 x 16) so a case costs milliseconds.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import event, given, strategies as st

import surrogate_guard as sg
from surrogate_guard.kernels import ascent_step, mlp_value_and_grad
from surrogate_guard.mlp_weights import ACTIVATIONS, MLPWeights

GOOD_DTYPES = [np.float64, np.float32, np.int64, np.int32, np.uint16]
BAD_DTYPES = ["bool", "complex", "object", "str"]
LAYOUTS = ["c", "fortran", "cols", "rows", "readonly", "list"]
OPTIONS = [sg.BarrierOption(k, t) for k in sg.BARRIER_KINDS for t in sg.OPTION_TYPES]
_ORACLES: dict = {}


def layout(A: np.ndarray, how: str):
    """A in another memory layout with the same values: Fortran, strided columns or rows, read-only, a list."""
    if how == "fortran":
        return np.asfortranarray(A)
    if how in ("cols", "rows"):
        big = np.zeros((A.shape[0], 2 * A.shape[1]) if how == "cols" else (2 * A.shape[0], A.shape[1]), A.dtype)
        view = big[:, ::2] if how == "cols" else big[::2]
        view[...] = A
        return view
    if how == "readonly":
        B = A.copy()
        B.setflags(write=False)
        return B
    return A.tolist() if how == "list" and A.size else A  # [] would lose the (0, d) shape


def as_dtype(A: np.ndarray, dt) -> np.ndarray:
    if np.dtype(dt).kind == "f":
        return A.astype(dt)
    info = np.iinfo(dt)
    return np.clip(np.round(A), max(info.min, -2**31 + 1), min(info.max, 2**31 - 1)).astype(dt)


def bad_dtype(A: np.ndarray, kind: str) -> np.ndarray:
    return {"bool": lambda: A > 0, "complex": lambda: A + 0j, "object": lambda: A.astype(object),
            "str": lambda: A.astype(str)}[kind]()


@st.composite
def loose_inputs(draw, A: np.ndarray):
    """(X, expected) for a boundary that converts real dtypes: expected is the C-contiguous float64 array X
    must act like, or the exception class X must raise."""
    kind = draw(st.sampled_from(["good"] * 5 + ["bad_dtype", "nonfinite", "shape"]))
    if kind == "good":
        Xd = as_dtype(A, draw(st.sampled_from(GOOD_DTYPES)))
        return layout(Xd, draw(st.sampled_from(LAYOUTS))), np.ascontiguousarray(Xd, np.float64)
    if kind == "bad_dtype":
        return layout(bad_dtype(A, draw(st.sampled_from(BAD_DTYPES))), draw(st.sampled_from(["c", "fortran"]))), \
            TypeError
    if kind == "nonfinite" and A.size:
        B = A.copy()
        B[draw(st.integers(0, A.shape[0] - 1)), draw(st.integers(0, A.shape[1] - 1))] = \
            draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return layout(B, draw(st.sampled_from(LAYOUTS))), ValueError
    shapes = [A.ravel(), A[None], np.hstack([A, A[:, :1]]), np.float64(1.0)]
    return shapes[draw(st.integers(0, len(shapes) - 1))], ValueError


def _quiet(fn, X):
    """fn(X) with the oracles' documented ReliabilityWarning (tiny MC sizes) silenced, nothing else."""
    category = getattr(sg, "ReliabilityWarning", None)
    with warnings.catch_warnings():
        if category is not None:
            warnings.simplefilter("ignore", category)
        return fn(X)


def check_outcome(fn, X, expected, verify, same) -> None:
    """The property: an expected error (naming X), or fn(X) equals fn(expected) and passes verify."""
    if isinstance(expected, type):
        event(f"refused as expected: {expected.__name__}")
        with pytest.raises(expected, match="X"):
            _quiet(fn, X)
        return
    try:
        ref = _quiet(fn, expected)
    except (ValueError, TypeError) as exc:  # e.g. outside an oracle's domain: the variant must say so too
        event(f"valid array refused (domain): {type(exc).__name__}")
        with pytest.raises(type(exc)):
            _quiet(fn, X)
        return
    event("result checked")
    verify(ref, expected)
    same(_quiet(fn, X), ref)


# -- oracles -------------------------------------------------------------------------------------------
def oracle(kind: str, option):
    key = (kind, option.kind, option.type)
    if key not in _ORACLES:
        _ORACLES[key] = {"analytic": lambda: sg.oracles.Analytic(option),
                         "mc": lambda: sg.oracles.MonteCarlo(option, paths=64, steps=4, device="cpu"),
                         "fd": lambda: sg.oracles.FiniteDifference(option, space_steps=32, time_steps=16)}[kind]()
    return _ORACLES[key]


def _col(lo, hi, log=False):
    if log:
        return st.floats(np.log(lo), np.log(hi)).map(np.exp)
    return st.floats(lo, hi)


TYPICAL = st.tuples(_col(60, 140), _col(40, 250), _col(0.05, 0.6), _col(0.1, 3), _col(-0.05, 0.1))
EXTREME = st.tuples(_col(1e-3, 1e5, True), _col(1e-3, 1e5, True), _col(1e-5, 20, True), _col(1e-5, 200, True),
                    _col(-1.0, 2.0))


@st.composite
def oracle_points(draw) -> np.ndarray:
    rows = draw(st.lists(st.one_of(TYPICAL, EXTREME), min_size=0, max_size=5))
    return np.array(rows, dtype=np.float64).reshape(len(rows), 5)


def _price_ok(res, X) -> None:
    price, err = np.asarray(res.price), np.asarray(res.stderr)
    assert price.shape == err.shape == (X.shape[0],)
    assert np.isfinite(price).all() and (price >= 0).all(), (X, price)
    assert np.isfinite(err).all() and (err >= 0).all(), (X, err)


def _same_result(a, b) -> None:
    assert np.array_equal(a.price, b.price) and np.array_equal(a.stderr, b.stderr)


@pytest.mark.parametrize("kind", ["analytic", "mc", "fd"])
@given(data=st.data())
def test_oracle_evaluate(kind, data):
    o = oracle(kind, data.draw(st.sampled_from(OPTIONS)))
    X, expected = data.draw(loose_inputs(data.draw(oracle_points())))
    check_outcome(o.evaluate, X, expected, _price_ok, _same_result)


# -- Box and Surrogate -----------------------------------------------------------------------------------
@st.composite
def boxed_points(draw, d: int) -> np.ndarray:
    n = draw(st.integers(0, 6))
    vals = st.one_of(st.floats(-3, 3), st.floats(-1e6, 1e6), st.sampled_from([0.0, -0.0, 5e-324, 1e-300]))
    return np.array(draw(st.lists(st.lists(vals, min_size=d, max_size=d), min_size=n, max_size=n)),
                    dtype=np.float64).reshape(n, d)


def _array_equal(a, b) -> None:
    assert np.array_equal(a, b)


@given(data=st.data(), d=st.integers(1, 7))
def test_box_check_points(data, d):
    box = sg.Box(-np.ones(d), 2 * np.ones(d))
    X, expected = data.draw(loose_inputs(data.draw(boxed_points(d))))

    def verify(out, ref):
        assert out.dtype == np.float64 and out.flags.c_contiguous and np.array_equal(out, ref)

    check_outcome(box.check_points, X, expected, verify, _array_equal)


_SURROGATES: dict = {}


def surrogate(d: int, act: str) -> sg.Surrogate:
    if (d, act) not in _SURROGATES:
        _SURROGATES[d, act] = sg.Surrogate(np.array([[-1.0, 2.0]] * d), 3.0, widths=(9, 5), activation=act, seed=d)
    return _SURROGATES[d, act]


@given(data=st.data(), d=st.integers(1, 7), act=st.sampled_from(ACTIVATIONS))
def test_surrogate_predict(data, d, act):
    s = surrogate(d, act)
    X, expected = data.draw(loose_inputs(data.draw(boxed_points(d))))

    def verify(y, ref):
        assert y.shape == (ref.shape[0],) and y.dtype == np.float64
        assert np.isfinite(y[np.abs(ref).max(axis=1, initial=0) < 1e6]).all()

    check_outcome(s.predict, X, expected, verify, _array_equal)


@given(d=st.integers(1, 7), act=st.sampled_from(ACTIVATIONS),
       dtype=st.sampled_from([np.float32, np.float64, "float32", "float64", np.int64, "int32", bool, complex, object]))
def test_surrogate_export(d, act, dtype):
    s = surrogate(d, act)
    if np.dtype(dtype) not in (np.float32, np.float64):
        with pytest.raises(TypeError, match="dtype"):
            s.export(dtype)
        return
    w = s.export(dtype)
    assert w.dtype == np.dtype(dtype) and w.in_dim == d and s.export(dtype) is w
    X = np.linspace(-1, 2, 3 * d).reshape(3, d)
    y = mlp_value_and_grad(w, X.astype(w.dtype), device="cpu").y
    tol = 1e-4 if w.dtype == np.float32 else 1e-12
    assert np.allclose(y, s.predict(X), rtol=tol, atol=tol * 3.0)


# -- the fused MLP kernels -------------------------------------------------------------------------------
THREADS_OK = [None, 1, 2, 3, np.int64(2)]
THREADS_BAD = [0, -3, 1025, 2**31, 2**70, 1.5, "2", True]


@st.composite
def nets(draw) -> MLPWeights:
    d = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, 20), min_size=1, max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ws, bs, prev = [], [], d
    for w in [*widths, 1]:
        ws.append(rng.normal(0.0, 1.0 / np.sqrt(prev), (w, prev)))
        bs.append(rng.normal(0.0, 0.3, w))
        prev = w
    w = MLPWeights(tuple(ws), tuple(bs), draw(st.sampled_from(ACTIVATIONS)), rng.uniform(-1, 0, d),
                   rng.uniform(0.5, 2, d), draw(st.floats(0.1, 10)), draw(st.floats(-5, 5)))
    return w.astype(draw(st.sampled_from([np.float32, np.float64])))


@st.composite
def strict_inputs(draw, A: np.ndarray):
    """(X, expected) for the kernels' strict boundary: only C-contiguous arrays of the weights' dtype."""
    how = draw(st.sampled_from(["c", "readonly", "fortran", "cols", "rows", "list", "dtype", "nonfinite", "shape"]))
    if how in ("c", "readonly", "fortran", "cols", "rows", "list"):
        X = layout(A, how)
        ok = isinstance(X, np.ndarray) and X.flags.c_contiguous
        return X, (A if ok else (ValueError if isinstance(X, np.ndarray) else TypeError))
    if how == "dtype":
        other = np.float64 if A.dtype == np.float32 else np.float32
        return draw(st.sampled_from([A.astype(other), A.astype(np.int64), A > 0, A + 0j, A.astype(object)])), TypeError
    if how == "nonfinite" and A.size:
        B = A.copy()
        B.flat[draw(st.integers(0, A.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return B, ValueError
    return draw(st.sampled_from([A.ravel(), A[None], np.hstack([A, A[:, :1]])])), ValueError


def kernel_points(draw, w: MLPWeights) -> np.ndarray:
    n = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-30, 30.0]))
    return (w.x_lo + scale * rng.uniform(-0.5, 1.5, (n, w.in_dim)) / w.x_inv_range).astype(w.dtype)


def _threads_outcome(threads, call) -> bool:
    """True when ``threads`` is valid; otherwise checks the clear error and returns False."""
    if any(threads is t for t in THREADS_BAD):  # sampled_from hands out these very objects
        with pytest.raises((TypeError, ValueError), match="threads"):
            call(threads)
        return False
    return True


@given(data=st.data(), threads=st.sampled_from(THREADS_OK + THREADS_BAD))
def test_mlp_value_and_grad(data, threads):
    w = data.draw(nets())
    A = kernel_points(data.draw, w)
    X, expected = data.draw(strict_inputs(A))
    if not _threads_outcome(threads, lambda t: mlp_value_and_grad(w, A, device="cpu", threads=t)):
        return
    if isinstance(expected, type):
        with pytest.raises(expected, match="X"):
            mlp_value_and_grad(w, X, device="cpu", threads=threads)
        return
    ref = mlp_value_and_grad(w, A, device="cpu", threads=1)
    assert ref.y.shape == (A.shape[0],) and ref.grad.shape == A.shape and ref.y.dtype == w.dtype
    assert np.isfinite(ref.y).all() and np.isfinite(ref.grad).all()
    got = mlp_value_and_grad(w, X, device="cpu", threads=threads)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.grad, ref.grad)


@st.composite
def step_args(draw, w: MLPWeights, A: np.ndarray):
    """(z, grad_z, eta, lo, hi, expected error or None) for ascent_step."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, d = A.shape
    z, gz = rng.normal(0, 1, n).astype(w.dtype), rng.normal(0, 1, (n, d)).astype(w.dtype)
    lo = w.x_lo.astype(np.float64)
    hi = lo + 1.0 / w.x_inv_range
    eta = draw(st.sampled_from(["scalar", "array", "int"]))
    eta = {"scalar": 0.05, "array": rng.uniform(0, 0.1, n).astype(w.dtype), "int": np.int64(1)}[eta]
    bad = draw(st.sampled_from([None] * 6 + ["z_dtype", "gz_shape", "eta_nan", "eta_huge", "lo_bool", "lo_gt_hi",
                                             "z_strided"]))
    if bad == "z_dtype":
        z = z.astype(np.float64 if w.dtype == np.float32 else np.float32)
    elif bad == "gz_shape":
        gz = gz[:, :-1]
    elif bad == "eta_nan":
        eta = float("nan")
    elif bad == "eta_huge":
        eta = 10**400
    elif bad == "lo_bool":
        lo = lo > 0
    elif bad == "lo_gt_hi":
        lo, hi = hi, lo
    elif bad == "z_strided":
        z = np.repeat(z, 2)[::2]
        if n <= 1:
            bad = None
    err = {None: None, "z_dtype": TypeError, "lo_bool": TypeError}.get(bad, ValueError)
    return z, gz, eta, lo, hi, err


@given(data=st.data(), normalized=st.booleans(), in_place=st.booleans(), threads=st.sampled_from(THREADS_OK))
def test_ascent_step(data, normalized, in_place, threads):
    w = data.draw(nets())
    A = kernel_points(data.draw, w)
    z, gz, eta, lo, hi, err = data.draw(step_args(w, A))
    kw = dict(eta=eta, lo=lo, hi=hi, normalized=normalized, device="cpu", threads=threads)
    if err is not None:
        with pytest.raises(err):
            ascent_step(w, A, z, gz, **kw)
        return
    ref = ascent_step(w, A, z, gz, **{**kw, "threads": 1})
    assert np.isfinite(ref.x).all() and np.isfinite(ref.y).all()
    assert (ref.x >= lo.astype(w.dtype)).all() and (ref.x <= hi.astype(w.dtype)).all()
    X, expected = data.draw(strict_inputs(A))
    out = A.copy() if in_place else None
    if out is not None and not isinstance(expected, type) and data.draw(st.booleans()):
        X = out  # out=X: steps in place
    elif out is not None and data.draw(st.booleans()):
        out.setflags(write=False)
        with pytest.raises(ValueError, match="out: expected a writeable"):
            ascent_step(w, A, z, gz, out=out, **kw)
        return
    if isinstance(expected, type):
        with pytest.raises(expected, match="X"):
            ascent_step(w, X, z, gz, out=out, **kw)
        return
    got = ascent_step(w, X, z, gz, out=out, **kw)
    assert np.array_equal(got.x, ref.x) and np.array_equal(got.y, ref.y)
    assert out is None or got.x is out
