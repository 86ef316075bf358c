"""Learner checkpoints: a directory of plain files, written atomically, read back with checks.

Layout of a checkpoint directory ``path``::

    path/LATEST                       the name of the newest complete state (one line)
    path/round-000012/learner.json    settings, rng state, history, strategy state (JSON)
    path/round-000012/arrays.safetensors   training set, validation set, oracle ledger (float64)
    path/round-000012/surrogate.safetensors   the surrogate (``Surrogate.save``)

A state is written under a temporary name and renamed when complete; ``LATEST`` is replaced
atomically after it; older states are removed last. A process killed at any moment leaves the
previous complete state readable. No pickle anywhere: JSON, safetensors and the surrogate format.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "write_state", "read_state"]

FORMAT = "surrogate_guard.active/1"
ARRAYS = ("X", "y", "se", "val_X", "val_y", "led_X", "led_z", "led_se")


def write_state(path: Any, name: str, meta: dict, arrays: dict[str, np.ndarray], surrogate: Any) -> Path:
    """Write state ``name`` (e.g. "round-000012") under ``path`` and make it the latest."""
    from safetensors.numpy import save_file

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    with open(tmp / "learner.json", "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, **meta}, f, indent=1)
    save_file({k: np.ascontiguousarray(arrays[k], dtype=np.float64) for k in ARRAYS}, str(tmp / "arrays.safetensors"))
    surrogate.save(tmp / "surrogate.safetensors")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    latest_tmp = root / f".LATEST-{os.getpid()}"
    latest_tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(latest_tmp, root / "LATEST")
    for old in root.iterdir():
        if old.is_dir() and old.name.startswith("round-") and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path: Any) -> tuple[dict, dict[str, np.ndarray], Any]:
    """(meta, arrays, surrogate) of the latest state under ``path``; ValueError when it is not one."""
    from safetensors.numpy import load_file

    from ..surrogate import Surrogate

    root = Path(path)
    try:
        name = (root / "LATEST").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ValueError(f"resume_from: {root} is not a learner checkpoint (no LATEST file)") from None
    state = root / name
    if not name.startswith("round-") or "/" in name or not state.is_dir():
        raise ValueError(f"resume_from: {root}/LATEST names {name!r}, which is not a state directory")
    try:
        with open(state / "learner.json", encoding="utf-8") as f:
            meta = json.load(f)
        arrays = load_file(str(state / "arrays.safetensors"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"resume_from: {state} is unreadable (corrupted or truncated?): {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"resume_from: {state}/learner.json is not a {FORMAT!r} checkpoint")
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"resume_from: {state}/arrays.safetensors lacks {missing}")
    bad = [k for k in ARRAYS if not np.isfinite(arrays[k]).all()]
    if bad:
        raise ValueError(f"resume_from: {state}/arrays.safetensors holds non-finite values in {bad}")
    surrogate = Surrogate.load(state / "surrogate.safetensors")
    return meta, arrays, surrogate
