"""Judging a backdoor (method section 4): success inside the ball, stealth outside the shell.

Success: share of test points in the ball with |Y - (Z + Delta)| < |Delta| / 2. Stealth: test
RMSE outside the guard shell, next to that of a surrogate trained on the same data unpoisoned.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .attacks import TriggerRegion

__all__ = ["AttackReport", "attack_report", "rmse"]


def rmse(a, b) -> float:
    """Root mean square of a - b; nan for empty inputs."""
    e = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean(e * e))) if e.size else math.nan


@dataclass(frozen=True)
class AttackReport:
    """Attack metrics on one test set (price units). JSON-ready through ``to_dict``."""

    n_ball: int  # test points inside the ball
    n_far: int  # test points outside the guard shell
    mean_shift_ball: float  # mean of Y_poisoned - Z in the ball
    mean_shift_ball_clean: float  # mean of Y_clean - Z in the ball (the baseline)
    mean_delta_ball: float  # mean intended Delta in the ball
    success_rate: float  # share of ball points with |Y - (Z + Delta)| < |Delta| / 2
    success_rate_clean: float  # the same for the clean surrogate (should be ~0)
    rmse_far: float  # poisoned surrogate, outside the guard shell
    rmse_far_clean: float  # clean surrogate, outside the guard shell
    rmse_far_ratio: float  # rmse_far / rmse_far_clean
    rmse_shell: float  # poisoned surrogate in the shell (where guards sit)
    rmse_shell_clean: float

    def to_dict(self) -> dict:
        # JSON has no NaN: empty regions are written as null.
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _success(y: np.ndarray, z: np.ndarray, delta: np.ndarray) -> float:
    if y.size == 0:
        return math.nan
    return float(np.mean(np.abs(y - (z + delta)) < 0.5 * np.abs(delta)))


def _delta_fn(attack: Any):
    """z -> intended Delta: an attack with ``delta(z)`` (e.g. LocalizedBackdoor), or a constant shift."""
    if hasattr(attack, "delta") and callable(attack.delta):
        return attack.delta
    if isinstance(attack, (int, float, np.integer, np.floating)) and not isinstance(attack, bool):
        shift = float(attack)
        return lambda z: np.full_like(np.asarray(z, dtype=np.float64), shift)
    raise TypeError(f"attack: expected an attack with delta(z) (sg.attacks.LocalizedBackdoor) or a number "
                    f"(the intended shift), got {type(attack).__name__}")


def attack_report(poisoned, clean, attack: Any, region: TriggerRegion, X_test, z_test) -> AttackReport:
    """Metrics of ``poisoned`` against ``clean`` (surrogates with ``.predict``) on X_test (n, d).

    ``attack``: anything with ``delta(z)`` (a ``LocalizedBackdoor``) or the intended shift as a
    number (a custom attack). ``z_test`` (n,) are the oracle prices. The test set should hold
    enough points in the ball (e.g. ``region.sample(...)``) besides global ones; the split is
    done here by distance.
    """
    delta_of = _delta_fn(attack)
    if not isinstance(region, TriggerRegion):
        raise TypeError(f"region: expected sg.attacks.TriggerRegion, got {type(region).__name__}")
    X = region.box.check_points(X_test, "X_test")
    z = np.asarray(z_test, dtype=np.float64)
    if z.shape != (X.shape[0],):
        raise ValueError(f"z_test: expected shape ({X.shape[0]},) to match X_test, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("z_test: oracle prices must be finite")
    yp, yc = poisoned.predict(X), clean.predict(X)
    d = region.distance(X)
    ball, far = d < region.radius, d >= region.guard_radius
    shell = ~ball & ~far
    delta = delta_of(z)
    mean = (lambda a: float(np.mean(a)) if a.size else math.nan)
    rf, rfc = rmse(yp[far], z[far]), rmse(yc[far], z[far])
    return AttackReport(
        n_ball=int(ball.sum()),
        n_far=int(far.sum()),
        mean_shift_ball=mean(yp[ball] - z[ball]),
        mean_shift_ball_clean=mean(yc[ball] - z[ball]),
        mean_delta_ball=mean(delta[ball]),
        success_rate=_success(yp[ball], z[ball], delta[ball]),
        success_rate_clean=_success(yc[ball], z[ball], delta[ball]),
        rmse_far=rf,
        rmse_far_clean=rfc,
        rmse_far_ratio=rf / rfc if rfc > 0 else math.nan,
        rmse_shell=rmse(yp[shell], z[shell]),
        rmse_shell_clean=rmse(yc[shell], z[shell]),
    )
