"""Surrogate.predict through the native value-only forward (issue 13) against the torch reference.

Tolerance (derived, per point): a forward chain of L = len(widths) + 1 dot products of fan-in n_l
(+1 for the bias), each within gamma_{n_l + 1} = (n_l + 1) u of its sum of |terms| (first order),
plus a few rounding steps outside the sums (input conversion, normalization: 3; output scaling: 2;
the activation, ours few-ulp polynomials and torch's libm: 4 u each). Propagated through the layers
by |W| and by act' <= 1.1 (silu's maximum slope; tanh, relu, softplus <= 1), so

    |Y - Y_exact| <= K u 1.1^L mag,   K = sum_l (n_l + 1) + 4 L + 5,

with mag = y_scale * (|W_L| a_{L-1} + |b_L|), a_0 = |h_0|, a_l = |W_l| a_{l-1} + |b_l| + 1 (|act(z)| <= |z| + 1).
float64 native vs torch float64: both within that bound, so 2 K u64 1.1^L mag. float32 native vs the float64
reference: K u32 1.1^L mag (the reference's own error is 2^-29 times smaller). A worst-case bound:
measured errors use at most 1% of it (the worst ratio is printed on failure).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.kernels import mlp_value, mlp_value_and_grad, reference_value
from surrogate_guard.mlp_weights import ACTIVATIONS

BOX = np.array([[90.0, 110.0], [50.0, 99.0], [0.1, 0.5], [0.1, 2.0], [0.0, 0.05]])
SHAPES = [(64, 64, 64, 64), (17,), (128, 1, 33), (100, 60, 128, 9, 31, 8)]


def surrogate(widths=(64, 64, 64, 64), act="silu", seed=3) -> sg.Surrogate:
    s = sg.Surrogate(BOX, 7.0, widths=widths, activation=act, seed=seed)
    s.y_offset = 1.5
    return s


def points(n, seed=0, d=5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = BOX[:d, 0] + rng.uniform(-0.2, 1.2, (n, d)) * (BOX[:d, 1] - BOX[:d, 0])
    X.setflags(write=False)
    return X


def bound(s: sg.Surrogate, X: np.ndarray, dtype) -> np.ndarray:
    """The per-point tolerance of the module doc (float64 numpy)."""
    w = s.export(np.float64)
    a = np.abs((X - w.x_lo) * w.x_inv_range)
    for i, (W, b) in enumerate(zip(w.weights, w.biases)):
        a = a @ np.abs(W).T + np.abs(b) + (1.0 if i < len(w.weights) - 1 else 0.0)
    mag = abs(w.y_scale) * a[:, 0] + abs(w.y_offset)
    L = len(w.weights)
    K = sum(W.shape[1] + 1 for W in w.weights) + 4 * L + 5
    u = np.finfo(dtype).eps / 2
    return (2.0 if dtype == np.float64 else 1.0) * K * u * 1.1**L * mag


def assert_close(got, ref, tol, X):
    err = np.abs(got.astype(np.float64) - ref)
    bad = err > tol
    assert not bad.any(), (f"rows {np.flatnonzero(bad)[:5]}: got {got[bad][:3]} ref {ref[bad][:3]} tol {tol[bad][:3]} "
                           f"X={X[bad][:3]}; worst err/tol {np.max(err / tol):.3g}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("widths", SHAPES, ids=lambda w: "x".join(map(str, w)))
def test_native_matches_torch_reference(act, widths, dtype):
    s = surrogate(widths, act)
    X = points(70, seed=len(widths))
    ref = s.predict(X, backend="torch")  # float64 torch: what predict returned before issue 13
    got = s.predict(X, dtype=dtype)
    assert got.dtype == dtype and got.shape == (70,)
    assert_close(got, ref, bound(s, X, dtype), X)
    # the same network in float64 torch autograd (kernels' reference): the torch path is not the only oracle
    assert_close(got, reference_value(s.export(np.float64), X), bound(s, X, dtype), X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 2, 6, 7, 12, 13, 31, 32, 33, 100])
def test_batch_sizes_and_pointwise_path_have_the_same_bits(dtype, n):
    """Blocks of <= 6 (float64) / 12 (float32) points take the one-point path: the same bits as a full block."""
    s = surrogate()
    X = points(n, seed=n)
    got = s.predict(X, dtype=dtype)
    assert got.shape == (n,) and got.dtype == dtype
    big = s.predict(np.concatenate([X, points(64, seed=99)]), dtype=dtype)[:n]  # every row in a full block
    assert np.array_equal(got, big)
    for i in range(min(n, 3)):
        assert np.array_equal(s.predict(X[i:i + 1], dtype=dtype), got[i:i + 1])
    if n:
        assert_close(got, s.predict(X, backend="torch"), bound(s, X, dtype), X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_only_has_the_bits_of_value_and_grad(dtype):
    w = surrogate(act="tanh").export(dtype)
    X = points(1000, seed=4).astype(dtype)
    y = mlp_value(w, X, device="cpu")
    assert np.array_equal(y, mlp_value_and_grad(w, X, device="cpu").y)
    out = np.full(1000, np.nan, dtype)
    assert mlp_value(w, X, device="cpu", out=out) is out and np.array_equal(out, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_changes_no_bit(dtype):
    s = surrogate(act="softplus")
    X = points(5000, seed=5)
    one = s.predict(X, dtype=dtype, threads=1)
    assert np.array_equal(one, s.predict(X, dtype=dtype, threads=2))
    assert np.array_equal(one, s.predict(X, dtype=dtype))


def test_layouts_and_input_dtypes():
    s = surrogate()
    X = points(50, seed=6)
    ref = s.predict(X)
    F = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=0)[::2]
    assert not F.flags.c_contiguous and not strided.flags.c_contiguous and not X.flags.writeable
    for variant in (F, strided, X.tolist()):
        assert np.array_equal(s.predict(variant), ref)
    X32 = X.astype(np.float32)  # float32 input, float32 predict: no copy, the same as from float64
    assert np.array_equal(s.predict(X32, dtype=np.float32), s.predict(X, dtype=np.float32))
    Xi = np.rint(X).astype(np.int64)
    assert np.array_equal(s.predict(Xi), s.predict(Xi.astype(np.float64)))
    assert np.array_equal(s.predict(X, dtype="float32"), s.predict(X, dtype=np.dtype(np.float32)))


@pytest.mark.parametrize("X, err, match", [
    (np.zeros((3, 4)), ValueError, r"X: expected a 2-d array of shape \(n, 5\), got shape \(3, 4\)"),
    (np.zeros(5), ValueError, r"X: expected a 2-d array of shape \(n, 5\), got shape \(5,\)"),
    (np.ones((2, 5), bool), TypeError, "X: expected a real numeric dtype.*got dtype bool"),
    (np.ones((2, 5), complex), TypeError, "X: expected a real numeric dtype.*got dtype complex128"),
    (np.array([[1.0, 2, 3, 4, np.nan]]), ValueError, r"X: expected finite values; row 0, column 4 holds nan"),
    (np.where(np.eye(100, 5, k=-3) > 0, np.inf, 1.0), ValueError, "X: expected finite values; row 3, column 0 holds inf"),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bad_input(X, err, match, dtype):
    with pytest.raises(err, match=match):
        surrogate().predict(X, dtype=dtype)


@pytest.mark.parametrize("n", [1, 100])
def test_beyond_float32_is_an_error_not_inf(n):
    X = np.ones((n, 5))
    X[n - 1, 2] = 1e39
    s = surrogate()
    assert np.isfinite(s.predict(X)).all()  # fine in float64
    with pytest.raises(ValueError, match=rf"row {n - 1}, column 2 holds 1e\+39 \(beyond the float32 range"):
        s.predict(X, dtype=np.float32)


def test_bad_arguments():
    s, X = surrogate(), points(3)
    with pytest.raises(TypeError, match="dtype: expected np.float32 or np.float64, got <class 'numpy.float16'>"):
        s.predict(X, dtype=np.float16)
    with pytest.raises(ValueError, match="backend: expected 'native' or 'torch', got 'onnx'"):
        s.predict(X, backend="onnx")
    with pytest.raises(ValueError, match="threads: expected an int in"):
        s.predict(X, threads=0)
    with pytest.raises(TypeError, match="threads: expected an int"):
        s.predict(X, threads=1.5)
    with pytest.raises(ValueError, match="device: expected one of"):
        s.predict(X, device="gpu")
    with pytest.raises(ValueError, match="backend='torch': the reference runs on the CPU"):
        s.predict(X, backend="torch", threads=2)
    w = s.export(np.float32)
    with pytest.raises(TypeError, match=r"X: expected dtype float32 \(the weights' dtype"):
        mlp_value(w, X)
    with pytest.raises(ValueError, match=r"out: expected shape \(3,\)"):
        mlp_value(w, X.astype(np.float32), out=np.empty(4, np.float32))
    ro = np.zeros(3, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="out: expected a writeable"):
        mlp_value(w, X.astype(np.float32), out=ro)
    buf = np.zeros(20, np.float32)
    with pytest.raises(ValueError, match="out: expected an array that does not overlap X"):
        mlp_value(w, buf[:15].reshape(3, 5), out=buf[12:15])
    assert mlp_value(w, buf[:15].reshape(3, 5), out=buf[15:18]) is not None  # adjacent, not overlapping
    plan = sg.kernels.native_plan(w)
    with pytest.raises(TypeError):  # the native boundary converts nothing
        plan.value(X, np.empty(3, np.float32), 1)
    with pytest.raises(ValueError, match=r"Y: expected shape \(B,\)"):
        plan.value(X.astype(np.float32), np.empty(2, np.float32), 1)


def test_plan_follows_the_weights(tmp_path):
    """fit, load and copy replace the weights: predict must use the new ones (cached plans are dropped)."""
    s = surrogate(widths=(16, 16), seed=1)
    X = points(40, seed=7)
    before = s.predict(X)
    s.fit(points(64, seed=8), np.arange(64.0), epochs=2, batch_size=32, val_fraction=0.0, device="cpu")
    after = s.predict(X)
    assert not np.array_equal(before, after)
    assert_close(after, s.predict(X, backend="torch"), bound(s, X, np.float64), X)
    s.save(tmp_path / "m.safetensors")
    other = surrogate(widths=(16, 16), seed=2)
    other.predict(X)  # builds its plan
    loaded = other.load(tmp_path / "m.safetensors")
    assert np.array_equal(loaded.predict(X), after)
    c = s.copy()
    assert np.array_equal(c.predict(X), after)
    c.fit(points(64, seed=9), np.arange(64.0)[::-1], epochs=2, batch_size=32, val_fraction=0.0, device="cpu")
    assert not np.array_equal(c.predict(X), after) and np.array_equal(s.predict(X), after)


def test_load_and_predict_never_import_torch(tmp_path):
    s = surrogate(widths=(8, 8))
    path = tmp_path / "m.safetensors"
    s.save(path)
    X = points(10)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", s.predict(X))
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import surrogate_guard as sg
        s = sg.Surrogate.load({str(path)!r})
        X = np.load({str(tmp_path / 'X.npy')!r})
        assert np.array_equal(s.predict(X), np.load({str(tmp_path / 'y.npy')!r}))
        s.predict(X, dtype=np.float32)
        s.save({str(tmp_path / 'again.safetensors')!r})
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


@pytest.mark.cuda
def test_cuda_value_matches_cpu():
    if not sg.has_cuda():
        pytest.skip("device='cuda': needs surrogate_guard built with CUDA and a usable GPU (sg.has_cuda() is False)")
    s = surrogate()
    X = points(3000, seed=11)
    for dtype in (np.float32, np.float64):
        cpu = s.predict(X, dtype=dtype)
        gpu = s.predict(X, dtype=dtype, device="cuda")
        # Different summation orders and libm: both within the bound of the exact value.
        assert_close(gpu, cpu.astype(np.float64), 2 * bound(s, X, dtype), X)
        w = s.export(dtype)
        assert np.array_equal(mlp_value(w, X.astype(dtype), device="cuda"),
                              mlp_value_and_grad(w, X.astype(dtype), device="cuda").y)


def test_pickle_drops_native_plans():
    import pickle

    s = surrogate(widths=(8,))
    X = points(20)
    y = s.predict(X, dtype=np.float32)
    back = pickle.loads(pickle.dumps(s))
    assert np.array_equal(back.predict(X, dtype=np.float32), y) and np.array_equal(back.predict(X), s.predict(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_few_point_fast_path_has_the_general_paths_bits(dtype):
    """predict's fast path (<= 4 rows on the CPU) computes what the general path does, bit for bit,
    for every input layout and dtype, and leaves bad values to the general path's errors."""
    s = surrogate()
    X = points(4, seed=9)
    general = s.predict(np.vstack([X, X]), dtype=dtype)[:4]  # 8 rows: the general path
    for Xi in (X, np.asfortranarray(X), X.astype(np.float32), X[::-1][::-1].copy(), X[:, :][:4]):
        for n in (1, 2, 4):
            got = s.predict(Xi[:n], dtype=dtype)
            assert got.dtype == dtype and got.flags.writeable
            ref = general[:n] if Xi.dtype == np.float64 else s.predict(np.vstack([Xi, Xi]), dtype=dtype)[:n]
            np.testing.assert_array_equal(got, ref)
    with pytest.raises(ValueError, match="row 0, column 1 holds inf"):
        s.predict(np.array([[100.0, np.inf, 0.2, 1.0, 0.01]]), dtype=dtype)


def test_fast_path_plan_follows_the_weights():
    s = surrogate()
    X = points(1, seed=2)
    before = s.predict(X)
    s.fit(points(64, seed=3), np.linspace(1.0, 2.0, 64), epochs=1)
    assert s.predict(X)[0] == s.predict(np.vstack([X, X, X, X, X]))[0] != before[0]
