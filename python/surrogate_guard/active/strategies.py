"""Where an active learner queries the oracle next: strategies behind one interface, by name.

The protocol and the shared types live in ``base.py`` (re-exported here).

- ``"random"``: scrambled Sobol' points of the box (scipy.stats.qmc), the honest baseline.
- ``"error-maximizers"``: local maximizers of the true error |Y - Z|^2 (maximizers.py).
- ``"greedy-x"``, ``"igs"``, ``"committee"``: the published baselines (baselines.py): greedy
  input-space sampling, improved greedy sampling (Wu, Lin and Huang 2019) and query by committee.
"""
from __future__ import annotations

from typing import Any, Literal

from .base import LearnerState, Proposal, RandomSobol, Strategy
from .maximizers import ErrorMaximizers

__all__ = ["StrategyName", "STRATEGIES", "Proposal", "LearnerState", "Strategy", "RandomSobol", "ErrorMaximizers",
           "make_strategy"]

StrategyName = Literal["random", "error-maximizers", "greedy-x", "igs", "committee"]
STRATEGIES: tuple[str, ...] = ("random", "error-maximizers", "greedy-x", "igs", "committee")


def make_strategy(name: StrategyName | Strategy | Any, options: dict | None = None) -> Strategy:
    """A strategy by name (``STRATEGIES``) with constructor ``options``, or the strategy object itself."""
    if not isinstance(name, str):
        if not hasattr(name, "propose"):
            raise TypeError(f"strategy: expected one of {STRATEGIES} or an object with propose(state, n), "
                            f"got {type(name).__name__}")
        if options:
            raise ValueError("strategy options: only with a strategy given by name")
        return name
    if name not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}, got {name!r}")
    options = dict(options or {})
    if name == "random":
        cls: Any = RandomSobol
    elif name == "error-maximizers":
        cls = ErrorMaximizers
    else:
        from . import baselines

        cls = {"greedy-x": baselines.GreedyX, "igs": baselines.ImprovedGreedy, "committee": baselines.Committee}[name]
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValueError(f"strategy options for {name!r}: {exc}") from None
