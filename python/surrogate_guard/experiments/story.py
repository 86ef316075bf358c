"""``surrogate-guard run``: the whole story of one seed, in one run directory.

Label a clean training set with the config's oracle (a preset's or a user's function), train the
clean surrogate, poison the set with the localized backdoor, train the poisoned surrogate, detect
at a share of the relabelling cost (defend's pinned settings), repair, and optionally learn a
fresh surrogate actively. The steps are the other runners' own (pipeline, defend, learn).

    surrogate-guard run --out runs/run [--config FILE] [--size demo|full] [--seed N] [--quiet] [--json]
    surrogate-guard demo                       # the same at --size demo, into runs/demo

DIR holds config.toml (complete: ``--config DIR/config.toml`` reproduces the run), result.json
(results only, no timings, paths or dates: the same config on the same machine and thread count
gives the same bytes), timings.json, report.md and the figures. Nothing is written until the
run is complete, and then all at once (io.staged_dir); a bad config fails before anything runs.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..attacks import PoisonedSet
from ..data import Labelled
from ..defense import DetectionReport, random_relabel
from .config import load_config, save_config
from .defend import budget_of, false_alarm, method_row, run_detect, settings
from .io import staged_dir, write_json, write_text
from .learn import TimedOracle, make_learner
from .pipeline import clean_data, held_out_points, train_surrogate
from .progress import Stages
from .runconfig import DEFAULT_CONFIG, SIZES, Setup, build, check_out, sized_defaults
from .runner import setup_threads, standalone

__all__ = ["DEFAULT_CONFIG", "SIZES", "Story", "add_arguments", "load", "tell", "write_run", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML (or JSON) merged over the size's defaults (`surrogate-guard config run`)")
    p.add_argument("--out", default="runs/run", metavar="DIR", help="the run directory (default runs/run); "
                   "an earlier run there is replaced when this one is complete")
    p.add_argument("--size", default="full", choices=sorted(SIZES),
                   help="preset of sizes under the config: demo (8000 points, 150 epochs: well under a minute on 2 "
                   "cores) or full (the attack and defend runners' sizes; default)")
    p.add_argument("--seed", type=int, default=None, help="the seed (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print result.json to stdout (and nothing else)")


def load(args: argparse.Namespace) -> dict:
    """The complete config: the defaults of ``--size``, ``--config`` over them, ``--seed`` last."""
    cfg = load_config(args.config, sized_defaults(args.size))
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed: expected an int >= 0, got {args.seed}")
        cfg["seed"] = args.seed
    return cfg


@dataclass(frozen=True)
class Story:
    """What one run made (the timings are the ``Stages``')."""

    setup: Setup
    clean_set: Labelled
    clean: Any
    clean_fit: dict
    ps: PoisonedSet
    poisoned: Any
    poisoned_fit: dict
    X_test: np.ndarray
    z_test: np.ndarray
    budget: int
    main: DetectionReport
    repaired: Any
    curve: list
    false_alarm: dict | None
    learn: dict | None


def _train_side(setup: Setup, stages: Stages, label: TimedOracle) -> tuple:
    """Clean set, clean surrogate, poisoned set, poisoned surrogate, test points and prices."""
    cfg, flat, seed, box = setup.cfg, setup.flat, setup.cfg["seed"], setup.box
    a, t = cfg["attack"], cfg["test"]
    with stages.stage("label clean set", cfg["data"]["n_train"]):
        clean_set = clean_data(flat, box, label, seed)
    with stages.stage("train clean surrogate"):
        clean, clean_fit = train_surrogate(flat, box, clean_set.X, clean_set.y, seed)
    with stages.stage("poison", a["n_poison"] + a["n_guard"]):
        ps = setup.attack.apply(clean_set.X, clean_set.y, label, box=box, seed=seed, y_stderr=clean_set.y_stderr)
    with stages.stage("train poisoned surrogate"):
        poisoned, poisoned_fit = train_surrogate(flat, box, ps.X, ps.y, seed)
    with stages.stage("label test points", t["n_global"] + t["n_ball"]):
        X_test = held_out_points(flat, box, setup.region, seed)
        z_test = label(X_test)
    return clean_set, clean, clean_fit, ps, poisoned, poisoned_fit, X_test, z_test


def _budget_curve(setup: Setup, stages: Stages, checker: TimedOracle, poisoned: Any, ps: PoisonedSet,
                  main: DetectionReport) -> list[dict]:
    """Detection at the main budget (``main``) and at every budget of ``defense.budget_curve``,
    with random relabelling at each: rows of defend's ``method_row``."""
    cfg, flat, seed, region = setup.cfg, setup.flat, setup.cfg["seed"], setup.region
    dc, n = cfg["defense"], len(ps.y)
    fracs = sorted(set(dc["budget_curve"]) | {dc["budget_fraction"]})
    _, check = settings(flat)
    rows = []
    with stages.stage("budget curve", sum(2 * budget_of(f, n) for f in fracs) - budget_of(dc["budget_fraction"], n)):
        for frac in fracs:
            budget = budget_of(frac, n)
            rep = main if frac == dc["budget_fraction"] else run_detect(
                flat, poisoned, checker, ps.X, ps.y, budget, seed, dc["strategy"], ps.y_stderr)
            rows.append(method_row("detect", dc["strategy"], frac, budget, rep, ps, region))
            rep = random_relabel(poisoned, checker, ps.X, ps.y, oracle_budget=budget, seed=seed, check=check,
                                 y_stderr=ps.y_stderr)
            rows.append(method_row("baseline", "random_relabel", frac, budget, rep, ps, region))
    return rows


def _learn(setup: Setup, stages: Stages, X_test: np.ndarray, z_test: np.ndarray) -> dict | None:
    """A short active-learning run of a fresh surrogate, tested on the uniform test points."""
    cfg, lc = setup.cfg, setup.cfg["learn"]
    if not lc["enabled"]:
        return None
    keys = ("batch_size", "initial", "validation", "update", "finetune_steps")
    lcfg = {"surrogate": setup.flat["surrogate"], "fit": {"device": cfg["device"], **lc["fit"]},
            "strategy_options": {lc["strategy"]: lc["strategy_options"]}, **{k: lc[k] for k in keys}}
    n = cfg["test"]["n_global"]
    oracle = stages.watch(TimedOracle(setup.oracle))
    with stages.stage("active learning", bar=False):  # the learner shows its own bar
        learner = make_learner(lcfg, setup.box, lc["strategy"], cfg["seed"], oracle, (X_test[:n], z_test[:n]))
        res = learner.run(lc["budget"], progress=not stages.quiet)
    stages.calls["active learning"] = res.calls
    return {"strategy": lc["strategy"], "budget": lc["budget"], "calls": res.calls, "stopped_by": res.stopped_by,
            "history": [r.to_dict() for r in res.history]}


def tell(setup: Setup, stages: Stages) -> Story:
    """Run every stage of the story for ``setup`` (see the module doc); prices, trains, writes nothing."""
    cfg, flat, seed = setup.cfg, setup.flat, setup.cfg["seed"]
    label = stages.watch(TimedOracle(setup.oracle, on_calls=stages.update))
    checker = stages.watch(TimedOracle(setup.defense_oracle, on_calls=stages.update))
    clean_set, clean, clean_fit, ps, poisoned, poisoned_fit, X_test, z_test = _train_side(setup, stages, label)
    dc = cfg["defense"]
    budget = budget_of(dc["budget_fraction"], len(ps.y))
    with stages.stage("detect", budget):
        main = run_detect(flat, poisoned, checker, ps.X, ps.y, budget, seed, dc["strategy"], ps.y_stderr)
    with stages.stage("repair (retrain)"):
        repaired = main.repair(poisoned, mode=dc["repair_mode"], seed=seed, device=cfg["device"], **flat["fit"])
    curve = _budget_curve(setup, stages, checker, poisoned, ps, main)
    fa = None
    if dc["false_alarm"]:
        with stages.stage("false alarm (clean surrogate)", budget):
            fa = false_alarm(flat, clean, clean_set, checker, budget, seed)
    learned = _learn(setup, stages, X_test, z_test)
    return Story(setup, clean_set, clean, clean_fit, ps, poisoned, poisoned_fit, X_test, z_test, budget, main,
                 repaired, curve, fa, learned)


def _header() -> str:
    return ("surrogate-guard run: the complete config of this run (every key; the --size it started from\n"
            "is folded in). Reproduce it with `surrogate-guard run --config config.toml --out OTHER_DIR`.")


def write_run(out: Path, story: Story, stages: Stages) -> dict:
    """Every file of the run into ``out`` (an empty folder); returns the result."""
    from . import report

    result = report.result_of(story)
    save_config(story.setup.cfg, out / "config.toml", header=_header())
    write_json(out / "result.json", result)
    with stages.stage("figures", bar=False):
        figures = report.figures(out, story)
    timings = report.timings_of(story, stages)
    write_json(out / "timings.json", timings)
    write_text(out / "report.md", report.report_md(story, result, timings, figures))
    return result


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    setup = build(cfg)  # every config error is raised here, before anything runs or is written
    out = check_out(args.out)
    setup_threads(cfg["threads"])
    stages = Stages(quiet=args.quiet)
    story = tell(setup, stages)
    with staged_dir(out) as tmp:
        result = write_run(tmp, story, stages)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from .report import results_table

    print(results_table(story, result))
    print(f"report: {out / 'report.md'} (and result.json, timings.json, config.toml, figures in {out}/)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.story", add_arguments, run)
