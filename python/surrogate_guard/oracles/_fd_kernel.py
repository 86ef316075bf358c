"""Numba kernels of the finite-difference oracle: grid per point, theta-scheme steps, batching.

Each job solves u_tau = sigma^2/2 u_xx + mu u_x (u = e^{r tau} V, x = log(S/S0)) on its own
grid; LANES jobs advance together so the tridiagonal sweeps vectorize across jobs (the sweep
is a recurrence along x, but independent across jobs). See docs/finite_difference.md.
"""
from __future__ import annotations

import contextlib
import math
import threading

import numba as nb
import numpy as np

from ._fd_grid import (  # noqa: F401  (re-exported: the oracle and the tests read them here)
    CLUSTER_SHARE, LANES, MODE_IN_OUT, MODE_OUT, MODE_VANILLA, PECLET_MAX, interp_cubic, lane_grid, operator_row,
)

# Block workspace W: one flat float64 array, node-major, a record of NF fields x LANES lanes
# per node. Flat unsigned indices with compile-time offsets let LLVM prove that the fields do
# not alias and skip negative-index wraparound, so its SLP vectorizer turns each 8-lane loop
# into one AVX-512 instruction (see _compile). The sweeps touch 5 of the 8 fields.
_u64 = np.uint64
NF = 8
REC = _u64(NF * LANES)
_U, _Y = _u64(0), _u64(LANES)  # u = e^{r tau} V; the forward-sweep / back-sweep carry
# Thomas factors of M = I - theta dt L: Q = -sub/w, IW = 1/w, G = -sup/w (w the pivots), for
# Crank-Nicolson (C) and the implicit Euler start-up (I).
_QC, _IWC, _GC = _u64(2 * LANES), _u64(3 * LANES), _u64(4 * LANES)
_QI, _IWI, _GI = _u64(5 * LANES), _u64(6 * LANES), _u64(7 * LANES)
_E = _QC  # rows 0 and N have no factors: the boundary terms of rows 1 and N-1 go there


@nb.njit(cache=True, fastmath={"contract"})
def _sweep_ie(W, N):
    """Implicit Euler step of all lanes: u <- M^-1 (u + e), e the boundary terms of rows 1, N-1
    (kept in the unused field _E of rows 0 and N, so that every access is to W).

    Forward y_i = Q_i y_{i-1} + IW_i rhs_i, back u_i = y_i + G_i u_{i+1}: each recurrence is one
    FMA per node on its chain. Rows 0 and N of Y and U stay 0 (Q_1 = G_{N-1} = 0).
    """
    o = REC
    for bb in range(LANES):
        b = _u64(bb)
        W[o + _Y + b] = W[o + _IWI + b] * (W[o + _U + b] + W[_E + b])
    for i in range(2, N - 1):
        o = _u64(i) * REC
        p = o - REC
        for bb in range(LANES):
            b = _u64(bb)
            W[o + _Y + b] = W[o + _QI + b] * W[p + _Y + b] + W[o + _IWI + b] * W[o + _U + b]
    o = _u64(N - 1) * REC
    p = o - REC
    for bb in range(LANES):
        b = _u64(bb)
        W[o + _Y + b] = W[o + _QI + b] * W[p + _Y + b] + W[o + _IWI + b] * (W[o + _U + b] + W[o + REC + _E + b])
    for i in range(N - 1, 0, -1):
        o = _u64(i) * REC
        n = o + REC
        for bb in range(LANES):
            b = _u64(bb)
            W[o + _U + b] = W[o + _GI + b] * W[n + _U + b] + W[o + _Y + b]


