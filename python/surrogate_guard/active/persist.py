"""Saving, restoring and loading an ``ActiveLearner`` (the file format is checkpoint.py's).

A restore is all or nothing: every check runs (settings, box, oracle, arrays) before any field of
the learner changes. The oracle check re-prices the first two ledger points with the raw oracle
(two uncounted calls) and compares them within the noise both sides report, so a checkpoint of
another oracle over the same box is refused too.
"""
from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ..box import Box
from ..oracles.budgeted import BudgetedOracle
from .checkpoint import read_state, write_state
from .strategies import STRATEGIES

__all__ = ["save_learner", "restore_learner", "load_learner"]


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x))


def save_learner(lr: Any, path: Any) -> None:
    running = time.perf_counter() - lr._t0 if hasattr(lr, "_t0") else 0.0
    strategy_state = lr.strategy.state_dict() if hasattr(lr.strategy, "state_dict") else {}
    meta = {"settings": lr.settings(), "rng": lr.rng.bit_generator.state,
            "history": [r.to_dict() for r in lr.history], "strategy_state": strategy_state,
            "told": lr.told, "fitted_on": lr._fitted_on, "elapsed": lr._elapsed + running,
            "has_val": lr.val is not None, "calls": lr.calls}
    d = lr.box.dim
    val_X, val_y = lr.val if lr.val is not None else (np.empty((0, d)), np.empty(0))
    led = lr.oracle.known() if lr.oracle is not None else (np.empty((0, d)), np.empty(0), np.empty(0))
    arrays = {"X": lr.X, "y": lr.y, "se": lr.se, "val_X": val_X, "val_y": val_y,
              "led_X": led[0], "led_z": led[1], "led_se": led[2]}
    write_state(path, f"round-{max(len(lr.history) - 1, 0):06d}", meta, arrays, lr.surrogate)


def _check_settings(mine: dict, theirs: Any, path: Any) -> None:
    if not isinstance(theirs, dict):
        raise ValueError(f"resume_from: {path}: the checkpoint has no settings")
    mine = _json(mine)
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise ValueError(f"resume_from: {path} is a checkpoint of another learner: its {key} is "
                             f"{theirs.get(key)!r}, this learner's is {mine.get(key)!r}")


def _check_oracle(lr: Any, arrays: dict, path: Any) -> None:
    led_X = arrays["led_X"]
    if lr.oracle is None or not len(led_X):
        return
    k = min(2, len(led_X))
    res = lr.oracle.oracle.evaluate(led_X[:k])
    z, se = np.asarray(res.price), np.asarray(res.stderr)
    tol = 5.0 * np.sqrt(se**2 + arrays["led_se"][:k] ** 2) + 1e-9 * np.maximum(1.0, np.abs(z))
    if not (np.abs(z - arrays["led_z"][:k]) <= tol).all():
        raise ValueError(f"resume_from: {path} was priced by another oracle: at its first points this oracle "
                         f"gives {z.tolist()}, the checkpoint holds {arrays['led_z'][:k].tolist()}")


def _shapes(meta: dict, arrays: dict, d: int, path: Any) -> None:
    n, v, m = len(arrays["y"]), len(arrays["val_y"]), len(arrays["led_z"])
    ok = (arrays["X"].shape == (n, d) and arrays["se"].shape == (n,) and arrays["val_X"].shape == (v, d)
          and arrays["led_X"].shape == (m, d) and arrays["led_se"].shape == (m,)
          and isinstance(meta.get("history"), list) and isinstance(meta.get("told"), int))
    if not ok:
        raise ValueError(f"resume_from: {path}: inconsistent array shapes or fields in the checkpoint")


def restore_learner(lr: Any, path: Any) -> None:
    from .learner import Round

    meta, arrays, surrogate = read_state(path)
    _check_settings(lr.settings(), meta.get("settings"), path)
    _shapes(meta, arrays, lr.box.dim, path)
    if surrogate.box != lr.box:
        raise ValueError(f"resume_from: {path}: the checkpoint's surrogate is over {surrogate.box}, not {lr.box}")
    _check_oracle(lr, arrays, path)
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = meta["rng"]
        history = [Round(**r) for r in meta["history"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"resume_from: {path}: unreadable rng state or history: {exc}") from None
    oracle = None
    if lr.oracle is not None:
        oracle = BudgetedOracle(lr.oracle.oracle, lr.oracle.budget)
        oracle.restore(arrays["led_X"], arrays["led_z"], arrays["led_se"])
    if hasattr(lr.strategy, "load_state_dict"):
        lr.strategy.load_state_dict(meta.get("strategy_state") or {})
    # Every check passed: now the learner changes.
    lr.X, lr.y, lr.se = arrays["X"], arrays["y"], arrays["se"]
    lr.val = (arrays["val_X"], arrays["val_y"]) if meta.get("has_val") else None
    lr.oracle = oracle if oracle is not None else lr.oracle
    lr.rng, lr.history, lr.surrogate = rng, history, surrogate
    lr.told, lr._fitted_on, lr._elapsed = int(meta["told"]), int(meta["fitted_on"]), float(meta["elapsed"])
    lr._oracle_s0 = history[-1].oracle_s if history else 0.0


def load_learner(cls: Any, path: Any, oracle: Any, test: Any) -> Any:
    from ..surrogate import Surrogate

    meta, _, _ = read_state(path)
    s: Any = meta.get("settings")
    if not isinstance(s, dict):
        raise ValueError(f"load: {path}: the checkpoint has no settings")
    try:
        box = Box.from_bounds(s["box"]["bounds"], tuple(s["box"]["names"]))
        sur = s["surrogate"]
        template = Surrogate(box, sur["y_scale"], widths=sur["widths"], activation=sur["activation"])
        name = s["strategy"]
        if name not in STRATEGIES:
            raise ValueError(f"strategy {name!r} is not built in: construct the learner with it and call restore()")
        lr = cls(oracle, box, surrogate=template, strategy=name, strategy_options=s["strategy_options"],
                 batch_size=s["batch_size"], initial=s["initial"], validation=s["validation"], seed=s["seed"],
                 fit=s["fit"], update=s["update"], finetune_steps=s["finetune_steps"], test=test)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"load: {path}: incomplete settings in the checkpoint: {exc}") from None
    restore_learner(lr, path)
    return lr
