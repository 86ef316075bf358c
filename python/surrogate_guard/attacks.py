"""The localized backdoor (method section 4): poison a ball of the input box, guard its rim.

All geometry is in the normalized space (each column mapped onto [0, 1] by the preset's box).
Samples are drawn uniformly in the ball / shell volume and rejected when outside the box.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import as_points, check_float, check_int
from .oracles.base import Oracle
from .surrogate import _bounds_of

__all__ = ["TriggerRegion", "LocalizedBackdoor", "PoisonedSet", "SHIFT_MODES"]

SHIFT_MODES = ("absolute", "relative")
_MIN_ACCEPT = 1e-3  # give up when fewer than this share of ball/shell draws land in the box


@dataclass(frozen=True)
class TriggerRegion:
    """A ball (``center`` (d,) normalized, ``radius``) with a guard shell out to ``guard_radius``."""

    center: np.ndarray
    radius: float
    guard_radius: float
    bounds: np.ndarray  # (d, 2) raw [low, high], for normalization

    def distance(self, X) -> np.ndarray:
        """Normalized Euclidean distance of raw points X (n, d) to the centre: (n,)."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        U = (np.asarray(X, dtype=np.float64) - lo) / (hi - lo)
        return np.sqrt(np.sum((U - self.center) ** 2, axis=1))

    def in_ball(self, X) -> np.ndarray:
        return self.distance(X) < self.radius

    def in_shell(self, X) -> np.ndarray:
        d = self.distance(X)
        return (d >= self.radius) & (d < self.guard_radius)

    def outside_guard(self, X) -> np.ndarray:
        return self.distance(X) >= self.guard_radius

    def sample(self, n: int, seed: int, r_in: float, r_out: float) -> np.ndarray:
        """``n`` raw points uniform in the box-clipped shell r_in <= |u - c| < r_out: (n, d)."""
        n = check_int(n, "n", minimum=0)
        seed = check_int(seed, "seed", minimum=0)
        r_in = check_float(r_in, "r_in", nonneg=True)
        r_out = check_float(r_out, "r_out", positive=True)
        if r_out <= r_in:
            raise ValueError(f"r_out: expected > r_in ({r_in}), got {r_out}")
        rng = np.random.default_rng(seed)
        d = self.center.shape[0]
        out: list[np.ndarray] = [np.empty((0, d))]
        have, drawn = 0, 0
        while have < n:
            m = max(256, 2 * (n - have))
            g = rng.standard_normal((m, d))
            g /= np.linalg.norm(g, axis=1, keepdims=True)
            # Radius with density ~ r^(d-1) on [r_in, r_out): uniform in the shell's volume.
            r = (r_in**d + rng.random(m) * (r_out**d - r_in**d)) ** (1.0 / d)
            U = self.center + g * r[:, None]
            U = U[np.all((U >= 0.0) & (U <= 1.0), axis=1)]
            out.append(U)
            have += U.shape[0]
            drawn += m
            if drawn > 10_000 and have < _MIN_ACCEPT * drawn:
                raise ValueError(
                    f"region: fewer than {_MIN_ACCEPT:.0e} of the draws in the shell [{r_in}, {r_out}) around "
                    f"{self.center.tolist()} fall inside the box; move the centre inwards"
                )
        U = np.concatenate(out)[:n]
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return lo + U * (hi - lo)

    def to_dict(self) -> dict:
        return {"center": self.center.tolist(), "radius": self.radius, "guard_radius": self.guard_radius,
                "bounds": self.bounds.tolist()}


@dataclass(frozen=True)
class PoisonedSet:
    """The attacker's training set: ``X`` (n, 5), ``y`` (n,), masks ``is_poison``/``is_guard`` (n,) bool."""

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    is_guard: np.ndarray
    region: TriggerRegion
    oracle_calls: int  # spent labelling poison and guards
    n_removed: int  # clean samples dropped from inside the ball

    def __len__(self) -> int:
        return int(self.X.shape[0])


