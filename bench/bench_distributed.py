"""Scale-out (issue 11): Monte Carlo labelling on a Dask LocalCluster of 2 worker processes of 1
thread each against the same oracle serially in one process on 1 thread (``threads=1``); the
per-chunk overhead; the chunk size where that overhead falls under 5% of the work.

Run: .venv/bin/python -m pytest bench/bench_distributed.py --benchmark-only -s
Sizes (SG_BENCH_SIZE, bench/conftest.py): full 20 000 points x 8192 paths x 32 steps (about 26 s
serial on one core), overhead over 2000 one-point chunks; ci 400 x 1024 x 8, 100 chunks.
Every bench asserts its prices equal the serial ones bitwise (the MC guarantee), never a speed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.oracles import Distributed
from surrogate_guard.oracles.distributed import point_seconds

distributed = pytest.importorskip("distributed")
# The CI size prices with 1 024 paths: some down-and-out calls of the paper box then rest on too few
# paying paths and are flagged unreliable (tests/test_hardening_oracles.py tests the warning); the
# bench compares chunked against serial bitwise, which holds for those rows too.
pytestmark = pytest.mark.filterwarnings("ignore::surrogate_guard.ReliabilityWarning")

OPT = sg.BarrierOption("down-and-out", "call")
BOX = sg.presets.get("paper").box
WORKERS = 2
GROUP = "distributed: MC labelling, LocalCluster 2 x 1 thread vs 1 thread serial"
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            # Every worker imports the package and loads the Numba cache before any timing (a
            # warm-up round warms only the workers its chunks happen to land on).
            c.run(sg.oracles.Analytic(OPT), BOX.sample(1, seed=0))
            yield c


@pytest.fixture(scope="module")
def problem(size):
    n, paths, steps = size(full=(20_000, 8192, 32), ci=(400, 1024, 8))
    Z = sg.oracles.MonteCarlo(OPT, paths=paths, steps=steps, device="cpu", threads=1)
    X = BOX.sample(n, seed=0)
    return Z, X, Z.evaluate(X)


def _same(res, ref):
    np.testing.assert_array_equal(res.price, ref.price)
    np.testing.assert_array_equal(res.stderr, ref.stderr)


@pytest.mark.benchmark(group=GROUP)
def test_mc_serial_one_thread(benchmark, size, problem):
    Z, X, ref = problem
    res = benchmark.pedantic(Z.evaluate, args=(X,), rounds=size(full=2, ci=1), iterations=1)
    _same(res, ref)
    if benchmark.enabled:
        TIMES["serial"] = benchmark.stats["min"]
        print(f"\nserial: {len(X)} points in {TIMES['serial']:.2f} s ({TIMES['serial'] / len(X) * 1e3:.3f} ms a point)")


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("chunk", [None, 50], ids=["chunk-rule", "chunk-50"])
def test_mc_local_cluster(benchmark, size, problem, client, chunk):
    Z, X, ref = problem
    D = Distributed(Z, client, chunk=chunk)
    res = benchmark.pedantic(D.evaluate, args=(X,), rounds=size(full=2, ci=1), iterations=1, warmup_rounds=1)
    _same(res, ref)
    if benchmark.enabled:
        t = benchmark.stats["min"]
        chunks = len(D.chunks(len(X)))
        benchmark.extra_info.update(chunks=chunks, speedup=TIMES.get("serial", math.nan) / t)
        print(f"\n{WORKERS} workers, {chunks} chunks of {len(D.chunks(len(X))[0])}: {t:.2f} s, "
              f"speed-up {TIMES.get('serial', math.nan) / t:.2f}x over 1 thread serial")


@pytest.mark.benchmark(group="distributed: per-chunk overhead (one-point Analytic chunks)")
def test_per_chunk_overhead(benchmark, size, problem, client):
    """Batch wall time per chunk when the work is nil, and the chunk where it is 5% of the work."""
    Z, X, _ = problem
    m = size(full=2000, ci=100)
    A = sg.oracles.Analytic(OPT)
    Xa = BOX.sample(m, seed=1)
    D = Distributed(A, client, chunk=1)
    res = benchmark.pedantic(D.evaluate, args=(Xa,), rounds=size(full=3, ci=1), iterations=1, warmup_rounds=1)
    np.testing.assert_array_equal(res.price, A(Xa))
    if benchmark.enabled:
        per_chunk = benchmark.stats["min"] / m
        s = TIMES["serial"] / len(X) if "serial" in TIMES else point_seconds(Z)
        # overhead / work = (n / c) per_chunk / (n s / W) < 5%  <=>  c > 20 per_chunk W / s
        c5 = math.ceil(20 * per_chunk * WORKERS / s)
        benchmark.extra_info.update(per_chunk_s=per_chunk, chunk_under_5pct=c5)
        print(f"\nper-chunk overhead {per_chunk * 1e3:.2f} ms of batch wall time; under 5% from chunks of {c5} "
              f"points of this MC ({s * 1e3:.3f} ms a point), i.e. {c5 * s:.3f} s of work")
