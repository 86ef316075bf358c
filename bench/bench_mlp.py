"""Fused ascent step (issue 5) against the same step written in torch (forward, autograd to the
input, update, clamp), default 5 -> 4 x 64 -> 1 SiLU MLP. One group per comparison; every
benchmark checks its result against the torch one.

Run: .venv/bin/python -m pytest bench/bench_mlp.py --benchmark-only --benchmark-group-by=group
     (-k cpu or -k gpu); table from a JSON: python bench/bench_mlp.py --table FILE.json
Targets: CPU >= 3x torch (same thread count) at B = 4096 and 131072; GPU (float32) >= 30x torch
eager at B <= 16384, >= 3x at B = 1048576, >= 3x a CUDA-graph-captured torch step.
Sizes (SG_BENCH_SIZE, bench/conftest.py): the batch label picks B. full: CPU small/large =
4096/131072, GPU small/medium/large = 1024/16384/1048576; ci: 256/2048 and 256/1024/4096.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import surrogate_guard as sg
from surrogate_guard.kernels import ascent_step
from surrogate_guard.mlp_weights import MLPWeights

THREADS = 2  # this dev box has 2 cores; torch gets the same count
ETA = 0.01


def default_net(dtype) -> MLPWeights:
    rng = np.random.default_rng(0)
    ws, bs, prev = [], [], 5
    for w in (64, 64, 64, 64, 1):
        ws.append(rng.normal(0, 1.0 / np.sqrt(prev), (w, prev)))
        bs.append(rng.normal(0, 0.1, w))
        prev = w
    return MLPWeights(tuple(ws), tuple(bs), "silu", np.zeros(5), np.ones(5), 2.0, 0.5).astype(dtype)


class TorchStep:
    """The step in plain torch: x <- clamp(x + eta 2 (Y - z)(grad Y - gz), lo, hi)."""

    def __init__(self, w: MLPWeights, device: str):
        t = lambda a: torch.tensor(np.asarray(a), device=device)  # noqa: E731
        self.W = [t(a) for a in w.weights]
        self.b = [t(a) for a in w.biases]
        self.lo_x, self.inv = t(w.x_lo), t(w.x_inv_range)
        self.ys, self.yo = w.y_scale, w.y_offset
        self.lo, self.hi = t(np.zeros(5, w.dtype)), t(np.ones(5, w.dtype))

    def __call__(self, x, z, gz):
        x = x.detach().requires_grad_(True)
        h = (x - self.lo_x) * self.inv
        for W, b in zip(self.W[:-1], self.b[:-1]):
            h = torch.nn.functional.silu(torch.addmm(b, h, W.T))
        y = self.ys * torch.addmm(self.b[-1], h, self.W[-1].T)[:, 0] + self.yo
        (g,) = torch.autograd.grad(y.sum(), x)
        with torch.no_grad():
            return torch.clamp(x + ETA * 2 * (y - z)[:, None] * (g - gz), self.lo, self.hi), y


def inputs(B, dtype, device="cpu"):
    rng = np.random.default_rng(B)
    X = rng.uniform(0, 1, (B, 5)).astype(dtype)
    z = rng.normal(size=B).astype(dtype)
    gz = rng.normal(size=(B, 5)).astype(dtype)
    return X, z, gz


def close(a, b, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


CPU_B = {"full": {"small": 4096, "large": 131072}, "ci": {"small": 256, "large": 2048}}
GPU_B = {"full": {"small": 1024, "medium": 16384, "large": 1048576},
         "ci": {"small": 256, "medium": 1024, "large": 4096}}


@pytest.mark.parametrize("batch", ["small", "large"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("impl", ["ours", "torch"])
def test_cpu_step(benchmark, torch_threads, size, impl, dtype, batch):
    B = size(full=CPU_B["full"][batch], ci=CPU_B["ci"][batch])
    benchmark.group = f"cpu step {np.dtype(dtype).name} B={B} ({THREADS} threads)"
    w = default_net(dtype)
    X, z, gz = inputs(B, dtype)
    lo, hi = np.zeros(5, dtype), np.ones(5, dtype)
    ref = TorchStep(w, "cpu")(*map(torch.from_numpy, (X, z, gz)))[0].numpy()
    if impl == "ours":
        f = lambda: ascent_step(w, X, z, gz, eta=ETA, lo=lo, hi=hi, device="cpu", threads=THREADS).x  # noqa: E731
    else:
        Xt, zt, gzt = map(torch.from_numpy, (X, z, gz))
        step = TorchStep(w, "cpu")
        f = lambda: step(Xt, zt, gzt)[0].numpy()  # noqa: E731
    out = benchmark.pedantic(f, rounds=7 if B > 10000 else 30, warmup_rounds=1)
    close(out, ref, dtype)


needs_gpu = pytest.mark.skipif(not (sg.has_cuda() and torch.cuda.is_available()), reason="needs a GPU and torch CUDA")


def cuda_timed(f):
    def run():
        r = f()
        torch.cuda.synchronize()
        return r
    return run


@needs_gpu
@pytest.mark.parametrize("batch", ["small", "medium", "large"])
@pytest.mark.parametrize("impl", ["ours", "torch-eager", "torch-graph"])
def test_gpu_step(benchmark, size, impl, batch):
    B = size(full=GPU_B["full"][batch], ci=GPU_B["ci"][batch])
    dtype = np.float32
    benchmark.group = f"gpu step float32 B={B}"
    w = default_net(dtype)
    X, z, gz = (torch.from_numpy(a).cuda() for a in inputs(B, dtype))
    step = TorchStep(w, "cuda")
    ref = step(X, z, gz)[0].cpu().numpy()
    if impl == "ours":
        lo, hi = np.zeros(5, dtype), np.ones(5, dtype)
        out = torch.empty_like(X)
        f = lambda: ascent_step(w, X, z, gz, eta=ETA, lo=lo, hi=hi, out=out, check_finite=False).x  # noqa: E731
    elif impl == "torch-eager":
        f = lambda: step(X, z, gz)[0]  # noqa: E731
    else:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                step(X, z, gz)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = step(X, z, gz)[0]

        def f():
            graph.replay()
            return static_out
    res = benchmark.pedantic(cuda_timed(f), rounds=30 if B > 100000 else 200, warmup_rounds=3)
    close(res.cpu().numpy(), ref, dtype)


def table(path: str) -> None:
    """Short table from a --benchmark-json file: median per implementation and our speedup."""
    rows = json.load(open(path))["benchmarks"]
    groups: dict[str, dict[str, float]] = {}
    for r in rows:
        groups.setdefault(r["group"], {})[r["params"]["impl"]] = r["stats"]["median"]
    print(f"{'group':40s} {'impl':12s} {'median ms':>10s} {'ours x':>8s}")
    for g, d in sorted(groups.items()):
        for impl, t in sorted(d.items()):
            sp = t / d["ours"] if "ours" in d else float("nan")
            print(f"{g:40s} {impl:12s} {t * 1e3:10.3f} {sp:8.2f}")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--table":
    table(sys.argv[2])
