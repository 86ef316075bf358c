"""The config of ``surrogate-guard run`` (experiments/story.py): its defaults, the ``--size``
presets, and ``build``, which checks every value and builds the oracles, box and attack before
anything runs or is written.

The defaults are the attack and defend runners' (the same oracle, sizes, attack, fit and pinned
detection settings), regrouped in sections: data, surrogate (with its fit), attack, test,
defense, learn. ``--size demo`` shrinks the training set and epochs so that ``make demo``
finishes in well under a minute on two cores (about 20 s); ``full`` is the defaults themselves.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from .. import presets
from ..box import Box, SamplingMethod
from .attack import DEFAULT_CONFIG as ATTACK_CONFIG
from .config import check_types, is_user_oracle, make_oracle, merge, oracle_label
from .defend import DEFAULT_CONFIG as DEFEND_CONFIG
from .defend import settings
from .pipeline import make_attack

__all__ = ["DEFAULT_CONFIG", "SIZES", "Setup", "sized_defaults", "runner_config", "build", "check_out"]

_A, _D = ATTACK_CONFIG, DEFEND_CONFIG["defense"]
DEFAULT_CONFIG: dict = {
    "seed": 0,
    "device": "cpu",
    "threads": 1,  # torch threads: results are reproducible per thread count
    "data": {
        # "analytic", {kind = "monte_carlo", paths = ..., seed = ...} (a preset's oracle), or a user's
        # vectorized function "package.module:function" (its folder on PYTHONPATH) with [data.box].
        "oracle": _A["oracle"],
        "preset": _A["preset"],  # the option and box of a built-in oracle
        "box": None,  # a user oracle's box: {bounds = [[lo, hi], ...], names = [...]} (names optional)
        "n_train": _A["n_train"],
        "sampling": _A["sampling"],
    },
    "surrogate": {**copy.deepcopy(_A["surrogate"]), "fit": copy.deepcopy(_A["fit"])},
    # The default localized backdoor (centre in unit-box coordinates: one per input column).
    "attack": copy.deepcopy(_A["attack"]),
    "test": copy.deepcopy(_A["test"]),  # held-out points: uniform in the box, and in the ball
    "defense": {
        "oracle": None,  # None: the data's oracle spec; else what the defender checks labels against
        "strategy": _D["main_strategy"],
        "budget_fraction": _D["main_budget_fraction"],  # of the calls that relabel the whole set
        "repair_mode": _D["repair_mode"],
        "budget_curve": [0.01, 0.02, 0.05],  # more budgets for the figure, with random relabelling
        "false_alarm": True,  # also run detection on the clean surrogate and its honest set
        "search": copy.deepcopy(_D["search"]),
        "check": copy.deepcopy(_D["check"]),
    },
    "learn": {  # a short active-learning run of a fresh surrogate (experiments/learn.py's pieces)
        "enabled": False,
        "strategy": "error-maximizers",
        "strategy_options": {},  # the strategy's constructor options, e.g. {steps = 2}
        "budget": 4000,
        "initial": 500,
        "validation": 500,
        "batch_size": 500,
        "update": "retrain",
        "finetune_steps": 3000,
        "fit": {"epochs": 150, "lr": 3e-3, "batch_size": 256, "val_fraction": 0.1, "patience": 40,
                "weight_decay": 0.0},
    },
}

# --size: overrides of DEFAULT_CONFIG (a --config file goes over them).
SIZES: dict[str, dict] = {
    "full": {},
    "demo": {"data": {"n_train": 8000}, "surrogate": {"fit": {"epochs": 150, "patience": 40}},
             "attack": {"n_poison": 1000, "n_guard": 1000}, "test": {"n_global": 10000, "n_ball": 1000},
             "learn": {"budget": 2000, "initial": 400, "validation": 400, "batch_size": 300,
                       "fit": {"epochs": 100, "batch_size": 128, "patience": 30}}},
}

# Keys that take more than their default's type.
_ALSO: dict[str, tuple[type, ...]] = {
    "data.oracle": (dict,), "surrogate.fit.epochs": (str,), "surrogate.fit.patience": (type(None),),
    "learn.fit.epochs": (str,), "learn.fit.patience": (type(None),),
}


def sized_defaults(size: str) -> dict:
    """DEFAULT_CONFIG with the overrides of ``SIZES[size]``."""
    if size not in SIZES:
        raise ValueError(f"--size: expected one of {sorted(SIZES)}, got {size!r}")
    return merge(DEFAULT_CONFIG, SIZES[size])


def runner_config(cfg: dict) -> dict:
    """``cfg`` in the shape the other runners' helpers take (pipeline, defend: flat keys)."""
    d, s, dc = cfg["data"], cfg["surrogate"], cfg["defense"]
    return {"preset": d["preset"], "oracle": d["oracle"], "n_train": d["n_train"], "sampling": d["sampling"],
            "surrogate": {"widths": s["widths"], "activation": s["activation"]}, "fit": s["fit"],
            "attack": cfg["attack"], "test": cfg["test"], "device": cfg["device"], "threads": cfg["threads"],
            "defense": {"search": dc["search"], "check": dc["check"], "main_strategy": dc["strategy"]}}


@dataclass(frozen=True)
class Setup:
    """What a checked config builds before anything runs: the complete ``cfg``, its runner-shaped
    ``flat`` twin, the ``box``, the ``preset`` (None for a user oracle), the labelling ``oracle``,
    the ``defense_oracle`` (a separate instance), the ``attack`` and its trigger ``region``."""

    cfg: dict
    flat: dict
    box: Box
    preset: Any
    oracle: Any
    defense_oracle: Any
    attack: Any
    region: Any


