"""The localized backdoor (method section 4): poison a ball of the input box, guard its rim.

All geometry is in the unit box of a ``Box`` (any dimension). Samples are drawn uniformly in the
ball / shell volume and rejected when outside the box. A ``PoisonedSet`` can be attacked again:
every attack's masks are kept. A custom attack is any ``PoisonedSet.from_mask`` with a region.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._validate import check_float, check_int, check_labels
from .box import Box
from .oracles.base import OracleLike, check_oracle

__all__ = ["TriggerRegion", "LocalizedBackdoor", "PoisonedSet", "ShiftMode", "SHIFT_MODES"]

ShiftMode = Literal["absolute", "relative"]
SHIFT_MODES: tuple[str, ...] = ("absolute", "relative")
_MIN_ACCEPT = 1e-3  # give up when fewer than this share of ball/shell draws land in the box


@dataclass(frozen=True)
class TriggerRegion:
    """A ball (``center`` (d,) in unit-box coordinates, ``radius``) with a guard shell out to
    ``guard_radius``, in the unit box of ``box``."""

    center: np.ndarray
    radius: float
    guard_radius: float
    box: Box

    def __post_init__(self) -> None:
        box = Box.of(self.box, "box")
        c = np.array(self.center, dtype=np.float64)
        if c.shape != (box.dim,):
            raise ValueError(f"center: expected {box.dim} coordinates for this box, got shape {c.shape}")
        c.setflags(write=False)
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "box", box)

    @property
    def bounds(self) -> np.ndarray:
        return self.box.bounds

    def distance(self, X: Any) -> np.ndarray:
        """Unit-box Euclidean distance of raw points X (n, d) to the centre: (n,)."""
        return self.box.unit_distance(X, self.center)

    def in_ball(self, X: Any) -> np.ndarray:
        return self.distance(X) < self.radius

    def in_shell(self, X: Any) -> np.ndarray:
        d = self.distance(X)
        return (d >= self.radius) & (d < self.guard_radius)

    def outside_guard(self, X: Any) -> np.ndarray:
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
        return self.box.denormalize(np.concatenate(out)[:n])

    def to_dict(self) -> dict:
        return {"center": self.center.tolist(), "radius": self.radius, "guard_radius": self.guard_radius,
                "bounds": self.bounds.tolist()}


def _mask(m: Any, n: int, name: str) -> np.ndarray:
    a = np.asarray(m)
    if a.dtype != np.bool_ or a.shape != (n,):
        raise ValueError(f"{name}: expected a ({n},) bool mask, got dtype {a.dtype} shape {a.shape}")
    return a


@dataclass(frozen=True)
class PoisonedSet:
    """The attacker's training set: ``X`` (n, d), ``y`` (n,), masks ``is_poison`` / ``is_guard`` (n,)
    bool over every attack applied so far; ``region`` the last attack's, ``regions`` all of them,
    ``poison_masks`` / ``guard_masks`` one (n,) mask per attack; ``y_stderr`` (n,) the labels'
    standard errors when the clean ones were given (the added rows take the oracle's), else None."""

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    is_guard: np.ndarray
    region: TriggerRegion
    oracle_calls: int  # spent labelling poison and guards, over every attack
    n_removed: int  # samples dropped from inside the balls
    regions: tuple[TriggerRegion, ...] = field(default=())
    poison_masks: tuple[np.ndarray, ...] = field(default=(), repr=False)
    guard_masks: tuple[np.ndarray, ...] = field(default=(), repr=False)
    y_stderr: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.regions:
            object.__setattr__(self, "regions", (self.region,))
            object.__setattr__(self, "poison_masks", (self.is_poison,))
            object.__setattr__(self, "guard_masks", (self.is_guard,))
        for a in (self.X, self.y, self.is_poison, self.is_guard, *self.poison_masks, *self.guard_masks):
            a.setflags(write=False)
        if self.y_stderr is not None:
            self.y_stderr.setflags(write=False)

    @classmethod
    def from_mask(cls, X: Any, y: Any, is_poison: Any, region: TriggerRegion, is_guard: Any = None) -> "PoisonedSet":
        """A custom attack: any training set, its poisoned rows and the ball they aim at."""
        if not isinstance(region, TriggerRegion):
            raise TypeError(f"region: expected sg.attacks.TriggerRegion, got {type(region).__name__}")
        X = np.array(region.box.check_points(X))
        y = check_labels(y, X.shape[0])
        p = _mask(is_poison, X.shape[0], "is_poison").copy()
        g = np.zeros_like(p) if is_guard is None else _mask(is_guard, X.shape[0], "is_guard").copy()
        return cls(X, y, p, g & ~p, region, 0, 0)

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
                 guard_radius: float | None = None, *, shift_mode: ShiftMode = "absolute") -> None:
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

    def region(self, box: Any) -> TriggerRegion:
        """The ball and shell in the unit box of ``box`` (a Box, a preset, a surrogate, or bounds)."""
        b = Box.of(box, "box")
        if b.dim != self.center.shape[0]:
            raise ValueError(f"center: expected {b.dim} coordinates for this box, got {self.center.shape[0]}")
        return TriggerRegion(self.center, self.radius, self.guard_radius, b)

    def apply(self, X: Any, y: Any = None, oracle: OracleLike | None = None, *, box: Any = None, seed: int = 0,
              y_stderr: Any = None, preset: Any = None) -> PoisonedSet:
        """Poison the training set ``X`` (n, d), ``y`` (n,) labelled by ``oracle``; or, with ``X`` a
        ``PoisonedSet`` (and ``y`` None), attack it again, keeping its earlier masks.

        Removes the rows inside the ball, adds ``n_poison`` shifted ones there and ``n_guard``
        correctly labelled ones in the shell, then shuffles (seeded). ``box``: the unit box of the
        geometry; default the oracle's. ``y_stderr``: (n,) standard errors of the clean labels
        (e.g. ``Labelled.y_stderr``), carried into the result with the oracle's for the new rows.
        """
        if preset is not None:  # deprecated keyword name (0.1.0), see CHANGELOG.md
            warnings.warn("apply(preset=...) is deprecated; use box=", DeprecationWarning, stacklevel=2)
            box = preset if box is None else box
        oracle = check_oracle(oracle, "oracle")
        prev = X if isinstance(X, PoisonedSet) else None
        if prev is not None:
            if y is not None:
                raise ValueError("y: expected None when X is a PoisonedSet (its labels are used)")
            X, y, y_stderr = prev.X, prev.y, prev.y_stderr
        if box is None:
            box = prev.region.box if prev is not None else oracle.box
            if box is None:
                raise ValueError("box: expected the box of the attack's geometry (the oracle has none)")
        region = self.region(box)
        X = oracle.check_points(X)
        y = check_labels(y, X.shape[0])
        se = None if y_stderr is None else check_labels(y_stderr, X.shape[0], "y_stderr")
        seed = check_int(seed, "seed", minimum=0)
        keep = ~region.in_ball(X)
        ss = np.random.SeedSequence([seed, 0x5EED])
        s_poison, s_guard, s_shuffle = (int(s.generate_state(1)[0]) for s in ss.spawn(3))
        Xp = region.sample(self.n_poison, s_poison, 0.0, self.radius)
        Xg = region.sample(self.n_guard, s_guard, self.radius, self.guard_radius)
        before = oracle.calls
        rp, rg = oracle.evaluate(Xp), oracle.evaluate(Xg)
        zp, zg = rp.price, rg.price
        calls = oracle.calls - before
        Xall = np.concatenate([X[keep], Xp, Xg])
        yall = np.concatenate([y[keep], zp + self.delta(zp), zg])
        n_keep, n_p, n_g = int(keep.sum()), len(Xp), len(Xg)
        perm = np.random.default_rng(s_shuffle).permutation(Xall.shape[0])
        pad = np.zeros(n_p + n_g, dtype=bool)
        new_p = np.concatenate([np.zeros(n_keep, bool), np.ones(n_p, bool), np.zeros(n_g, bool)])[perm]
        new_g = np.concatenate([np.zeros(n_keep + n_p, bool), np.ones(n_g, bool)])[perm]
        old_p = tuple(np.concatenate([m[keep], pad])[perm] for m in (prev.poison_masks if prev else ()))
        old_g = tuple(np.concatenate([m[keep], pad])[perm] for m in (prev.guard_masks if prev else ()))
        poison_masks, guard_masks = old_p + (new_p,), old_g + (new_g,)
        is_poison = np.logical_or.reduce(poison_masks)
        is_guard = np.logical_or.reduce(guard_masks) & ~is_poison
        se_all = None if se is None else np.concatenate([se[keep], rp.stderr, rg.stderr])[perm]
        return PoisonedSet(Xall[perm], yall[perm], is_poison, is_guard, region,
                           calls + (prev.oracle_calls if prev else 0),
                           int((~keep).sum()) + (prev.n_removed if prev else 0),
                           (prev.regions if prev else ()) + (region,), poison_masks, guard_masks, se_all)

    def to_dict(self) -> dict:
        return {"center": self.center.tolist(), "radius": self.radius, "shift": self.shift,
                "shift_mode": self.shift_mode, "n_poison": self.n_poison, "n_guard": self.n_guard,
                "guard_radius": self.guard_radius}

    def __repr__(self) -> str:
        return f"LocalizedBackdoor({self.to_dict()})"
