"""The ``surrogate-guard`` command line: one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "demo": ("surrogate_guard.demo", "price a batch of the paper preset with every oracle; print errors and timings"),
    "attack": ("surrogate_guard.experiments.attack", "run one localized-backdoor experiment from a config file"),
    "defend": ("surrogate_guard.defense.experiment", "detect the default attack: strategies, budgets, baselines, repair"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="surrogate-guard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        # Only the chosen subcommand's module is imported (and may define its arguments).
        if argv and argv[0] == name:
            importlib.import_module(module).add_arguments(p)
    args = parser.parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
