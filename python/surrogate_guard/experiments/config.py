"""Experiment configs: JSON merged over embedded defaults key by key, oracles built from a config
value, and the comma-separated integer lists of the command line.

An unknown key is an error naming its dotted path (a typo must not silently fall back to a
default). An oracle spec is a kind name (``"analytic"``) or ``{"kind": ..., **constructor options}``.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from .. import presets

__all__ = ["ORACLE_KINDS", "merge", "load_config", "make_oracle", "oracle_label", "parse_ints"]

ORACLE_KINDS: tuple[str, ...] = ("analytic", "finite_difference", "monte_carlo")


def merge(defaults: dict, override: Any, where: str = "config") -> dict:
    """``defaults`` updated by ``override`` recursively (a deep copy); unknown keys raise ValueError.

    A default that is a dict is merged key by key; any other default (a number, a list, None, an
    oracle spec string) is replaced whole by the override's value.
    """
    if not isinstance(override, dict):
        raise TypeError(f"{where}: expected a JSON object, got {type(override).__name__}")
    out = copy.deepcopy(defaults)
    for k, v in override.items():
        if k not in out:
            raise ValueError(f"{where}.{k}: unknown key {k!r}; expected one of {sorted(out)}")
        if isinstance(out[k], dict):
            out[k] = merge(out[k], v, f"{where}.{k}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: str | None, defaults: dict) -> dict:
    """The defaults (a deep copy), or the JSON object in ``path`` merged over them."""
    if path is None:
        return copy.deepcopy(defaults)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config: {path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ValueError(f"--config: cannot read {path}: {exc.strerror}") from None
    return merge(defaults, raw)


def _split_spec(spec: Any, where: str) -> tuple[Any, dict]:
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, dict):
        options = dict(spec)
        kind = options.pop("kind", None)
        if kind is None:
            raise ValueError(f"{where}: expected a 'kind' key (one of {ORACLE_KINDS}) in {spec!r}")
    else:
        raise TypeError(f"{where}: expected an oracle kind string or an object "
                        f"{{\"kind\": ..., options}}, got {type(spec).__name__}")
    if kind not in ORACLE_KINDS:
        raise ValueError(f"{where}: kind expected one of {ORACLE_KINDS}, got {kind!r}")
    if "box" in options:
        raise ValueError(f"{where}: 'box' is not an option here (the oracle gets the preset's box)")
    return kind, options


def make_oracle(spec: Any, preset_name: str, where: str = "oracle"):
    """An oracle of preset ``preset_name`` from a config value ``spec``: ``"analytic"`` (any kind
    name, default options) or ``{"kind": "analytic" | "finite_difference" | "monte_carlo", **options}``
    (``options`` go to the engine's constructor, e.g. ``paths``, ``steps``, ``seed``, ``device``).

    The oracle's ``box`` is the preset's box. Errors name ``where`` (the config key).
    """
    kind, options = _split_spec(spec, where)
    preset = presets.get(preset_name)
    try:
        return preset.oracle(kind, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {kind} oracle options {options}: {exc}") from None


def oracle_label(spec: Any) -> str:
    """A short human-readable name of an oracle spec: ``monte_carlo(paths=16384, seed=7)``."""
    if isinstance(spec, dict):
        opts = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "kind")
        return f"{spec.get('kind')}({opts})"
    return str(spec)


def parse_ints(text: str, name: str) -> list[int]:
    """``"0,20,200"`` -> [0, 20, 200]; non-negative integers, at least one; errors name ``name``."""
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 0 for v in vals):
        raise ValueError(f"{name}: expected non-negative integers, got {text!r}")
    return vals