def _get(cfg: dict, key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _bound(cfg: dict, key: str, lo: float, hi: float | None = None, open_lo: bool = False) -> None:
    v = _get(cfg, key)
    if (v <= lo if open_lo else v < lo) or (hi is not None and v > hi):
        want = f"{'>' if open_lo else '>='} {lo}" + ("" if hi is None else f" and <= {hi}")
        raise ValueError(f"config.{key}: expected a value {want}, got {v!r}")


def _check_fit(fit: dict, where: str) -> None:
    e = fit.get("epochs")
    if isinstance(e, str) and e != "auto":
        raise ValueError(f"{where}.epochs: expected an int >= 1 or 'auto', got {e!r}")
    for key, lo, open_lo in (("epochs", 1, False), ("batch_size", 1, False), ("lr", 0, True),
                             ("patience", 1, False), ("weight_decay", 0, False)):
        v = fit.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and (v <= lo if open_lo else v < lo):
            raise ValueError(f"{where}.{key}: expected a value {'>' if open_lo else '>='} {lo}, got {v!r}")
    vf = fit.get("val_fraction", 0.0)
    if not isinstance(vf, (int, float)) or not 0 <= vf < 1:
        raise ValueError(f"{where}.val_fraction: expected a share in [0, 1), got {vf!r}")


def _check_values(cfg: dict) -> None:
    """Ranges and names; types were checked against the defaults."""
    for key in ("data.n_train", "test.n_global", "test.n_ball", "threads", "learn.budget", "learn.initial",
                "learn.validation", "learn.batch_size", "learn.finetune_steps"):
        _bound(cfg, key, 1)
    for key in ("seed", "attack.n_poison", "attack.n_guard"):
        _bound(cfg, key, 0)
    _bound(cfg, "defense.budget_fraction", 0, 1, open_lo=True)
    if any(not 0 < f <= 1 for f in cfg["defense"]["budget_curve"]):
        raise ValueError(f"config.defense.budget_curve: expected shares in (0, 1], got {cfg['defense']['budget_curve']!r}")
    _check_fit(cfg["surrogate"]["fit"], "config.surrogate.fit")
    _check_fit(cfg["learn"]["fit"], "config.learn.fit")
    from ..active import STRATEGIES, UPDATES
    from ..defense import SEED_STRATEGIES

    for key, allowed in (("data.sampling", get_args(SamplingMethod)), ("defense.strategy", SEED_STRATEGIES),
                         ("defense.repair_mode", ("drop", "relabel")), ("learn.strategy", STRATEGIES),
                         ("learn.update", UPDATES), ("device", ("cpu", "cuda", "auto"))):
        if _get(cfg, key) not in allowed:
            raise ValueError(f"config.{key}: expected one of {tuple(allowed)}, got {_get(cfg, key)!r}")
    lc = cfg["learn"]
    if lc["enabled"] and lc["budget"] <= lc["initial"] + lc["validation"]:
        raise ValueError(f"config.learn.budget: expected more than initial + validation "
                         f"({lc['initial']} + {lc['validation']}), got {lc['budget']}")


def _oracles(cfg: dict) -> tuple[Any, Any, Any]:
    """(preset or None, labelling oracle, defense oracle), each built from its spec."""
    d = cfg["data"]
    user = is_user_oracle(d["oracle"])
    try:
        preset = None if user else presets.get(d["preset"])
    except ValueError as exc:
        raise ValueError(f"config.data.preset: {exc}") from None
    oracle = make_oracle(d["oracle"], d["preset"], "config.data.oracle", box=d["box"], box_where="config.data.box")
    spec = cfg["defense"]["oracle"]
    if spec is None:
        spec, where = d["oracle"], "config.data.oracle"
    else:
        where = "config.defense.oracle"
    d_oracle = make_oracle(spec, d["preset"], where, box=d["box"] if is_user_oracle(spec) else None,
                           box_where="config.data.box")
    if d_oracle.box != oracle.box:
        raise ValueError(f"config.defense.oracle: {oracle_label(spec)} works on {d_oracle.box}, the data's oracle "
                         f"on {oracle.box}; the defender must check labels in the box they were made in")
    return preset, oracle, d_oracle


def build(cfg: dict) -> Setup:
    """Check ``cfg`` (a merged config) and build what it names; a ValueError or TypeError names
    the key. Imports a user oracle's module; prices nothing and writes nothing."""
    check_types(cfg, DEFAULT_CONFIG, also=_ALSO)
    _check_values(cfg)
    flat = runner_config(cfg)
    preset, oracle, d_oracle = _oracles(cfg)
    box = oracle.box
    try:
        attack = make_attack(flat, cfg["attack"]["n_guard"])
        region = attack.region(box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config.attack: {exc}") from None
    from ..surrogate import Surrogate

    s = cfg["surrogate"]
    try:
        Surrogate(box, widths=tuple(s["widths"]), activation=s["activation"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config.surrogate: {exc}") from None
    settings(flat)  # errors name config.defense.search / .check
    return Setup(cfg, flat, box, preset, oracle, d_oracle, attack, region)


def check_out(path: str) -> Path:
    """``--out``: a new path, or a run directory of an earlier run (it is replaced when this one is
    complete). An existing file, or a folder that holds other things, is refused."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--out: {path} exists and is not a directory")
    if p.is_dir() and any(p.iterdir()) and not (p / "result.json").exists():
        raise ValueError(f"--out: {path} is a folder that is not a run directory (no result.json); "
                         "choose a new path or remove it")
    return p