@nb.njit(cache=True, fastmath={"contract"})
def _sweep_cn(W, N):
    """Crank-Nicolson step of all lanes without the explicit half: with M = I - dt/2 L,
    (2I - M) u = M (2 M^-1 u) - M u, so u <- 2 v - u with v = M^-1 (u + e/2), e the boundary
    terms (old + new) of rows 1 and N-1. Same sweeps as _sweep_ie; 6 loads, 3 stores a node.
    """
    o = REC
    for bb in range(LANES):
        b = _u64(bb)
        W[o + _Y + b] = W[o + _IWC + b] * (W[o + _U + b] + W[_E + b])
    for i in range(2, N - 1):
        o = _u64(i) * REC
        p = o - REC
        for bb in range(LANES):
            b = _u64(bb)
            W[o + _Y + b] = W[o + _QC + b] * W[p + _Y + b] + W[o + _IWC + b] * W[o + _U + b]
    o = _u64(N - 1) * REC
    p = o - REC
    for bb in range(LANES):
        b = _u64(bb)
        W[o + _Y + b] = W[o + _QC + b] * W[p + _Y + b] + W[o + _IWC + b] * (W[o + _U + b] + W[o + REC + _E + b])
    for i in range(N - 1, 0, -1):
        o = _u64(i) * REC
        n = o + REC
        for bb in range(LANES):
            b = _u64(bb)
            v = W[o + _GC + b] * W[n + _Y + b] + W[o + _Y + b]
            W[o + _Y + b] = v
            W[o + _U + b] = 2.0 * v - W[o + _U + b]


@nb.njit(cache=True)
def _factor_lane(W, b, x, N, sig, mu, ib, dtR, dtC):
    """Thomas factors of both step matrices for lane b; return (A_1, C_{N-1}) for the boundary terms.

    Row ib (barrier node of MODE_IN_OUT) is the identity; rows 1 and N-1 lose their coupling to
    the Dirichlet nodes, which moves to the right-hand side.
    """
    gI = 0.0  # sup_{i-1} / w_{i-1} of the previous row
    gC = 0.0
    A1 = 0.0
    CN1 = 0.0
    for i in range(1, N):
        o = _u64(i) * REC + _u64(b)
        if i == ib:
            W[o + _QI], W[o + _IWI], W[o + _GI] = 0.0, 1.0, 0.0
            W[o + _QC], W[o + _IWC], W[o + _GC] = 0.0, 1.0, 0.0
            gI = gC = 0.0
            continue
        A, Bd, C = operator_row(x, i, sig, mu)
        if i == 1:
            A1 = A
        if i == N - 1:
            CN1 = C
        sub = 0.0 if i == 1 else -A
        sup = 0.0 if i == N - 1 else -C
        w = 1.0 - dtR * Bd - dtR * sub * gI
        iw = 1.0 / w
        gI = dtR * sup * iw
        W[o + _QI], W[o + _IWI], W[o + _GI] = -dtR * sub * iw, iw, -gI
        h = 0.5 * dtC
        w = 1.0 - h * Bd - h * sub * gC
        iw = 1.0 / w
        gC = h * sup * iw
        W[o + _QC], W[o + _IWC], W[o + _GC] = -h * sub * iw, iw, -gC
    return A1, CN1


@nb.njit(cache=True)
def _payoff_lane(W, b, x, N, phi, S0, K):
    """u at tau = 0: the payoff averaged exactly over each node's dual cell (smooths the kink);
    one exp per node, as S0 e^m at a cell edge m is shared by the two cells beside it."""
    xk = math.log(K / S0)
    ea = S0 * math.exp(0.5 * (x[0] + x[1]))
    for i in range(1, N):
        a = 0.5 * (x[i - 1] + x[i])
        e = 0.5 * (x[i] + x[i + 1])
        eb = S0 * math.exp(e)
        v = 0.0
        if phi > 0.0:
            if xk <= a:
                v = (eb - ea) / (e - a) - K
            elif xk < e:
                v = (eb - K - K * (e - xk)) / (e - a)
        else:
            if xk >= e:
                v = K - (eb - ea) / (e - a)
            elif xk > a:
                v = (K * (xk - a) - (K - ea)) / (e - a)
        W[_u64(i) * REC + _U + _u64(b)] = max(v, 0.0)
        ea = eb


