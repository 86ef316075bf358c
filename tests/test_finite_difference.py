"""FiniteDifference against the closed form (default grid, all kinds, hard corners), against
its dense reference, its convergence order, and argument checks.

The full 1000-points-per-kind check is marked slow (run with -m slow); `make test` runs a
smaller random sample per kind plus the corners.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import kind_points

import surrogate_guard as sg
from surrogate_guard.oracles._fd_reference import reference_prices

SPOT = 100.0
TOL = 1e-4  # issue 2: |error| <= 1e-4 max(price, 1) at the default grid


def corners(option: sg.BarrierOption, full: bool) -> np.ndarray:
    """Hard points: barrier within 1% of spot (and far), strike at the barrier, vol 0.01 with
    rate 0.1 (convection dominated), maturity 0.002 and 5."""
    if option.is_down:
        Hs = (99.0, 99.5, 99.9, 90.0, 10.0) if full else (99.5, 99.9)
    else:
        Hs = (101.0, 100.5, 100.1, 110.0, 250.0) if full else (100.5, 100.1)
    Ks = (50.0, 95.0, 100.0, 105.0, 200.0) if full else (50.0, 100.0, 200.0)
    sigs = (0.01, 0.2, 1.0) if full else (0.01, 1.0)
    Ts = (0.002, 0.1, 1.0, 5.0) if full else (0.002, 5.0)
    rows = []
    for H in Hs:
        for K in Ks + (H,):
            for sig, T, r in itertools.product(sigs, Ts, (0.0, 0.1)):
                rows.append([K, H, sig, T, r])
    return np.array(rows)


def _check(option, X):
    fd = sg.oracles.FiniteDifference(option)(X)
    ref = sg.oracles.Analytic(option)(X)
    err = np.abs(fd - ref) / np.maximum(ref, 1.0)
    i = int(np.argmax(err))
    assert err[i] <= TOL, (
        f"{option}: |fd - closed form| / max(price, 1) = {err[i]:.3e} > {TOL} at "
        f"[strike, barrier, vol, maturity, rate] = {X[i].tolist()} (fd {fd[i]!r}, closed form {ref[i]!r})"
    )


def test_default_grid_sample_and_corners(option):
    X = np.vstack([kind_points(option, 40, seed=21), corners(option, full=False)])
    _check(option, X)


@pytest.mark.slow
def test_default_grid_1000_points_and_all_corners(option):
    X = np.vstack([kind_points(option, 1000, seed=22), corners(option, full=True)])
    _check(option, X)


def test_matches_dense_reference(option):
    """The lane-batched Thomas kernel equals the dense numpy solve on the same grids."""
    X = np.vstack([kind_points(option, 6, seed=4), corners(option, full=False)[::9]])
    fd = sg.oracles.FiniteDifference(option, space_steps=40, time_steps=30)
    # Each point on the grid the oracle gives it (grown where drift dominates: tests/test_fd_domain.py).
    N, M = fd.grids(X)
    keep = N <= 400
    X = X[keep]
    slow = np.array([reference_prices(option, x[None], space_steps=int(n), time_steps=int(m))[0]
                     for x, n, m in zip(X, N[keep], M[keep])])
    # Unguarded prices (the guard's clipping and refusals are tested in test_fd_domain.py), both
    # floored at 0 as the reference floors in = vanilla - out.
    fast = np.array([fd.price_jobs(x[None])[0][0] for x in X])
    fast, slow = np.maximum(fast, 0.0), np.maximum(slow, 0.0)
    # Both solve the same linear systems; only rounding differs (condition ~ steps^2).
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-11 * SPOT)


def test_nested_levels_and_forced_barrier_node_match_dense_reference(option):
    """The adaptive grid's three nested solves (every node, every 2nd, every 4th) and a solve with its
    barrier node forced elsewhere (the gradient's barrier bumps) each equal the dense solve on that grid."""
    from surrogate_guard.oracles import _fd_kernel as K
    from surrogate_guard.oracles._fd_reference import _solve_dense
    from surrogate_guard.oracles.finite_difference import plan_jobs

    X = np.array(kind_points(option, 4, seed=9))
    pts, modes = plan_jobs(option, X)
    N, M, R = 48, 24, 4
    res, jout = K.solve_jobs(option.code, option.spot, option.dividend, X, pts, modes, N, M, R, 6.0, 3)
    jf = np.where(jout >= 0, np.minimum(jout + 4, N - 4), -1)
    forced, _ = K.solve_jobs(option.code, option.spot, option.dividend, X, pts, modes, N, M, R, 6.0, 1, jfs=jf)
    for j, (p, mode) in enumerate(zip(pts, modes)):
        slow = [_solve_dense(option, X[p], N >> lev, M >> lev, R, 6.0, int(mode), 4 >> lev) for lev in range(3)]
        np.testing.assert_allclose(res[j], slow, rtol=0, atol=1e-11 * SPOT)
        dense = _solve_dense(option, X[p], N, M, R, 6.0, int(mode), 1, int(jf[j]))
        assert abs(forced[j, 0] - dense) <= 1e-11 * SPOT, (X[p].tolist(), mode, jf[j], forced[j, 0], dense)


@pytest.mark.parametrize(
    "kind,otype,point",
    [
        ("down-and-out", "put", [110.0, 60.0, 0.3, 1.0, 0.05]),  # barrier 1.7 sd away: smooth near it
        ("up-and-out", "call", [95.0, 160.0, 0.25, 0.5, 0.03]),
    ],
)
def test_second_order_convergence(kind, otype, point):
    """Plain Crank-Nicolson (no Richardson): halving h and dt divides the error by ~4."""
    opt = sg.BarrierOption(kind, otype)
    X = np.array([point])
    ref = sg.oracles.Analytic(opt)(X)[0]
    errs = [
        sg.oracles.FiniteDifference(opt, space_steps=n, time_steps=n, richardson=False)(X)[0] - ref
        for n in (100, 200, 400)
    ]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(3.5 < q < 4.5 for q in ratios), f"error ratios {ratios} (errors {errs})"


def test_richardson_beats_plain(option):
    X = kind_points(option, 16, seed=8)
    ref = sg.oracles.Analytic(option)(X)
    plain = sg.oracles.FiniteDifference(option, space_steps=200, time_steps=200, richardson=False)(X)
    rich = sg.oracles.FiniteDifference(option, space_steps=200, time_steps=200)(X)
    assert np.max(np.abs(rich - ref)) < 0.2 * np.max(np.abs(plain - ref))


def test_breached_at_start_and_empty_batch(option):
    H = 100.0  # spot at the barrier: breached for every kind
    X = np.array([[95.0, H, 0.2, 1.0, 0.05], [105.0, H, 0.3, 0.5, 0.0]])
    fd = sg.oracles.FiniteDifference(option, space_steps=400, time_steps=400)
    p = fd(X)
    if option.is_in:
        van = sg.oracles.analytic.vanilla_price(option.is_call, SPOT, 0.0, X)
        np.testing.assert_allclose(p, van, rtol=1e-5)
    else:
        assert np.all(p == 0.0)
    out = fd(np.empty((0, 5)))
    assert out.shape == (0,) and out.dtype == np.float64
    assert fd.calls == 2


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        (dict(space_steps=7, richardson=False), ValueError, "space_steps: expected an int >= 8"),
        (dict(space_steps=10), ValueError, "space_steps: expected an int >= 16"),
        (dict(space_steps=101), ValueError, "space_steps: expected an even int"),
        (dict(space_steps=100.0), TypeError, "space_steps: expected an int"),
        (dict(time_steps=True), TypeError, "time_steps: expected an int"),
        (dict(time_steps=2), ValueError, "time_steps: expected an int >= 6"),
        (dict(time_steps=99), ValueError, "time_steps: expected an even int"),
        (dict(rannacher_steps=-1), ValueError, "rannacher_steps: expected an int >= 0"),
        (dict(std_devs=2.0), ValueError, r"std_devs: expected a number in \[3, 20\]"),
        (dict(std_devs="6"), TypeError, "std_devs: expected a real number"),
        (dict(richardson=1), TypeError, "richardson: expected a bool"),
        (dict(space_steps=100), ValueError, "space_steps, time_steps: give both"),
        (dict(richardson=False), ValueError, r"richardson: the adaptive grid \(space_steps=None\) needs"),
        (dict(tolerance=0.5), ValueError, r"tolerance: expected a number in \[1e-8, 0.1\]"),
        (dict(tolerance="1e-4"), TypeError, "tolerance: expected a real number"),
    ],
)
def test_rejects_bad_grid_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        sg.oracles.FiniteDifference(sg.BarrierOption("down-and-out", "put"), **kw)


