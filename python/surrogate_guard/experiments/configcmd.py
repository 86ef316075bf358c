"""``surrogate-guard config NAME``: every default of runner NAME as a TOML config, a starting point
for ``surrogate-guard NAME --config FILE``.

    surrogate-guard config defend --out my_defend.toml   # or to stdout without --out
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from .config import dump_toml, save_config
from .runner import standalone

__all__ = ["RUNNERS", "add_arguments", "runner_defaults", "header", "run"]

# Runner name -> the module holding its DEFAULT_CONFIG (imported only when that runner is asked for).
RUNNERS: dict[str, str] = {
    "run": "surrogate_guard.experiments.story",
    "attack": "surrogate_guard.experiments.attack",
    "defend": "surrogate_guard.experiments.defend",
    "quality": "surrogate_guard.experiments.quality",
    "learn": "surrogate_guard.experiments.learn",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", choices=sorted(RUNNERS),
                   help=f"the runner whose defaults are written: one of {', '.join(sorted(RUNNERS))}")
    p.add_argument("--out", default=None, metavar="FILE", help="write to this .toml file instead of stdout")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")


def runner_defaults(name: str) -> dict:
    """``DEFAULT_CONFIG`` of runner ``name`` (a key of ``RUNNERS``); other names are a ValueError."""
    if name not in RUNNERS:
        raise ValueError(f"NAME: expected one of {sorted(RUNNERS)}, got {name!r}")
    module = importlib.import_module(RUNNERS[name])
    defaults = getattr(module, "DEFAULT_CONFIG", None)
    if not isinstance(defaults, dict):
        raise ValueError(f"NAME: {RUNNERS[name]} has no DEFAULT_CONFIG dict (runner {name!r})")
    return defaults


def header(name: str) -> str:
    """The comment that opens the file: which runner, and that every key is a default."""
    return (f"surrogate-guard {name}: every default, as written by `surrogate-guard config {name}`.\n"
            f"Use with `surrogate-guard {name} --config FILE`. A key left out keeps its default, so keep\n"
            "only the ones you change; an unknown key is an error.")


def run(args: argparse.Namespace) -> int:
    defaults = runner_defaults(args.name)
    if args.out is None:
        print(dump_toml(defaults, header(args.name)), end="")
        return 0
    out = Path(args.out)
    if out.suffix.lower() != ".toml":
        raise ValueError(f"--out: expected a file ending in .toml, got {args.out!r}")
    try:
        save_config(defaults, out, header=header(args.name), overwrite=args.force)
    except FileExistsError:
        raise ValueError(f"--out: {args.out} exists; pass --force to replace it") from None
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.configcmd", add_arguments, run)
