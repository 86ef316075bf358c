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

LANES = 8  # jobs per SIMD block: one AVX-512 vector of float64
PECLET_MAX = 10.0  # upwind the drift term beyond this cell Peclet number (see operator_row)
MODE_OUT = 0  # out option on a grid truncated at the barrier
MODE_VANILLA = 1  # no barrier, on the grid shared with MODE_IN_OUT
MODE_IN_OUT = 2  # out option on the vanilla grid, barrier row decoupled (for in = vanilla - out)


CLUSTER_SHARE = 0.3  # share of the nodes that the barrier cluster draws from the uniform part


@nb.njit(cache=True)
def _fill_segment(x, i0, i1, xa, xb, p, a, b, c):
    """Nodes x[i0..i1] from xa to xb, equally spaced in F(x) = a (x - p) + b asinh((x - p) / c).

    Solved in t = asinh((x - p) / c), where F = a c sinh t + b t: Newton from a quadratic
    extrapolation of the previous nodes, safeguarded by bisection, usually two steps and one
    exp per node (e^t is updated by the Taylor series of e^dt for small steps). Node density a + b / sqrt((x - p)^2 + c^2).
    """
    x[i0] = xa
    x[i1] = xb
    if b == 0.0:
        for i in range(i0 + 1, i1):
            x[i] = xa + (xb - xa) * (i - i0) / (i1 - i0)
        return
    ac = a * c
    ta = math.asinh((xa - p) / c)
    tb = math.asinh((xb - p) / c)
    Ga = ac * math.sinh(ta) + b * ta
    Gb = ac * math.sinh(tb) + b * tb
    # A Newton step dt leaves an error <= dt^2 / 2 (|G''| <= G'): stop once that is below
    # 1e-10 of the mean spacing in t (the nodes then sit within 1e-10 h of the map's).
    tol = 1e-5 * (tb - ta) / (i1 - i0)
    t3 = t2 = t1 = ta  # t of the three previous nodes
    for i in range(i0 + 1, i1):
        target = Ga + (Gb - Ga) * (i - i0) / (i1 - i0)
        lo, hi = t1, tb
        # Quadratic extrapolation from the previous three nodes (linear, constant at the start).
        if i - i0 >= 3:
            t = 3.0 * (t1 - t2) + t3
        elif i - i0 == 2:
            t = 2.0 * t1 - t2
        else:
            t = t1
        t = min(max(t, t1), tb)
        sh = 0.0
        ch = 1.0
        dt = 0.0
        E = math.exp(t)
        for _ in range(60):
            sh = 0.5 * (E - 1.0 / E)
            ch = 0.5 * (E + 1.0 / E)
            f = ac * sh + b * t - target
            if f > 0.0:
                hi = t
            else:
                lo = t
            tn = t - f / (ac * ch + b)
            if not (lo <= tn <= hi):
                tn = 0.5 * (lo + hi)
            dt = tn - t
            if abs(dt) <= tol:
                break
            t = tn
            # e^dt by its Taylor series to dt^4 where that is exact to 1e-17, else exp.
            if abs(dt) < 1e-3:
                E *= 1.0 + dt * (1.0 + dt * (0.5 + dt * (1.0 / 6.0 + dt * (1.0 / 24.0))))
            else:
                E = math.exp(t)
        # sinh(t + dt) = sh + ch dt up to sh dt^2 / 2 (below 1e-10 of the spacing).
        x[i] = p + c * (sh + ch * dt)
        t3 = t2
        t2 = t1
        t1 = t + dt


@nb.njit(cache=True)
def lane_grid(code, S0, q, K, H, sig, T, r, k, mode, gran, x):
    """Fill nodes x (N+1,) for one job; return (ib, low_barrier, up_barrier).

    ib: index of the barrier node decoupled from the solve (MODE_IN_OUT), else -1.
    low_barrier/up_barrier: the end node is the barrier (value 0) rather than a far boundary.
    The domain reaches k standard deviations s = sigma sqrt(T) beyond the spot and the
    forward. A barrier inside it is a node, with nodes clustered around it (sinh map) on
    the scale c = min(s, sigma^2 / (2 |mu|)) when the drift flows into the barrier (the
    boundary layer of convection-dominated points), else c = s. ``gran``: the node index of
    an interior barrier is a multiple of gran, so that the grid of N/2 nests in that of N.
    """
    N = x.shape[0] - 1
    up = (code & 1) != 0
    s = sig * math.sqrt(T)
    mu = r - q - 0.5 * sig * sig
    m = mu * T
    lo = min(0.0, m) - k * s
    hi = max(0.0, m) + k * s
    hb = math.log(H / S0)
    ib = -1
    lowb = False
    upb = False
    if not (lo < hb < hi):
        _fill_segment(x, 0, N, lo, hi, 0.0, 1.0, 0.0, 1.0)
        return ib, lowb, upb
    c = s
    outflow = (mu > 0.0) if not up else (mu < 0.0)
    if outflow and 0.5 * sig * sig < abs(mu) * s:
        c = 0.5 * sig * sig / abs(mu)
    if mode == MODE_OUT:
        if up:
            hi = hb
            upb = True
        else:
            lo = hb
            lowb = True
    span = math.asinh((hi - hb) / c) - math.asinh((lo - hb) / c)
    a = (1.0 - CLUSTER_SHARE) / (hi - lo)
    b = CLUSTER_SHARE / span
    if mode == MODE_OUT:
        _fill_segment(x, 0, N, lo, hi, hb, a, b, c)
        return ib, lowb, upb
    F = a * (hb - lo) - b * math.asinh((lo - hb) / c)  # F(hb) - F(lo): the share left of the barrier
    j = gran * int(round(N * F / gran))
    j = min(max(j, gran), N - gran)
    _fill_segment(x, 0, j, lo, hb, hb, a, b, c)
    _fill_segment(x, j, N, hb, hi, hb, a, b, c)
    if mode == MODE_IN_OUT:
        ib = j
    return ib, lowb, upb