@nb.njit(cache=True)
def _solve_block(code, S0, q, X, pts, gpts, jfs, modes, N, M, R, k, levels, res, jout):
    """Solve up to LANES jobs: job j prices row pts[j] of X in mode modes[j] on the grid built from
    row gpts[j] (its barrier node forced to index jfs[j] when >= 0); res[j, l] = the price on the grid
    of N / 2^l intervals and M / 2^l steps, l < levels, every coarser grid being every 2^l-th node of
    the finest (lane_grid puts an interior barrier on a multiple of 2^(levels-1)), so the grid is built
    once. jout[j]: the barrier's node index on the finest grid (-1 when it is not an interior node).
    """
    nj = pts.shape[0]
    xs = np.empty((LANES, N + 1))
    job = np.empty((5, LANES))  # strike, barrier, volatility, maturity, rate of each lane
    ibs = np.full(LANES, -1)
    lows = np.zeros(LANES, dtype=np.bool_)
    ups = np.zeros(LANES, dtype=np.bool_)
    for b in range(LANES):
        # Idle lanes repeat job 0: same work, results ignored.
        j = b if b < nj else 0
        p = pts[j]
        g = gpts[j]
        for f in range(5):
            job[f, b] = X[p, f]
        ibs[b], lows[b], ups[b], jb = lane_grid(code, S0, q, X[g, 0], X[g, 1], X[g, 2], X[g, 3], X[g, 4], k,
                                                modes[j], 1 << (levels - 1), jfs[j], xs[b])
        if b < nj:
            jout[b] = jb
    out = np.empty(nj)
    for lev in range(levels):
        st = 1 << lev
        xl = xs if lev == 0 else np.ascontiguousarray(xs[:, ::st])
        il = np.where(ibs >= 0, ibs // st, -1)
        _solve_grid(code, S0, q, xl, job, il, lows, ups, N // st, M // st, R, out)
        for j in range(nj):
            res[j, lev] = out[j]


@nb.njit(cache=True)
def _solve_grid(code, S0, q, xs, job, ibs, lows, ups, N, M, R, res):
    """One theta-scheme solve of all lanes on their grids xs (LANES, N+1); res[j] for j < len(res)."""
    nj = res.shape[0]
    phi = -1.0 if (code & 4) != 0 else 1.0
    W = np.zeros((N + 1) * NF * LANES)
    # Per-lane boundary coefficients, far-boundary forwards, growth factors and values.
    blI, brI, blC, brC = np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)
    f0, fN, grI, grC = np.zeros(LANES), np.zeros(LANES), np.ones(LANES), np.ones(LANES)
    g0, gN = np.zeros(LANES), np.zeros(LANES)
    Ks, Ts, rs = job[0], job[3], job[4]
    n_cn = M - (R + 1) // 2
    for b in range(LANES):
        K, sig, T, r = job[0, b], job[2, b], job[3, b], job[4, b]
        ib, lowb, upb = ibs[b], lows[b], ups[b]
        x = xs[b]
        dtR = T / (2.0 * M)
        dtC = (T - R * dtR) / n_cn
        A1, CN1 = _factor_lane(W, b, x, N, sig, r - q - 0.5 * sig * sig, ib, dtR, dtC)
        _payoff_lane(W, b, x, N, phi, S0, K)
        if ib >= 0:
            W[_u64(ib) * REC + _U + _u64(b)] = 0.0
        # Boundary terms: implicit Euler dt A_1 g0(new); Crank-Nicolson dt/4 A_1 (g0(old) + g0(new)).
        blI[b] = 0.0 if ib == 1 else dtR * A1
        brI[b] = 0.0 if ib == N - 1 else dtR * CN1
        blC[b] = 0.0 if ib == 1 else 0.25 * dtC * A1
        brC[b] = 0.0 if ib == N - 1 else 0.25 * dtC * CN1
        # Far boundaries: phi (S0 e^{x_e + (r - q) tau} - K)^+, the forward advanced by one
        # factor per step (no exp per step; drift n * 1e-16 relative after n steps).
        f0[b] = S0 * math.exp(x[0])
        fN[b] = S0 * math.exp(x[N])
        grI[b] = math.exp((r - q) * dtR)
        grC[b] = math.exp((r - q) * dtC)
        g0[b] = 0.0 if lowb else max(phi * (f0[b] - K), 0.0)
        gN[b] = 0.0 if upb else max(phi * (fN[b] - K), 0.0)
    for n in range(R + n_cn):
        cn = n >= R
        for b in range(LANES):
            gr = grC[b] if cn else grI[b]
            f0[b] *= gr
            fN[b] *= gr
            a = 0.0 if lows[b] else max(phi * (f0[b] - Ks[b]), 0.0)
            c = 0.0 if ups[b] else max(phi * (fN[b] - Ks[b]), 0.0)
            if cn:
                e1 = blC[b] * (g0[b] + a)
                eN = brC[b] * (gN[b] + c)
            else:
                e1 = blI[b] * a
                eN = brI[b] * c
            W[_E + _u64(b)] = e1
            W[_u64(N) * REC + _E + _u64(b)] = eN
            g0[b] = a
            gN[b] = c
        if cn:
            _sweep_cn(W, N)
        else:
            _sweep_ie(W, N)
    u = np.empty(N + 1)
    for b in range(nj):
        for i in range(1, N):
            u[i] = W[_u64(i) * REC + _U + _u64(b)]
        u[0] = g0[b]
        u[N] = gN[b]
        ib = ibs[b]
        lo, hi = 0, N
        if ib >= 0:
            if (code & 1) != 0:
                hi = ib
            else:
                lo = ib
        res[b] = math.exp(-rs[b] * Ts[b]) * interp_cubic(xs[b], u, 0.0, lo, hi)


@nb.njit(cache=True, parallel=True)
def _solve_jobs(code, S0, q, X, pts, gpts, jfs, modes, N, M, R, k, levels, res, jout):
    nj = pts.shape[0]
    nb_ = (nj + LANES - 1) // LANES
    for blk in nb.prange(nb_):
        a = blk * LANES
        e = min(a + LANES, nj)
        _solve_block(code, S0, q, X, pts[a:e], gpts[a:e], jfs[a:e], modes[a:e], N, M, R, k, levels, res[a:e],
                     jout[a:e])


_SIG = ("void(int64, float64, float64, float64[:, ::1], int64[::1], int64[::1], int64[::1], int64[::1], int64, "
        "int64, int64, float64, int64, float64[:, ::1], int64[::1])")
_COMPILE_LOCK = threading.Lock()


@contextlib.contextmanager
def slp_vectorizer():
    """LLVM's SLP vectorizer on for what Numba compiles inside (it is off by default,
    NUMBA_SLP_VECTORIZE=0, and read when the optimization pipeline is built). SLP never
    reassociates floating point: the results are those of the scalar code."""
    old = nb.config.SLP_VECTORIZE
    nb.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        nb.config.SLP_VECTORIZE = old


def _compile() -> None:
    """Compile (or load from the cache) _solve_jobs for _SIG with the SLP vectorizer on; other
    signatures are then refused (disable_compile) rather than compiled without it."""
    with _COMPILE_LOCK:
        if _solve_jobs.signatures:
            return
        with slp_vectorizer():
            _solve_jobs.compile(_SIG)
        _solve_jobs.disable_compile()


def solve_jobs(code, S0, q, X, pts, modes, N, M, R, k, levels, *, gpts=None, jfs=None):
    """Raw solves of every job (row pts[j] of X (n, 5), mode modes[j]): (res (m, levels), jout (m,)).

    res[j, l]: the price on the grid of N / 2^l intervals and M / 2^l steps (levels 1 to 3; the caller
    extrapolates). gpts (m,): the row each job's grid is built from (default pts: its own); jfs (m,):
    a barrier node index to force (-1, the default: from the grid map). jout: the barrier's node
    index on the finest grid (-1 when not an interior node). Blocks of LANES jobs on Numba threads.
    """
    if not _solve_jobs.signatures:
        _compile()
    m = pts.shape[0]
    gpts = pts if gpts is None else gpts
    jfs = np.full(m, -1, dtype=np.int64) if jfs is None else jfs
    res = np.empty((m, int(levels)), dtype=np.float64)
    jout = np.empty(m, dtype=np.int64)
    _solve_jobs(int(code), float(S0), float(q), np.array(X, dtype=np.float64, order="C"),
                np.ascontiguousarray(pts, dtype=np.int64), np.ascontiguousarray(gpts, dtype=np.int64),
                np.ascontiguousarray(jfs, dtype=np.int64), np.ascontiguousarray(modes, dtype=np.int64),
                int(N), int(M), int(R), float(k), int(levels), res, jout)
    return res, jout
