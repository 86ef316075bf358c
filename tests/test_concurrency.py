"""Concurrency and thread-count determinism (issue 12, item 6).

8 Python threads on one shared object and on one object each give results bitwise equal to a serial
call (the native calls release the GIL; nothing they touch is shared mutable state), the call counter
loses no call, and the native thread count changes no bit (MC: one Philox stream per path; the kernel:
every point is computed by one thread in a fixed order).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.kernels import ascent_step, mlp_value_and_grad
from surrogate_guard.mlp_weights import MLPWeights

OPTION = sg.BarrierOption("down-and-out", "call")
N_THREADS = 8


def _points(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(80, 120, n), rng.uniform(60, 95, n), rng.uniform(0.1, 0.4, n),
                         rng.uniform(0.25, 2, n), rng.uniform(0.0, 0.05, n)])
    X.setflags(write=False)
    return X


FACTORIES = {
    "analytic": (lambda: sg.oracles.Analytic(OPTION), 200),
    "mc": (lambda: sg.oracles.MonteCarlo(OPTION, paths=2048, steps=16, device="cpu"), 12),
    "fd": (lambda: sg.oracles.FiniteDifference(OPTION, space_steps=64, time_steps=32), 6),
}


def _run_threads(fn, args):
    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(fn, args))


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@pytest.mark.parametrize("shared", [True, False], ids=["one-object", "one-each"])
def test_oracles_in_threads_match_serial(kind, shared):
    make, n = FACTORIES[kind]
    batches = [_points(i, n) for i in range(N_THREADS)]
    serial = [make().evaluate(X) for X in batches]
    one = make()
    results = _run_threads(lambda X: (one if shared else make()).evaluate(X), batches * 2)
    for got, want in zip(results, serial * 2):
        assert np.array_equal(got.price, want.price) and np.array_equal(got.stderr, want.stderr)
    if shared:
        assert one.calls == 2 * N_THREADS * n, "the shared oracle's call counter lost calls"


def _net(dtype) -> MLPWeights:
    rng = np.random.default_rng(5)
    ws, bs, prev = [], [], 5
    for w in (64, 64, 1):
        ws.append(rng.normal(0, 1 / np.sqrt(prev), (w, prev)))
        bs.append(rng.normal(0, 0.2, w))
        prev = w
    return MLPWeights(tuple(ws), tuple(bs), "silu", np.zeros(5), np.ones(5), 2.0, 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_in_threads_matches_serial(dtype):
    w = _net(dtype)
    batches = [np.random.default_rng(i).uniform(0, 1, (997, 5)).astype(dtype) for i in range(N_THREADS)]
    serial = [mlp_value_and_grad(w, X, device="cpu") for X in batches]
    results = _run_threads(lambda X: mlp_value_and_grad(w, X, device="cpu", threads=2), batches * 2)
    fresh = _run_threads(lambda X: mlp_value_and_grad(_net(dtype), X, device="cpu"), batches)  # one plan each
    for got, want in zip(results + fresh, serial * 3):
        assert np.array_equal(got.y, want.y) and np.array_equal(got.grad, want.grad)


def test_predict_in_threads_matches_serial():
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 5), 3.0, widths=(32, 32), seed=2)
    batches = [np.random.default_rng(i).uniform(0, 1, (3000, 5)) for i in range(N_THREADS)]
    serial = [s.copy().predict(X) for X in batches]
    for got, want in zip(_run_threads(s.predict, batches * 2), serial * 2):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("model", [sg.GBM(), sg.Heston(kappa=2.0, theta=0.04, xi=0.5, rho=-0.7, v0=0.04)],
                         ids=["gbm", "heston"])
def test_mc_thread_count_changes_no_bit(model):
    X = _points(11, 7)
    res = [sg.oracles.MonteCarlo(OPTION, model, paths=4096, steps=8, device="cpu", threads=t).evaluate(X)
           for t in (1, 2, 3)]
    for r in res[1:]:
        assert np.array_equal(r.price, res[0].price) and np.array_equal(r.stderr, res[0].stderr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_thread_count_changes_no_bit(dtype):
    w = _net(dtype)
    X = np.random.default_rng(3).uniform(0, 1, (1001, 5)).astype(dtype)
    z, gz = np.zeros(1001, dtype), np.zeros((1001, 5), dtype)
    ref = mlp_value_and_grad(w, X, device="cpu", threads=1)
    step = ascent_step(w, X, z, gz, eta=0.01, lo=np.zeros(5), hi=np.ones(5), normalized=True, device="cpu", threads=1)
    for t in (2, 3):
        got = mlp_value_and_grad(w, X, device="cpu", threads=t)
        assert np.array_equal(got.y, ref.y) and np.array_equal(got.grad, ref.grad)
        s = ascent_step(w, X, z, gz, eta=0.01, lo=np.zeros(5), hi=np.ones(5), normalized=True, device="cpu",
                        threads=t)
        assert np.array_equal(s.x, step.x) and np.array_equal(s.y, step.y)