@nb.njit(cache=True)
def operator_row(x, i, sig, mu):
    """(A, B, C): L u_i = A u_{i-1} + B u_i + C u_{i+1}, second order on a non-uniform grid.

    Where the cell Peclet number |mu| h / (sigma^2 / 2) exceeds PECLET_MAX (coarse grids on
    convection-dominated points), the drift term is upwinded: first order there, but the
    matrix stays an M-matrix and the scheme cannot blow up. Below it central differences
    stay (mild negative off-diagonals only make small wiggles that Richardson removes).
    """
    hm = x[i] - x[i - 1]
    hp = x[i + 1] - x[i]
    s2 = sig * sig
    A = (s2 - mu * hp) / (hm * (hm + hp))
    C = (s2 + mu * hm) / (hp * (hm + hp))
    if abs(mu) * max(hm, hp) > 0.5 * PECLET_MAX * s2:
        A = s2 / (hm * (hm + hp)) + (0.0 if mu > 0.0 else -mu / hm)
        C = s2 / (hp * (hm + hp)) + (mu / hp if mu > 0.0 else 0.0)
    return A, -(A + C), C


@nb.njit(cache=True)
def interp_cubic(x, u, x0, lo, hi):
    """Cubic Lagrange interpolation of u at x0 from the 4 nodes around it within [lo, hi]."""
    j = lo
    while j < hi and x[j + 1] <= x0:
        j += 1
    s = min(max(j - 1, lo), hi - 3)
    v = 0.0
    for a in range(s, s + 4):
        w = 1.0
        for c in range(s, s + 4):
            if c != a:
                w *= (x0 - x[c]) / (x[a] - x[c])
        v += w * u[a]
    return v


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
def _solve_block(code, S0, q, X, pts, modes, N, M, R, k, rich, res):
    """Solve up to LANES jobs (point index pts[j], mode modes[j]); res[j] = price of job j.

    rich: Richardson (4 V(N, M) - V(N/2, M/2)) / 3, the coarse grid being every other node of
    the fine one (lane_grid puts an interior barrier on an even index), so the grid is built once.
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
        for f in range(5):
            job[f, b] = X[p, f]
        ibs[b], lows[b], ups[b] = lane_grid(code, S0, q, X[p, 0], X[p, 1], X[p, 2], X[p, 3], X[p, 4], k,
                                            modes[j], 2 if rich else 1, xs[b])
    _solve_grid(code, S0, q, xs, job, ibs, lows, ups, N, M, R, res)
    if rich:
        fine = res.copy()
        _solve_grid(code, S0, q, np.ascontiguousarray(xs[:, ::2]), job, ibs // 2, lows, ups, N // 2, M // 2, R, res)
        for j in range(nj):
            res[j] = (4.0 * fine[j] - res[j]) / 3.0


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
def _solve_jobs(code, S0, q, X, pts, modes, N, M, R, k, rich, res):
    nj = pts.shape[0]
    nb_ = (nj + LANES - 1) // LANES
    for blk in nb.prange(nb_):
        a = blk * LANES
        e = min(a + LANES, nj)
        _solve_block(code, S0, q, X, pts[a:e], modes[a:e], N, M, R, k, rich, res[a:e])


_SIG = "void(int64, float64, float64, float64[:, ::1], int64[::1], int64[::1], int64, int64, int64, float64, int64, float64[::1])"
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


def solve_jobs(code, S0, q, X, pts, modes, N, M, R, k, rich, res) -> None:
    """Price every job (pts[j], modes[j]) into res[j] (Richardson-extrapolated if rich); blocks
    of LANES jobs on Numba threads."""
    if not _solve_jobs.signatures:
        _compile()
    _solve_jobs(int(code), float(S0), float(q), np.array(X, dtype=np.float64, order="C"),
                pts, modes, int(N), int(M), int(R), float(k), int(bool(rich)), res)
