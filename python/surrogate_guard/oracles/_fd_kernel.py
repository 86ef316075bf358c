"""Numba kernels of the finite-difference oracle: grid per point, theta-scheme steps, batching.

Each job solves u_tau = sigma^2/2 u_xx + mu u_x (u = e^{r tau} V, x = log(S/S0)) on its own
grid; LANES jobs advance together so the tridiagonal sweeps vectorize across jobs (the sweep
is a recurrence along x, but independent across jobs). See docs/finite_difference.md.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

LANES = 8  # jobs per SIMD block: one AVX-512 vector of float64
PECLET_MAX = 10.0  # upwind the drift term beyond this cell Peclet number (see operator_row)
MODE_OUT = 0  # out option on a grid truncated at the barrier
MODE_VANILLA = 1  # no barrier, on the grid shared with MODE_IN_OUT
MODE_IN_OUT = 2  # out option on the vanilla grid, barrier row decoupled (for in = vanilla - out)


CLUSTER_SHARE = 0.3  # share of the nodes that the barrier cluster draws from the uniform part


@nb.njit(cache=True)
def _map_value(xv, p, a, b, c):
    """Grid map F(x) = a (x - p) + b asinh((x - p) / c): node density a + b / sqrt((x-p)^2 + c^2)."""
    return a * (xv - p) + b * math.asinh((xv - p) / c)


@nb.njit(cache=True)
def _fill_segment(x, i0, i1, xa, xb, p, a, b, c):
    """Nodes x[i0..i1] from xa to xb, equally spaced in F (safeguarded Newton, from the left)."""
    x[i0] = xa
    x[i1] = xb
    if b == 0.0:
        for i in range(i0 + 1, i1):
            x[i] = xa + (xb - xa) * (i - i0) / (i1 - i0)
        return
    Fa = _map_value(xa, p, a, b, c)
    Fb = _map_value(xb, p, a, b, c)
    prev = xa
    for i in range(i0 + 1, i1):
        target = Fa + (Fb - Fa) * (i - i0) / (i1 - i0)
        lo, hi = prev, xb
        # Start from the previous spacing: two Newton steps usually suffice on a smooth map.
        xv = min(prev + (prev - x[i - 2]) if i - 2 >= i0 else prev, xb)
        for _ in range(60):
            fv = _map_value(xv, p, a, b, c) - target
            if fv > 0.0:
                hi = xv
            else:
                lo = xv
            d = a + b / math.sqrt((xv - p) * (xv - p) + c * c)
            xn = xv - fv / d
            if not (lo <= xn <= hi):
                xn = 0.5 * (lo + hi)
            # Newton converges quadratically; below 1e-13 of the span only rounding is left.
            if abs(xn - xv) <= 1e-13 * (xb - xa):
                xv = xn
                break
            xv = xn
        x[i] = xv
        prev = xv


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
    F = _map_value(hb, hb, a, b, c) - _map_value(lo, hb, a, b, c)
    j = gran * int(round(N * F / gran))
    j = min(max(j, gran), N - gran)
    _fill_segment(x, 0, j, lo, hb, hb, a, b, c)
    _fill_segment(x, j, N, hb, hi, hb, a, b, c)
    if mode == MODE_IN_OUT:
        ib = j
    return ib, lowb, upb


@nb.njit(cache=True)
def cell_payoff(phi, S0, K, a, b):
    """Average of max(phi (S0 e^y - K), 0) over y in [a, b] (exact): smooths the kink."""
    xk = math.log(K / S0)
    if phi > 0.0:
        c = max(a, xk)
        if c >= b:
            return 0.0
        return (S0 * (math.exp(b) - math.exp(c)) - K * (b - c)) / (b - a)
    c = min(b, xk)
    if c <= a:
        return 0.0
    return (K * (c - a) - S0 * (math.exp(c) - math.exp(a))) / (b - a)


@nb.njit(cache=True)
def far_value(phi, S0, K, xe, r, q, tau):
    """Far-field value of u = e^{r tau} V: discounted-forward intrinsic, exact deep in/out of the money."""
    return max(phi * (S0 * math.exp(xe + (r - q) * tau) - K), 0.0)


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


@nb.njit(cache=True)
def _factor(A, Bc, C, theta, dt, ib, b, l, iw, g):
    """Thomas factors of (I - theta dt L) on rows 1..N-1 of lane b; row ib is the identity."""
    N = A.shape[0] - 1
    w = 1.0
    sup_prev = 0.0
    for i in range(1, N):
        if i == ib:
            sub, dia, sup = 0.0, 1.0, 0.0
        else:
            sub = -theta * dt * A[i, b]
            dia = 1.0 - theta * dt * Bc[i, b]
            sup = -theta * dt * C[i, b]
        li = 0.0 if i == 1 else sub / w
        w = dia - li * sup_prev
        l[i, b] = li
        iw[i, b] = 1.0 / w
        g[i, b] = sup / w
        sup_prev = sup


@nb.njit(cache=True, fastmath={"contract"})
def _step(u, z, ea, eb, ec, l, iw, g, bl, br, g0, gN, explicit):
    """One theta-scheme step of all lanes: u (N+1, LANES) in place; z (N+1, LANES) scratch.

    Forward sweep: right-hand side (explicit part, or u itself for implicit Euler) and
    elimination y_i = d_i - l_i y_{i-1} in one pass; back sweep u_i = y_i iw_i - g_i u_{i+1}.
    Both recurrences run along i, so the inner loop over lanes is the SIMD one.
    """
    N = u.shape[0] - 1
    for b in range(LANES):
        if explicit:
            d = ea[1, b] * u[0, b] + eb[1, b] * u[1, b] + ec[1, b] * u[2, b]
        else:
            d = u[1, b]
        z[1, b] = d + bl[b] * g0[b]
    if explicit:
        for i in range(2, N - 1):
            for b in range(LANES):
                d = ea[i, b] * u[i - 1, b] + eb[i, b] * u[i, b] + ec[i, b] * u[i + 1, b]
                z[i, b] = d - l[i, b] * z[i - 1, b]
    else:
        for i in range(2, N - 1):
            for b in range(LANES):
                z[i, b] = u[i, b] - l[i, b] * z[i - 1, b]
    i = N - 1
    for b in range(LANES):
        if explicit:
            d = ea[i, b] * u[i - 1, b] + eb[i, b] * u[i, b] + ec[i, b] * u[i + 1, b]
        else:
            d = u[i, b]
        z[i, b] = d + br[b] * gN[b] - l[i, b] * z[i - 1, b]
        u[i, b] = z[i, b] * iw[i, b]
        u[0, b] = g0[b]
        u[N, b] = gN[b]
    for i in range(N - 2, 0, -1):
        for b in range(LANES):
            u[i, b] = z[i, b] * iw[i, b] - g[i, b] * u[i + 1, b]


@nb.njit(cache=True)
def _solve_block(code, S0, q, X, pts, modes, N, M, R, k, gran, res):
    """Solve up to LANES jobs (point index pts[j], mode modes[j]); res[j] = price of job j."""
    nj = pts.shape[0]
    phi = -1.0 if (code & 4) != 0 else 1.0
    x = np.zeros((N + 1, LANES))
    A = np.zeros((N + 1, LANES))
    Bc = np.zeros((N + 1, LANES))
    C = np.zeros((N + 1, LANES))
    u = np.zeros((N + 1, LANES))
    z = np.zeros((N + 1, LANES))
    ea = np.zeros((N + 1, LANES))
    eb = np.zeros((N + 1, LANES))
    ec = np.zeros((N + 1, LANES))
    lI = np.zeros((N + 1, LANES))
    iwI = np.ones((N + 1, LANES))
    gI = np.zeros((N + 1, LANES))
    lC = np.zeros((N + 1, LANES))
    iwC = np.ones((N + 1, LANES))
    gC = np.zeros((N + 1, LANES))
    blI = np.zeros(LANES)
    brI = np.zeros(LANES)
    blC = np.zeros(LANES)
    brC = np.zeros(LANES)
    g0 = np.zeros(LANES)
    gN = np.zeros(LANES)
    Ks = np.ones(LANES)
    Ts = np.ones(LANES)
    rs = np.zeros(LANES)
    ibs = np.full(LANES, -1)
    lowbs = np.zeros(LANES, dtype=np.bool_)
    upbs = np.zeros(LANES, dtype=np.bool_)
    n_cn = M - (R + 1) // 2
    xcol = np.empty(N + 1)
    for b in range(LANES):
        # Idle lanes repeat job 0: same work, results ignored.
        j = b if b < nj else 0
        p = pts[j]
        K, H, sig, T, r = X[p, 0], X[p, 1], X[p, 2], X[p, 3], X[p, 4]
        ib, lowb, upb = lane_grid(code, S0, q, K, H, sig, T, r, k, modes[j], gran, xcol)
        x[:, b] = xcol
        Ks[b], Ts[b], rs[b], ibs[b], lowbs[b], upbs[b] = K, T, r, ib, lowb, upb
        mu = r - q - 0.5 * sig * sig
        for i in range(1, N):
            A[i, b], Bc[i, b], C[i, b] = operator_row(xcol, i, sig, mu)
        dtR = T / (2.0 * M)
        dtC = (T - R * dtR) / n_cn
        _factor(A, Bc, C, 1.0, dtR, ib, b, lI, iwI, gI)
        _factor(A, Bc, C, 0.5, dtC, ib, b, lC, iwC, gC)
        for i in range(1, N):
            if i != ib:
                ea[i, b] = 0.5 * dtC * A[i, b]
                eb[i, b] = 1.0 + 0.5 * dtC * Bc[i, b]
                ec[i, b] = 0.5 * dtC * C[i, b]
        blI[b] = 0.0 if ib == 1 else dtR * A[1, b]
        brI[b] = 0.0 if ib == N - 1 else dtR * C[N - 1, b]
        blC[b] = 0.0 if ib == 1 else 0.5 * dtC * A[1, b]
        brC[b] = 0.0 if ib == N - 1 else 0.5 * dtC * C[N - 1, b]
        for i in range(1, N):
            u[i, b] = cell_payoff(phi, S0, K, 0.5 * (xcol[i - 1] + xcol[i]), 0.5 * (xcol[i] + xcol[i + 1]))
        if ib >= 0:
            u[ib, b] = 0.0
        u[0, b] = 0.0 if lowb else far_value(phi, S0, K, xcol[0], r, q, 0.0)
        u[N, b] = 0.0 if upb else far_value(phi, S0, K, xcol[N], r, q, 0.0)
    n_steps = R + n_cn
    for n in range(n_steps):
        implicit = n < R
        for b in range(LANES):
            T = Ts[b]
            dtR = T / (2.0 * M)
            tau = (n + 1) * dtR if implicit else R * dtR + (n + 1 - R) * (T - R * dtR) / n_cn
            g0[b] = 0.0 if lowbs[b] else far_value(phi, S0, Ks[b], x[0, b], rs[b], q, tau)
            gN[b] = 0.0 if upbs[b] else far_value(phi, S0, Ks[b], x[N, b], rs[b], q, tau)
        if implicit:
            _step(u, z, ea, eb, ec, lI, iwI, gI, blI, brI, g0, gN, False)
        else:
            _step(u, z, ea, eb, ec, lC, iwC, gC, blC, brC, g0, gN, True)
    for b in range(nj):
        ib = ibs[b]
        lo, hi = 0, N
        if ib >= 0:
            if (code & 1) != 0:
                hi = ib
            else:
                lo = ib
        res[b] = math.exp(-rs[b] * Ts[b]) * interp_cubic(x[:, b], u[:, b], 0.0, lo, hi)


@nb.njit(cache=True, parallel=True)
def solve_jobs(code, S0, q, X, pts, modes, N, M, R, k, gran, res):
    """Price every job (pts[j], modes[j]) into res[j]; blocks of LANES jobs in parallel."""
    nj = pts.shape[0]
    nb_ = (nj + LANES - 1) // LANES
    for blk in nb.prange(nb_):
        a = blk * LANES
        e = min(a + LANES, nj)
        _solve_block(code, S0, q, X, pts[a:e], modes[a:e], N, M, R, k, gran, res[a:e])
