"""Fused MLP value + input gradient and ascent step against torch.autograd in float64.

Error norm (docs/mlp_kernel.md): |Y - Y_ref| <= tol * sY and |G - G_ref| <= tol * sG elementwise,
where sY = |y_scale| (|w_L|.|h| + |b_L|) + |y_offset| and sG = |x_inv| (|W_0|^T |dY/dz_0|) are the
sums of |terms| of the last forward and last backward sum. tol = 1e-5 (float32), 1e-12 (float64): docs.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard import _core
from surrogate_guard.kernels import (ascent_step, mlp_value_and_grad, reference_ascent_step,
                                     reference_value_and_grad)
from surrogate_guard.mlp_weights import ACTIVATIONS, MLPWeights

TOL = {np.float32: 1e-5, np.float64: 1e-12}
SHAPES = [(5, (64, 64, 64, 64)), (3, (128,) * 6), (7, (17,)), (2, (128, 1, 33)), (4, (100, 60, 128, 9, 31))]


def random_net(seed, d, widths, act, dtype, y_scale=1.7):
    rng = np.random.default_rng(seed)
    ws, bs, prev = [], [], d
    for w in list(widths) + [1]:
        ws.append(rng.normal(0.0, 1.5 / np.sqrt(prev), (w, prev)))
        bs.append(rng.normal(0.0, 0.3, w))
        prev = w
    lo = rng.uniform(-2.0, 0.0, d)
    return MLPWeights(tuple(ws), tuple(bs), act, lo, 1.0 / rng.uniform(0.5, 3.0, d), y_scale, -0.4).astype(dtype)


def points(seed, n, w: MLPWeights):
    rng = np.random.default_rng(seed + 1)
    return (w.x_lo + rng.uniform(-0.2, 1.2, (n, w.in_dim)) / w.x_inv_range).astype(w.dtype)


def error_scale(w: MLPWeights, X):
    """(sY (B,), sG (B, d), near_kink (B,)) in float64: the sums of |terms| of the last sums (module doc)."""
    f = {"silu": lambda z: (z / (1 + np.exp(-z)), (1 + np.exp(-z) + z * np.exp(-z)) / (1 + np.exp(-z)) ** 2),
         "tanh": lambda z: (np.tanh(z), 1 - np.tanh(z) ** 2), "relu": lambda z: (np.maximum(z, 0), (z > 0) * 1.0),
         "softplus": lambda z: (np.logaddexp(z, 0), 1 / (1 + np.exp(-z)))}[w.activation]
    Ws = [W.astype(np.float64) for W in w.weights]
    bs = [b.astype(np.float64) for b in w.biases]
    inv = w.x_inv_range.astype(np.float64)
    h, Ds, kink = (X.astype(np.float64) - w.x_lo) * inv, [], np.zeros(len(X), bool)
    for W, b in zip(Ws[:-1], bs[:-1]):
        z = h @ W.T + b
        kink |= (np.abs(z) <= 1e-4 * (np.abs(h) @ np.abs(W).T + np.abs(b))).any(axis=1)
        h, dh = f(z)
        Ds.append(dh)
    sY = abs(w.y_scale) * (np.abs(h) @ np.abs(Ws[-1][0]) + abs(bs[-1][0])) + abs(w.y_offset)
    g = w.y_scale * Ws[-1][0] * Ds[-1]  # dY/dz of the last hidden layer, then down to the first
    for m in range(len(Ds) - 1, 0, -1):
        g = (g @ Ws[m]) * Ds[m - 1]
    return sY, (np.abs(g) @ np.abs(Ws[0])) * np.abs(inv), kink


def assert_close(w, X, Y, G):
    Yr, Gr = reference_value_and_grad(w, X)
    sY, sG, kink = error_scale(w, X)
    tol = TOL[w.dtype.type]
    bad_y = np.abs(Y - Yr) > tol * sY
    assert not bad_y.any(), f"Y off at rows {np.flatnonzero(bad_y)}: {Y[bad_y]} vs {Yr[bad_y]}, X={X[bad_y]}"
    ok = ~kink if w.activation == "relu" else np.ones(len(X), bool)  # relu' jumps at 0: both sides right
    bad_g = (np.abs(G - Gr) > tol * sG) & ok[:, None]
    assert not bad_g.any(), f"G off at rows {np.flatnonzero(bad_g.any(1))}: {G[bad_g]} vs {Gr[bad_g]}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}-{'x'.join(map(str, s[1]))}")
def test_matches_autograd(device, dtype, act, shape):
    w = random_net(11, shape[0], shape[1], act, dtype)
    X = points(3, 45, w)
    Y, G = mlp_value_and_grad(w, X, device=device)
    assert Y.dtype == dtype and G.dtype == dtype and Y.shape == (45,) and G.shape == X.shape
    assert_close(w, X, Y, G)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 33, 64, 65, 257])
def test_batch_sizes(device, dtype, n):
    w = random_net(5, 5, (64, 64, 64, 64), "silu", dtype)
    X = points(n, n, w)
    Y, G = mlp_value_and_grad(w, X, device=device)
    assert Y.shape == (n,) and G.shape == (n, 5)
    assert_close(w, X, Y, G)


def test_threads_and_reruns_are_bitwise_equal():
    w = random_net(2, 5, (64, 64, 64, 64), "tanh", np.float32)
    X = points(9, 1000, w)
    one = mlp_value_and_grad(w, X, device="cpu", threads=1)
    two = mlp_value_and_grad(w, X, device="cpu", threads=2)
    again = mlp_value_and_grad(w, X, device="cpu", threads=2)
    for a, b in ((one, two), (two, again)):
        assert np.array_equal(a.y, b.y) and np.array_equal(a.grad, b.grad)


def step_bound(w, X, z, gz, eta, lo, hi, normalized):
    """Derived bound on |x_new - x_ref| from the value/gradient bounds (module doc); clip is 1-Lipschitz."""
    tol = TOL[w.dtype.type]
    Yr, Gr = reference_value_and_grad(w, X)
    sY, sG, _ = error_scale(w, X)
    e, dg = Yr - z, Gr - gz
    eg = 2 * (sY[:, None] * np.abs(dg) + np.abs(e)[:, None] * sG)  # bound on |err g| / tol
    eta = np.abs(np.broadcast_to(eta, e.shape))[:, None]
    if normalized:
        s = np.linalg.norm(2 * e[:, None] * dg * (hi - lo), axis=1, keepdims=True)
        rel = 2 * np.linalg.norm(eg * (hi - lo), axis=1, keepdims=True) / np.where(s > 0, s, np.inf)
        return tol * (np.abs(X) + 2 * eta * (hi - lo) + eta * (hi - lo) * rel)
    return tol * (np.abs(X) + eta * (2 * np.abs(e)[:, None] * np.abs(dg) + eg))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("per_seed_eta", [False, True])
def test_ascent_step(device, dtype, normalized, per_seed_eta):
    w = random_net(7, 5, (64, 64, 64, 64), "silu", dtype)
    n = 77
    X = points(4, n, w)
    rng = np.random.default_rng(8)
    z = rng.normal(0, 1, n).astype(dtype)
    gz = rng.normal(0, 1, (n, 5)).astype(dtype)
    lo = (w.x_lo - 0.1 / w.x_inv_range).astype(dtype)
    hi = (w.x_lo + 1.1 / w.x_inv_range).astype(dtype)
    X = np.clip(X, lo, hi)
    eta = rng.uniform(0.0, 0.3, n).astype(dtype) if per_seed_eta else 0.07
    r = ascent_step(w, X, z, gz, eta=eta, lo=lo, hi=hi, normalized=normalized, device=device)
    ref = reference_ascent_step(w, X, z, gz, eta=eta, lo=lo, hi=hi, normalized=normalized)
    bound = step_bound(w, X, z, gz, eta, lo, hi, normalized)
    bad = np.abs(r.x - ref.x) > bound
    assert not bad.any(), f"rows {np.flatnonzero(bad.any(1))}: {r.x[bad]} vs {ref.x[bad]}"
    assert ((r.x >= lo) & (r.x <= hi)).all() and (r.x == lo).any() | (r.x == hi).any()  # clipping happened
    assert_close(w, X, r.y, mlp_value_and_grad(w, X, device=device).grad)
    Xi = X.copy()
    inplace = ascent_step(w, Xi, z, gz, eta=eta, lo=lo, hi=hi, normalized=normalized, out=Xi, device=device)
    assert inplace.x is Xi and np.array_equal(Xi, r.x)


def test_normalized_step_length_is_eta_in_the_unit_box():
    w = random_net(1, 5, (32, 32), "softplus", np.float64)
    X = points(2, 50, w)
    lo, hi = X.min(0) - 10.0, X.max(0) + 10.0  # wide box: no clipping
    rng = np.random.default_rng(3)
    r = ascent_step(w, X, rng.normal(size=50), rng.normal(size=(50, 5)), eta=0.01, lo=lo, hi=hi, normalized=True)
    np.testing.assert_allclose(np.linalg.norm((r.x - X) / (hi - lo), axis=1), 0.01, rtol=1e-12)


@pytest.mark.parametrize("seed, widths, act, dtype, x_seed", [(4, (16, 16), "relu", np.float64, 1),
                                                              (6, (64, 64, 64, 64), "silu", np.float32, 5)],
                         ids=["relu-float64", "silu-float32"])
def test_torch_tensors_stay_on_their_device(torch_device, seed, widths, act, dtype, x_seed):
    """Tensors in, tensors out on the same device; the same numbers as numpy input on that device,
    and the in-place step agrees with numpy on the CPU to the float32 tolerance (1e-5)."""
    torch = pytest.importorskip("torch")
    w = random_net(seed, 5, widths, act, dtype)
    X = points(x_seed, 1000, w)
    Xt = torch.from_numpy(X.copy()).to(torch_device)
    Y, G = mlp_value_and_grad(w, Xt, device=torch_device)
    assert isinstance(Y, torch.Tensor) and isinstance(G, torch.Tensor)
    assert Y.device == Xt.device and G.device == Xt.device
    assert_close(w, X, Y.cpu().numpy(), G.cpu().numpy())
    Yn, Gn = mlp_value_and_grad(w, X, device=torch_device)
    assert np.array_equal(Y.cpu().numpy(), Yn) and np.array_equal(G.cpu().numpy(), Gn)
    tdt = getattr(torch, np.dtype(dtype).name)
    z, gz = torch.zeros(1000, dtype=tdt, device=torch_device), torch.zeros((1000, 5), dtype=tdt, device=torch_device)
    lo, hi = X.min(0), X.max(0)
    r = ascent_step(w, Xt, z, gz, eta=0.05, lo=lo, hi=hi, normalized=True, out=Xt, device=torch_device)
    ref = ascent_step(w, X, np.zeros(1000, dtype), np.zeros((1000, 5), dtype), eta=0.05, lo=lo, hi=hi,
                      normalized=True, device="cpu")
    assert r.x is Xt
    np.testing.assert_allclose(Xt.cpu().numpy(), ref.x, rtol=1e-5, atol=1e-5 * np.abs(X).max())


# ---- bad inputs -----------------------------------------------------------------------------

W32 = random_net(0, 5, (8, 8), "silu", np.float32)


def test_dtype_must_match_the_weights():
    with pytest.raises(TypeError, match=r"X: expected dtype float32 \(the weights' dtype"):
        mlp_value_and_grad(W32, np.zeros((3, 5)))


@pytest.mark.parametrize("X, match", [(np.zeros((3, 4), np.float32), r"X: expected shape \(B, 5\).*got \(3, 4\)"),
                                      (np.zeros(5, np.float32), r"X: expected shape \(B, 5\).*got \(5,\)"),
                                      (np.zeros((5, 10), np.float32)[:, ::2], "X: expected a C-contiguous"),
                                      (np.full((2, 5), np.nan, np.float32), "X: expected finite values")])
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        mlp_value_and_grad(W32, X)


def test_X_not_an_array():
    with pytest.raises(TypeError, match="X: expected a numpy array or torch tensor, got list"):
        mlp_value_and_grad(W32, [[0.0] * 5])


def test_step_bad_arguments():
    X, z, gz = np.zeros((2, 5), np.float32), np.zeros(2, np.float32), np.zeros((2, 5), np.float32)
    kw = dict(lo=np.zeros(5), hi=np.ones(5))
    with pytest.raises(ValueError, match="z: expected finite values"):
        ascent_step(W32, X, np.array([np.nan, 0], np.float32), gz, eta=0.1, **kw)
    with pytest.raises(ValueError, match=r"grad_z: expected shape \(2, 5\)"):
        ascent_step(W32, X, z, gz[:1], eta=0.1, **kw)
    with pytest.raises(TypeError, match="z: expected dtype float32"):
        ascent_step(W32, X, z.astype(np.float64), gz, eta=0.1, **kw)
    with pytest.raises(ValueError, match="eta: expected a finite number"):
        ascent_step(W32, X, z, gz, eta=float("nan"), **kw)
    with pytest.raises(ValueError, match=r"eta: expected shape \(2,\)"):
        ascent_step(W32, X, z, gz, eta=np.ones(3, np.float32), **kw)
    with pytest.raises(ValueError, match="lo/hi: expected lo <= hi"):
        ascent_step(W32, X, z, gz, eta=0.1, lo=np.ones(5), hi=np.zeros(5))
    with pytest.raises(ValueError, match="hi: expected 5 finite numbers"):
        ascent_step(W32, X, z, gz, eta=0.1, lo=np.zeros(5), hi=np.ones(4))


@pytest.mark.parametrize("widths, match", [((8,) * 7, r"1\.\.6 hidden layers, got 7"),
                                           ((), r"1\.\.6 hidden layers, got 0"),
                                           ((129,), "hidden widths up to 128")])
def test_unsupported_networks(widths, match):
    with pytest.raises(ValueError, match=match):
        mlp_value_and_grad(random_net(0, 5, widths, "tanh", np.float32), np.zeros((1, 5), np.float32))


def test_device_argument():
    with pytest.raises(ValueError, match="device: expected one of"):
        mlp_value_and_grad(W32, np.zeros((1, 5), np.float32), device="gpu")
    if not sg.has_cuda():
        with pytest.raises(RuntimeError, match="device='cuda'"):
            mlp_value_and_grad(W32, np.zeros((1, 5), np.float32), device="cuda")


def test_native_boundary_is_strict():
    plan = _core.MlpCpuF32(list(W32.weights), list(W32.biases), "silu", W32.x_lo, W32.x_inv_range, 1.0, 0.0)
    X, Y = np.zeros((2, 5), np.float32), np.zeros(2, np.float32)
    with pytest.raises(TypeError):  # no silent float64 -> float32 conversion
        plan.value_and_grad(X.astype(np.float64), Y, None, 1)
    with pytest.raises(ValueError, match=r"Y: expected shape \(B,\)"):
        plan.value_and_grad(X, np.zeros(3, np.float32), None, 1)
    with pytest.raises(ValueError, match="activation: expected one of"):
        _core.MlpCpuF32(list(W32.weights), list(W32.biases), "gelu", W32.x_lo, W32.x_inv_range, 1.0, 0.0)
