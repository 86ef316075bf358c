"""Where the ascent starts: oracle-free signals over the training set, and exploration moves.

Strategies (``SEED_STRATEGIES``): "random" (uniform restarts), "density" (densest training
points), "residual" (training points where the surrogate disagrees with its own label, weighted
by density), "gradient" (largest surrogate input-gradient norm), "disagreement" (label far from
the median of its neighbours' labels), "levy" (Levy flights around the best of the others),
"mixed" (the default: residual, density and gradient ranks 2/8 each, disagreement 1/8, and a
Levy share of 1/8).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .training import TrainingView

Strategy = Literal["random", "density", "residual", "gradient", "disagreement", "levy", "mixed"]
SEED_STRATEGIES: tuple[str, ...] = ("random", "density", "residual", "gradient", "disagreement", "levy", "mixed")


def levy_steps(rng: np.random.Generator, m: int, d: int, beta: float = 1.5) -> np.ndarray:
    """(m, d) Levy-stable steps by Mantegna's algorithm (heavy tails: mostly short, some long)."""
    sig = (math.gamma(1 + beta) * math.sin(math.pi * beta / 2)
           / (math.gamma((1 + beta) / 2) * beta * 2 ** ((beta - 1) / 2))) ** (1 / beta)
    u = rng.normal(0.0, sig, (m, d))
    v = rng.normal(0.0, 1.0, (m, d))
    return u / np.abs(v) ** (1 / beta)


class TrainingSignals:
    """Cheap per-row signals on the training set (unit box coordinates), computed once.

    ``view``: the ``TrainingView`` (its KD-tree is reused, not rebuilt); ``y_surrogate`` (n,) the
    surrogate at the rows; ``grad_norm`` (n,) the unit-box norm of its input gradient there.
    """

    def __init__(self, view: TrainingView, y_surrogate: np.ndarray, grad_norm: np.ndarray, k: int = 16,
                 density_radius: float = 0.1) -> None:
        self.view = view
        self.unit = view.unit
        y_train = view.y
        k = min(k + 1, len(view))
        _, nbr = view.tree.query(view.unit, k=k)
        nbr = nbr[:, 1:] if k > 1 else nbr
        self.density = view.count_near(view.unit, density_radius) - 1
        self.residual = np.abs(y_surrogate - y_train)
        self.disagreement = np.abs(y_train - np.median(y_train[nbr], axis=1)) if k > 1 else np.zeros(len(y_train))
        self.grad_norm = grad_norm

    def ranked(self, name: str) -> np.ndarray:
        """Row indices, best seed first, for one signal."""
        dens = np.log1p(np.maximum(self.density, 0))
        score = {
            "density": self.density.astype(float),
            "residual": self.residual * dens,
            "gradient": self.grad_norm * dens,
            "disagreement": self.disagreement * dens,
        }[name]
        return np.argsort(-score, kind="stable")


def choose_seeds(strategy: Strategy, m: int, signals: TrainingSignals | None, d: int,
                 rng: np.random.Generator, *, spread: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Seeds: (m, d) unit-box points and (m,) the training row each one is (-1 if none).

    Ranked strategies sample m distinct rows among the top ``spread * m`` so that near-duplicates
    of one hot spot do not take every seed. A seed that is a training row gets its label checked
    for free: the ascent prices it at step 0 anyway.
    """
    if strategy not in SEED_STRATEGIES:
        raise ValueError(f"strategy: expected one of {SEED_STRATEGIES}, got {strategy!r}")
    none = np.full(m, -1, dtype=np.int64)
    if strategy == "random" or signals is None:
        return rng.random((m, d)), none

    def top(name: str, k: int, exclude=()) -> np.ndarray:
        order = signals.ranked(name)
        if len(exclude):
            order = order[~np.isin(order, exclude)]
        order = order[: max(k, spread * k)]
        return rng.choice(order, size=min(k, len(order)), replace=False)

    if strategy in ("density", "residual", "gradient", "disagreement"):
        rows = top(strategy, m)
        return signals.unit[rows], rows
    if strategy == "levy":
        rows = top("residual", m)
        return np.clip(signals.unit[rows] + 0.05 * levy_steps(rng, len(rows), d), 0.0, 1.0), np.full(len(rows), -1)
    # mixed: every cheap signal gets a share (largest remainder), Levy moves add breadth.
    counts = _split(m, MIXED_SHARES)
    rows = np.empty(0, dtype=np.int64)
    for name, k in counts.items():
        if name != "levy" and k:
            rows = np.concatenate([rows, top(name, k, rows)])
    k_levy = counts["levy"]
    base = signals.unit[top("residual", k_levy)] if k_levy else np.empty((0, d))
    levy = np.clip(base + 0.05 * levy_steps(rng, len(base), d), 0.0, 1.0)
    return (np.vstack([signals.unit[rows], levy]),
            np.concatenate([rows, np.full(len(levy), -1)]).astype(np.int64))


# Shares of the seeds in the "mixed" strategy.
MIXED_SHARES = {"residual": 2, "density": 2, "gradient": 2, "disagreement": 1, "levy": 1}


def _split(m: int, shares: dict[str, int]) -> dict[str, int]:
    """m seeds split in proportion to ``shares`` by largest remainder (ties: dict order)."""
    total = sum(shares.values())
    exact = {k: m * v / total for k, v in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: -(exact[k] - counts[k]))[: m - sum(counts.values())]:
        counts[k] += 1
    return counts
