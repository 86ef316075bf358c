"""Problem presets: the instrument plus the box of inputs a surrogate is trained on.

Distances in the method (radii, neighbourhoods) are measured in the normalized space: each
column mapped affinely onto [0, 1] by the preset's box (``normalize``/``denormalize``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validate import COLUMNS, check_int
from .options import BarrierOption

__all__ = ["Preset", "get", "names"]


@dataclass(frozen=True)
class Preset:
    """A named problem: ``option``, column ``names`` and ``bounds`` (5, 2) float64 [low, high]."""

    name: str
    option: BarrierOption
    bounds: np.ndarray
    names: tuple[str, ...] = field(default=COLUMNS)

    def __post_init__(self) -> None:
        b = np.array(self.bounds, dtype=np.float64)
        if b.shape != (len(COLUMNS), 2) or not np.all(b[:, 1] > b[:, 0]):
            raise ValueError(f"bounds: expected (5, 2) with high > low, got {b!r}")
        b.setflags(write=False)
        object.__setattr__(self, "bounds", b)

    @property
    def dim(self) -> int:
        return len(self.names)

    def sample(self, n: int, seed: int = 0, method: str = "uniform") -> np.ndarray:
        """Draw ``n`` points of the box: (n, 5) float64.

        ``method="uniform"`` (i.i.d., numpy's PCG64 from ``seed``) or ``"sobol"`` (scrambled
        Sobol' from scipy, seeded; any n, not only powers of two).
        """
        n = check_int(n, "n", minimum=0)
        seed = check_int(seed, "seed", minimum=0)
        if method == "uniform":
            u = np.random.default_rng(seed).random((n, self.dim))
        elif method == "sobol":
            from scipy.stats import qmc

            u = qmc.Sobol(d=self.dim, scramble=True, seed=seed).random(n) if n else np.empty((0, self.dim))
        else:
            raise ValueError(f"method: expected 'uniform' or 'sobol', got {method!r}")
        return self.denormalize(u)

    def normalize(self, X: np.ndarray) -> np.ndarray:
        """Map inputs (n, 5) onto the unit box by the preset's bounds."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return (np.asarray(X, dtype=np.float64) - lo) / (hi - lo)

    def denormalize(self, U: np.ndarray) -> np.ndarray:
        """Inverse of ``normalize``: (n, 5) unit-box coordinates to inputs."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return lo + np.asarray(U, dtype=np.float64) * (hi - lo)


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
