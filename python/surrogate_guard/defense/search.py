"""Batched gradient ascent on e(x) = (Y(x) - Z(x))^2 from many seeds at once, in any dimension.

grad Y comes from the fused native kernel; grad Z from the oracle's native gradient where it has
one (``has_grad``: one gradient call per seed and step, e.g. pathwise Monte Carlo tangents), else
from central differences, all seeds and all 2d+1 stencil points in ONE oracle batch per step
(common random numbers keep Monte Carlo differences smooth). The cost is reported in oracle calls
and in price-equivalents (gradient calls weighted by the oracle's measured gradient-to-price time). Work is done in the unit box of the surrogate's ``Box``;
steps are normalized-gradient steps whose length decays geometrically (``SearchSettings``).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._device import Device
from .._validate import check_int
from ..box import Box
from ..oracles.base import OracleLike, check_oracle, grad_cost_ratio, has_grad, price_equivalents
from ..oracles.budgeted import BudgetedOracle, BudgetExhausted
from .settings import SearchSettings, apply_legacy
from .training import TrainingView

__all__ = ["Maximizers", "find_error_maximizers", "merge_maximizers"]


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
    grad_calls: int = 0  # how many of oracle_calls were native gradient evaluations
    price_equivalents: float = float("nan")  # oracle_calls with gradient calls weighted by grad_ratio
    grad_ratio: float | None = None  # measured seconds of a gradient point over a price point (None: none used)
    oracle_gradient: str = "differences"  # how grad Z was computed: "native" or "differences"

    @classmethod
    def empty(cls, d: int) -> "Maximizers":
        e = np.empty(0)
        i = np.empty(0, np.int64)
        return cls(np.empty((0, d)), np.empty((0, d)), e, e, e, i, i, 0, 0, 0, 0.0, np.empty((0, 0)))

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


def stencil(Xr: np.ndarray, h: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference points (m (2d+1), d): the centres, then x + h e_j and x - h e_j for each
    j, clipped to the box (one-sided at a face); returns them and the actual spacing (m, d)."""
    m, d = Xr.shape
    P = np.empty(((2 * d + 1) * m, d))
    P[:m] = Xr
    span = np.empty((m, d))
    for j in range(d):
        plus = Xr.copy()
        minus = Xr.copy()
        plus[:, j] = np.minimum(Xr[:, j] + h[j], box.hi[j])
        minus[:, j] = np.maximum(Xr[:, j] - h[j], box.lo[j])
        P[(1 + 2 * j) * m:(2 + 2 * j) * m] = plus
        P[(2 + 2 * j) * m:(3 + 2 * j) * m] = minus
        span[:, j] = plus[:, j] - minus[:, j]
    return P, span


