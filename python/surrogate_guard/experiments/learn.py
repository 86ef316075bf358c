"""``surrogate-guard learn``: every active-learning strategy over seeds, resumable, as learning curves.

Each (strategy, seed) run is an ``ActiveLearner`` checkpointed after every round under
``OUT/checkpoints/STRATEGY-SEED``; its curve (test RMSE and worst error against oracle calls, on a
held-out test set that is never counted) lands in ``OUT/runs/STRATEGY-SEED.json`` when it
finishes. A rerun skips finished runs and resumes unfinished ones from their checkpoints. Random
sampling is also measured as single designs of ``random_single`` calls. ``OUT/learning_curves.png``
(one line per strategy, shaded over seeds), ``.json`` and ``.md`` (the table at ``report_at``
calls) gather them. Time is split into oracle, search (proposing minus oracle) and training.
"""
from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import make_oracle, oracle_label
from .io import outdir, read_json, write_json, write_text
from .runner import config_from_args, per_item, setup_threads, standalone

__all__ = ["DEFAULT_CONFIG", "TimedOracle", "add_arguments", "make_learner", "run", "run_one", "summarize", "table", "time_split", "time_table"]

DEFAULT_CONFIG: dict = {
    "preset": "paper",
    "oracle": "analytic",
    "strategies": ["random", "error-maximizers", "greedy-x", "igs", "committee"],
    "seeds": [0, 1, 2, 3, 4],
    # Strategies other than "random" and "error-maximizers" run the first ``baseline_seeds`` seeds.
    "baseline_seeds": 3,
    # Per strategy name, constructor options, e.g. [strategy_options.error-maximizers] steps = 2.
    "strategy_options": {},
    "budget": 8000,
    "report_at": [2000, 4000, 8000],
    "random_single": [1000, 16000],
    "batch_size": 500,
    "initial": 500,
    "validation": 500,
    "update": "retrain",
    "finetune_steps": 3000,
    "surrogate": {"widths": [64, 64, 64, 64], "activation": "silu"},
    "fit": {},  # Surrogate.fit options (default: equal steps, epochs="auto")
    # The held-out test set: uniform points of the preset's box, labelled by ``oracle`` (None: the
    # run's oracle), cached in OUT/test_set.npz with the seconds its labels took.
    "test": {"points": 50000, "seed": 30000, "oracle": None},
    "threads": 1,
}


class TimedOracle:
    """An oracle that adds the seconds of its ``evaluate`` calls to ``seconds``, and reports the
    points of each call to ``on_calls`` (e.g. a progress bar's ``update``) when one is given."""

    def __init__(self, oracle: Any, on_calls: Callable[[int], Any] | None = None) -> None:
        self.oracle, self.dim, self.box, self.seconds = oracle, oracle.dim, oracle.box, 0.0
        self.on_calls = on_calls

    @property
    def calls(self) -> int:
        return self.oracle.calls

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        return self.oracle.check_points(X, name)

    @property
    def has_grad(self) -> bool:
        return bool(getattr(self.oracle, "has_grad", False))

    @property
    def grad_calls(self) -> int:
        return int(getattr(self.oracle, "grad_calls", 0))

    def evaluate(self, X: Any, grad: bool = False) -> Any:
        t = time.perf_counter()
        try:
            res = self.oracle.evaluate(X, grad=True) if grad else self.oracle.evaluate(X)
        finally:
            self.seconds += time.perf_counter() - t
        if self.on_calls is not None:
            self.on_calls(len(res.price))
        return res

    def __call__(self, X: Any) -> np.ndarray:
        return np.asarray(self.evaluate(X).price)


