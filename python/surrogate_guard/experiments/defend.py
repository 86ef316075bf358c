"""``surrogate-guard defend``: the defense against the default attack, per seed and budget.

Per seed: the attack pipeline's clean and poisoned surrogates (same seed); ``detect`` with each
seeding strategy at each oracle budget, the baselines at the same budgets, detection on the
clean surrogate with its honest training set (false alarms), and repair. ``--sweep`` varies one
attack parameter at a time instead. Writes report.json, table.md and two plots (or sweep.json,
sweep.md).

Two oracles: ``oracle`` labels the training set, the poison and guards and the test points;
``defense_oracle`` (default: the same spec) is what the defender checks labels against, e.g. a
Monte Carlo engine with another seed, so honest labels and checks disagree by noise.
"""
from __future__ import annotations

import argparse
import copy
import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import presets
from ..defense import (SEED_STRATEGIES, CheckSettings, DetectionReport, SearchSettings, detect, neighbour_outliers,
                       random_relabel, trimmed_retraining)
from .attack import DEFAULT_CONFIG as ATTACK_CONFIG
from .attack import run_seed
from .config import make_oracle, oracle_label
from .io import outdir, write_json, write_text
from .pipeline import SeedArtifacts, clean_data, make_attack, train_surrogate
from .runner import config_from_args, per_seed, setup_threads, standalone

__all__ = ["DEFAULT_CONFIG", "DefendSeed", "add_arguments", "run", "run_one", "sweep_seed", "settings",
           "defense_oracle", "summary_table", "sweep_table", "budget_of", "run_detect", "method_row", "false_alarm"]

DEFAULT_CONFIG: dict = {
    **copy.deepcopy(ATTACK_CONFIG),
    "defense_oracle": None,  # None: the spec of "oracle"; e.g. {"kind": "monte_carlo", ..., "seed": 7}
    "defense": {
        "budget_fractions": [0.01, 0.02, 0.05, 0.1],  # of the oracle calls that relabel the whole set
        "strategies": ["mixed", "residual", "disagreement", "gradient", "density", "levy", "random"],
        "main_strategy": "mixed",
        "main_budget_fraction": 0.1,
        "trim": False,  # TRIM retrains 3 times per seed: off by default on 2 cores
        "repair_mode": "relabel",
        # Every field of sg.defense.SearchSettings / CheckSettings, at the values detect used by default
        # (DETECT_SEARCH, CheckSettings()), written out so a change of the library's defaults
        # moves no documented figure.
        "search": {"steps": 6, "lr": 0.05, "decay": 0.5, "decay_every": 3, "fd_step": 0.001,
                   "merge_radius": 0.05, "density_radius": 0.1, "dtype": "float64", "oracle_gradient": "auto"},
        "check": {"search_fraction": 0.3, "error_threshold": None, "min_density": 20, "check_radius": 0.1,
                  "grow_k": 8, "batch": 32, "confirm_cap": 200, "infer": True, "k_sigma": 5.0, "rel_tol": 1e-06,
                  "label_tol": None},
        # --sweep: one attack parameter varied at a time from the default, to find where detection breaks.
        # The first radius is the default attack itself.
        "sweep": {"radius": [0.1, 0.05, 0.02, 0.01], "shift": [2.5, 1.0, 0.5, 0.25, 0.1],
                  "n_poison": [1000, 500, 250]},  # n_poison rows use as many guards
    },
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="JSON file overriding the embedded defaults")
    p.add_argument("--out", required=True, help="output folder (e.g. runs/defend)")
    p.add_argument("--seeds", type=int, default=None, help="use seeds 0..N-1 instead of the config's list")
    p.add_argument("--no-plot", action="store_true", help="skip the plots")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes (each with `threads`)")
    p.add_argument("--sweep", action="store_true",
                   help="smaller regions and smaller shifts (config defense.sweep) at the main setting: where it breaks")


# -- config ----------------------------------------------------------------------------------------
def settings(cfg: dict) -> tuple[SearchSettings, CheckSettings]:
    """``SearchSettings`` and ``CheckSettings`` of ``cfg["defense"]``; errors name the config key."""
    key = "search"
    try:
        search = SearchSettings(**cfg["defense"][key])
        key = "check"
        return search, CheckSettings(**cfg["defense"][key])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config.defense.{key}: {exc}") from None


