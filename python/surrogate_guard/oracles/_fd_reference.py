"""Slow, obviously correct reference of the finite-difference oracle: one point at a time,
dense matrices, ``numpy.linalg.solve`` per time step. Shares only the grid (``lane_grid``) with
the fast kernel, so a test against it checks the payoff averaging, the operator, the time
stepping (the kernel's CN step is 2 M^-1 u - u), the boundaries, the batching and the in-out
assembly.
"""
from __future__ import annotations

import math

import numpy as np

from ..options import BarrierOption
from . import _fd_kernel as K


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


def far_value(phi, S0, K, xe, r, q, tau):
    """Far-field value of u = e^{r tau} V: discounted-forward intrinsic, exact deep in/out of the money."""
    return max(phi * (S0 * math.exp(xe + (r - q) * tau) - K), 0.0)


# One dense solve of row (5,) on N x M (barrier node: a multiple of gran, or jf when >= 0).
def _solve_dense(option: BarrierOption, row, N: int, M: int, R: int, k: float, mode: int, gran: int,
                 jf: int = -1) -> float:
    Kx, H, sig, T, r = (float(v) for v in row)
    S0, q = option.spot, option.dividend
    phi = 1.0 if option.is_call else -1.0
    x = np.empty(N + 1)
    ib, lowb, upb, _ = K.lane_grid(option.code, S0, q, Kx, H, sig, T, r, k, mode, gran, jf, x)
    mu = r - q - 0.5 * sig * sig
    # Dense operator L on all N+1 nodes; the rows of Dirichlet nodes stay zero.
    L = np.zeros((N + 1, N + 1))
    for i in range(1, N):
        hm, hp = x[i] - x[i - 1], x[i + 1] - x[i]
        # Central differences; upwind drift where the cell Peclet number exceeds PECLET_MAX.
        lo_c = (sig * sig - mu * hp) / (hm * (hm + hp))
        hi_c = (sig * sig + mu * hm) / (hp * (hm + hp))
        if abs(mu) * max(hm, hp) / (0.5 * sig * sig) > K.PECLET_MAX:
            lo_c = sig * sig / (hm * (hm + hp)) + max(-mu, 0.0) / hm
            hi_c = sig * sig / (hp * (hm + hp)) + max(mu, 0.0) / hp
        L[i, i - 1], L[i, i + 1] = lo_c, hi_c
        L[i, i] = -L[i, i - 1] - L[i, i + 1]
    dirichlet = np.zeros(N + 1, dtype=bool)
    dirichlet[[0, N]] = True
    if ib >= 0:
        dirichlet[ib] = True
        L[ib, :] = 0.0
    u = np.array([cell_payoff(phi, S0, Kx, 0.5 * (x[i - 1] + x[i]), 0.5 * (x[i] + x[i + 1])) if 0 < i < N else 0.0
                  for i in range(N + 1)])

    def boundary(tau: float) -> np.ndarray:
        g = np.zeros(N + 1)
        g[0] = 0.0 if lowb else far_value(phi, S0, Kx, x[0], r, q, tau)
        g[N] = 0.0 if upb else far_value(phi, S0, Kx, x[N], r, q, tau)
        return g

    u[[0, N]] = boundary(0.0)[[0, N]]
    if ib >= 0:
        u[ib] = 0.0
    dtR = T / (2.0 * M)
    n_cn = M - (R + 1) // 2
    dtC = (T - R * dtR) / n_cn
    I = np.eye(N + 1)
    tau = 0.0
    for n in range(R + n_cn):
        theta, dt = (1.0, dtR) if n < R else (0.5, dtC)
        tau = (n + 1) * dtR if n < R else R * dtR + (n + 1 - R) * dtC
        A = I - theta * dt * L
        rhs = (I + (1.0 - theta) * dt * L) @ u
        # Dirichlet rows: the identity with the boundary value on the right.
        g = boundary(tau)
        A[dirichlet, :] = 0.0
        A[dirichlet, dirichlet] = 1.0
        rhs[dirichlet] = g[dirichlet]
        u = np.linalg.solve(A, rhs)
    lo, hi = 0, N
    if ib >= 0:
        lo, hi = (0, ib) if not option.is_down else (ib, N)
    j = int(np.searchsorted(x[lo:hi + 1], 0.0, side="right")) - 1 + lo
    s = min(max(j - 1, lo), hi - 3)
    coef = np.polyfit(x[s:s + 4], u[s:s + 4], 3)
    return math.exp(-r * T) * float(np.polyval(coef, 0.0))


def reference_prices(option: BarrierOption, X: np.ndarray, *, space_steps: int, time_steps: int,
                     rannacher_steps: int = 4, std_devs: float = 6.0, richardson: bool = True) -> np.ndarray:
    """Prices (n,) of X (n, 5) with the same grids and scheme as ``FiniteDifference``; slow."""
    out = np.zeros(X.shape[0])
    R, k = rannacher_steps, std_devs

    def solve(row, mode):
        N, M = space_steps, time_steps
        if not richardson:
            return _solve_dense(option, row, N, M, R, k, mode, 1)
        fine = _solve_dense(option, row, N, M, R, k, mode, 2)
        coarse = _solve_dense(option, row, N // 2, M // 2, R, k, mode, 1)
        return (4.0 * fine - coarse) / 3.0

    for n, row in enumerate(np.asarray(X, dtype=np.float64)):
        H = row[1]
        breached = option.spot <= H if option.is_down else option.spot >= H
        if not option.is_in:
            out[n] = 0.0 if breached else solve(row, K.MODE_OUT)
        else:
            v = solve(row, K.MODE_VANILLA)
            out[n] = max(v if breached else v - solve(row, K.MODE_IN_OUT), 0.0)
    return out
