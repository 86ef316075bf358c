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
import difflib
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import tomli_w

from .. import presets
from ..box import Box
from .io import write_text

__all__ = ["ORACLE_KINDS", "CONFIG_SUFFIXES", "TOML_NONE", "merge", "unknown_key", "check_types", "load_config",
           "dump_toml", "save_config", "make_oracle", "is_user_oracle", "make_box", "load_function", "oracle_label",
           "parse_ints"]

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
            raise ValueError(unknown_key(where, k, out))
        if isinstance(out[k], dict) and out[k]:
            out[k] = merge(out[k], v, f"{where}.{k}")
        elif isinstance(out[k], dict) and not isinstance(v, dict):
            raise TypeError(f"{where}.{k}: expected a table of options, got {type(v).__name__}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def unknown_key(where: str, key: Any, known: Any) -> str:
    """The message for ``key`` missing from ``known``: its dotted path, the closest known key
    (difflib) when one is close, and every known key: ``config.attack.radus: unknown key 'radus'
    (did you mean 'radius'?); expected one of [...]``."""
    names = sorted(str(k) for k in known)
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}.{key}: unknown key {key!r}{hint}; expected one of {names}"


def _type_name(d: Any) -> str:
    if isinstance(d, bool):
        return "true or false"
    if isinstance(d, int):
        return "an int"
    if isinstance(d, float):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "a table"}
    return names.get(type(d), type(d).__name__)


def _same_type(v: Any, d: Any) -> bool:
    """Whether ``v`` may stand where the default ``d`` is: bool for bool, int (not bool) for int,
    int or float for float, and the same container or string type otherwise."""
    if isinstance(d, bool) or isinstance(v, bool):
        return isinstance(v, bool) and isinstance(d, bool)
    if isinstance(d, int):
        return isinstance(v, int)
    if isinstance(d, float):
        return isinstance(v, (int, float))
    return isinstance(v, type(d))


def check_types(cfg: dict, defaults: dict, where: str = "config", *,
                also: dict[str, tuple[type, ...]] | None = None) -> None:
    """Every value of ``cfg`` (a merged config) has its default's type, at any depth: an int where
    the default is an int, an int or float where it is a float, a list's items like the default
    list's first item. ``also``: {dotted key without "config.": further types it may take}, e.g.
    ``{"fit.epochs": (str,)}``. Defaults that are None or empty tables (open options) are not
    checked. A TypeError names the key, what was expected and what came."""
    also = also or {}
    prefix = where.partition(".")[2]
    for k, d in defaults.items():
        key, v = f"{where}.{k}", cfg[k]
        extra = also.get(f"{prefix}.{k}" if prefix else str(k), ())
        if d is None or (isinstance(d, dict) and not d) or (extra and isinstance(v, extra)):
            continue
        if not _same_type(v, d):
            raise TypeError(f"{key}: expected {_type_name(d)}, got {type(v).__name__} {v!r}")
        if isinstance(d, dict):
            check_types(v, d, key, also=also)
        elif isinstance(d, list) and d and d[0] is not None and not isinstance(d[0], (list, dict)):
            bad = [i for i, item in enumerate(v) if not _same_type(item, d[0])]
            if bad:
                raise TypeError(f"{key}[{bad[0]}]: expected {_type_name(d[0])}, got "
                                f"{type(v[bad[0]]).__name__} {v[bad[0]]!r}")


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


def make_oracle(spec: Any, preset_name: str, where: str = "oracle", *, box: Any = None,
                box_where: str = "box"):
    """An oracle from a config value ``spec``.

    - ``"analytic"`` (any kind name, default options) or ``{"kind": "analytic" | "finite_difference" |
      "monte_carlo", **options}`` (``options`` go to the engine's constructor, e.g. ``paths``,
      ``steps``, ``seed``, ``device``): an oracle of preset ``preset_name`` on the preset's box.
    - ``"package.module:function"`` (a user's vectorized ``(n, d) -> (n,)`` function, imported):
      ``sg.oracles.Function`` over ``box``, a config table ``{bounds = [[lo, hi], ...], names = [...]}``
      (``make_box``); ``preset_name`` is not used.

    ``box`` is only for a user oracle. Errors name ``where`` (the oracle's config key) or ``box_where``.
    """
    if is_user_oracle(spec):
        fn = load_function(spec, where)
        if box is None:
            raise ValueError(f"{box_where}: the user oracle {spec!r} needs its box: a table "
                             "{bounds = [[lo, hi], ...], names = [...]} (names optional)")
        from ..oracles import Function

        return Function(fn, make_box(box, box_where), name=spec)
    if box is not None:
        raise ValueError(f"{box_where}: a box is only for a user oracle 'package.module:function'; "
                         f"the built-in oracle {oracle_label(spec)} gets the box of preset {preset_name!r}")
    kind, options = _split_spec(spec, where)
    preset = presets.get(preset_name)
    try:
        if "model" in options:
            options["model"] = _model(options["model"], f"{where}.model")
        return preset.oracle(kind, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {kind} oracle options {options}: {exc}") from None


def is_user_oracle(spec: Any) -> bool:
    """Whether ``spec`` names a user's function (``"package.module:function"``) rather than a kind."""
    return isinstance(spec, str) and ":" in spec


def load_function(path: str, where: str = "oracle") -> Any:
    """The callable named ``"package.module:function"`` (``function`` may be dotted: ``Class.method``),
    imported with importlib (the module's folder must be on ``sys.path``, e.g. through PYTHONPATH)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ValueError(f"{where}: expected a user oracle as 'package.module:function', got {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{where}: cannot import module {module_name!r} of {path!r} ({exc}); is its folder "
                         "on PYTHONPATH?") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where}: {path!r}: {getattr(obj, '__name__', module_name)!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{where}: {path!r} is a {type(obj).__name__}, expected a callable (n, d) -> (n,)")
    return obj


def make_box(spec: Any, where: str = "box") -> Box:
    """An ``sg.Box`` from a config table ``{"bounds": [[lo, hi], ...], "names": [...]}`` (names optional)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where}: expected a table {{bounds = [[lo, hi], ...], names = [...]}}, "
                        f"got {type(spec).__name__} {spec!r}")
    for k in spec:
        if k not in ("bounds", "names"):
            raise ValueError(unknown_key(where, k, ("bounds", "names")))
    if "bounds" not in spec:
        raise ValueError(f"{where}: expected a 'bounds' key: [[lo, hi], ...], one pair per input column")
    names = spec.get("names") or ()
    if not isinstance(names, (list, tuple)):
        raise TypeError(f"{where}.names: expected a list of column names, got {type(names).__name__} {names!r}")
    try:
        return Box.from_bounds(spec["bounds"], tuple(names))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


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
