"""Shared pieces of the experiments: JSON configs with embedded defaults, oracles by name, seeds.

Configs are plain JSON merged over the defaults key by key; an unknown key is an error (a typo
must not silently fall back to a default).
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .. import oracles, presets


def merge(defaults: dict, override: dict, where: str = "config") -> dict:
    """``defaults`` updated by ``override`` recursively; unknown keys raise ValueError."""
    out = copy.deepcopy(defaults)
    if not isinstance(override, dict):
        raise TypeError(f"{where}: expected a JSON object, got {type(override).__name__}")
    for k, v in override.items():
        if k not in out:
            raise ValueError(f"{where}: unknown key {k!r}; expected one of {sorted(out)}")
        if isinstance(out[k], dict):
            out[k] = merge(out[k], v, f"{where}.{k}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: str | None, defaults: dict) -> dict:
    if path is None:
        return copy.deepcopy(defaults)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config: {path} is not valid JSON: {exc}") from None
    return merge(defaults, raw)


def make_oracle(name: str, preset_name: str):
    preset = presets.get(preset_name)
    if name == "analytic":
        return preset, oracles.Analytic(preset.option)
    raise ValueError(f"oracle: only 'analytic' is wired into the experiments so far, got {name!r}")


def setup_threads(n: int) -> None:
    """Pin torch's intra-op threads (the dev box has 2 shared cores: 1 per experiment process)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def outdir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def parse_ints(text: str, name: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 0 for v in vals):
        raise ValueError(f"{name}: expected non-negative integers, got {text!r}")
    return vals
