"""Where an active learner queries the oracle next: strategies behind one interface.

A strategy's ``propose(state, n)`` spends at most ``n`` new oracle points through the learner's
``BudgetedOracle`` and returns every point it paid for, so that no oracle value bought on the
way (an ascent's stencil points included) is thrown away.

- ``"random"``: scrambled Sobol' points of the box (scipy.stats.qmc), the honest baseline.
- ``"error-maximizers"``: local maximizers of the true error |Y - Z|^2 by the batched ascent of
  ``defense.search``. Depth: the ascent starts from the training points the surrogate fits
  worst (free: their labels are known). Breadth: Levy-flight moves around them and a share of
  quasi-random starts. The stencil points and the maximizers all enter the training set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from ..box import Box, sobol_unit
from ..defense.search import find_error_maximizers
from ..defense.seeding import levy_steps
from ..defense.settings import SearchSettings
from ..oracles.budgeted import BudgetedOracle

__all__ = ["StrategyName", "STRATEGIES", "Proposal", "LearnerState", "Strategy", "RandomSobol", "ErrorMaximizers",
           "make_strategy"]

StrategyName = Literal["random", "error-maximizers"]
STRATEGIES: tuple[str, ...] = ("random", "error-maximizers")


@dataclass(frozen=True)
class Proposal:
    """Points a strategy paid for: X (k, d), their oracle values z (k,) and standard errors (k,)."""

    X: np.ndarray
    z: np.ndarray
    stderr: np.ndarray


@dataclass(frozen=True)
class LearnerState:
    """What a strategy may read: the box, the surrogate, the training set, the oracle, a rng."""

    box: Box
    surrogate: Any
    X: np.ndarray
    y: np.ndarray
    oracle: BudgetedOracle
    rng: np.random.Generator
    round: int


class Strategy(Protocol):
    name: str

    def propose(self, state: LearnerState, n: int) -> Proposal: ...


def _paid_since(oracle: BudgetedOracle, before: int) -> Proposal:
    X, z, se = oracle.known()
    return Proposal(X[before:], z[before:], se[before:])


class RandomSobol:
    """Scrambled Sobol' points, a fresh scramble per round (seeded by the learner's rng)."""

    name = "random"

    def propose(self, state: LearnerState, n: int) -> Proposal:
        X = state.box.denormalize(sobol_unit(n, state.box.dim, int(state.rng.integers(2**63))))
        res = state.oracle.evaluate(X)
        return Proposal(X, np.array(res.price), np.array(res.stderr))


@dataclass
class ErrorMaximizers:
    """Ascent on |Y - Z|^2 from the worst-fit training points (depth), Levy moves around them and
    quasi-random starts (breadth); the breadth share of the seeds is ``breadth`` (Levy and Sobol
    halves).

    ``search_share`` of a round's ``n`` points goes to the search: each seed costs ``steps`` x
    (2d + 1) oracle points, so it runs search_share n // (steps (2d + 1)) seeds. The rest of ``n``
    is spent on Sobol' points, which keep the training set covering the whole box (the search's
    stencils are tight clusters).
    """

    steps: int = 4
    breadth: float = 0.25
    levy_scale: float = 0.05
    lr: float = 0.05
    search_share: float = 0.5
    keep_stencils: bool = True  # False: only the maximizers (and the Sobol' points) enter the training set
    name: str = "error-maximizers"

    def __post_init__(self) -> None:
        for name in ("breadth", "search_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: expected a share in [0, 1], got {v!r}")
        self.search = SearchSettings(steps=self.steps, lr=self.lr, decay=0.5, decay_every=2)

    def _seeds(self, state: LearnerState, m: int) -> np.ndarray:
        box, rng = state.box, state.rng
        n_breadth = int(round(self.breadth * m))
        n_depth = m - n_breadth
        resid = np.abs(state.surrogate.predict(state.X) - state.y)
        order = np.argsort(-resid, kind="stable")[: max(n_depth, 4 * n_depth)]
        depth_rows = rng.choice(order, size=min(n_depth, len(order)), replace=False)
        U = [box.normalize(state.X[depth_rows])]
        n_levy = n_breadth // 2
        if n_levy:
            base = box.normalize(state.X[rng.choice(order, size=n_levy)])
            U.append(np.clip(base + self.levy_scale * levy_steps(rng, n_levy, box.dim), 0.0, 1.0))
        n_sobol = m - sum(len(u) for u in U)
        if n_sobol > 0:
            U.append(sobol_unit(n_sobol, box.dim, int(rng.integers(2**63))))
        return box.denormalize(np.vstack(U))

    def propose(self, state: LearnerState, n: int) -> Proposal:
        before = len(state.oracle.known()[0])
        per_seed = self.steps * (2 * state.box.dim + 1)
        m = int(self.search_share * n) // per_seed
        mx = None
        if m >= 1:
            child = state.oracle.child(m * per_seed)
            mx = find_error_maximizers(state.surrogate, child, seeds=self._seeds(state, m), search=self.search,
                                       seed=int(state.rng.integers(2**31)), device="cpu")
        spent = len(state.oracle.known()[0]) - before
        sobol = RandomSobol().propose(state, n - spent) if n - spent > 0 else None
        if self.keep_stencils or mx is None:
            return _paid_since(state.oracle, before)
        # Each maximizer is a point the search priced: take it (and its value) from the ledger,
        # bit for bit, rather than re-deriving it from unit coordinates; a maximizer that is its
        # own seed, a training row already, is not added twice.
        from scipy.spatial import cKDTree

        paid = _paid_since(state.oracle, before)
        if len(mx):
            _, idx = cKDTree(state.box.normalize(paid.X)).query(mx.unit)
            idx = np.unique(idx)
            have = {row.tobytes() for row in state.X}
            idx = idx[[paid.X[i].tobytes() not in have for i in idx]]
        else:
            idx = np.empty(0, dtype=np.int64)
        parts = [Proposal(paid.X[idx], paid.z[idx], paid.stderr[idx])] + ([sobol] if sobol else [])
        return Proposal(np.vstack([p.X for p in parts]), np.concatenate([p.z for p in parts]),
                        np.concatenate([p.stderr for p in parts]))


def make_strategy(name: StrategyName | Strategy) -> Strategy:
    """A strategy by name (``STRATEGIES``), or the strategy object itself."""
    if not isinstance(name, str):
        if not hasattr(name, "propose"):
            raise TypeError(f"strategy: expected one of {STRATEGIES} or an object with propose(state, n), "
                            f"got {type(name).__name__}")
        return name
    if name == "random":
        return RandomSobol()
    if name == "error-maximizers":
        return ErrorMaximizers()
    raise ValueError(f"strategy: expected one of {STRATEGIES}, got {name!r}")
