"""``ErrorMaximizers``: spend a round's oracle calls where the surrogate's error |Y - Z| is largest.

A round of ``n`` points has two parts.

- **Breadth**: a share of scrambled Sobol' points. Priced before the surrogate has seen them,
  their errors |Y - Z| are out-of-sample: an honest map of where the surrogate is wrong.
- **Depth**: points at maximizers of the error, found in two ways.
  - The steepest points of a fresh Sobol' pool: the unit-box norm of the surrogate's input
    gradient (the fused native kernel, no oracle call) is maximized over ``pool`` candidates. Of
    every cheap signal measured it ranks the true error best (docs/active_learning.md), and its
    maximizers are spread along the whole steep region.
  - A ``climb`` share (default 0) spent on local ascent on the true error |Y - Z|^2 from the
    worst points priced so far this round (and the worst-fit training points):
    ``ascent="moves"``, a derivative-free hill climb (each step prices ``moves`` Gaussian moves
    of scale ``radius`` around every centre; a centre moves to its best move when that beats it,
    else its radius halves), or ``ascent="gradient"``, the defense's batched ascent with a
    central-difference oracle gradient (2d + 1 calls per seed and step, stencils trained on when
    ``keep_stencils``; it spends the whole depth share). Both were measured worse than the
    steepest points alone: they pile calls onto a few spots of the worst error.

The depth/breadth split adapts (``adapt``): after each round the breadth share becomes the share
of squared error the breadth points found per call, so a round whose depth points find more
error per call than Sobol' points gives the next round more depth; it stays in
[min_breadth, max_breadth]. The climb's maximizers, merged within ``merge_radius``, are kept in
``last_maximizers`` (unit coordinates).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..defense.search import find_error_maximizers
from ..oracles.base import has_grad
from ..defense.seeding import levy_steps
from ..defense.settings import SearchSettings
from ..box import sobol_unit
from .base import LearnerState, Proposal, RandomSobol, concat, paid_since

__all__ = ["ErrorMaximizers"]


def _merge(unit: np.ndarray, radius: float) -> np.ndarray:
    """Greedy merge: keep a point unless an earlier kept one is within ``radius``."""
    kept: list[np.ndarray] = []
    for u in unit:
        if all(np.linalg.norm(u - k) > radius for k in kept):
            kept.append(u)
    return np.array(kept).reshape(-1, unit.shape[1])


@dataclass
class ErrorMaximizers:
    """Error-driven sampling at maximizers of |Y - Z|^2 (see the module docstring).

    Options: ``ascent`` ("moves" or "gradient"); ``climb`` the share of the depth points spent on
    the moves ascent; ``pool`` candidates for the steepest points; ``steps`` per seed; ``moves``
    per centre and step and ``radius`` (unit box) of the moves ascent; ``breadth`` the initial
    breadth share, ``adapt`` and its bounds ``min_breadth``/``max_breadth``; ``merge_radius``.
    Gradient ascent: ``lr``, ``levy_scale`` (its Levy seeds), ``keep_stencils``, and
    ``oracle_gradient`` ("auto": the oracle's native gradient when it has one, "native",
    "differences"; ``SearchSettings.oracle_gradient``).
    """

    ascent: Literal["moves", "gradient"] = "moves"
    climb: float = 0.0
    pool: int = 20000
    breadth_by: Literal["sobol", "igs"] = "sobol"
    steps: int = 2
    moves: int = 2
    radius: float = 0.1
    breadth: float = 0.5
    adapt: bool = True
    min_breadth: float = 0.25
    max_breadth: float = 0.75
    merge_radius: float = 0.02
    lr: float = 0.05
    levy_scale: float = 0.05
    keep_stencils: bool = True
    oracle_gradient: Literal["auto", "native", "differences"] = "auto"
    name: str = "error-maximizers"
    last_maximizers: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    def __post_init__(self) -> None:
        if self.ascent not in ("moves", "gradient"):
            raise ValueError(f"ascent: expected 'moves' or 'gradient', got {self.ascent!r}")
        if self.breadth_by not in ("sobol", "igs"):
            raise ValueError(f"breadth_by: expected 'sobol' or 'igs', got {self.breadth_by!r}")
        if isinstance(self.pool, bool) or not isinstance(self.pool, (int, np.integer)) or self.pool < 1:
            raise ValueError(f"pool: expected an int >= 1, got {self.pool!r}")
        for name in ("steps", "moves"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        for name in ("breadth", "min_breadth", "max_breadth", "climb"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name}: expected a share in [0, 1], got {v!r}")
        if not self.min_breadth <= self.max_breadth:
            raise ValueError(f"min_breadth: expected <= max_breadth ({self.max_breadth}), got {self.min_breadth}")
        for name in ("radius", "merge_radius", "lr", "levy_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
        self.search = SearchSettings(steps=self.steps, lr=self.lr, decay=0.5, decay_every=2,
                                     oracle_gradient=self.oracle_gradient)
        self._breadth = float(self.breadth)

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"breadth_share": self._breadth}

    def load_state_dict(self, d: dict) -> None:
        v = d.get("breadth_share")
        if not isinstance(v, float) or not 0.0 <= v <= 1.0:
            raise ValueError(f"strategy state: breadth_share expected a float in [0, 1], got {v!r}")
        self._breadth = v

    @property
    def breadth_share(self) -> float:
        """The breadth share the next round uses (adapted after each round)."""
        return self._breadth

    # -- a round -------------------------------------------------------------------------------
    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        """Without an oracle there is no ascent on the true error: the pool's steepest points (the
        depth share) and Sobol' points (the breadth share)."""
        n_b = int(round(self._breadth * n))
        parts = [RandomSobol().candidates(state, n_b)] if n_b else []
        if n - n_b:
            parts.append(self._steep_points(state, n - n_b))
        return np.vstack(parts)

    def _moves(self, state: LearnerState, centres: np.ndarray, radius: np.ndarray, k: int = 1) -> np.ndarray:
        step = state.rng.normal(size=(len(centres), k, state.box.dim)) * radius[:, None, None]
        return np.clip(centres[:, None, :] + step, 0.0, 1.0).reshape(-1, state.box.dim)

    def propose(self, state: LearnerState, n: int) -> Proposal:
        assert state.oracle is not None
        box = state.box
        calls_before = state.oracle.calls
        n_b = min(n, max(1, int(round(self._breadth * n))))
        if self.breadth_by == "igs":  # improved greedy sampling instead of Sobol' points
            from .baselines import ImprovedGreedy

            breadth = ImprovedGreedy(pool=self.pool).propose(state, n_b)
        else:
            breadth = RandomSobol().propose(state, n_b)
        r_b = np.abs(state.surrogate.predict(breadth.X) - breadth.z)
        depth_budget = n - n_b
        if self.ascent == "gradient":
            depth = self._gradient(state, depth_budget)
        else:
            depth = self._hill_climb(state, breadth, r_b, depth_budget)
        parts = [breadth, depth]
        spent = state.oracle.calls - calls_before  # paid, trained on or not (gradients at known points too)
        if spent < n:  # a budget too small for one more ascent step: Sobol' points
            parts.append(RandomSobol().propose(state, n - spent))
        if self.adapt and len(depth.z):
            r_d = np.abs(state.surrogate.predict(depth.X) - depth.z)
            b, d = float(np.mean(r_b**2)), float(np.mean(r_d**2))
            share = b / (b + d) if b + d > 0 else 0.5
            self._breadth = float(np.clip(0.5 * (self._breadth + share), self.min_breadth, self.max_breadth))
        return concat(parts, box.dim)

    def _seeds(self, state: LearnerState, breadth: Proposal, r_b: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``m`` worst of the breadth points and the worst-fit training points (unit, residual)."""
        resid_tr = np.abs(state.surrogate.predict(state.X) - state.y)
        top_tr = np.argsort(-resid_tr, kind="stable")[:m]
        U = np.vstack([state.box.normalize(breadth.X), state.box.normalize(state.X[top_tr])])
        r = np.concatenate([r_b, resid_tr[top_tr]])
        order = np.argsort(-r, kind="stable")[:m]
        return U[order], r[order]

    def _steep_points(self, state: LearnerState, k: int) -> np.ndarray:
        """The ``k`` points of a fresh Sobol' pool (``pool``, at least 4k) where the surrogate is
        steepest: the unit-box norm of its input gradient, free (the fused native kernel), is the
        cheap signal that ranks the true error best (docs/active_learning.md)."""
        from ..kernels import mlp_value_and_grad

        box = state.box
        X = box.denormalize(sobol_unit(max(self.pool, 4 * k), box.dim, int(state.rng.integers(2**63))))
        G = mlp_value_and_grad(state.surrogate.export(np.float64), X, device="cpu").grad
        return X[np.argsort(-np.linalg.norm(np.asarray(G) * box.width, axis=1), kind="stable")[:k]]

    def _steepest(self, state: LearnerState, k: int) -> Proposal:
        """The steepest ``k`` pool points, priced."""
        assert state.oracle is not None
        X = self._steep_points(state, k)
        res = state.oracle.evaluate(X)
        return Proposal(X, np.array(res.price), np.array(res.stderr))

    def _hill_climb(self, state: LearnerState, breadth: Proposal, r_b: np.ndarray, budget: int) -> Proposal:
        oracle, box = state.oracle, state.box
        assert oracle is not None
        before = len(oracle.known()[0])
        climb = int(round(self.climb * budget))
        climb = climb if climb >= self.steps * self.moves else 0
        if budget - climb:  # the pool's steepest points, then (a ``climb`` share) the ascent
            steep = self._steepest(state, budget - climb)
            breadth = concat([breadth, steep], box.dim)
            r_b = np.concatenate([r_b, np.abs(state.surrogate.predict(steep.X) - steep.z)])
            budget = climb
        m = budget // (self.steps * self.moves)
        if m < 1:
            return paid_since(oracle, before)
        centre, best = self._seeds(state, breadth, r_b, m)
        radius = np.full(m, self.radius)
        for _ in range(self.steps):
            U = self._moves(state, centre, radius, self.moves)
            X = box.denormalize(U)
            z = np.asarray(oracle.evaluate(X).price)
            r = np.abs(state.surrogate.predict(X) - z).reshape(m, self.moves)
            j = np.argmax(r, axis=1)
            better = r[np.arange(m), j] > best
            centre = np.where(better[:, None], U.reshape(m, self.moves, -1)[np.arange(m), j], centre)
            best = np.where(better, r[np.arange(m), j], best)
            radius = np.where(better, radius, 0.5 * radius)
        self.last_maximizers = _merge(centre[np.argsort(-best, kind="stable")], self.merge_radius)
        return paid_since(oracle, before)

    def _gradient(self, state: LearnerState, budget: int) -> Proposal:
        oracle, box = state.oracle, state.box
        assert oracle is not None
        # Calls per seed and step: a native gradient evaluates one point, central differences 2d + 1.
        native = self.search.oracle_gradient == "native" or (self.search.oracle_gradient == "auto" and has_grad(oracle))
        per_seed = self.steps * (1 if native else 2 * box.dim + 1)
        m = budget // per_seed
        if m < 1:
            return concat([], box.dim)
        before = len(oracle.known()[0])
        resid = np.abs(state.surrogate.predict(state.X) - state.y)
        order = np.argsort(-resid, kind="stable")[: 4 * m]
        rows = state.rng.choice(order, size=min(m, len(order)), replace=False)
        U = box.normalize(state.X[rows])
        # A quarter of the seeds moved off their rows by a Levy step; with native gradients all of
        # them (a gradient at a training row would pay a call for no new point).
        k = m if native else m // 4
        U = np.vstack([U[: m - k], np.clip(U[m - k:] + self.levy_scale * levy_steps(state.rng, k, box.dim), 0, 1)])
        mx = find_error_maximizers(state.surrogate, oracle.child(m * per_seed), seeds=box.denormalize(U),
                                   search=self.search, seed=int(state.rng.integers(2**31)), device="cpu")
        paid = paid_since(oracle, before)
        self.last_maximizers = _merge(np.asarray(mx.unit).reshape(-1, box.dim), self.merge_radius)
        if self.keep_stencils or not len(mx):
            return paid
        # Only the maximizers, bit for bit from the ledger; a maximizer that is its own seed (a
        # training row already) is not added twice.
        from scipy.spatial import cKDTree

        _, idx = cKDTree(box.normalize(paid.X)).query(mx.unit)
        idx = np.unique(idx)
        have = {row.tobytes() for row in state.X}
        idx = idx[[paid.X[i].tobytes() not in have for i in idx]]
        return Proposal(paid.X[idx], paid.z[idx], paid.stderr[idx])
