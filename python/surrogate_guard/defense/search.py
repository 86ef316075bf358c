"""Batched gradient ascent on e(x) = (Y(x) - Z(x))^2 from many seeds at once.

grad Y comes from the fused native kernel; grad Z from central differences of the oracle,
all seeds and all 2d+1 stencil points in ONE oracle batch per step (common random numbers
keep Monte Carlo differences smooth). Work is done in the unit box of the surrogate's
normalization; steps are normalized-gradient steps whose length decays geometrically.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_float, check_int
from .budget import BudgetExhausted, CountingOracle


@dataclass(frozen=True)
class Maximizers:
    """Local maximizers of the squared error, merged within ``merge_radius``; largest error first.

    points (k, d) raw inputs; unit (k, d) the same in the unit box; error (k,) = (Y - Z)^2;
    surrogate (k,) Y; oracle (k,) Z; n_near (k,) training points within ``density_radius``
    (-1 when no training set was given); seed_index (k,) which seed reached it.
    """

    points: np.ndarray
    unit: np.ndarray
    error: np.ndarray
    surrogate: np.ndarray
    oracle: np.ndarray
    n_near: np.ndarray
    seed_index: np.ndarray
    oracle_calls: int
    kernel_steps: int
    steps_run: int
    wall_s: float
    trajectories_error: np.ndarray = field(repr=False)  # (steps_run, m) error of every seed at every step

    @property
    def score(self) -> np.ndarray:
        """error x log(1 + n_near): large error inside dense data ranks first."""
        return self.error * np.log1p(np.maximum(self.n_near, 0))

    def __len__(self) -> int:
        return int(self.points.shape[0])


def merge_maximizers(unit: np.ndarray, error: np.ndarray, radius: float) -> np.ndarray:
    """Indices of points kept by greedy merging: by decreasing error, drop any point within
    ``radius`` (unit-box Euclidean) of one already kept."""
    order = np.argsort(-error, kind="stable")
    kept: list[int] = []
    for i in order:
        if not kept or np.min(np.linalg.norm(unit[kept] - unit[i], axis=1)) >= radius:
            kept.append(int(i))
    return np.array(kept, dtype=np.int64)


def count_near(unit_train: np.ndarray | None, unit: np.ndarray, radius: float) -> np.ndarray:
    """Training points within ``radius`` of each row of ``unit`` (unit box); -1s without a training set."""
    if unit_train is None:
        return np.full(unit.shape[0], -1, dtype=np.int64)
    from scipy.spatial import cKDTree

    tree = cKDTree(unit_train)
    return np.array([len(v) for v in tree.query_ball_point(unit, r=radius)], dtype=np.int64)


def _central_difference_batch(Xr: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Stencil points (m (2d+1), d): the centres, then x + h e_j and x - h e_j for each j, clipped
    to the box (one-sided at a face); returns them and the actual spacing (m, d)."""
    m, d = Xr.shape
    P = np.empty(((2 * d + 1) * m, d))
    P[:m] = Xr
    span = np.empty((m, d))
    for j in range(d):
        plus = Xr.copy()
        minus = Xr.copy()
        plus[:, j] = np.minimum(Xr[:, j] + h[j], hi[j])
        minus[:, j] = np.maximum(Xr[:, j] - h[j], lo[j])
        P[(1 + 2 * j) * m:(2 + 2 * j) * m] = plus
        P[(2 + 2 * j) * m:(3 + 2 * j) * m] = minus
        span[:, j] = plus[:, j] - minus[:, j]
    return P, span