def defense_oracle(cfg: dict):
    """The oracle the defender checks against: ``cfg["defense_oracle"]``, or the spec of ``cfg["oracle"]``."""
    spec = cfg["defense_oracle"]
    if spec is None:
        return make_oracle(cfg["oracle"], cfg["preset"], "oracle")
    return make_oracle(spec, cfg["preset"], "defense_oracle")


def _check_config(cfg: dict) -> None:
    """Fail in this process, before any worker starts, on a bad oracle spec, setting or strategy."""
    make_oracle(cfg["oracle"], cfg["preset"], "oracle")
    defense_oracle(cfg)
    settings(cfg)
    dcfg = cfg["defense"]
    bad = [s for s in list(dcfg["strategies"]) + [dcfg["main_strategy"]] if s not in SEED_STRATEGIES]
    if bad:
        raise ValueError(f"config.defense: strategies expected among {SEED_STRATEGIES}, got {bad}")
    if dcfg["repair_mode"] not in ("drop", "relabel"):
        raise ValueError(f"config.defense.repair_mode: expected 'drop' or 'relabel', got {dcfg['repair_mode']!r}")
    fracs = dcfg["budget_fractions"]
    if not isinstance(fracs, list) or not fracs or any(not 0 < f <= 1 for f in fracs + [dcfg["main_budget_fraction"]]):
        raise ValueError(f"config.defense: expected budget_fractions and main_budget_fraction as shares in (0, 1], "
                         f"got {fracs!r} and {dcfg['main_budget_fraction']!r}")


# -- one detection ---------------------------------------------------------------------------------
def budget_of(frac: float, n: int) -> int:
    return max(1, int(frac * n))


def run_detect(cfg: dict, model, oracle, X, y, budget: int, seed: int, strategy: Any, y_stderr=None) -> DetectionReport:
    """``detect`` at the config's settings; ``y_stderr``: the labels' own standard errors (the
    labelling oracle's), so noisy labels are judged by their own noise and the checker's."""
    search, check = settings(cfg)
    return detect(model, oracle, X, y, oracle_budget=budget, seed=seed, strategy=strategy, search=search,
                  check=check, y_stderr=y_stderr, device=cfg["device"], threads=cfg["threads"])


def _nan_to_none(x: float) -> float | None:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def method_row(kind: str, name: str, frac: float, budget: int, rep: DetectionReport, ps, region) -> dict:
    """One method at one budget, judged against the truth: counts beside rates, region hit, cost."""
    c = rep.cost
    counts = rep.counts(ps.is_poison)
    return {"kind": kind, "method": name, "budget_fraction": frac, "oracle_budget": budget,
            "oracle_calls": c.oracle_calls, "calls_fraction": c.fraction_of_relabel_all,
            "true_positives": counts["true_positives"], "false_positives": counts["false_positives"],
            "false_negatives": counts["false_negatives"], "n_poison": counts["n_poison"],
            "n_clean": counts["n_clean"], "recall": _nan_to_none(counts["recall"]),
            "fpr": counts["false_positive_rate"], "hit": rep.region_hit(region),
            "hit_maximizer": rep.region_hit(region, by="maximizer"),
            "n_flagged": int(len(rep.flagged)), "n_suspects": int(len(rep.suspects)), "wall_s": float(c.total_s)}


def _method_rows(cfg: dict, model, oracle, ps, region, seed: int) -> list[dict]:
    """Every strategy and the random-relabel baseline at every budget, then the oracle-free baselines."""
    dcfg, n = cfg["defense"], len(ps.y)
    _, check = settings(cfg)
    rows = []
    for frac in dcfg["budget_fractions"]:
        budget = budget_of(frac, n)
        for strat in dcfg["strategies"]:
            rep = run_detect(cfg, model, oracle, ps.X, ps.y, budget, seed, strat, ps.y_stderr)
            rows.append(method_row("detect", strat, frac, budget, rep, ps, region))
        rep = random_relabel(model, oracle, ps.X, ps.y, oracle_budget=budget, seed=seed, check=check,
                             y_stderr=ps.y_stderr)
        rows.append(method_row("baseline", "random_relabel", frac, budget, rep, ps, region))
    rows.append(method_row("baseline", "neighbour_outliers", 0.0, 0, neighbour_outliers(model, ps.X, ps.y), ps, region))
    if dcfg["trim"]:
        rep = trimmed_retraining(model, ps.X, ps.y, seed=seed, device=cfg["device"], **cfg["fit"])
        rows.append(method_row("baseline", "trimmed_retraining", 0.0, 0, rep, ps, region))
    return rows


