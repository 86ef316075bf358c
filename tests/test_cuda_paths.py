"""The CUDA paths' defects of docs/cuda_defects.md, each pinned by a test that runs on a GPU.

Without a GPU every test here skips (the CUDA build still compiles them in: `make test`). On the
GPU machine, `bash bench/gpu_check.sh` runs them first and fails when any of them skips.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard import _core
from surrogate_guard.kernels import ascent_step, mlp_value_and_grad, reference_ascent_step

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not sg.has_cuda(), reason="needs a CUDA build and a usable GPU")]

PAPER = sg.presets.get("paper")
# A partly filled last block (CUDA_CHUNK = 1024 draws) and a partial step group (4 GBM or 2
# Heston steps per Philox block): every kernel instance is checked at a ragged size.
RAGGED = dict(paths=2 * (3 * 1024 + 37), steps=7, seed=5)


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA build of torch")
    return torch


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("model", [sg.GBM(), sg.Heston()], ids=["gbm", "heston"])
@pytest.mark.parametrize("bridge", [True, False], ids=["bridge", "discrete"])
@pytest.mark.parametrize("antithetic", [True, False], ids=["anti", "plain"])
def test_every_mc_kernel_instance_matches_the_cpu(precision, model, bridge, antithetic):
    """All 16 instances (precision x model x bridge x antithetic), ragged tail block and step group."""
    opt = sg.BarrierOption("down-and-out", "call")
    X = PAPER.sample(50, seed=3)
    kw = dict(model=model, precision=precision, bridge=bridge, antithetic=antithetic, **RAGGED)
    a = sg.oracles.MonteCarlo(opt, device="cpu", **kw).evaluate(X)
    b = sg.oracles.MonteCarlo(opt, device="cuda", **kw).evaluate(X)
    if precision == "float64":
        np.testing.assert_allclose(b.price, a.price, rtol=1e-9, atol=1e-12)
    else:  # tests/test_monte_carlo.py::test_float32_mode_tolerance
        assert np.all(np.abs(a.price - b.price) <= 16 * RAGGED["steps"] * 2.0**-24 * (X[:, 0] + opt.spot))


def test_mc_from_threads_is_the_serial_result():
    """The per-thread stream and the pool: concurrent calls give the serial result bit for bit."""
    opt = sg.BarrierOption("up-and-in", "put")
    Z = sg.oracles.MonteCarlo(opt, device="cuda", paths=8192, steps=16)
    X = [PAPER.sample(40, seed=s) for s in range(6)]
    want = [Z(x) for x in X]
    got: list = [None] * len(X)

    def work(i):
        got[i] = Z(X[i])

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(X))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)


def _weights(widths=(64, 64, 64, 64), dtype=np.float32, seed=0):
    return sg.Surrogate(PAPER, widths=widths, seed=seed).export(dtype)


def test_one_plan_from_many_threads_with_different_boxes():
    """Defect 5: a plan shared by threads (the GIL is released), each with its own box and batch size."""
    w = _weights(dtype=np.float64)
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(8):
        n = 50 + 97 * i
        X = PAPER.sample(n, seed=i)
        lo, hi = PAPER.box.lo + 0.01 * i, PAPER.box.hi - 0.01 * i
        jobs.append((X, rng.normal(size=n), rng.normal(size=(n, 5)), lo, hi))
    want = [reference_ascent_step(w, X, z, gz, eta=0.05, lo=lo, hi=hi, normalized=True).x for X, z, gz, lo, hi in jobs]
    got: list = [None] * len(jobs)

    def work(i):
        X, z, gz, lo, hi = jobs[i]
        for _ in range(5):
            got[i] = ascent_step(w, X, z, gz, eta=0.05, lo=lo, hi=hi, normalized=True, device="cuda").x

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for w_, g in zip(want, got):
        np.testing.assert_allclose(g, w_, rtol=1e-9, atol=1e-9)


def test_streams_with_different_boxes_on_one_plan():
    """Defect 5 on the device path: two torch streams, two boxes, one plan, launched back to back."""
    torch = _torch_cuda()
    w = _weights(dtype=np.float32)
    X = torch.tensor(PAPER.sample(4096, seed=1), dtype=torch.float32, device="cuda")
    z = torch.zeros(4096, dtype=torch.float32, device="cuda")
    gz = torch.zeros((4096, 5), dtype=torch.float32, device="cuda")
    boxes = [(PAPER.box.lo, PAPER.box.hi), (PAPER.box.lo + 1.0, PAPER.box.hi - 1.0)]
    streams = [torch.cuda.Stream(), torch.cuda.Stream()]
    outs = []
    for s, (lo, hi) in zip(streams, boxes):
        with torch.cuda.stream(s):
            outs.append(ascent_step(w, X, z, gz, eta=0.1, lo=lo, hi=hi, normalized=True, check_finite=False).x)
    torch.cuda.synchronize()
    for out, (lo, hi) in zip(outs, boxes):
        ref = reference_ascent_step(w, X.cpu().numpy(), np.zeros(4096), np.zeros((4096, 5)), eta=0.1, lo=lo, hi=hi,
                                    normalized=True).x
        np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-4, atol=1e-3 * (hi - lo))


def test_a_later_plan_does_not_lower_an_earlier_plans_shared_memory():
    """Defect 6: the widest network first, a small one after, then the wide one runs again."""
    X = PAPER.sample(1000, seed=2)
    big, small = _weights((128,) * 6, np.float64), _weights((16,), np.float64)
    a = mlp_value_and_grad(big, X, device="cuda").y
    mlp_value_and_grad(small, X, device="cuda")
    b = mlp_value_and_grad(big, X, device="cuda").y
    np.testing.assert_array_equal(a, b)


def test_tensors_on_another_device_are_refused():
    """Defect 7: a CPU tensor beside CUDA ones, and (with two GPUs) a tensor on the other GPU."""
    torch = _torch_cuda()
    w = _weights(dtype=np.float32)
    X = torch.zeros((8, 5), dtype=torch.float32, device="cuda:0")
    with pytest.raises(TypeError, match="z: expected the same array kind as X"):
        ascent_step(w, X, torch.zeros(8), torch.zeros((8, 5), device="cuda:0"), eta=0.1, lo=PAPER.box.lo,
                    hi=PAPER.box.hi)
    if torch.cuda.device_count() < 2:
        return
    with pytest.raises(ValueError, match="z: expected a tensor on X's device"):
        ascent_step(w, X, torch.zeros(8, device="cuda:1"), torch.zeros((8, 5), device="cuda:0"), eta=0.1,
                    lo=PAPER.box.lo, hi=PAPER.box.hi)


def test_a_failed_call_does_not_poison_the_next():
    """Defect 8: an error (a plan on a device that does not exist) is cleared; the next call works."""
    w = _weights(dtype=np.float32)
    with pytest.raises(RuntimeError, match="CUDA error in cudaSetDevice"):
        _core.MlpCudaF32(list(w.weights), list(w.biases), w.activation, w.x_lo, w.x_inv_range, 1.0, 0.0, 999)
    X = PAPER.sample(10, seed=0).astype(np.float32)
    assert np.isfinite(mlp_value_and_grad(w, X, device="cuda").y).all()
    Z = sg.oracles.MonteCarlo(sg.BarrierOption("down-and-out", "put"), device="cuda", paths=1024, steps=2)
    assert np.isfinite(Z(PAPER.sample(3, seed=1))).all()


def test_the_probe_and_the_callers_device():
    """Defect 10: every device counted as usable really runs this build's kernels, cuda_status says
    so per device, and building a plan or pricing leaves the caller's current device alone."""
    torch = _torch_cuda()
    n = _core.cuda_device_count()
    assert n >= 1 and _core.cuda_status().count(": usable") == n
    last = torch.cuda.device_count() - 1
    torch.cuda.set_device(last)
    try:
        w = _weights(dtype=np.float32)
        mlp_value_and_grad(w, PAPER.sample(10, seed=0).astype(np.float32), device="cuda")
        assert torch.cuda.current_device() == last
    finally:
        torch.cuda.set_device(0)


def test_host_path_and_persistent_tile_loop():
    """Defect 11 and coverage: more tiles than resident blocks (the persistent loop), host arrays."""
    w = _weights(dtype=np.float64)
    X = PAPER.sample(300_000, seed=4)
    got = mlp_value_and_grad(w, X, device="cuda")
    ref = mlp_value_and_grad(w, X, device="cpu")
    np.testing.assert_allclose(got.y, ref.y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.grad, ref.grad, rtol=1e-9, atol=1e-9)
