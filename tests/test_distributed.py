"""``sg.oracles.Distributed`` on real executors: thread and spawned process pools, a Dask
LocalCluster (a worker killed mid-batch included), and a scheduler and a worker started by hand
as subprocesses. Results equal a serial call bitwise and in row order; failures name their rows.

The user functions below live at module level so that they pickle by reference: the spawned
workers import this module (multiprocessing hands them this process's sys.path).
"""
from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.oracles import BudgetedOracle, ChunkError, Distributed, Function, OracleFunctionError
from surrogate_guard.oracles.distributed import chunk_size, connect, point_seconds

OPT = sg.BarrierOption("down-and-out", "call")
BOX5 = sg.presets.get("paper").box
BOX3 = sg.Box(np.zeros(3), np.ones(3))
W = np.array([1.0, 2.0, 3.0])


def smooth(X):
    return np.sin(X @ W) + X[:, 0] ** 2


def with_nan(X):
    out = smooth(X)
    out[X[:, 0] > 0.9] = np.nan
    return out


def refuses_high(X):
    if (X[:, 0] > 0.95).any():
        raise ArithmeticError("cannot price x0 > 0.95")
    return smooth(X)


def _first_call(marker) -> bool:
    """True exactly once per marker file, over every process (O_EXCL creation is atomic)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def flaky(X, marker):
    if _first_call(marker):
        raise RuntimeError("transient failure (first call)")
    return smooth(X)


def dies_once(X, marker):
    if _first_call(marker):
        os._exit(17)  # the worker process dies in the middle of the batch
    return smooth(X)


# The Monte Carlo oracles here run 256 paths to test pickling and distribution, not accuracy: some
# points are flagged unreliable (ReliabilityWarning, tested in test_hardening_oracles.py).
pytestmark = pytest.mark.filterwarnings("ignore::surrogate_guard.ReliabilityWarning")


def mc(model=None):
    return sg.oracles.MonteCarlo(OPT, model, paths=256, steps=8, seed=11, device="cpu", threads=1)


def assert_same(res, ref):
    np.testing.assert_array_equal(res.price, ref.price)
    np.testing.assert_array_equal(res.stderr, ref.stderr)


@pytest.fixture(scope="module")
def threads():
    with ThreadPoolExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def processes():
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        yield ex


# -- pickling: oracles travel as their configuration ----------------------------------------------
def test_every_builtin_oracle_pickles_as_its_configuration():
    X = BOX5.sample(6, seed=0)
    oracles = [sg.oracles.Analytic(OPT, box=BOX5), mc(), mc(sg.Heston(xi=0.3)),
               sg.oracles.FiniteDifference(OPT, space_steps=64, time_steps=32), Function(smooth, BOX3, stderr=0.1)]
    for Z in oracles:
        Xz = X if Z.dim == 5 else BOX3.sample(6, seed=0)
        ref = Z.evaluate(Xz)
        back = pickle.loads(pickle.dumps(Z))
        assert type(back) is type(Z) and back.calls == 0 and back.box == Z.box
        assert repr(back) == repr(Z).replace(f"calls={Z.calls}", "calls=0")
        assert_same(back.evaluate(Xz), ref)
    with pytest.raises(TypeError, match=r"budget the distributed oracle instead, BudgetedOracle\(Distributed"):
        pickle.dumps(BudgetedOracle(oracles[0]))
    err = pickle.loads(pickle.dumps(OracleFunctionError("bad rows", np.array([3, 5]), "non-finite")))
    assert str(err) == "bad rows" and err.rows.tolist() == [3, 5] and err.kind == "non-finite"
    ce = pickle.loads(pickle.dumps(ChunkError("chunk 1 failed", range(4, 8), 3)))
    assert (str(ce), ce.rows, ce.attempts) == ("chunk 1 failed", range(4, 8), 3)


def test_bad_arguments_are_refused(threads, processes):
    f = Function(smooth, BOX3)
    with pytest.raises(TypeError, match=r"budget the distributed oracle instead: BudgetedOracle\(Distributed"):
        Distributed(BudgetedOracle(f), threads)
    with pytest.raises(TypeError, match=r"does not pickle .*Define it with def at module level"):
        Distributed(Function(lambda X: X[:, 0], BOX3), processes)
    Distributed(Function(lambda X: X[:, 0], BOX3), threads)  # threads share the live oracle
    with pytest.raises(TypeError, match=r"executor: got the string 'tcp://x:1'; .*connect\(address\)"):
        Distributed(f, "tcp://x:1")
    with pytest.raises(TypeError, match="executor: expected a concurrent.futures.Executor"):
        Distributed(f, 3)
    with pytest.raises(ValueError, match="chunk: expected an int >= 1"):
        Distributed(f, threads, chunk=0)
    with pytest.raises(ValueError, match="retries: expected an int >= 0"):
        Distributed(f, threads, retries=-1)
    with pytest.raises(ValueError, match="timeout: expected > 0"):
        Distributed(f, threads, timeout=0)
    with pytest.raises(TypeError, match="Distributed holds a live executor"):
        pickle.dumps(Distributed(f, threads))


# -- the chunk rule -----------------------------------------------------------------------------
def test_chunk_rule_follows_the_cost():
    default_mc = sg.oracles.MonteCarlo(OPT, device="cpu")  # 65536 x 64 path-steps: ~0.02 s a point
    assert point_seconds(default_mc) == pytest.approx(65536 * 64 / 2e8)
    assert chunk_size(default_mc, 20_000, 2) == 23  # 0.5 s at most: floor(0.5 / 0.021)
    assert chunk_size(default_mc, 16, 2) == 3  # 0.05 s at least, though 4 chunks per worker want 2
    assert chunk_size(sg.oracles.Analytic(OPT), 20_000, 2) == 20_000  # cheap: one chunk
    assert chunk_size(Function(smooth, BOX3), 1000, 2) == 125  # unknown cost: 4 chunks per worker
    assert chunk_size(Function(smooth, BOX3), 3, 8) == 1 and chunk_size(default_mc, 0, 2) == 1
    fd = sg.oracles.FiniteDifference(OPT)
    assert point_seconds(fd) == pytest.approx(fd.node_steps / 1e9)
    assert point_seconds(Function(smooth, BOX3)) is None


# -- thread and process pools -----------------------------------------------------------------------
@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_equal_to_serial_bitwise_in_row_order(pool, request):
    ex = request.getfixturevalue(pool)
    X = BOX5.sample(40, seed=3)
    sizes = (1, 7, 40, None) if pool == "threads" else (3, None)
    for Z in (sg.oracles.Analytic(OPT), mc(), mc(sg.Heston())):
        ref = Z.evaluate(X)
        for chunk in sizes:
            D = Distributed(Z, ex, chunk=chunk)
            assert_same(D.evaluate(X), ref)
            np.testing.assert_array_equal(D(X[::-1]), ref.price[::-1])  # order follows the rows
            assert D.calls == 80 and D.dim == 5 and D.box is Z.box
    empty = Distributed(sg.oracles.Analytic(OPT), ex)
    assert empty(np.empty((0, 5))).shape == (0,) and empty.calls == 0


def test_non_finite_rows_are_named_across_processes(processes):
    X = BOX3.sample(30, seed=4)
    bad = np.flatnonzero(X[:, 0] > 0.9)
    assert 2 <= len(bad) and len({int(b) // 8 for b in bad}) >= 2, "the NaN rows span several chunks"
    D = Distributed(Function(with_nan, BOX3), processes, chunk=8)
    text = ", ".join(str(int(b)) for b in bad)
    with pytest.raises(OracleFunctionError, match=rf"non-finite values on rows \[{text}\] .* of this batch of 30") as err:
        D(X)
    assert err.value.rows.tolist() == bad.tolist() and err.value.kind == "non-finite" and D.calls == 0


def test_a_transient_failure_is_retried(processes, tmp_path):
    X = BOX3.sample(24, seed=5)
    fn = functools.partial(flaky, marker=str(tmp_path / "failed-once"))
    D = Distributed(Function(fn, BOX3, name="flaky"), processes, chunk=6, retries=1)
    np.testing.assert_array_equal(D(X), smooth(X))
    assert (tmp_path / "failed-once").exists() and D.calls == 24


def test_a_chunk_that_always_fails_names_its_rows(processes, threads):
    X = BOX3.sample(20, seed=6) * 0.9
    X[13, 0] = 0.99  # chunk 2 of chunks of 5: rows 10-14
    D = Distributed(Function(refuses_high, BOX3, name="refuses_high"), processes, chunk=5, retries=1)
    with pytest.raises(ChunkError, match=r"chunk 2 of 4 \(rows 10-14 of this batch of 20\) failed on all 2 attempts; "
                                         r"last: OracleFunctionError: .*cannot price x0 > 0.95.*\(rows \[13\]") as err:
        D(X)
    assert err.value.rows == range(10, 15) and err.value.attempts == 2 and D.calls == 0
    seen = []

    def counted(X):
        seen.append(len(X))
        return refuses_high(X)

    with pytest.raises(ChunkError, match="failed on all 3 attempts"):
        Distributed(Function(counted, BOX3), threads, chunk=5, retries=2)(X)
    assert seen.count(5) == 4 + 2  # every chunk once, the bad one twice more (its row retries are 1-row calls)


def test_a_chunk_past_the_timeout_is_a_failed_attempt():
    stop = threading.Event()

    def slow(X):
        stop.wait(5.0)
        return smooth(X)

    with ThreadPoolExecutor(1) as ex:
        t0 = time.perf_counter()
        with pytest.raises(ChunkError, match=r"rows 0-3 .* failed on all 1 attempts; last: TimeoutError"):
            Distributed(Function(slow, BOX3), ex, chunk=4, retries=0, timeout=0.2)(BOX3.sample(4, seed=0))
        assert time.perf_counter() - t0 < 2.0
        stop.set()


def test_budget_sits_above_distribution(threads):
    f = Function(smooth, BOX3)
    local, far = BudgetedOracle(f, 30), BudgetedOracle(Distributed(Function(smooth, BOX3), threads, chunk=4), 30)
    X = BOX3.sample(20, seed=7)
    for B in (local, far):
        B(X[:12])
        B(np.vstack([X[5:20], X[:3]]))
    assert local.calls == far.calls == 20 == far.oracle.calls
    np.testing.assert_array_equal(local.known()[1], far.known()[1])


def test_consumers_accept_a_distributed_oracle(threads):
    """make_dataset, ActiveLearner and detect give the same results with the plain oracle."""
    def run(oracle):
        data = sg.data.make_dataset(BOX3, oracle, 300, seed=1)
        surrogate = sg.Surrogate(BOX3, widths=(16, 16), seed=0)
        learner = sg.active.ActiveLearner(oracle, BOX3, surrogate=surrogate, strategy="random", batch_size=10,
                                          initial=20, validation=20, seed=0, fit={"epochs": 3, "device": "cpu"})
        learned = learner.run(60, progress=False)
        y = data.y + 2.0 * (np.linalg.norm(data.X - 0.5, axis=1) < 0.2)  # a poisoned ball
        rep = sg.defense.detect(surrogate, oracle, data.X, y, oracle_budget=80, seed=0, device="cpu")
        return data, learned, rep

    plain = run(Function(smooth, BOX3))
    far = run(Distributed(Function(smooth, BOX3), threads, chunk=16))
    np.testing.assert_array_equal(plain[0].y, far[0].y)
    assert plain[0].oracle_calls == far[0].oracle_calls == 300
    assert [r.val_rmse for r in plain[1].history] == [r.val_rmse for r in far[1].history]
    assert plain[1].calls == far[1].calls == 60
    np.testing.assert_array_equal(plain[2].suspects, far[2].suspects)
    assert plain[2].cost.oracle_calls == far[2].cost.oracle_calls


# -- Dask ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_dask_local_cluster_equals_serial(dask_client):
    X = BOX5.sample(40, seed=8)
    for Z in (sg.oracles.Analytic(OPT), mc()):
        ref = Z.evaluate(X)
        for chunk in (6, None):
            assert_same(Distributed(Z, dask_client, chunk=chunk).evaluate(X), ref)
    f = Function(lambda X: X[:, 0] * 2.0, BOX3)  # dask ships a lambda by value (cloudpickle)
    Y = BOX3.sample(10, seed=0)
    np.testing.assert_array_equal(Distributed(f, dask_client, chunk=3)(Y), Y[:, 0] * 2.0)


def test_dask_worker_killed_mid_batch(dask_client, tmp_path):
    """The worker running the first chunk dies; dask reruns it elsewhere; each point once, as serial."""
    X = BOX3.sample(60, seed=9)
    marker = tmp_path / "died"
    D = Distributed(Function(functools.partial(dies_once, marker=str(marker)), BOX3, name="dies_once"),
                    dask_client, chunk=10)
    res = D.evaluate(X)
    assert marker.exists(), "a worker died"
    assert_same(res, Function(smooth, BOX3).evaluate(X))
    assert D.calls == 60 and len(res) == 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scheduler_by_hand(tmp_path):
    """``dask scheduler`` and ``dask worker ADDRESS --nworkers 1 --nthreads 1`` as subprocesses."""
    pytest.importorskip("distributed")
    info, log = tmp_path / "scheduler.json", open(tmp_path / "dask.log", "wb")
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(info)], stdout=log, stderr=log)]
    try:
        deadline = time.monotonic() + 60
        while not (info.exists() and info.stat().st_size):
            assert procs[0].poll() is None and time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(subprocess.Popen(dask + ["worker", address, "--nworkers", "1", "--nthreads", "1",
                                              "--no-dashboard"], stdout=log, stderr=log))
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def test_scheduler_and_worker_started_by_hand(scheduler_by_hand):
    X = BOX5.sample(30, seed=10)
    with connect(scheduler_by_hand, timeout=30) as client:
        client.wait_for_workers(1, timeout=60)
        for Z in (sg.oracles.Analytic(OPT), mc()):
            assert_same(Distributed(Z, client, chunk=7).evaluate(X), Z.evaluate(X))


def test_an_unreachable_scheduler_fails_within_the_timeout():
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match=rf"no Dask scheduler answered at '{address}' within 1 s"):
        connect(address, timeout=1.0)
    assert time.perf_counter() - t0 < 10.0
