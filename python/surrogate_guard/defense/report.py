"""What a detection found and what it cost: ``DetectionReport`` and ``DetectionCost``.

``detect`` and every baseline fill the same two classes, so readers compare them field by field.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .search import Maximizers

__all__ = ["DetectionCost", "DetectionReport", "RepairMode", "HitBy"]

RepairMode = Literal["drop", "relabel"]
HitBy = Literal["any", "maximizer", "confirmed"]


@dataclass(frozen=True)
class DetectionCost:
    """Oracle calls per stage and in total, kernel steps, wall seconds per stage.

    ``relabel_all_calls`` is what checking every training row would cost; ``fraction_of_relabel_all``
    the share of it spent. ``calls_free_seed_checks``: label checks that cost nothing (seeds that
    are training rows, priced by the search anyway). ``inference``: what the local model did.
    ``grad_calls``: how many of the calls were native gradient evaluations (the search's, when the
    oracle has them); ``price_equivalents``: the calls with those weighted by ``grad_ratio``, their
    measured time over a price's. ``checks_inconclusive``: checked rows whose oracle value was
    unreliable (Monte Carlo), so not judged.
    """

    oracle_calls: int
    oracle_calls_search: int
    oracle_calls_check: int
    oracle_budget: int
    relabel_all_calls: int
    kernel_steps: int = 0
    calls_free_seed_checks: int = 0
    signals_s: float = 0.0
    search_s: float = 0.0
    check_s: float = 0.0
    infer_s: float = 0.0
    total_s: float = 0.0
    inference: dict = field(default_factory=dict)
    grad_calls: int = 0
    price_equivalents: float = float("nan")
    grad_ratio: float | None = None
    checks_inconclusive: int = 0

    @property
    def fraction_of_relabel_all(self) -> float:
        return self.oracle_calls / self.relabel_all_calls if self.relabel_all_calls else 0.0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "fraction_of_relabel_all": self.fraction_of_relabel_all}

    def __getitem__(self, key: str) -> Any:
        """Deprecated (0.1.0 returned a dict): ``cost["oracle_calls"]`` is ``cost.oracle_calls``."""
        warnings.warn("DetectionReport.cost is a DetectionCost: use attributes (cost.oracle_calls) or "
                      "cost.to_dict()", DeprecationWarning, stacklevel=2)
        return self.to_dict()[key]


@dataclass(frozen=True)
class DetectionReport:
    """What ``detect`` (or a baseline) found and what it cost.

    flagged: indices into ``maximizers`` judged suspicious (large error, dense data).
    suspects: training-row indices reported poisoned: ``confirmed`` (label checked against the
        oracle) plus ``inferred`` (label far from a local model of the oracle; not priced).
    checked: training-row indices whose label was checked; ``oracle_values`` the oracle there.
    """

    maximizers: Maximizers
    flagged: np.ndarray
    suspects: np.ndarray
    checked: np.ndarray
    oracle_values: np.ndarray
    cost: DetectionCost
    settings: dict
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    confirmed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    inferred: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    # -- judged against the truth (experiments know it; a defender does not) -------------------
    def counts(self, is_poison: Any) -> dict:
        """True/false positives and negatives of the suspects against a (n,) bool truth, with rates."""
        p = np.asarray(is_poison, dtype=bool)
        if p.shape != self.y_train.shape:
            raise ValueError(f"is_poison: expected a ({len(self.y_train)},) bool mask, got shape {p.shape}")
        tp = int(np.count_nonzero(p[self.suspects]))
        fp = int(len(self.suspects) - tp)
        n_p, n_c = int(p.sum()), int((~p).sum())
        return {"true_positives": tp, "false_positives": fp, "false_negatives": n_p - tp, "n_poison": n_p,
                "n_clean": n_c, "recall": tp / n_p if n_p else float("nan"),
                "false_positive_rate": fp / n_c if n_c else 0.0}

    def recall(self, is_poison: Any) -> float:
        """Share of truly poisoned rows reported as suspects (nan without poisoned rows)."""
        return self.counts(is_poison)["recall"]

    def false_positive_rate(self, is_poison: Any) -> float:
        """Share of clean rows wrongly reported as suspects."""
        return self.counts(is_poison)["false_positive_rate"]

    def region_hit(self, region: Any, radius_factor: float = 1.0, by: HitBy = "any", *,
                   maximizers_only: bool | None = None) -> bool:
        """Whether the defense reached a region (a ``TriggerRegion``, built by an attack or by hand):
        a flagged maximizer (``by="maximizer"``), a confirmed suspect row (``"confirmed"``) or either
        (``"any"``) within ``radius_factor`` x the ball's radius."""
        if maximizers_only is not None:  # deprecated (0.1.0), see CHANGELOG.md
            warnings.warn("region_hit(maximizers_only=...) is deprecated; use by='maximizer'", DeprecationWarning,
                          stacklevel=2)
            by = "maximizer" if maximizers_only else "any"
        if by not in ("any", "maximizer", "confirmed"):
            raise ValueError(f"by: expected 'any', 'maximizer' or 'confirmed', got {by!r}")
        d = self.X_train.shape[1]
        parts = []
        if by in ("any", "maximizer"):
            parts.append(self.maximizers.points[self.flagged])
        if by in ("any", "confirmed"):
            parts.append(self.X_train[self.confirmed])
        pts = np.vstack(parts) if parts else np.empty((0, d))
        return bool(len(pts)) and bool(np.any(region.distance(pts) <= radius_factor * region.radius))

    # -- the defender's use of it ---------------------------------------------------------------
    def cleaned(self, mode: RepairMode = "drop") -> tuple[np.ndarray, np.ndarray]:
        """The training set with suspects dropped (``"drop"``) or relabelled with their oracle
        value (``"relabel"``: confirmed suspects; inferred ones, never priced, are dropped)."""
        if mode not in ("drop", "relabel"):
            raise ValueError(f"mode: expected 'drop' or 'relabel', got {mode!r}")
        keep = np.ones(len(self.y_train), dtype=bool)
        if mode == "drop":
            keep[self.suspects] = False
            return self.X_train[keep], self.y_train[keep]
        y = self.y_train.copy()
        pos = {int(r): i for i, r in enumerate(self.checked)}
        y[self.confirmed] = self.oracle_values[[pos[int(r)] for r in self.confirmed]]
        keep[self.inferred] = False
        return self.X_train[keep], y[keep]

    def repair(self, surrogate: Any, *, mode: RepairMode = "drop", **fit_kwargs: Any):
        """Retrain a surrogate like ``surrogate`` (same box, scaling, widths, activation) on the cleaned set."""
        X, y = self.cleaned(mode)
        fresh = surrogate.like(seed=fit_kwargs.get("seed", 0))
        fresh.fit(X, y, **fit_kwargs)
        return fresh

    def to_dict(self) -> dict:
        mx = self.maximizers
        return {
            "flagged": [{"point": mx.points[i].tolist(), "error": float(mx.error[i]),
                         "abs_error": float(np.sqrt(mx.error[i])), "n_near": int(mx.n_near[i])} for i in self.flagged],
            "n_maximizers": len(mx),
            "n_suspects": int(len(self.suspects)),
            "n_confirmed": int(len(self.confirmed)),
            "n_inferred": int(len(self.inferred)),
            "n_checked": int(len(self.checked)),
            "cost": self.cost.to_dict(),
            "settings": self.settings,
        }
