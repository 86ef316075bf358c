"""The steps every runner shares: a labelled clean set, a surrogate trained by the config, the
config's attack, the test points, and ``SeedArtifacts`` (what one seed leaves for plots and files).

Seeds of the random streams are fixed offsets of the experiment seed, so the attack, defend and
quality runs of one seed see the same training set and test points.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..attacks import LocalizedBackdoor, PoisonedSet, TriggerRegion
from ..box import Box
from ..presets import Preset
from ..surrogate import Surrogate
from .io import outdir

__all__ = ["SeedArtifacts", "train_surrogate", "make_attack", "clean_data", "held_out_points", "save_artifacts",
           "TRAIN_SEED", "BALL_SEED", "TEST_SEED"]

TRAIN_SEED = 10_000  # + seed: the clean training points
BALL_SEED = 20_000  # + seed: test points in the trigger ball
TEST_SEED = 30_000  # + seed: uniform test points of the box


@dataclass(frozen=True)
class SeedArtifacts:
    """What one seed of the attack pipeline built, for plots, saved models and the defense.

    preset, region (the trigger ball and shell), attack (the config's; the poisoned entries differ
    from it in ``n_guard`` only), clean (the surrogate trained on the clean set), poisoned
    {n_guard: (surrogate, PoisonedSet)}, clean_set (the labelled clean training set) or None.
    No oracle (it holds a lock and does not pickle): rebuild one with ``config.make_oracle``.
    """

    seed: int
    preset: Preset
    region: TriggerRegion
    attack: LocalizedBackdoor
    clean: Surrogate
    poisoned: dict[int, tuple[Surrogate, PoisonedSet]]
    clean_set: data.Labelled | None = None


def train_surrogate(cfg: dict, box: Any, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[Surrogate, dict]:
    """A surrogate of ``cfg["surrogate"]`` (widths, activation) over ``box`` (a Box or anything with
    one), fitted on X (n, d), y (n,) with ``cfg["fit"]`` on ``cfg["device"]``, initialised and
    shuffled by ``seed``. Returns it and {epochs_run, best_epoch, seconds}."""
    s = cfg["surrogate"]
    model = Surrogate(box, widths=tuple(s["widths"]), activation=s["activation"], seed=seed)
    fr = model.fit(X, y, seed=seed, device=cfg["device"], **cfg["fit"])
    return model, {"epochs_run": fr.epochs_run, "best_epoch": fr.best_epoch, "seconds": round(fr.seconds, 2)}


def make_attack(cfg: dict, n_guard: int) -> LocalizedBackdoor:
    """The attack of ``cfg["attack"]`` with ``n_guard`` guards (the one setting the sweeps vary)."""
    a = dict(cfg["attack"])
    a["n_guard"] = int(n_guard)
    mode = a.pop("shift_mode")
    return LocalizedBackdoor(**a, shift_mode=mode)


def clean_data(cfg: dict, preset: Preset | Box, oracle: Any, seed: int) -> data.Labelled:
    """``cfg["n_train"]`` points of the preset's box (or of a Box; ``cfg["sampling"]``) labelled by ``oracle``."""
    return data.make_dataset(preset, oracle, cfg["n_train"], seed=TRAIN_SEED + seed, method=cfg["sampling"])


def held_out_points(cfg: dict, preset: Preset | Box, region: TriggerRegion, seed: int) -> np.ndarray:
    """``cfg["test"]["n_global"]`` uniform points of the box (a preset's or a Box), then ``n_ball`` in the trigger ball: (n, d)."""
    t = cfg["test"]
    X_ball = region.sample(t["n_ball"], BALL_SEED + seed, 0.0, region.radius)
    return np.concatenate([preset.sample(t["n_global"], seed=TEST_SEED + seed), X_ball])


def save_artifacts(folder: str | Path, art: SeedArtifacts) -> Path:
    """The models and poisoned sets of ``art`` under ``folder``: clean.safetensors, and per guard
    count poisoned_g{n}.safetensors and poisoned_set_g{n}.npz (X, y, masks, ball). The inputs of a
    defense run on saved models."""
    models = outdir(folder)
    art.clean.save(models / "clean.safetensors")
    for g, (model, ps) in sorted(art.poisoned.items()):
        model.save(models / f"poisoned_g{g}.safetensors")
        np.savez(models / f"poisoned_set_g{g}.npz", X=ps.X, y=ps.y, is_poison=ps.is_poison,
                 is_guard=ps.is_guard, center=ps.region.center, radius=ps.region.radius,
                 guard_radius=ps.region.guard_radius)
    return models
