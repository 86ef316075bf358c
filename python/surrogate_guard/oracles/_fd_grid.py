"""Grids of the finite-difference oracle: one non-uniform log-spot grid per job, aligned on the
barrier and clustered around it; the second-order operator row on such a grid; interpolation.

Split from ``_fd_kernel`` (the theta-scheme sweeps and the batching), which imports these.
See docs/finite_difference.md.
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
def lane_grid(code, S0, q, K, H, sig, T, r, k, mode, gran, jf, x):
    """Fill nodes x (N+1,) for one job; return (ib, low_barrier, up_barrier, j).

    ib: index of the barrier node decoupled from the solve (MODE_IN_OUT), else -1.
    low_barrier/up_barrier: the end node is the barrier (value 0) rather than a far boundary.
    The domain reaches k standard deviations s = sigma sqrt(T) beyond the spot and the
    forward. A barrier inside it is a node, with nodes clustered around it (sinh map) on
    the scale c = min(s, sigma^2 / (2 |mu|)) when the drift flows into the barrier (the
    boundary layer of convection-dominated points), else c = s. ``gran``: the node index of
    an interior barrier is a multiple of gran, so that the grid of N/gran nests in that of N.
    ``jf`` >= 0 forces that index instead (the gradient's bumped solves keep the base point's).
    j: the barrier's node index when it is an interior node (modes vanilla and in-out), else -1.
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
        return ib, lowb, upb, -1
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
        return ib, lowb, upb, -1
    F = a * (hb - lo) - b * math.asinh((lo - hb) / c)  # F(hb) - F(lo): the share left of the barrier
    j = gran * int(round(N * F / gran)) if jf < 0 else jf
    j = min(max(j, gran), N - gran)
    _fill_segment(x, 0, j, lo, hb, hb, a, b, c)
    _fill_segment(x, j, N, hb, hi, hb, a, b, c)
    if mode == MODE_IN_OUT:
        ib = j
    return ib, lowb, upb, j


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


# Grid adaptation per point (plain numpy, vectorized over the batch; see docs/finite_difference.md).
DRIFT_NODES = 3.5  # nodes per unit of D^2 + 2 k D at the reference grid of REF_STEPS (see grid_factors)
REF_STEPS = 1000
AMP_REF = 5.0  # solution scale over spot above which the grid grows as its square root
LEVELS = 4  # factors are rounded up to powers of 2^(1/LEVELS): few distinct grids, few kernel calls


def grid_factors(X: np.ndarray, spot: float, q: float, k: float, *, base: int = REF_STEPS,
                 drift_nodes: float = DRIFT_NODES, amplitude: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(space factor, time factor) (n,) >= 1 per point of X (n, 5), powers of 2^(1/LEVELS), over a
    grid of ``base`` intervals.

    Space: the drift number D = |mu| sqrt(T) / sigma (drift over diffusion across the life of the
    option) sets the domain width in standard deviations (D + 2k) and the cell Peclet number
    |mu| h / (sigma^2 / 2) = 2 (D^2 + 2k D) / N: the factor is drift_nodes (D^2 + 2k D) / base. A
    fixed grid passes base = REF_STEPS, drift_nodes = 3.5 (so N >= 3.5 (D^2 + 2k D) x N_user / 1000:
    the 1000-step grid's accuracy, measured); the adaptive grid passes its start grid as base and
    drift_nodes = 1 (N >= D^2 + 2k D: Peclet <= 2, central differences without wiggles; its error
    estimator does the rest). ``amplitude``: the solution scale a = max(K e^{-rT}, S e^{-qT}) / S
    bounds the absolute error (O(h^4) after Richardson, times a): beyond AMP_REF, N grows as
    (a / AMP_REF)^(1/2) (for the adaptive grid too: at K / S = 20 and volatility 2 a start grid of 160
    left the far strike's kink 3.6e-3 off in a vanilla whose two Richardson values agreed to 1.4e-4,
    so its estimate passed a 2.1e-4 error of the knock-in price). Time: the
    space factor to the power 3/4 (the front a kink becomes travels |mu| T across the grid: dt must
    shrink with the cell size).
    """
    K, sig, T, r = X[:, 0], X[:, 2], X[:, 3], X[:, 4]
    mu = r - q - 0.5 * sig * sig
    D = np.abs(mu) * np.sqrt(T) / sig
    g = np.maximum(drift_nodes * (D * D + 2.0 * k * D) / base, 1.0)
    if amplitude:
        with np.errstate(over="ignore"):
            amp = np.maximum(K / spot * np.exp(-r * T), np.exp(-q * T))
        g = np.maximum(g, (amp / AMP_REF) ** 0.5)
    gs = level(g)
    return gs, level(gs**0.75)


def level(g: np.ndarray) -> np.ndarray:
    """g (n,) rounded up to a power of 2^(1/LEVELS) (>= 1)."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.ceil(LEVELS * np.log2(np.maximum(g, 1.0)) - 1e-9)
    return np.exp2(np.minimum(e, 60 * LEVELS) / LEVELS)