def _ball_errors(models: dict, oracle, region, seed: int, n: int = 2000) -> dict:
    """Mean |Y - Z| over ``n`` points drawn in the trigger ball, per model (priced once)."""
    X = region.sample(n, 40_000 + seed, 0.0, region.radius)
    z = oracle(X)
    return {name: float(np.mean(np.abs(m.predict(X) - z))) for name, m in models.items()}


# -- one seed --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DefendSeed:
    """One seed of ``defend``: ``result`` (JSON-ready), and for the plotted seed its
    ``artifacts`` and the ``main`` detection report (None for the other seeds)."""

    result: dict
    artifacts: SeedArtifacts | None = None
    main: DetectionReport | None = None


def false_alarm(cfg: dict, clean, cs, oracle, budget: int, seed: int) -> dict:
    """The main setting on the ``clean`` surrogate and its honest training set ``cs`` (a
    ``data.Labelled``), checked by ``oracle``."""
    assert cs is not None
    fa = run_detect(cfg, clean, oracle, cs.X, cs.y, budget, seed, cfg["defense"]["main_strategy"], cs.y_stderr)
    counts = fa.counts(np.zeros(len(cs), dtype=bool))
    return {"flagged_regions": int(len(fa.flagged)), "suspect_rows": int(len(fa.suspects)),
            "confirmed_rows": int(len(fa.confirmed)), "inferred_rows": int(len(fa.inferred)), "rows": len(cs),
            "false_positives": counts["false_positives"], "false_positive_rate": counts["false_positive_rate"],
            "oracle_budget": budget, "oracle_calls": fa.cost.oracle_calls}


def run_one(cfg: dict, seed: int, keep: bool = True) -> DefendSeed:
    """Attack, every method, the main setting with repair, and the false-alarm run for one seed."""
    n_guard = int(cfg["attack"]["n_guard"])
    atk_rows, art = run_seed(cfg, seed, [n_guard])
    label_oracle, d_oracle = make_oracle(cfg["oracle"], cfg["preset"]), defense_oracle(cfg)
    model, ps = art.poisoned[n_guard]
    dcfg, region = cfg["defense"], art.region
    rows = _method_rows(cfg, model, d_oracle, ps, region, seed)
    budget = budget_of(dcfg["main_budget_fraction"], len(ps.y))
    main = run_detect(cfg, model, d_oracle, ps.X, ps.y, budget, seed, dcfg["main_strategy"], ps.y_stderr)
    repaired = main.repair(model, mode=dcfg["repair_mode"], seed=seed, device=cfg["device"], **cfg["fit"])
    counts = main.counts(ps.is_poison)
    result = {
        "seed": seed, "attack": atk_rows[0], "rows": rows, "main": main.to_dict(),
        "main_counts": {k: _nan_to_none(v) for k, v in counts.items()}, "main_oracle_budget": budget,
        "main_recall": _nan_to_none(counts["recall"]), "main_fpr": counts["false_positive_rate"],
        "main_hit": main.region_hit(region), "main_hit_maximizer": main.region_hit(region, by="maximizer"),
        "main_calls_fraction": main.cost.fraction_of_relabel_all,
        "ball_error": _ball_errors({"clean": art.clean, "poisoned": model, "repaired": repaired},
                                   label_oracle, region, seed),
        "false_alarm": false_alarm(cfg, art.clean, art.clean_set, d_oracle, budget, seed),
    }
    return DefendSeed(result, art, main) if keep else DefendSeed(result)


def _defend_job(cfg: dict, seed: int, *, keep_seed: int) -> DefendSeed:
    return run_one(cfg, seed, keep=seed == keep_seed)


# -- tables ----------------------------------------------------------------------------------------
def _mean_min(vals: list, worst=np.min) -> str:
    a = np.array([np.nan if v is None else v for v in vals], dtype=float)
    a = a[np.isfinite(a)]
    return f"{a.mean():.3f} ({worst(a):.3f})" if a.size else "n/a"