def _seeds(seeds: Any, box: Box, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit (m, d), raw (m, d)): raw rows are priced at step 0 exactly as given (not lo + U * width,
    which may differ in the last bit), so that a seed that is a training row hits the label cache."""
    d = box.dim
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        m = check_int(seeds, "seeds", minimum=1)
        U = np.random.default_rng(seed).random((m, d))
        return U, box.denormalize(U)
    S = np.asarray(seeds) if not isinstance(seeds, np.ndarray) else seeds
    if S.dtype.kind not in "iuf" or S.ndim != 2 or S.shape[1] != d or S.shape[0] == 0:
        raise ValueError(f"seeds: expected an int >= 1 or a non-empty (m, {d}) real array, got {getattr(S, 'shape', S)}")
    if not np.isfinite(S).all():
        row = int(np.argwhere(~np.isfinite(S))[0, 0])
        raise ValueError(f"seeds: expected finite values; row {row} is {S[row]}")
    S = box.clip(S.astype(np.float64))
    return box.normalize(S), S


def find_error_maximizers(surrogate: Any, oracle: OracleLike, *, seeds: Any, search: SearchSettings | None = None,
                          seed: int = 0, X_train: Any = None, box: Any = None, oracle_budget: int | None = None,
                          device: Device = "auto", threads: int | None = None, **legacy: Any) -> Maximizers:
    """Local maximizers of (Y - Z)^2 by batched projected ascent from all seeds at once.

    Args:
        surrogate: ``sg.Surrogate`` (anything with ``box`` and ``export(dtype) -> MLPWeights``).
        oracle: any oracle of the surrogate's dimension; a ``BudgetedOracle`` is used as it is
            (its cache and budget shared with the caller), anything else is wrapped in one.
        seeds: (m, d) raw starting points, or an int m for uniform random seeds drawn with ``seed``.
        search: ``SearchSettings`` (steps, step lengths, stencil, merging, density radius, dtype).
        X_train: (n, d) training inputs (or a ``TrainingView``), to count points near each maximizer.
        box: the box the iterates are projected on; default the surrogate's.
        oracle_budget: stop before a step would take the oracle past this many new points.
        device, threads: where the surrogate gradient is computed, and CPU threads (None: default).
    Returns:
        ``Maximizers``, sorted by decreasing error, with the cost (oracle calls, kernel steps, wall time).
    """
    t0 = time.perf_counter()
    if "bounds" in legacy:  # renamed in 0.2.0, see CHANGELOG.md
        warnings.warn("find_error_maximizers(bounds=...) is deprecated; use box=", DeprecationWarning, stacklevel=2)
        box = legacy.pop("bounds") if box is None else box
    search, _ = apply_legacy("find_error_maximizers", search or SearchSettings(), None, legacy)
    b = Box.of(surrogate if box is None else box, "box")
    check_oracle(oracle, "oracle", b.dim)
    seed = check_int(seed, "seed", minimum=0)
    U, X0 = _seeds(seeds, b, seed)
    view = X_train if isinstance(X_train, TrainingView) or X_train is None else \
        TrainingView.build(b, X_train, np.zeros(len(np.asarray(X_train))))
    if isinstance(oracle, BudgetedOracle):  # the caller's ledger: its cache and count are shared
        Z = oracle if oracle_budget is None else oracle.child(oracle_budget)
    else:
        Z = BudgetedOracle(oracle, oracle_budget)
    native = search.oracle_gradient == "native" or (search.oracle_gradient == "auto" and has_grad(Z))
    if native and not has_grad(Z):
        raise ValueError(f"search.oracle_gradient='native': the oracle {type(oracle).__name__} has no native gradient "
                         "(has_grad is False); use 'auto' or 'differences'")
    calls0, grads0 = Z.calls, Z.grad_calls
    ratio: list[float | None] = [None]
    best, traj, kernel_steps = _ascend(surrogate.export(np.dtype(search.dtype)), Z, U, X0, b, search, device, threads,
                                       native, ratio)
    best_e, best_u, best_y, best_z = best
    idx = np.flatnonzero(np.isfinite(best_e))
    keep = idx[merge_maximizers(best_u[idx], best_e[idx], search.merge_radius)] if idx.size else idx
    unit = best_u[keep]
    n_near = view.count_near(unit, search.density_radius) if view is not None else np.full(len(keep), -1, np.int64)
    return Maximizers(
        points=b.denormalize(unit), unit=unit, error=best_e[keep], surrogate=best_y[keep], oracle=best_z[keep],
        n_near=n_near, seed_index=keep, oracle_calls=Z.calls - calls0, kernel_steps=kernel_steps,
        steps_run=len(traj), wall_s=time.perf_counter() - t0,
        trajectories_error=np.array(traj).reshape(len(traj), U.shape[0]),
        grad_calls=Z.grad_calls - grads0,
        price_equivalents=price_equivalents(Z.calls - calls0, Z.grad_calls - grads0, ratio[0]),
        grad_ratio=ratio[0], oracle_gradient="native" if native else "differences",
    )


def _ascend(weights, Z: BudgetedOracle, U: np.ndarray, X0: np.ndarray, b: Box, search: SearchSettings,
            device: Device, threads: int | None, native: bool = False, ratio: list | None = None):
    """The ascent loop: ((best error, unit point, Y, Z) per seed, error trajectories, kernel calls).
    With ``native``, grad Z is the oracle's own (one gradient call per step); the gradient's cost ratio
    (``oracles.base.grad_cost_ratio``: measured once per oracle, at equal batch sizes) goes into
    ``ratio[0]``."""
    from .. import kernels

    m, d = U.shape
    dtype = weights.dtype
    h = search.fd_step * b.width
    best_e, best_u, best_y, best_z = np.full(m, -np.inf), U.copy(), np.zeros(m), np.zeros(m)
    traj: list[np.ndarray] = []
    for t in range(search.steps):
        Xr = X0 if t == 0 else b.denormalize(U)
        if native:
            try:
                gres = Z.evaluate(Xr, grad=True)
            except BudgetExhausted:
                break
            z, gz = np.asarray(gres.price), np.asarray(gres.grad)
        else:
            P, span = stencil(Xr, h, b)
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
        res = kernels.ascent_step(weights, np.ascontiguousarray(Xr, dtype=dtype), z.astype(dtype), gz.astype(dtype),
                                  eta=search.step_length(t), lo=b.lo, hi=b.hi, normalized=True, device=device,
                                  threads=threads, check_finite=False)
        y = np.asarray(res.y, dtype=np.float64)
        e = (y - z) ** 2
        traj.append(e)
        better = e > best_e
        best_e[better], best_u[better], best_y[better], best_z[better] = e[better], U[better], y[better], z[better]
        U = np.clip(b.normalize(np.asarray(res.x, dtype=np.float64)), 0.0, 1.0)
    if native and ratio is not None:
        ratio[0] = grad_cost_ratio(Z)
    return (best_e, best_u, best_y, best_z), traj, len(traj)