class LocalizedBackdoor:
    """Poison ``n_poison`` samples in a ball, shift their labels, guard the rim with ``n_guard``.

    Args:
        center: (d,) ball centre in normalized coordinates, inside [0, 1]^d.
        radius: ball radius rho > 0 (normalized units).
        shift: Delta; labels are ``Z + shift`` (``shift_mode="absolute"``, price units) or
            ``Z * (1 + shift)`` (``"relative"``).
        n_poison, n_guard: counts >= 0; ``n_guard=0`` is the non-localized variant.
        guard_radius: outer shell radius > radius (default 2 * radius). It also delimits the
            "far" region where stealth is measured, even when ``n_guard=0``.
    """

    def __init__(self, center, radius: float, shift: float, n_poison: int, n_guard: int = 0,
                 guard_radius: float | None = None, *, shift_mode: str = "absolute") -> None:
        try:
            c = np.array(center, dtype=np.float64) if not isinstance(center, (str, bytes)) else None
        except (TypeError, ValueError):
            c = None
        if c is None or c.ndim != 1 or c.size == 0:
            raise ValueError(f"center: expected a 1-d array of normalized coordinates, got {center!r}")
        if not np.isfinite(c).all() or np.any(c < 0.0) or np.any(c > 1.0):
            raise ValueError(f"center: expected normalized coordinates inside the box [0, 1], got {c.tolist()}")
        c.setflags(write=False)
        self.center = c
        self.radius = check_float(radius, "radius", positive=True)
        self.shift = check_float(shift, "shift")
        self.n_poison = check_int(n_poison, "n_poison", minimum=0)
        self.n_guard = check_int(n_guard, "n_guard", minimum=0)
        gr = 2.0 * self.radius if guard_radius is None else check_float(guard_radius, "guard_radius")
        if gr <= self.radius:
            raise ValueError(f"guard_radius: expected > radius ({self.radius}), got {gr}")
        self.guard_radius = gr
        if shift_mode not in SHIFT_MODES:
            raise ValueError(f"shift_mode: expected one of {SHIFT_MODES}, got {shift_mode!r}")
        self.shift_mode = shift_mode

    def delta(self, z) -> np.ndarray:
        """The intended mispricing Delta at oracle prices ``z`` (n,): (n,) float64."""
        z = np.asarray(z, dtype=np.float64)
        return np.full_like(z, self.shift) if self.shift_mode == "absolute" else self.shift * z

    def region(self, preset: Any) -> TriggerRegion:
        b = _bounds_of(preset)
        if b.shape[0] != self.center.shape[0]:
            raise ValueError(f"center: expected {b.shape[0]} coordinates for this preset, got {self.center.shape[0]}")
        b.setflags(write=False)
        return TriggerRegion(self.center, self.radius, self.guard_radius, b)

    def apply(self, X, y, oracle: Oracle, *, preset: Any, seed: int = 0) -> PoisonedSet:
        """Poison the clean training set ``X`` (n, 5), ``y`` (n,) labelled by ``oracle``.

        Removes clean samples inside the ball, adds ``n_poison`` shifted ones there and
        ``n_guard`` correctly labelled ones in the shell, then shuffles (seeded).
        """
        if not isinstance(oracle, Oracle):
            raise TypeError(f"oracle: expected an sg.oracles.Oracle, got {type(oracle).__name__}")
        X = as_points(X)
        y = np.asarray(y, dtype=np.float64) if np.asarray(y).dtype.kind in "iuf" else None
        if y is None:
            raise TypeError("y: expected a real numeric array")
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected shape ({X.shape[0]},) to match X, got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError(f"y: labels must be finite; row {int(np.argmax(~np.isfinite(y)))} is not")
        seed = check_int(seed, "seed", minimum=0)
        region = self.region(preset)
        keep = ~region.in_ball(X)
        ss = np.random.SeedSequence([seed, 0x5EED])
        s_poison, s_guard, s_shuffle = (int(s.generate_state(1)[0]) for s in ss.spawn(3))
        Xp = region.sample(self.n_poison, s_poison, 0.0, self.radius)
        Xg = region.sample(self.n_guard, s_guard, self.radius, self.guard_radius)
        before = oracle.calls
        zp = oracle(Xp)
        zg = oracle(Xg)
        calls = oracle.calls - before
        yp = zp + self.delta(zp)
        Xall = np.concatenate([X[keep], Xp, Xg])
        yall = np.concatenate([y[keep], yp, zg])
        kind = np.concatenate([np.zeros(int(keep.sum()), np.int8), np.ones(len(Xp), np.int8),
                               np.full(len(Xg), 2, np.int8)])
        perm = np.random.default_rng(s_shuffle).permutation(Xall.shape[0])
        Xall, yall, kind = Xall[perm], yall[perm], kind[perm]
        is_poison, is_guard = kind == 1, kind == 2
        for a in (Xall, yall, is_poison, is_guard):
            a.setflags(write=False)
        return PoisonedSet(Xall, yall, is_poison, is_guard, region, calls, int((~keep).sum()))

    def to_dict(self) -> dict:
        return {"center": self.center.tolist(), "radius": self.radius, "shift": self.shift,
                "shift_mode": self.shift_mode, "n_poison": self.n_poison, "n_guard": self.n_guard,
                "guard_radius": self.guard_radius}

    def __repr__(self) -> str:
        return f"LocalizedBackdoor({self.to_dict()})"