def test_set(cfg: dict, out: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(X, y, seconds of labelling) of the config's test set, computed once and cached."""
    from .. import presets

    path = out / "test_set.npz"
    t = cfg["test"]
    if path.exists():
        with np.load(path) as f:
            if int(f["points"]) == t["points"] and int(f["seed"]) == t["seed"] and str(f["oracle"]) == str(t["oracle"]):
                return f["X"], f["y"], float(f["seconds"])
    X = presets.get(cfg["preset"]).sample(int(t["points"]), seed=int(t["seed"]))
    oracle = make_oracle(t["oracle"] if t["oracle"] is not None else cfg["oracle"], cfg["preset"], "test.oracle")
    t0 = time.perf_counter()
    y = np.asarray(oracle(X))
    seconds = time.perf_counter() - t0
    np.savez(path.with_suffix(".tmp.npz"), X=X, y=y, seconds=seconds, points=t["points"], seed=t["seed"],
             oracle=str(t["oracle"]))
    path.with_suffix(".tmp.npz").replace(path)
    return X, y, seconds


def _learner(cfg: dict, strategy: str, seed: int, oracle: Any, test: tuple, batch_size: int | None = None):
    import surrogate_guard as sg

    return make_learner(cfg, sg.presets.get(cfg["preset"]), strategy, seed, oracle, test, batch_size)


def make_learner(cfg: dict, box: Any, strategy: str, seed: int, oracle: Any, test: tuple | None,
                 batch_size: int | None = None):
    """An ``ActiveLearner`` of the config's learner settings (surrogate, strategy_options, batch_size,
    initial, validation, fit, update, finetune_steps) over ``box`` (a preset: its spot scales the
    surrogate; a Box: the first fit does), testing on ``test`` (X, y)."""
    import surrogate_guard as sg
    from ..active import ActiveLearner

    s = cfg["surrogate"]
    return ActiveLearner(oracle, box, surrogate=sg.Surrogate(box, widths=tuple(s["widths"]), activation=s["activation"]),
                         strategy=strategy, strategy_options=cfg["strategy_options"].get(strategy) or None,
                         batch_size=batch_size or cfg["batch_size"], initial=cfg["initial"],
                         validation=cfg["validation"], seed=seed, fit=cfg["fit"], update=cfg["update"],
                         finetune_steps=cfg["finetune_steps"], test=test)


def run_one(cfg: dict, job: tuple[str, int, int | None], out: str, progress: bool = False) -> dict:
    """One (strategy, seed, single) run: resumed from its checkpoint when one exists; its curve."""
    strategy, seed, single = job
    name = _name(job)
    root = Path(out)
    X, y, _ = test_set(cfg, root)
    oracle = TimedOracle(make_oracle(cfg["oracle"], cfg["preset"]))
    budget = cfg["budget"] if single is None else single
    batch = None if single is None else max(1, single - cfg["initial"] - cfg["validation"])
    lr = _learner(cfg, strategy, seed, oracle, (X, y), batch)
    ck = root / "checkpoints" / name
    t0 = time.perf_counter()
    res = lr.run(budget, checkpoint=ck, resume_from=ck if (ck / "LATEST").exists() else None, progress=progress)
    rows = [r.to_dict() for r in res.history]
    result = {"name": name, "strategy": strategy, "seed": seed, "single": single, "history": rows,
              "stopped_by": res.stopped_by, "calls": res.calls, "wall_s": time.perf_counter() - t0,
              "time": time_split(rows)}
    write_json(outdir(root / "runs") / f"{name}.json", result)
    return result


def time_split(rows: list[dict]) -> dict:
    """Where a run's wall time went: the oracle (initial design and validation included), the
    search (proposing minus the oracle time inside it), training, and the rest (evaluation)."""
    last = rows[-1]
    oracle, fit = last["oracle_s"], sum(r["fit_s"] for r in rows)
    search = max(0.0, sum(r["propose_s"] for r in rows) - (last["oracle_s"] - rows[0]["oracle_s"]))
    return {"wall_s": last["wall_s"], "oracle_s": oracle, "search_s": search, "fit_s": fit,
            "other_s": max(0.0, last["wall_s"] - oracle - search - fit)}


def jobs_of(cfg: dict) -> list[tuple[str, int, int | None]]:
    jobs: list[tuple[str, int, int | None]] = []
    for s in cfg["strategies"]:
        k = len(cfg["seeds"]) if s in ("random", "error-maximizers") else int(cfg["baseline_seeds"])
        jobs += [(s, seed, None) for seed in cfg["seeds"][:k]]
    if "random" in cfg["strategies"]:
        jobs += [("random", seed, n) for n in cfg["random_single"] for seed in cfg["seeds"]]
    return jobs


def _at(history: list[dict], calls: int) -> dict | None:
    rows = [r for r in history if r["calls"] <= calls]
    return rows[-1] if rows and rows[-1]["calls"] == calls else None


def summarize(results: list[dict], points: list[int]) -> list[dict]:
    """Per strategy and call count: test RMSE and worst error over seeds (mean, sd, min, max)."""
    out = []
    for label in sorted({r["strategy"] for r in results}):
        for calls in points:
            got = [row for r in results if r["strategy"] == label and (row := _at(r["history"], calls))]
            if not got:
                continue
            rm, wo = np.array([g["test_rmse"] for g in got]), np.array([g["test_worst"] for g in got])
            out.append({"strategy": label, "calls": calls, "seeds": len(got), "rmse_mean": float(rm.mean()),
                        "rmse_sd": float(rm.std(ddof=1)) if len(rm) > 1 else 0.0, "rmse_min": float(rm.min()),
                        "rmse_max": float(rm.max()), "worst_mean": float(wo.mean()), "worst_min": float(wo.min()),
                        "worst_max": float(wo.max()), "n_train_mean": float(np.mean([g["n_train"] for g in got])),
                        "wall_s_mean": float(np.mean([g["wall_s"] for g in got]))})
    return out


def table(summary: list[dict], cfg: dict) -> str:
    lines = [f"Preset {cfg['preset']}, oracle {oracle_label(cfg['oracle'])}; initial {cfg['initial']}, validation "
             f"{cfg['validation']} (both counted), batches of {cfg['batch_size']}, update {cfg['update']}; test set "
             f"{cfg['test']['points']} uniform points (not counted).", "",
             "| strategy | oracle calls | seeds | test RMSE mean +- sd (min-max) | worst abs error mean (min-max) "
             "| training points | wall s |",
             "|---|---:|---:|---|---|---:|---:|"]
    for s in summary:
        lines.append(f"| {s['strategy']} | {s['calls']} | {s['seeds']} | {s['rmse_mean']:.3f} +- {s['rmse_sd']:.3f} "
                     f"({s['rmse_min']:.3f}-{s['rmse_max']:.3f}) | {s['worst_mean']:.1f} ({s['worst_min']:.1f}-"
                     f"{s['worst_max']:.1f}) | {s['n_train_mean']:.0f} | {s['wall_s_mean']:.0f} |")
    return "\n".join(lines) + "\n"


def time_table(results: list[dict]) -> str:
    """Per strategy, the mean seconds of a whole run in the oracle, the search, training, the rest."""
    lines = ["| strategy | runs | wall s | oracle | search | training | other |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label in sorted({r["strategy"] for r in results if r["single"] is None}):
        ts = [r["time"] for r in results if r["strategy"] == label and r["single"] is None]
        m = {k: float(np.mean([t[k] for t in ts])) for k in ("wall_s", "oracle_s", "search_s", "fit_s", "other_s")}
        pct = {k: 100 * m[k] / m["wall_s"] if m["wall_s"] else 0.0 for k in m}
        lines.append(f"| {label} | {len(ts)} | {m['wall_s']:.0f} | {m['oracle_s']:.1f} s ({pct['oracle_s']:.0f}%) "
                     f"| {m['search_s']:.1f} s ({pct['search_s']:.0f}%) | {m['fit_s']:.0f} s ({pct['fit_s']:.0f}%) "
                     f"| {m['other_s']:.1f} s ({pct['other_s']:.0f}%) |")
    return "\n".join(lines) + "\n"

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML (or JSON) file merged over the defaults (`surrogate-guard config learn`)")
    p.add_argument("--out", default="runs/learn", help="output folder (checkpoints, runs, curves); reruns resume")
    p.add_argument("--seeds", type=int, help="use seeds 0..N-1 instead of the config's")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel worker processes")
    p.add_argument("--strategies", help="comma-separated subset of the config's strategies")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG figure")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, DEFAULT_CONFIG)
    if args.strategies:
        cfg["strategies"] = [s.strip() for s in args.strategies.split(",") if s.strip()]
    from ..active import STRATEGIES

    bad = [s for s in cfg["strategies"] if s not in STRATEGIES]
    if bad:
        raise ValueError(f"strategies: expected names of {STRATEGIES}, got {bad}")
    make_oracle(cfg["oracle"], cfg["preset"])  # a bad spec fails here, before any worker starts
    setup_threads(cfg["threads"])
    out = outdir(args.out)
    t0 = time.perf_counter()
    _, _, test_s = test_set(cfg, out)
    jobs = jobs_of(cfg)
    done = {p.stem for p in (out / "runs").glob("*.json")} if (out / "runs").exists() else set()
    results = [read_json(out / "runs" / f"{_name(j)}.json") for j in jobs if _name(j) in done]
    todo = [j for j in jobs if _name(j) not in done]
    fn = functools.partial(run_one, out=str(out), progress=not args.quiet and args.jobs == 1)
    for res in per_item(fn, cfg, todo, args.jobs):
        results.append(res)
        print(f"{res['name']}: {res['calls']} calls, final test RMSE {res['history'][-1]['test_rmse']:.3f}, "
              f"worst {res['history'][-1]['test_worst']:.1f} ({res['wall_s']:.0f} s)", flush=True)
    points = sorted(set(cfg["report_at"]) | set(cfg["random_single"]))
    summary = summarize([r for r in results if r["single"] is None], points)
    summary += [dict(s, strategy="random (one design)") for s in
                summarize([dict(r, history=r["history"][-1:]) for r in results if r["single"] is not None], points)]
    write_json(out / "learning_curves.json", {"config": cfg, "summary": summary, "test_label_seconds": test_s,
                                              "runs": sorted(results, key=lambda r: r["name"])})
    text = table(summary, cfg) + "\nWhere the time went (mean of a whole run):\n\n" + time_table(results)
    write_text(out / "learning_curves.md", text)
    if not args.no_plot:
        from .plots import learning_curves

        learning_curves(out / "learning_curves.png", results, cfg)
    print(text)
    print(f"wrote {out}/learning_curves.json, .md{'' if args.no_plot else ', .png'} in {time.perf_counter() - t0:.0f}s")
    return 0


def _name(job: tuple[str, int, int | None]) -> str:
    s, seed, single = job
    return f"{s}-{seed}" if single is None else f"{s}-single{single}-{seed}"


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.learn", add_arguments, run)
