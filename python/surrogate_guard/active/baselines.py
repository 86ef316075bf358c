"""Baseline active-learning strategies from the literature, behind ``strategies.Strategy``.

- ``GreedyX`` ("greedy-x"): GSx, greedy farthest points in the input space.
- ``ImprovedGreedy`` ("igs"): iGS, input distance times output distance (both: Wu, Lin & Huang
  2019, "Active learning for regression using greedy sampling", Information Sciences 474).
- ``Committee`` ("committee"): query by committee, the variance of bootstrap-trained surrogates
  maximized in the box.

Each round draws a fresh scrambled Sobol' pool (seeded by the learner's rng); ``candidates``
chooses n points without the oracle (the learner's ``ask``), ``propose`` prices them in one
oracle call and returns them. ``greedy_reference`` is the slow test reference.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_float, check_int
from ..box import sobol_unit
from .base import LearnerState, Proposal

__all__ = ["GreedyX", "ImprovedGreedy", "Committee", "gsx_select", "igs_select", "greedy_reference",
           "committee_variance", "separated_top", "CHUNK_BYTES"]

CHUNK_BYTES = 64 << 20  # iGS: the pool x training-set work arrays are built this many bytes at a time


# -- shared pieces -------------------------------------------------------------------------------
def _pool(state: LearnerState, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` scrambled Sobol' points of the box not yet priced: (X (m, d) raw, U (m, d) unit), m <= size.

    U is normalized back from X, so every distance is that of the point actually priced."""
    box = state.box
    X = box.clip(box.denormalize(sobol_unit(size, box.dim, int(state.rng.integers(2**63)))))
    X = X[_fresh(state, X)]
    return X, box.normalize(X)


def _fresh(state: LearnerState, X: np.ndarray) -> np.ndarray:
    """(m,) bool: rows of X neither in the training set nor priced (a priced one would be free, not new)."""
    seen = {row.tobytes() for row in state.X}
    if state.oracle is not None:
        seen.update(row.tobytes() for row in state.oracle.known()[0])
    return np.fromiter((row.tobytes() not in seen for row in X), dtype=bool, count=len(X))


def _price(state: LearnerState, X: np.ndarray, name: str) -> Proposal:
    if state.oracle is None:
        raise ValueError(f"state: {name}.propose needs the learner's oracle, got None (use candidates(state, n))")
    res = state.oracle.evaluate(X)
    return Proposal(X, np.array(res.price), np.array(res.stderr))


def _pool_size(pool: int, n: int) -> int:
    """The pool holds at least 4n candidates, so a pool option smaller than the batch grows."""
    return max(pool, 4 * n)


