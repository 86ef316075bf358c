"""The ``surrogate-guard`` command line: one subcommand per job.

Argument parsing only. Each subcommand is a module under ``surrogate_guard.experiments`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; only the chosen one is imported.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "demo": ("surrogate_guard.experiments.demo", "price a batch of a preset with every oracle; print errors and timings"),
    "attack": ("surrogate_guard.experiments.attack", "run one localized-backdoor experiment from a config file"),
    "defend": ("surrogate_guard.experiments.defend", "detect the default attack: strategies, budgets, baselines, repair"),
    "quality": ("surrogate_guard.experiments.quality", "clean surrogate quality against training-set size, per preset"),
    "learn": ("surrogate_guard.experiments.learn", "active learning: every strategy over seeds, resumable, as learning curves"),
    "config": ("surrogate_guard.experiments.configcmd", "write every default of a runner (attack, defend, ...) as a TOML config"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="surrogate-guard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        # Only the chosen subcommand's module is imported (and defines its arguments).
        if argv and argv[0] == name:
            importlib.import_module(module_name).add_arguments(p)
    args = parser.parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