def find_error_maximizers(surrogate, oracle, *, seeds, steps: int = 30, lr: float = 0.05, decay: float = 0.5,
                          decay_every: int = 10, fd_step: float = 1e-3, bounds=None, merge_radius: float = 0.05,
                          seed: int = 0, X_train=None, density_radius: float = 0.1, oracle_budget: int | None = None,
                          device: str = "cpu", dtype=np.float64) -> Maximizers:
    """Local maximizers of (Y - Z)^2 by batched projected ascent from all seeds at once.

    Args:
        surrogate: ``sg.Surrogate`` (anything with ``export(dtype) -> MLPWeights``).
        oracle: any ``sg.oracles`` oracle; wrapped in a call-counting cache (the cost reported).
        seeds: (m, d) raw starting points, or an int m for uniform random seeds drawn with ``seed``.
        steps: ascent iterations; each costs m (2d+1) oracle points and one kernel call.
        lr: initial step length in the unit box; multiplied by ``decay`` every ``decay_every`` steps.
        fd_step: central-difference half-width, as a fraction of each column's box width.
        bounds: (d, 2) box the iterates are projected on; default the surrogate's box.
        merge_radius: maximizers closer than this (unit box) are merged, keeping the largest error.
        X_train: (n, d) training inputs, to count points within ``density_radius`` of each maximizer.
        oracle_budget: stop before a step would take the oracle past this many new points.
        device: where the surrogate gradient is computed ("cpu", "cuda", "auto").
    Returns:
        ``Maximizers``, sorted by decreasing error, with the cost (oracle calls, kernel steps, wall time).
    """
    from .. import kernels

    t0 = time.perf_counter()
    weights = surrogate.export(dtype)
    d = weights.in_dim
    steps = check_int(steps, "steps", minimum=1)
    lr = check_float(lr, "lr", positive=True)
    decay = check_float(decay, "decay", positive=True)
    decay_every = check_int(decay_every, "decay_every", minimum=1)
    fd_step = check_float(fd_step, "fd_step", positive=True)
    merge_radius = check_float(merge_radius, "merge_radius", nonneg=True)
    density_radius = check_float(density_radius, "density_radius", positive=True)
    seed = check_int(seed, "seed", minimum=0)
    if bounds is None:
        bounds = np.asarray(surrogate.bounds, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.shape != (d, 2) or not np.all(np.isfinite(bounds)) or not np.all(bounds[:, 1] > bounds[:, 0]):
        raise ValueError(f"bounds: expected a finite ({d}, 2) array with high > low, got shape {bounds.shape}")
    lo, hi = bounds[:, 0], bounds[:, 1]
    width = hi - lo
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        m = check_int(seeds, "seeds", minimum=1)
        U = np.random.default_rng(seed).random((m, d))
    else:
        S = np.asarray(seeds, dtype=np.float64) if not isinstance(seeds, np.ndarray) else seeds
        if S.dtype.kind not in "iuf" or S.ndim != 2 or S.shape[1] != d or S.shape[0] == 0:
            raise ValueError(f"seeds: expected an int >= 1 or a non-empty (m, {d}) real array, got {getattr(S, 'shape', S)}")
        if not np.isfinite(S).all():
            row = int(np.argwhere(~np.isfinite(S))[0, 0])
            raise ValueError(f"seeds: expected finite values; row {row} is {S[row]}")
        S = np.clip(S.astype(np.float64), lo, hi)
        U = (S - lo) / width
    m = U.shape[0]
    # Step 0 prices the seeds exactly as given (not lo + U * width, which may differ in the last
    # bit), so that a seed that is a training row hits the oracle cache of the label checks.
    X0 = lo + U * width if isinstance(seeds, (int, np.integer)) else S
    unit_train = None
    if X_train is not None:
        Xt = np.asarray(X_train, dtype=np.float64)
        if Xt.ndim != 2 or Xt.shape[1] != d:
            raise ValueError(f"X_train: expected ({'n'}, {d}), got shape {Xt.shape}")
        unit_train = (Xt - lo) / width

    Z = oracle if isinstance(oracle, CountingOracle) else CountingOracle(oracle, budget=oracle_budget)
    calls0 = Z.calls
    h = fd_step * width
    best_e = np.full(m, -np.inf)
    best_u = U.copy()
    best_y = np.zeros(m)
    best_z = np.zeros(m)
    traj = []
    kernel_steps = 0
    for t in range(steps):
        Xr = X0 if t == 0 else lo + U * width
        P, span = _central_difference_batch(Xr, h, lo, hi)
        try:
            zP = Z(P)
        except BudgetExhausted:
            break
        z = zP[:m]
        gz = np.empty((m, d))
        for j in range(d):
            gz[:, j] = (zP[(1 + 2 * j) * m:(2 + 2 * j) * m] - zP[(2 + 2 * j) * m:(3 + 2 * j) * m]) / span[:, j]
        # One fused kernel call: Y and grad Y at the iterates, then the normalized projected step
        # x <- clip(x + lr_t (hi - lo) s / |s|), s = 2 (Y - z)(grad Y - grad z)(hi - lo).
        lr_t = lr * decay ** (t // decay_every)
        res = kernels.ascent_step(weights, np.ascontiguousarray(Xr, dtype=dtype), z.astype(dtype), gz.astype(dtype),
                                  eta=lr_t, lo=lo, hi=hi, normalized=True, device=device, check_finite=False)
        kernel_steps += 1
        y = np.asarray(res.y, dtype=np.float64)
        r = y - z
        e = r * r
        traj.append(e)
        better = e > best_e
        best_e[better], best_u[better], best_y[better], best_z[better] = e[better], U[better], y[better], z[better]
        U = np.clip((np.asarray(res.x, dtype=np.float64) - lo) / width, 0.0, 1.0)

    evaluated = np.isfinite(best_e)
    idx = np.flatnonzero(evaluated)
    keep = idx[merge_maximizers(best_u[idx], best_e[idx], merge_radius)] if idx.size else idx
    unit = best_u[keep]
    return Maximizers(
        points=lo + unit * width,
        unit=unit,
        error=best_e[keep],
        surrogate=best_y[keep],
        oracle=best_z[keep],
        n_near=count_near(unit_train, unit, density_radius),
        seed_index=keep,
        oracle_calls=Z.calls - calls0,
        kernel_steps=kernel_steps,
        steps_run=len(traj),
        wall_s=time.perf_counter() - t0,
        trajectories_error=np.array(traj).reshape(len(traj), m),
    )