def _dist(U: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row of U (m, d) to u (d,): (m,)."""
    return np.sqrt(np.sum((U - u) ** 2, axis=1))


def _greedy(U: np.ndarray, score: np.ndarray, k: int, f: np.ndarray | None = None) -> np.ndarray:
    """k greedy picks of the largest ``score`` (m,); after a pick p, score = min(score, d(., p) [* |f - f_p|]).

    O(m k d): one distance row per pick, the min kept incrementally."""
    score = np.array(score, dtype=np.float64)
    picked = np.empty(min(k, len(U)), dtype=np.int64)
    for t in range(len(picked)):
        p = int(np.argmax(score))
        picked[t] = p
        d = _dist(U, U[p])
        if f is not None:
            d *= np.abs(f - f[p])
        np.minimum(score, d, out=score)
        score[p] = -np.inf
    return picked


def gsx_select(U: np.ndarray, T: np.ndarray, k: int) -> np.ndarray:
    """GSx: k row indices of the pool U (m, d) (unit coordinates), each the farthest (the largest
    min Euclidean distance) from the training set T (t, d) and the picks before it: (k,) int64."""
    from scipy.spatial import cKDTree

    mind = cKDTree(T).query(U, k=1)[0] if len(T) else np.full(len(U), np.inf)
    return _greedy(U, mind, k)


def igs_select(U: np.ndarray, f: np.ndarray, T: np.ndarray, y: np.ndarray, k: int,
               chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """iGS: k row indices of the pool U (m, d) maximizing min_i d_x(c, i) |f(c) - y_i| greedily.

    ``f`` (m,) are the surrogate's values on the pool, T (t, d) and y (t,) the training set; a
    pick joins the labelled set with its surrogate value as label. The pool-to-training minimum
    is built ``chunk_bytes`` at a time (two (rows, t) float64 arrays), so memory stays bounded
    whatever the training set's size: (k,) int64.
    """
    from scipy.spatial.distance import cdist

    score = np.full(len(U), np.inf)
    if len(T):
        rows = max(1, chunk_bytes // (16 * len(T)))
        for a in range(0, len(U), rows):
            D = cdist(U[a:a + rows], T)
            dy = np.subtract(f[a:a + rows, None], y[None, :])
            np.abs(dy, out=dy)
            D *= dy
            score[a:a + rows] = D.min(axis=1)
            del D, dy  # freed before the next chunk's are allocated
    return _greedy(U, score, k, f)


def greedy_reference(U: np.ndarray, T: np.ndarray, k: int, f: np.ndarray | None = None,
                     y: np.ndarray | None = None) -> np.ndarray:
    """Slow, obvious reference of ``gsx_select`` (f None) and ``igs_select``: every pick rescores
    every candidate against every labelled point from scratch, in plain Python."""
    points = [T[i] for i in range(len(T))]
    labels = [0.0 if y is None else float(y[i]) for i in range(len(T))]
    picked: list[int] = []
    for _ in range(min(k, len(U))):
        best, best_s = -1, -math.inf
        for c in range(len(U)):
            if c in picked:
                continue
            s = math.inf
            for u, label in zip(points, labels):
                d = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(U[c], u)))
                if f is not None:
                    d *= abs(float(f[c]) - label)
                s = min(s, d)
            if s > best_s:
                best, best_s = c, s
        picked.append(best)
        points.append(U[best])
        labels.append(0.0 if f is None else float(f[best]))
    return np.array(picked, dtype=np.int64)


def _check_pool(pool: Any) -> int:
    return check_int(pool, "pool", minimum=1)


# -- GSx and iGS ---------------------------------------------------------------------------------
@dataclass
class GreedyX:
    """GSx (Wu, Lin & Huang 2019): n points of a fresh scrambled Sobol' pool of ``pool`` candidates,
    each maximizing the minimum unit-box Euclidean distance to the training set and to the points
    already picked this round. A pool search, no optimization; the outputs are never looked at."""

    pool: int = 20_000
    name: str = "greedy-x"

    def __post_init__(self) -> None:
        self.pool = _check_pool(self.pool)

    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        """The round's n points (n, d), chosen without the oracle."""
        X, U = _pool(state, _pool_size(self.pool, n))
        return X[gsx_select(U, state.box.normalize(state.X), n)]

    def propose(self, state: LearnerState, n: int) -> Proposal:
        return _price(state, self.candidates(state, n), "GreedyX")


@dataclass
class ImprovedGreedy:
    """iGS (Wu, Lin & Huang 2019): greedy on a fresh scrambled Sobol' pool of ``pool`` candidates
    (a pool search, not continuous optimization). A candidate c scores min over labelled points i
    of d_x(c, i) |f(c) - y_i|, with d_x the unit-box Euclidean distance and f the current
    surrogate; the labelled set is the training set plus the points picked this round, whose
    label is the surrogate's value (no oracle value is known before the round's one call)."""

    pool: int = 20_000
    name: str = "igs"

    def __post_init__(self) -> None:
        self.pool = _check_pool(self.pool)

    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        """The round's n points (n, d), chosen without the oracle."""
        X, U = _pool(state, _pool_size(self.pool, n))
        f = np.asarray(state.surrogate.predict(X), dtype=np.float64)
        T = state.box.normalize(state.X)
        return X[igs_select(U, f, T, np.asarray(state.y, dtype=np.float64), n)]

    def propose(self, state: LearnerState, n: int) -> Proposal:
        return _price(state, self.candidates(state, n), "ImprovedGreedy")


# -- query by committee --------------------------------------------------------------------------
def _member_params(members: Any) -> list:
    import torch

    # Surrogate._params: the weight tensors Surrogate._forward takes (unit-box inputs in, the
    # scaled output out); float64 copies, so the ascent does not touch the members.
    return [[p.detach().to(torch.float64) for p in m._params] for m in members]


def _variance_t(members: Any, params: list, H: Any) -> Any:
    """Committee variance (population, price units squared) at unit points H (k, d) float64 tensor: (k,)."""
    import torch

    Y = torch.stack([m._forward(p, H) * m.y_scale + m.y_offset for m, p in zip(members, params)])
    return Y.var(dim=0, unbiased=False)


def committee_variance(members: Any, U: Any) -> np.ndarray:
    """Variance over the surrogates ``members`` of their values at unit-box points U (k, d): (k,) float64."""
    import torch

    with torch.no_grad():
        H = torch.from_numpy(np.ascontiguousarray(U, dtype=np.float64))
        return _variance_t(members, _member_params(members), H).numpy().copy()


def separated_top(U: np.ndarray, v: np.ndarray, k: int, separation: float) -> np.ndarray:
    """k row indices of distinct points U (m, d), greedily by largest ``v`` (m,), each at least
    ``separation`` away from those taken before it; when none is left that far, the best
    remaining one (so k points come whenever m >= k): (k,) int64."""
    order = np.argsort(-v, kind="stable")
    Uo = U[order]
    mind = np.full(len(order), np.inf)
    taken = np.zeros(len(order), dtype=bool)
    out = np.empty(min(k, len(order)), dtype=np.int64)
    for t in range(len(out)):
        free = ~taken
        ok = np.flatnonzero(free & (mind >= separation))
        j = int(ok[0]) if len(ok) else int(np.flatnonzero(free)[0])
        taken[j] = True
        out[t] = order[j]
        np.minimum(mind, _dist(Uo, Uo[j]), out=mind)
    return out


@dataclass
class Committee:
    """Query by committee: the variance of ``members`` surrogates maximized in the box.

    Each round trains ``members`` copies of the surrogate's architecture (``like(seed=...)``) on
    bootstrap resamples of the training set, ``steps`` optimizer steps each at ``batch_size`` (no
    held-out split: a bootstrap sample would leak into it), on the CPU. Then continuous
    optimization started from a pool: the committee variance is scored on a fresh Sobol' pool of
    ``pool`` points, the best 4n start ``ascent_steps`` steps of projected gradient ascent (torch
    autograd, unit coordinates clipped to [0, 1]; each step of normalized length, starting at
    ``step_size``, grows 1.5x when the variance rises and halves, rejected, when it does not),
    and n points are chosen greedily by variance at least ``separation`` (unit box) apart, so a
    batch is not one cluster. ``last_fit_s``: seconds of the last round's member fits;
    ``last_members``: those surrogates.
    """

    members: int = 4
    steps: int = 3000
    batch_size: int = 256
    pool: int = 20_000
    ascent_steps: int = 20
    step_size: float = 0.02
    separation: float = 0.02
    name: str = "committee"
    last_fit_s: float = field(default=0.0, init=False)
    last_members: tuple = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        self.members = check_int(self.members, "members", minimum=2)
        self.steps = check_int(self.steps, "steps", minimum=1)
        self.batch_size = check_int(self.batch_size, "batch_size", minimum=1)
        self.pool = _check_pool(self.pool)
        self.ascent_steps = check_int(self.ascent_steps, "ascent_steps", minimum=0)
        self.step_size = check_float(self.step_size, "step_size", positive=True)
        self.separation = check_float(self.separation, "separation", nonneg=True)

    def _fit_members(self, state: LearnerState) -> tuple:
        n = len(state.y)
        if n < 2:
            raise ValueError(f"state: the committee needs a training set of at least 2 points, got {n}")
        epochs = max(1, -(-self.steps // -(-n // self.batch_size)))
        out = []
        for _ in range(self.members):
            seed = int(state.rng.integers(2**31))
            rows = state.rng.integers(0, n, size=n)
            m = state.surrogate.like(seed=seed)
            m.fit(state.X[rows], np.asarray(state.y)[rows], epochs=epochs, batch_size=self.batch_size, seed=seed,
                  val_fraction=0.0, device="cpu")
            out.append(m)
        return tuple(out)

    def _ascend(self, members: tuple, U0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Projected, normalized-step gradient ascent of the variance from U0 (k, d): (U, variance)."""
        import torch

        params = _member_params(members)
        U = torch.from_numpy(U0.copy())
        with torch.no_grad():
            v = _variance_t(members, params, U)
        step = torch.full((len(U0),), self.step_size, dtype=torch.float64)
        for _ in range(self.ascent_steps):
            H = U.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(_variance_t(members, params, H).sum(), H)
            norm = g.norm(dim=1, keepdim=True)
            move = torch.where(norm > 0, g / norm.clamp_min(1e-300), torch.zeros_like(g))
            with torch.no_grad():
                cand = (U + step[:, None] * move).clamp(0.0, 1.0)
                vc = _variance_t(members, params, cand)
            better = vc > v
            U = torch.where(better[:, None], cand, U)
            v = torch.where(better, vc, v)
            step = torch.where(better, step * 1.5, step * 0.5)
        return U.numpy().copy(), v.numpy().copy()

    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        """The round's n points (n, d), chosen without the oracle (the member fits included)."""
        t = time.perf_counter()
        members = self._fit_members(state)
        self.last_fit_s, self.last_members = time.perf_counter() - t, members
        box = state.box
        X, U = _pool(state, _pool_size(self.pool, n))
        var = committee_variance(members, U)
        top = np.argsort(-var, kind="stable")[: 4 * n]
        Ua, _ = self._ascend(members, U[top])
        # The ascended points, then the pool itself (the fallback that keeps n points coming):
        # distinct, never priced, scored at the point actually priced.
        Xc = np.vstack([box.clip(box.denormalize(Ua)), X])
        _, first = np.unique(Xc, axis=0, return_index=True)
        Xc = Xc[np.sort(first)]
        Xc = Xc[_fresh(state, Xc)]
        Uc = box.normalize(Xc)
        return Xc[separated_top(Uc, committee_variance(members, Uc), n, self.separation)]

    def propose(self, state: LearnerState, n: int) -> Proposal:
        return _price(state, self.candidates(state, n), "Committee")