def _cells(rs: list[dict]) -> str:
    """Cells shared by every summary: recall mean (min) | FPR mean (max) | TP / FN / FP summed over
    seeds | region hit (by a flagged maximizer) | calls used."""
    n = len(rs)
    tp, fn, fp = (sum(r[k] for r in rs) for k in ("true_positives", "false_negatives", "false_positives"))
    hits = f"{sum(r['hit'] for r in rs)}/{n} ({sum(r['hit_maximizer'] for r in rs)}/{n})"
    fpr = np.array([r["fpr"] for r in rs])
    return (f"{_mean_min([r['recall'] for r in rs])} | {fpr.mean():.4f} ({fpr.max():.4f}) | {tp} / {fn} / {fp} | "
            f"{hits} | {np.mean([r['calls_fraction'] for r in rs]):.3f}")


_CELL_HEAD = ("recall mean (min) | clean rows flagged (max) | poisoned found / missed, clean flagged (sums) | "
              "region hit (by a flagged maximizer) | calls used |")


def _oracles_line(cfg: dict) -> str:
    d = cfg["defense_oracle"]
    return (f"Labels from {oracle_label(cfg['oracle'])}; the defense checks against "
            f"{'the same oracle' if d is None else oracle_label(d)}.")


def summary_table(results: list[dict], cfg: dict) -> str:
    dcfg = cfg["defense"]
    lines = [f"Defense against the default attack ({len(results)} seeds); budgets as a share of relabelling the "
             f"whole training set. {_oracles_line(cfg)}", "",
             f"| method | budget | {_CELL_HEAD}", "|---|---:|---|---|---|---:|---:|"]
    all_rows = [r for res in results for r in res["rows"]]
    keys = sorted({(r["kind"], r["method"], r["budget_fraction"]) for r in all_rows},
                  key=lambda k: (k[0] != "detect", k[1], k[2]))
    for kind, meth, frac in keys:
        rs = [r for r in all_rows if (r["kind"], r["method"], r["budget_fraction"]) == (kind, meth, frac)]
        lines.append(f"| {meth}{' (baseline)' if kind == 'baseline' else ''} | {frac:.0%} | {_cells(rs)} |")
    be = np.array([[r["ball_error"][k] for k in ("clean", "poisoned", "repaired")] for r in results])
    fa = [r["false_alarm"] for r in results]
    lines += ["", f"Main setting ({dcfg['main_strategy']}, {dcfg['main_budget_fraction']:.0%}): mean |Y - Z| in the "
              f"ball: clean {be[:, 0].mean():.3f}, poisoned {be[:, 1].mean():.3f}, repaired "
              f"({dcfg['repair_mode']}) {be[:, 2].mean():.3f}.",
              f"Clean surrogates: {sum(f['flagged_regions'] > 0 for f in fa)}/{len(fa)} runs flagged a region; "
              f"{sum(f['suspect_rows'] for f in fa)} of {sum(f['rows'] for f in fa)} honest rows reported "
              f"({sum(f['confirmed_rows'] for f in fa)} confirmed by the oracle)."]
    return "\n".join(lines) + "\n"


# -- the sweep -------------------------------------------------------------------------------------
def _sweep_variants(cfg: dict) -> list[tuple[str, Any]]:
    sw = cfg["defense"]["sweep"]
    return [(name, v) for name in ("radius", "shift", "n_poison") for v in sw.get(name, [])]


def _variant(cfg: dict, name: str, value: Any) -> dict:
    vcfg = copy.deepcopy(cfg)
    a = vcfg["attack"]
    a[name] = value
    if name == "radius":  # keep the shell as wide, relative to the ball, as in the default
        a["guard_radius"] = value * cfg["attack"]["guard_radius"] / cfg["attack"]["radius"]
    if name == "n_poison":
        a["n_poison"] = a["n_guard"] = int(value)
    return vcfg


