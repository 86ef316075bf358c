"""Surrogate inference (issue 13): ``Surrogate.predict`` through the native value-only forward against
the torch reference (``predict(backend="torch")``, what predict was before), default 5 -> 4 x 64 -> 1
SiLU surrogate, float32 and float64, one group per (dtype, n). Every benchmark checks its result
against the torch one within the derived bound of tests/test_native_predict.py.

Run: .venv/bin/python -m pytest bench/bench_inference.py --benchmark-only --benchmark-group-by=group
     table (ns/point, ratio) from a JSON: python bench/bench_inference.py --table FILE.json
Targets: float32 <= 150 ns/point at n = 100 000 and 1 048 576 (2 threads); one point <= 3 us end to end.
Sizes (SG_BENCH_SIZE, bench/conftest.py): full: n = 1, 64, 4096, 100 000, 1 048 576; ci: 1, 64, 4096,
8192, 16384.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import surrogate_guard as sg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_native_predict import bound  # noqa: E402  (the derived tolerance, one definition)

THREADS = 2  # this dev box has 2 cores; torch gets the same count
N = {"full": {"one": 1, "small": 64, "medium": 4096, "large": 100_000, "huge": 1_048_576},
     "ci": {"one": 1, "small": 64, "medium": 4096, "large": 8192, "huge": 16384}}


@pytest.fixture(scope="module")
def model() -> sg.Surrogate:
    s = sg.Surrogate(sg.presets.get("paper"), seed=0)  # default widths and activation; weights from seed 0
    s.y_offset = 3.0
    return s


@pytest.mark.parametrize("batch", list(N["full"]))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("impl", ["native", "torch"])
def test_predict(benchmark, torch_threads, size, model, impl, dtype, batch):
    n = size(full=N["full"][batch], ci=N["ci"][batch])
    benchmark.group = f"predict {np.dtype(dtype).name} n={n} ({THREADS} threads)"
    benchmark.extra_info["n"] = n
    X = sg.presets.get("paper").sample(n, seed=n)
    ref = model.predict(X, backend="torch")  # float64 torch
    if impl == "native":
        f = lambda: model.predict(X, dtype=dtype, threads=THREADS)  # noqa: E731
    else:
        f = lambda: model.predict(X, dtype=dtype, backend="torch")  # noqa: E731
    rounds = 5 if n > 100_000 else 20 if n > 1000 else 2000
    # One point: 100 calls per round, so the timer's own overhead (~0.1-0.3 us) is not in the figure.
    iterations = 100 if n == 1 else 1
    out = benchmark.pedantic(f, rounds=rounds // 10 if n == 1 else rounds, iterations=iterations,
                             warmup_rounds=2 if n > 1000 else 50)
    assert out.dtype == dtype and out.shape == (n,)
    tol = bound(model, X, dtype) * (2.0 if impl == "torch" else 1.0)  # torch float32 is off by the same bound
    assert np.all(np.abs(out - ref) <= tol)


def table(path: str) -> None:
    """ns/point (median) per group and implementation, and native's speedup over torch."""
    rows = json.load(open(path))["benchmarks"]
    groups: dict[str, dict[str, tuple[float, int]]] = {}
    for r in rows:
        groups.setdefault(r["group"], {})[r["params"]["impl"]] = (r["stats"]["median"], r["extra_info"]["n"])
    print(f"{'group':40s} {'native ns/pt':>13s} {'torch ns/pt':>12s} {'torch/native':>13s}")
    for g, d in sorted(groups.items(), key=lambda kv: (kv[0].split()[1], kv[1]["native"][1])):
        (tn, n), (tt, _) = d["native"], d["torch"]
        print(f"{g:40s} {tn / n * 1e9:13.1f} {tt / n * 1e9:12.1f} {tt / tn:13.1f}")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--table":
    table(sys.argv[2])
