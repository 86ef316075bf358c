"""Experiment configs: TOML (or JSON) merged over embedded defaults key by key, oracles built from
a config value, and the comma-separated integer lists of the command line.

``load_config`` picks the format by extension: ``.toml`` (tomllib) or ``.json``. An unknown key is
an error naming its dotted path (a typo must not silently fall back to a default). A key left
out keeps its default. An oracle spec is a kind name (``"analytic"``) or
``{"kind": ..., **constructor options}`` (a TOML table).

TOML has no null, so in a TOML config the string ``"none"`` stands for None, at any depth (lists
included): ``patience = "none"`` is JSON's ``"patience": null``. ``dump_toml`` writes every None
that way, so what it writes loads back to the same dict (the string ``"none"`` itself cannot be
written; no option takes it). Ints and floats stay apart: ``1.0`` is written as ``1.0``.
"""
from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import tomli_w

from .. import presets
from .io import write_text

__all__ = ["ORACLE_KINDS", "CONFIG_SUFFIXES", "TOML_NONE", "merge", "load_config", "dump_toml", "save_config",
           "make_oracle", "oracle_label", "parse_ints"]

ORACLE_KINDS: tuple[str, ...] = ("analytic", "finite_difference", "monte_carlo")
CONFIG_SUFFIXES: tuple[str, ...] = (".toml", ".json")
TOML_NONE = "none"  # a TOML config's spelling of None (TOML has no null)
# tomli_w writes an item per line; a key's array of scalars (no brackets or braces) fits on one.
_ARRAY = re.compile(r"^(\S[^\n]* = )\[\n((?:    [^\n\[\]{}]*,\n)+)\]$", re.MULTILINE)


def merge(defaults: dict, override: Any, where: str = "config") -> dict:
    """``defaults`` updated by ``override`` recursively (a deep copy); unknown keys raise ValueError.

    A default that is a non-empty dict is merged key by key; an empty dict is an open mapping
    (options passed on to a constructor, which checks them) and is replaced whole, as is any other
    default (a number, a list, None, an oracle spec string).
    """
    if not isinstance(override, dict):
        raise TypeError(f"{where}: expected a JSON object, got {type(override).__name__}")
    out = copy.deepcopy(defaults)
    for k, v in override.items():
        if k not in out:
            raise ValueError(f"{where}.{k}: unknown key {k!r}; expected one of {sorted(out)}")
        if isinstance(out[k], dict) and out[k]:
            out[k] = merge(out[k], v, f"{where}.{k}")
        elif isinstance(out[k], dict) and not isinstance(v, dict):
            raise TypeError(f"{where}.{k}: expected a table of options, got {type(v).__name__}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def _suffix(path: str | os.PathLike[str], what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ValueError(f"{what}: {os.fspath(path)}: expected a file ending in {' or '.join(CONFIG_SUFFIXES)}, "
                         f"got {suffix or 'no extension'!r}")
    return suffix


