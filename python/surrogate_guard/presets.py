"""Problem presets: the instrument plus the box of inputs a surrogate is trained on.

Distances in the method (radii, neighbourhoods) are measured in the normalized space: each
column mapped affinely onto [0, 1] by the preset's ``box`` (an ``sg.Box``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._validate import COLUMNS
from .box import Box, SamplingMethod
from .options import BarrierOption

__all__ = ["Preset", "OracleKind", "get", "names"]

OracleKind = Literal["analytic", "finite_difference", "monte_carlo"]


@dataclass(frozen=True)
class Preset:
    """A named problem: ``option``, and the ``box`` (an ``sg.Box`` over the five oracle columns)
    built from ``bounds`` (5, 2) float64 [low, high] and column ``names``."""

    name: str
    option: BarrierOption
    bounds: np.ndarray
    names: tuple[str, ...] = field(default=COLUMNS)
    box: Box = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        b = np.array(self.bounds, dtype=np.float64)
        if b.shape != (len(COLUMNS), 2) or not np.all(b[:, 1] > b[:, 0]):
            raise ValueError(f"bounds: expected (5, 2) with high > low, got {b!r}")
        b.setflags(write=False)
        object.__setattr__(self, "bounds", b)
        object.__setattr__(self, "box", Box.from_bounds(b, tuple(self.names)))

    @property
    def dim(self) -> int:
        return self.box.dim

    def sample(self, n: int, seed: int = 0, method: SamplingMethod = "uniform") -> np.ndarray:
        """Draw ``n`` points of the box: (n, 5) float64 (``Box.sample``: "uniform" or "sobol", seeded)."""
        return self.box.sample(n, seed, method)

    def normalize(self, X: np.ndarray) -> np.ndarray:
        """Map inputs (n, 5) onto the unit box (``Box.normalize``)."""
        return self.box.normalize(X)

    def denormalize(self, U: np.ndarray) -> np.ndarray:
        """Inverse of ``normalize`` (``Box.denormalize``)."""
        return self.box.denormalize(U)

    def oracle(self, kind: OracleKind = "analytic", **options: Any):
        """An oracle of this preset's option on its box: ``"analytic"``, ``"finite_difference"`` or
        ``"monte_carlo"`` (``options`` go to its constructor)."""
        from . import oracles

        engines = {"analytic": oracles.Analytic, "finite_difference": oracles.FiniteDifference,
                   "monte_carlo": oracles.MonteCarlo}
        if kind not in engines:
            raise ValueError(f"kind: expected one of {tuple(engines)}, got {kind!r}")
        return engines[kind](self.option, box=self.box, **options)


_PRESETS = {
    "paper": Preset(
        "paper",
        BarrierOption("down-and-out", "put", spot=100.0, dividend=0.0),
        np.array([[50.0, 200.0], [10.0, 100.0], [0.01, 1.0], [0.002, 5.0], [0.0, 0.10]]),
    ),
    "mild": Preset(
        "mild",
        BarrierOption("down-and-out", "put", spot=100.0, dividend=0.0),
        np.array([[50.0, 150.0], [25.0, 75.0], [0.05, 0.5], [0.5, 2.0], [0.0, 0.10]]),
    ),
}


def names() -> tuple[str, ...]:
    """Names of the built-in presets."""
    return tuple(_PRESETS)


def get(name: str) -> Preset:
    """A built-in preset by name (``"paper"`` or ``"mild"``)."""
    try:
        return _PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"name: expected one of {names()}, got {name!r}") from None
