"""Sensitivities of the finite-difference oracle: central differences of the PDE price in each of
[strike, barrier, volatility, maturity, rate], every bumped solve on the grid of its base point.

The base point is priced first (adaptive grid: its final N x M); each bumped point then solves on
the same N x M, with the same nodes (built from the base row: the grid does not depend on the
strike; volatility, maturity and rate only enter the operator and the steps) or, for the barrier,
the base grid's map moved with the barrier and its node index kept. The discretization error of
the bumped solutions then varies smoothly with the bump, and the difference quotient is not the
difference of two unrelated errors over 2h. See docs/finite_difference.md, "Sensitivities".
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .barrier import check_in_domain

if TYPE_CHECKING:
    from .finite_difference import FiniteDifference

# Relative bump of strike, barrier, volatility and maturity; absolute bump of the rate. Central
# differences: truncation h^2 |V'''| / 6 (below 1e-6 relative at these sizes on the paper box);
# the barrier bump is also kept within a quarter of the log-distance to the spot (never breached).
BUMP_REL = 1e-3
BUMP_RATE = 1e-4


def bumps(X: np.ndarray, spot: float) -> np.ndarray:
    """Bump sizes h (n, 5) > 0 of each column at the points X (n, 5)."""
    h = BUMP_REL * np.abs(X)
    h[:, 4] = BUMP_RATE
    near = np.minimum(h[:, 1], 0.25 * np.abs(np.log(X[:, 1] / spot)) * X[:, 1])
    h[:, 1] = np.where(near > 0.0, near, h[:, 1])  # H = S0 (breached): gradient() sets that entry to 0
    return h


def gradient(fd: FiniteDifference, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(price (n,), gradient (n, 5)) at validated X (n, 5): 1 + 10 solves per job (per point for out
    options, two per point for in options), the bumped ones at the base point's final grid."""
    from .finite_difference import DOMAIN, _breached, check_derived, combine_jobs, guard_prices

    opt, n = fd.option, X.shape[0]
    if fd.check_domain:
        check_in_domain(X, opt.spot, DOMAIN, "FiniteDifference")
        check_derived(X, opt.dividend)
    price, N, M, pts, modes, jout = fd.price_jobs(X)
    h = bumps(X, opt.spot)
    # Rows: X, then for each column c and sign s the bumped copy, at offset (1 + 2c + s) n.
    rows = [X]
    for c in range(5):
        for sgn in (1.0, -1.0):
            Xb = X.copy()
            Xb[:, c] += sgn * h[:, c]
            rows.append(Xb)
    XA = np.ascontiguousarray(np.vstack(rows))
    m = pts.shape[0]
    bp, bg, bj, bm = [], [], [], []
    for c in range(5):
        for s in range(2):
            off = (1 + 2 * c + s) * n
            bp.append(pts + off)
            bm.append(modes)
            if c == 1:  # the barrier moves: the grid is the bumped row's (only H differs), same node index
                bg.append(pts + off)
                bj.append(jout)
            else:
                bg.append(pts)
                bj.append(np.full(m, -1, dtype=np.int64))
    P, G, J, MO = (np.concatenate(a) for a in (bp, bg, bj, bm))
    levels = 2 if fd.richardson else 1
    res, _ = fd.solve(XA, P, MO, np.tile(N[pts], 10), np.tile(M[pts], 10), levels, gpts=G, jfs=J)
    val = (4.0 * res[:, 0] - res[:, 1]) / 3.0 if levels == 2 else res[:, 0]
    grad = np.empty((n, 5), dtype=np.float64)
    for c in range(5):
        up = combine_jobs(opt, n, pts, modes, val[(2 * c) * m:(2 * c + 1) * m])
        dn = combine_jobs(opt, n, pts, modes, val[(2 * c + 1) * m:(2 * c + 2) * m])
        grad[:, c] = (up - dn) / (2.0 * h[:, c])
    # Breached at the start: out = 0 and in = vanilla on this side of the barrier, neither depends on it.
    grad[_breached(opt, X[:, 1]), 1] = 0.0
    return guard_prices(opt, X, price), grad