def sweep_seed(cfg: dict, seed: int) -> list[dict]:
    """One seed of the sweep: one clean set; per variant: poison, train, detect at the main setting."""
    dcfg = cfg["defense"]
    preset = presets.get(cfg["preset"])
    oracle, d_oracle = make_oracle(cfg["oracle"], cfg["preset"]), defense_oracle(cfg)
    clean = clean_data(cfg, preset, oracle, seed)
    rows = []
    for name, value in _sweep_variants(cfg):
        vcfg = _variant(cfg, name, value)
        attack = make_attack(vcfg, int(vcfg["attack"]["n_guard"]))
        ps = attack.apply(clean.X, clean.y, oracle, box=preset.box, seed=seed, y_stderr=clean.y_stderr)
        model, _ = train_surrogate(vcfg, preset.box, ps.X, ps.y, seed)
        region = attack.region(preset.box)
        budget = budget_of(dcfg["main_budget_fraction"], len(ps.y))
        rep = run_detect(cfg, model, d_oracle, ps.X, ps.y, budget, seed, dcfg["main_strategy"], ps.y_stderr)
        X_ball = region.sample(1000, 20_000 + seed, 0.0, region.radius)
        shift_learned = float(np.mean(model.predict(X_ball) - oracle(X_ball)))
        row = {"seed": seed, "vary": name, "value": value, "learned_shift": shift_learned,
               **method_row("detect", dcfg["main_strategy"], dcfg["main_budget_fraction"], budget, rep, ps, region)}
        rows.append(row)
        print(f"seed {seed} {name}={value}: learned shift {shift_learned:+.2f} recall {_fmt(row['recall'])} "
              f"fpr {row['fpr']:.4f} hit {row['hit']} (maximizer {row['hit_maximizer']}) "
              f"calls {row['calls_fraction']:.3f}", flush=True)
    return rows


def sweep_table(rows: list[dict], cfg: dict) -> str:
    lines = [_oracles_line(cfg), "",
             f"| varied | value | seeds | learned shift in ball | {_CELL_HEAD}",
             "|---|---:|---:|---:|---|---|---|---:|---:|"]
    for name, value in _sweep_variants(cfg):
        rs = [r for r in rows if r["vary"] == name and r["value"] == value]
        if rs:
            lines.append(f"| {name} | {value:g} | {len(rs)} | {np.mean([r['learned_shift'] for r in rs]):+.2f} | "
                         f"{_cells(rs)} |")
    return "\n".join(lines) + "\n"


def run_sweep(cfg: dict, out, jobs: int = 1) -> int:
    rows: list[dict] = []
    t0 = time.perf_counter()
    for chunk in per_seed(sweep_seed, cfg, jobs):
        rows = sorted(rows + chunk, key=lambda r: r["seed"])
        write_json(out / "sweep.json", {"config": cfg, "rows": rows, "seconds": round(time.perf_counter() - t0, 1)})
    text = sweep_table(rows, cfg)
    write_text(out / "sweep.md", text)
    print(text)
    return 0


# -- the command -----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, DEFAULT_CONFIG)
    _check_config(cfg)
    setup_threads(cfg["threads"])
    out = outdir(args.out)
    if args.sweep:
        return run_sweep(cfg, out, args.jobs)
    t0 = time.perf_counter()
    results: list[dict] = []
    for one in per_seed(functools.partial(_defend_job, keep_seed=cfg["seeds"][0]), cfg, args.jobs):
        res = one.result
        results = sorted(results + [res], key=lambda r: r["seed"])
        ball = ", ".join(f"{k} {v:.3f}" for k, v in res["ball_error"].items())
        print(f"seed {res['seed']}: recall {_fmt(res['main_recall'])} fpr {res['main_fpr']:.4f} hit {res['main_hit']} "
              f"calls {res['main_calls_fraction']:.3f}; ball |Y-Z|: {ball}", flush=True)
        write_json(out / "report.json", {"config": cfg, "results": results,
                                         "seconds": round(time.perf_counter() - t0, 1)})
        if not args.no_plot and one.artifacts is not None and one.main is not None:
            from .plots import maximizers_over_density

            maximizers_over_density(out / "maximizers.png", one.artifacts, one.main, int(cfg["attack"]["n_guard"]))
    text = summary_table(results, cfg)
    write_text(out / "table.md", text)
    if not args.no_plot:
        from .plots import budget_curves

        budget_curves(out / "budget.png", results)
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.defend", add_arguments, run)
