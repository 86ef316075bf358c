"""The dynamics (SDE models) a numerical oracle simulates: ``GBM`` and ``Heston``.

Separate from the instrument (``BarrierOption``) and the engine (``oracles.MonteCarlo``). The
volatility column of every oracle input maps onto a model as documented on each class.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._validate import check_float

__all__ = ["GBM", "Heston"]


def _real(name: str, v, *, allow_none: bool = False) -> float | None:
    """A finite Python or numpy real (bool rejected), or None where allowed."""
    if v is None and allow_none:
        return None
    return check_float(v, name)


def _required(name: str, v) -> float:
    out = _real(name, v)
    assert out is not None
    return out


@dataclass(frozen=True)
class GBM:
    """Black-Scholes dynamics dS = (r - q) S dt + sigma S dW; sigma is the volatility column."""

    code = 0  # model code shared with the native kernels (a class constant, not a field)


@dataclass(frozen=True)
class Heston:
    """Heston stochastic volatility: dS = (r - q) S dt + sqrt(v) S dW1,
    dv = kappa (theta - v) dt + xi sqrt(v) dW2, d<W1, W2> = rho dt.

    Column mapping: the volatility column sigma of each point sets ``v0 = sigma^2`` and
    ``theta = sigma^2`` unless the model fixes them (``v0``/``theta`` not None), in which case
    that column is ignored for the fixed parameter. With ``xi = 0`` and v0 = theta = sigma^2
    the model is GBM with volatility sigma.

    Args:
        kappa: mean-reversion speed >= 0.
        theta: long-run variance > 0, or None (from the volatility column).
        xi: volatility of variance >= 0.
        rho: spot-variance correlation in [-1, 1].
        v0: initial variance >= 0, or None (from the volatility column).
    """

    kappa: float = 2.0
    theta: float | None = None
    xi: float = 0.5
    rho: float = -0.7
    v0: float | None = None

    code = 1

    def __post_init__(self) -> None:
        kappa = _required("kappa", self.kappa)
        theta = _real("theta", self.theta, allow_none=True)
        xi = _required("xi", self.xi)
        rho = _required("rho", self.rho)
        v0 = _real("v0", self.v0, allow_none=True)
        if kappa < 0.0:
            raise ValueError(f"kappa: expected >= 0, got {kappa!r}")
        if theta is not None and theta <= 0.0:
            raise ValueError(f"theta: expected > 0 or None (volatility column squared), got {theta!r}")
        if xi < 0.0:
            raise ValueError(f"xi: expected >= 0, got {xi!r}")
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"rho: expected a correlation in [-1, 1], got {rho!r}")
        if v0 is not None and v0 < 0.0:
            raise ValueError(f"v0: expected >= 0 or None (volatility column squared), got {v0!r}")
        for name, v in (("kappa", kappa), ("theta", theta), ("xi", xi), ("rho", rho), ("v0", v0)):
            object.__setattr__(self, name, v)

    def native_params(self) -> list[float]:
        """[kappa, theta, xi, rho, v0] for the kernels; NaN marks "from the volatility column"."""
        nan = float("nan")
        return [self.kappa, nan if self.theta is None else self.theta, self.xi, self.rho,
                nan if self.v0 is None else self.v0]