def _tomllib() -> Any:
    """The TOML reader: the standard library's tomllib (Python >= 3.11), else the tomli backport."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ModuleNotFoundError:
        raise ValueError("--config: reading TOML needs Python >= 3.11 (tomllib) or the tomli package; "
                         "use a .json config or `pip install tomli`") from None
    return tomli


def _from_toml(value: Any) -> Any:
    """A parsed TOML value with every ``"none"`` (at any depth) turned into None."""
    if isinstance(value, dict):
        return {k: _from_toml(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_toml(v) for v in value]
    return None if isinstance(value, str) and value == TOML_NONE else value


def _to_toml(value: Any, where: str) -> Any:
    """``value`` with every None (at any depth) written as ``"none"``; tuples become lists."""
    if isinstance(value, dict):
        return {k: _to_toml(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_toml(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None:
        return TOML_NONE
    if isinstance(value, str) and value == TOML_NONE:
        raise ValueError(f"{where}: the string {TOML_NONE!r} cannot be written to TOML (it reads back as None)")
    return value


def _read_json(name: str) -> Any:
    try:
        with open(name, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config: {name} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ValueError(f"--config: cannot read {name}: {exc.strerror}") from None


def _read_toml(name: str) -> dict:
    toml = _tomllib()
    try:
        with open(name, "rb") as f:
            raw = toml.load(f)
    except toml.TOMLDecodeError as exc:
        raise ValueError(f"--config: {name} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"--config: {name} is not valid TOML (not UTF-8 text: {exc})") from None
    except OSError as exc:
        raise ValueError(f"--config: cannot read {name}: {exc.strerror}") from None
    return _from_toml(raw)


def load_config(path: str | os.PathLike[str] | None, defaults: dict) -> dict:
    """The defaults (a deep copy), or the config in ``path`` merged over them.

    ``path`` ends in ``.toml`` (read with tomllib; ``"none"`` is None) or ``.json``; anything
    else, an unreadable or malformed file, or an unknown key is a ValueError naming it.
    """
    if path is None:
        return copy.deepcopy(defaults)
    name = os.fspath(path)
    raw = _read_toml(name) if _suffix(name, "--config") == ".toml" else _read_json(name)
    return merge(defaults, raw)


def dump_toml(cfg: dict, header: str | None = None) -> str:
    """``cfg`` as TOML text that ``load_config`` reads back to ``cfg`` (None as ``"none"``).

    ``header`` (any number of lines) opens the text as ``#`` comments; a note on ``"none"``
    follows when ``cfg`` holds a None.
    """
    body = _ARRAY.sub(_one_line, tomli_w.dumps(_to_toml(cfg, "config")))
    lines = header.splitlines() if header else []
    if _has_none(cfg):
        lines.append(f'TOML has no null: the string "{TOML_NONE}" stands for None.')
    comments = "".join(f"# {line}".rstrip() + "\n" for line in lines)
    return comments + ("\n" if comments else "") + body


def _one_line(m: re.Match[str]) -> str:
    line = m.group(1) + "[" + ", ".join(item.strip()[:-1] for item in m.group(2).splitlines()) + "]"
    return line if len(line) <= 100 else m.group(0)


def _has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_none(v) for v in value)
    return value is None


def save_config(cfg: dict, path: str | os.PathLike[str], *, header: str | None = None,
                overwrite: bool = True) -> Path:
    """Write the complete ``cfg`` to ``path`` (``.toml``: ``dump_toml``; ``.json``: indented JSON) so
    that ``load_config(path, defaults)`` gives ``cfg`` back; returns the path.

    With ``overwrite`` False an existing file is a FileExistsError (checked atomically); else
    the file is replaced atomically. ``header`` goes into TOML files only (JSON has no comments).
    """
    p = Path(path)
    if _suffix(p, "path") == ".toml":
        text = dump_toml(cfg, header)
    else:
        text = json.dumps(cfg, indent=2, allow_nan=False) + "\n"
    if overwrite:
        write_text(p, text)
    else:
        with open(p, "x", encoding="utf-8") as f:
            f.write(text)
    return p


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
        if "model" in options:
            options["model"] = _model(options["model"], f"{where}.model")
        return preset.oracle(kind, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {kind} oracle options {options}: {exc}") from None


def _model(spec: Any, where: str) -> Any:
    """A Monte Carlo model from a config value: ``"gbm"``, ``"heston"`` or ``{"kind": "heston", **params}``."""
    from ..models import GBM, Heston

    kind, params = (spec, {}) if isinstance(spec, str) else (None, spec)
    if isinstance(params, dict) and kind is None:
        params = dict(params)
        kind = params.pop("kind", None)
    models = {"gbm": GBM, "heston": Heston}
    if kind not in models or not isinstance(params, dict):
        raise ValueError(f"{where}: expected 'gbm', 'heston' or {{kind = 'heston', kappa = ..., ...}}, got {spec!r}")
    try:
        return models[kind](**params)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


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
