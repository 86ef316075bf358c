"""``surrogate-guard defend``: the defense against the default attack, per seed and budget.

Per seed: the attack experiment's clean and poisoned surrogates (same seed); ``detect`` with
each seeding strategy at each oracle budget, the baselines at the same budgets, detection on
the clean surrogate (false alarms), and repair. Writes report.json, table.md and two plots.
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from ..experiments import _common
from ..experiments.attack import DEFAULT_CONFIG as ATTACK_CONFIG
from ..experiments.attack import run_seed
from .baselines import neighbour_outliers, random_relabel, trimmed_retraining
from .detect import detect

DEFAULT_CONFIG = {
    **copy.deepcopy(ATTACK_CONFIG),
    "defense": {
        "budget_fractions": [0.01, 0.02, 0.05, 0.1],  # of the oracle calls that relabel the whole set
        "strategies": ["mixed", "residual", "disagreement", "gradient", "density", "levy", "random"],
        "main_strategy": "mixed",
        "main_budget_fraction": 0.1,
        "trim": False,  # TRIM retrains 3 times per seed: off by default on 2 cores
        "repair_mode": "relabel",
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


def _row(kind: str, name: str, frac: float, rep, ps, region) -> dict:
    c = rep.cost
    return {"kind": kind, "method": name, "budget_fraction": frac, "oracle_calls": c["oracle_calls"],
            "calls_fraction": c["fraction_of_relabel_all"], "recall": rep.recall(ps.is_poison),
            "fpr": rep.false_positive_rate(ps.is_poison), "hit": rep.region_hit(region),
            "hit_maximizer": rep.region_hit(region, maximizers_only=True),
            "n_flagged": int(len(rep.flagged)), "n_suspects": int(len(rep.suspects)),
            "wall_s": float(c.get("total_s", 0.0))}


def ball_error(model, oracle, region, seed: int, n: int = 2000) -> float:
    """Mean |Y - Z| over points drawn in the trigger ball."""
    X = region.sample(n, 40_000 + seed, 0.0, region.radius)
    return float(np.mean(np.abs(model.predict(X) - oracle(X))))


def run_one(cfg: dict, seed: int) -> dict:
    keep: dict = {"seed": seed}
    atk_rows = run_seed(cfg, seed, [int(cfg["attack"]["n_guard"])], keep)
    oracle, region, clean = keep["oracle"], keep["region"], keep["clean"]
    model, ps = keep["poisoned"][int(cfg["attack"]["n_guard"])]
    dcfg = cfg["defense"]
    n = len(ps.y)
    rows = []
    for frac in dcfg["budget_fractions"]:
        budget = max(1, int(frac * n))
        for strat in dcfg["strategies"]:
            rep = detect(model, oracle, ps.X, ps.y, oracle_budget=budget, seed=seed, strategy=strat,
                         device=cfg["device"])
            rows.append(_row("detect", strat, frac, rep, ps, region))
        rows.append(_row("baseline", "random_relabel", frac,
                         random_relabel(model, oracle, ps.X, ps.y, oracle_budget=budget, seed=seed), ps, region))
    rows.append(_row("baseline", "neighbour_outliers", 0.0, neighbour_outliers(model, ps.X, ps.y), ps, region))
    if dcfg["trim"]:
        rows.append(_row("baseline", "trimmed_retraining", 0.0,
                         trimmed_retraining(model, ps.X, ps.y, seed=seed, **cfg["fit"]), ps, region))
    # The main setting once more, kept for repair and the report.
    budget = int(dcfg["main_budget_fraction"] * n)
    main = detect(model, oracle, ps.X, ps.y, oracle_budget=budget, seed=seed, strategy=dcfg["main_strategy"],
                  device=cfg["device"])
    repaired = main.repair(model, mode=dcfg["repair_mode"], seed=seed, device=cfg["device"], **cfg["fit"])
    # False alarms: the same defense on the clean surrogate and its honest training set.
    from .. import data

    preset = keep["preset"]
    clean_set = data.make_dataset(preset, oracle, cfg["n_train"], seed=10_000 + seed, method=cfg["sampling"])
    fa = detect(clean, oracle, clean_set.X, clean_set.y, oracle_budget=budget, seed=seed,
                strategy=dcfg["main_strategy"], device=cfg["device"])
    return {
        "seed": seed, "attack": atk_rows[0], "rows": rows, "main": main.to_dict(),
        "main_recall": main.recall(ps.is_poison), "main_fpr": main.false_positive_rate(ps.is_poison),
        "main_hit": main.region_hit(region),
        "main_hit_maximizer": main.region_hit(region, maximizers_only=True), "main_calls_fraction": main.cost["fraction_of_relabel_all"],
        "ball_error": {"clean": ball_error(clean, oracle, region, seed), "poisoned": ball_error(model, oracle, region, seed),
                       "repaired": ball_error(repaired, oracle, region, seed)},
        "false_alarm": {"flagged_regions": int(len(fa.flagged)), "suspect_rows": int(len(fa.suspects)),
                        "rows": int(len(clean_set.y)), "oracle_calls": fa.cost["oracle_calls"]},
        "_keep": (model, ps, main, clean_set),
    }


def _job(cfg: dict, seed: int) -> dict:
    _common.setup_threads(cfg["threads"])
    return run_one(cfg, seed)


def _per_seed(fn, cfg: dict, jobs: int):
    """Yield fn(cfg, seed) for every seed as it finishes (in spawned worker processes when jobs > 1)."""
    if jobs <= 1:
        for seed in cfg["seeds"]:
            yield fn(cfg, int(seed))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(fn, cfg, int(s)) for s in cfg["seeds"]]):
            yield fut.result()


def _cells(rs: list[dict]) -> str:
    """Table cells shared by every summary: recall mean (min) | clean rows flagged | region hit | calls."""
    rec = np.array([r["recall"] for r in rs])
    fpr = np.array([r["fpr"] for r in rs])
    n = len(rs)
    return (f"{rec.mean():.3f} ({rec.min():.3f}) | {fpr.mean():.4f} ({fpr.max():.4f}) | "
            f"{sum(r['hit'] for r in rs)}/{n} ({sum(r.get('hit_maximizer', False) for r in rs)}/{n}) | "
            f"{np.mean([r['calls_fraction'] for r in rs]):.3f}")


def summary_table(results: list[dict], cfg: dict) -> str:
    dcfg = cfg["defense"]
    lines = [f"Defense against the default attack ({len(results)} seeds); budgets as a share of relabelling the "
             "whole training set.", "",
             "| method | budget | recall mean (min) | clean rows flagged (max) | region hit (by a flagged "
             "maximizer) | calls used |", "|---|---:|---|---|---:|---:|"]
    all_rows = [r for res in results for r in res["rows"]]
    keys = sorted({(r["kind"], r["method"], r["budget_fraction"]) for r in all_rows},
                  key=lambda k: (k[0] != "detect", k[1], k[2]))
    for kind, meth, frac in keys:
        rs = [r for r in all_rows if (r["kind"], r["method"], r["budget_fraction"]) == (kind, meth, frac)]
        lines.append(f"| {meth}{' (baseline)' if kind == 'baseline' else ''} | {frac:.0%} | {_cells(rs)} |")
    be = np.array([[r["ball_error"]["clean"], r["ball_error"]["poisoned"], r["ball_error"]["repaired"]] for r in results])
    fa = [r["false_alarm"] for r in results]
    lines += ["", f"Main setting ({dcfg['main_strategy']}, {dcfg['main_budget_fraction']:.0%}): mean |Y - Z| in the "
              f"ball: clean {be[:, 0].mean():.3f}, poisoned {be[:, 1].mean():.3f}, repaired "
              f"({dcfg['repair_mode']}) {be[:, 2].mean():.3f}.",
              f"Clean surrogates: {sum(f['flagged_regions'] > 0 for f in fa)}/{len(fa)} runs flagged a region; "
              f"{sum(f['suspect_rows'] for f in fa)} of {sum(f['rows'] for f in fa)} honest rows reported."]
    return "\n".join(lines) + "\n"


def _sweep_variants(cfg: dict) -> list[tuple[str, float]]:
    sw = cfg["defense"]["sweep"]
    return [(name, v) for name in ("radius", "shift", "n_poison") for v in sw.get(name, [])]


def sweep_seed(cfg: dict, seed: int) -> list[dict]:
    """One seed of the sweep: one clean set; per variant: poison, train, detect at the main setting."""
    from .. import data
    from ..experiments.attack import _attack, _train

    _common.setup_threads(cfg["threads"])
    dcfg = cfg["defense"]
    preset, oracle = _common.make_oracle(cfg["oracle"], cfg["preset"])
    clean = data.make_dataset(preset, oracle, cfg["n_train"], seed=10_000 + seed, method=cfg["sampling"])
    rows = []
    for name, value in _sweep_variants(cfg):
        vcfg = copy.deepcopy(cfg)
        vcfg["attack"][name] = value
        if name == "radius":  # keep the shell as wide, relative to the ball, as in the default
            vcfg["attack"]["guard_radius"] = value * cfg["attack"]["guard_radius"] / cfg["attack"]["radius"]
        if name == "n_poison":
            vcfg["attack"]["n_poison"] = vcfg["attack"]["n_guard"] = int(value)
        attack = _attack(vcfg, int(vcfg["attack"]["n_guard"]))
        ps = attack.apply(clean.X, clean.y, oracle, preset=preset, seed=seed)
        model, _ = _train(vcfg, preset, ps.X, ps.y, seed)
        region = attack.region(preset)
        rep = detect(model, oracle, ps.X, ps.y, oracle_budget=int(dcfg["main_budget_fraction"] * len(ps.y)),
                     seed=seed, strategy=dcfg["main_strategy"], device=cfg["device"])
        X_ball = region.sample(1000, 20_000 + seed, 0.0, region.radius)
        shift_learned = float(np.mean(model.predict(X_ball) - oracle(X_ball)))
        row = {"seed": seed, "vary": name, "value": value, "learned_shift": shift_learned,
               **_row("detect", dcfg["main_strategy"], dcfg["main_budget_fraction"], rep, ps, region)}
        rows.append(row)
        print(f"seed {seed} {name}={value}: learned shift {shift_learned:+.2f} recall {row['recall']:.3f} "
              f"fpr {row['fpr']:.4f} hit {row['hit']} (maximizer {row['hit_maximizer']}) "
              f"calls {row['calls_fraction']:.3f}", flush=True)
    return rows


def run_sweep(cfg: dict, out, jobs: int = 1) -> int:
    variants = _sweep_variants(cfg)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for chunk in _per_seed(sweep_seed, cfg, jobs):
        rows += chunk
        _common.write_json(out / "sweep.json", {"config": cfg, "rows": rows,
                                                "seconds": round(time.perf_counter() - t0, 1)})
    lines = ["| varied | value | seeds | learned shift in ball | recall mean (min) | clean rows flagged (max) "
             "| region hit (by a flagged maximizer) | calls used |", "|---|---:|---:|---:|---|---|---:|---:|"]
    for name, value in variants:
        rs = [r for r in rows if r["vary"] == name and r["value"] == value]
        lines.append(f"| {name} | {value:g} | {len(rs)} | {np.mean([r['learned_shift'] for r in rs]):+.2f} | "
                     f"{_cells(rs)} |")
    text = "\n".join(lines) + "\n"
    (out / "sweep.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = _common.load_config(args.config, DEFAULT_CONFIG)
    if args.seeds is not None:
        cfg["seeds"] = list(range(args.seeds))
    _common.setup_threads(cfg["threads"])
    out = _common.outdir(args.out)
    if args.sweep:
        return run_sweep(cfg, out, max(1, int(args.jobs)))
    t0 = time.perf_counter()
    results = []
    for res in _per_seed(_job, cfg, max(1, int(args.jobs))):
        keep = res.pop("_keep")
        results.append(res)
        seed = res["seed"]
        print(f"seed {seed}: recall {res['main_recall']:.3f} fpr {res['main_fpr']:.4f} hit {res['main_hit']} "
              f"calls {res['main_calls_fraction']:.3f}; ball |Y-Z| {res['ball_error']}", flush=True)
        _common.write_json(out / "report.json", {"config": cfg, "results": results,
                                                 "seconds": round(time.perf_counter() - t0, 1)})
        if not args.no_plot and seed == cfg["seeds"][0]:
            from .plots import maximizers_over_density

            maximizers_over_density(out / "maximizers.png", *keep)
    text = summary_table(results, cfg)
    (out / "table.md").write_text(text, encoding="utf-8")
    if not args.no_plot:
        from .plots import budget_curves

        budget_curves(out / "budget.png", results)
    print(text)
    return 0
