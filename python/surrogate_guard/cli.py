"""The ``surrogate-guard`` command line: one subcommand per job.

Argument parsing only. Each subcommand is a module under ``surrogate_guard.experiments`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; only the chosen one is imported. An alias
(``demo``) is a module with other argument defaults.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, help, argument defaults of the alias or {}).
SUBCOMMANDS: dict[str, tuple[str, str, dict]] = {
    "run": ("surrogate_guard.experiments.story", "the whole story for one seed: label, train, poison, detect, "
            "repair (and learn); a run directory with report.md", {}),
    "demo": ("surrogate_guard.experiments.story", "`run --size demo --out runs/demo`: the whole story in well under "
             "a minute", {"size": "demo", "out": "runs/demo"}),
    "price": ("surrogate_guard.experiments.price", "price a batch of a preset with every oracle; print errors and "
              "timings", {}),
    "attack": ("surrogate_guard.experiments.attack", "run one localized-backdoor experiment from a config file", {}),
    "defend": ("surrogate_guard.experiments.defend", "detect the default attack: strategies, budgets, baselines, repair",
               {}),
    "quality": ("surrogate_guard.experiments.quality", "clean surrogate quality against training-set size, per preset",
                {}),
    "learn": ("surrogate_guard.experiments.learn", "active learning: every strategy over seeds, resumable, as learning "
              "curves", {}),
    "config": ("surrogate_guard.experiments.configcmd", "write every default of a runner (run, attack, defend, ...) as "
               "a TOML config", {}),
}


def main(argv: list[str] | None = None, *, report_errors: bool | None = None) -> int:
    """Run the subcommand named by ``argv`` (default: the command line's arguments).

    A ValueError or TypeError from the subcommand is bad input: with ``report_errors`` it is printed
    as ``surrogate-guard: error: MESSAGE`` on stderr and the exit code is 2 (as for argparse's own
    errors); without, it is raised. The default reports when ``argv`` is None (the console script)
    and raises for a caller that passes ``argv`` (tests, scripts that want the exception).
    """
    if report_errors is None:
        report_errors = argv is None
    parser = argparse.ArgumentParser(prog="surrogate-guard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    for name, (module_name, help_text, defaults) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        # Only the chosen subcommand's module is imported (and defines its arguments).
        if argv and argv[0] == name:
            importlib.import_module(module_name).add_arguments(p)
            p.set_defaults(**defaults)
    args = parser.parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (ValueError, TypeError) as exc:
        if not report_errors:
            raise
        print(f"surrogate-guard: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
