"""What is priced: a single-barrier European option on one underlying.

The instrument is separate from the dynamics (``sg.GBM``/``sg.Heston``) and from the
engine (``sg.oracles.*``), as in QuantLib.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._validate import check_float

__all__ = ["BarrierOption", "BARRIER_KINDS", "OPTION_TYPES", "BarrierKind", "OptionType"]

BarrierKind = Literal["down-and-out", "down-and-in", "up-and-out", "up-and-in"]
OptionType = Literal["call", "put"]
BARRIER_KINDS: tuple[str, ...] = ("down-and-out", "down-and-in", "up-and-out", "up-and-in")
OPTION_TYPES: tuple[str, ...] = ("call", "put")


@dataclass(frozen=True)
class BarrierOption:
    """A continuously monitored single-barrier option without rebate.

    Args:
        kind: one of ``"down-and-out"``, ``"down-and-in"``, ``"up-and-out"``, ``"up-and-in"``.
        type: ``"call"`` or ``"put"``.
        spot: spot price S0 > 0 (the same for every parameter point).
        dividend: continuously compounded dividend yield q (finite).

    Strike, barrier, volatility, maturity and rate vary per point and are the five input
    columns of every oracle. A barrier already breached at the start (spot at or beyond it)
    makes an out option worth 0 and an in option worth the vanilla option.
    """

    kind: BarrierKind
    type: OptionType
    spot: float = 100.0
    dividend: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in BARRIER_KINDS:
            raise ValueError(f"kind: expected one of {BARRIER_KINDS}, got {self.kind!r}")
        if self.type not in OPTION_TYPES:
            raise ValueError(f"type: expected one of {OPTION_TYPES}, got {self.type!r}")
        for name in ("spot", "dividend"):  # Python or numpy numbers (check_float: one rule everywhere)
            object.__setattr__(self, name, check_float(getattr(self, name), name))
        if self.spot <= 0.0:
            raise ValueError(f"spot: expected > 0, got {self.spot!r}")

    @property
    def is_down(self) -> bool:
        return self.kind.startswith("down")

    @property
    def is_in(self) -> bool:
        return self.kind.endswith("-in")

    @property
    def is_call(self) -> bool:
        return self.type == "call"

    @property
    def code(self) -> int:
        """Integer code shared with the native kernels: bit0 up, bit1 in, bit2 put."""
        return (0 if self.is_down else 1) | (2 if self.is_in else 0) | (0 if self.is_call else 4)

    def __str__(self) -> str:
        return f"{self.kind} {self.type} (S0={self.spot:g}, q={self.dividend:g})"