def test_rejects_positional_grid_and_bad_option():
    with pytest.raises(TypeError):
        sg.oracles.FiniteDifference(sg.BarrierOption("down-and-out", "put"), 100)  # keyword-only
    with pytest.raises(TypeError, match="option: expected sg.BarrierOption"):
        sg.oracles.FiniteDifference("down-and-out")


def test_node_steps_counts_both_grids():
    fd = sg.oracles.FiniteDifference(sg.BarrierOption("down-and-out", "put"), space_steps=100, time_steps=50,
                                     rannacher_steps=4)
    # fine: 99 interior x (4 half-steps + 48 CN); coarse: 49 x (4 + 23)
    assert fd.node_steps == 99 * 52 + 49 * 27


@pytest.mark.skipif("avx2" not in __import__("llvmlite.binding").binding.get_host_cpu_features().flatten(),
                    reason="needs a CPU with 256-bit or wider float64 SIMD")
@pytest.mark.parametrize("name", ["_sweep_ie", "_sweep_cn"])
def test_sweeps_are_simd_across_lanes(name):
    """Compiled as solve_jobs compiles them (SLP on), each 8-lane update of a sweep is packed
    float64 FMAs on vector registers, not scalar code (the issue's 2 ns/node-step needs it)."""
    import re

    import numba

    from surrogate_guard.oracles import _fd_kernel as K

    with K.slp_vectorizer():
        f = numba.njit(fastmath={"contract"})(getattr(K, name).py_func)
        N = 12
        f(np.zeros((N + 1) * int(K.REC)), N)
    asm = "".join(f.inspect_asm().values())
    packed = re.findall(r"vfn?m(?:add|sub)\d+pd\s[^\n]*%[yz]mm", asm)
    scalar = re.findall(r"vfn?m(?:add|sub)\d+sd\s", asm)
    assert len(packed) >= 4 and not scalar, f"{len(packed)} packed, {len(scalar)} scalar FMAs"
