"""What every active-learning strategy shares: the state it reads, what it returns, the protocol.

A strategy's ``propose(state, n)`` spends at most ``n`` new oracle points through the learner's
``BudgetedOracle`` and returns every point it paid for, so that no oracle value bought on the way
is thrown away. A strategy that can choose points without the oracle also offers
``candidates(state, n)`` (the learner's ``ask``). A strategy with state of its own (an adapted
share) offers ``state_dict()`` / ``load_state_dict(d)`` (plain JSON values) for checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..box import Box, sobol_unit
from ..oracles.budgeted import BudgetedOracle

__all__ = ["Proposal", "LearnerState", "Strategy", "RandomSobol", "paid_since", "concat"]


@dataclass(frozen=True)
class Proposal:
    """Points a strategy paid for: X (k, d), their oracle values z (k,) and standard errors (k,)."""

    X: np.ndarray
    z: np.ndarray
    stderr: np.ndarray


@dataclass(frozen=True)
class LearnerState:
    """What a strategy may read: the box, the surrogate, the training set, the oracle, a rng.

    ``oracle`` is None when the learner is asked for points (``ask``) rather than run.
    """

    box: Box
    surrogate: Any
    X: np.ndarray
    y: np.ndarray
    oracle: BudgetedOracle | None
    rng: np.random.Generator
    round: int


class Strategy(Protocol):
    name: str

    def propose(self, state: LearnerState, n: int) -> Proposal: ...


def paid_since(oracle: BudgetedOracle, before: int) -> Proposal:
    """Every point ``oracle`` priced after its ledger held ``before`` points, in pricing order."""
    X, z, se = oracle.known()
    return Proposal(X[before:], z[before:], se[before:])


def concat(parts: list[Proposal], dim: int) -> Proposal:
    """One proposal of several (in order); an empty one of dimension ``dim`` when there are none."""
    if not parts:
        return Proposal(np.empty((0, dim)), np.empty(0), np.empty(0))
    return Proposal(np.vstack([p.X for p in parts]), np.concatenate([p.z for p in parts]),
                    np.concatenate([p.stderr for p in parts]))


class RandomSobol:
    """Scrambled Sobol' points, a fresh scramble per round (seeded by the learner's rng)."""

    name = "random"

    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        return state.box.denormalize(sobol_unit(n, state.box.dim, int(state.rng.integers(2**63))))

    def propose(self, state: LearnerState, n: int) -> Proposal:
        assert state.oracle is not None
        X = self.candidates(state, n)
        res = state.oracle.evaluate(X)
        return Proposal(X, np.array(res.price), np.array(res.stderr))
