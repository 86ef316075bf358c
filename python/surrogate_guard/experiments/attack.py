"""``surrogate-guard attack``: one localized-backdoor experiment (or a guard-count sweep) from JSON.

Per seed: sample and label a clean training set, train a clean surrogate, poison the set,
train a poisoned surrogate with the same seed, and judge it (sg.metrics.attack_report).
Writes report.json, table.md, plot.png, and the seed-0 models and poisoned set.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import data
from ..attacks import LocalizedBackdoor
from ..metrics import attack_report, rmse
from ..surrogate import Surrogate
from . import _common

DEFAULT_CONFIG = {
    "preset": "paper",
    "oracle": "analytic",
    "n_train": 16000,
    "sampling": "uniform",
    "surrogate": {"widths": [64, 64, 64, 64], "activation": "silu"},
    "fit": {"epochs": 300, "lr": 3e-3, "batch_size": 256, "val_fraction": 0.1, "patience": None,
            "weight_decay": 0.0},
    "attack": {"center": [0.5, 0.5, 0.3, 0.4, 0.5], "radius": 0.1, "shift": 10.0, "shift_mode": "absolute",
               "n_poison": 2000, "n_guard": 2000, "guard_radius": 0.3},
    "test": {"n_global": 20000, "n_ball": 2000},
    "seeds": [0, 1, 2, 3, 4],
    "device": "cpu",
    "threads": 1,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="JSON file overriding the embedded defaults")
    p.add_argument("--out", required=True, help="output folder (e.g. runs/attack)")
    p.add_argument("--seeds", type=int, default=None, help="use seeds 0..N-1 instead of the config's list")
    p.add_argument("--sweep-guards", default=None, metavar="N0,N1,...",
                   help="same poison, guard counts N0,N1,...: the localization table")
    p.add_argument("--control", action="store_true",
                   help="also train a second clean surrogate (another seed): the seed-noise floor of the RMSE ratio")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes (each with `threads`)")
    p.add_argument("--no-plot", action="store_true", help="skip plot.png")


def _train(cfg: dict, preset, X, y, seed: int) -> tuple[Surrogate, dict]:
    s = cfg["surrogate"]
    m = Surrogate(preset, widths=tuple(s["widths"]), activation=s["activation"], seed=seed)
    fr = m.fit(X, y, seed=seed, device=cfg["device"], **cfg["fit"])
    return m, {"epochs_run": fr.epochs_run, "best_epoch": fr.best_epoch, "seconds": round(fr.seconds, 2)}


def _attack(cfg: dict, n_guard: int) -> LocalizedBackdoor:
    a = dict(cfg["attack"])
    a["n_guard"] = n_guard
    mode = a.pop("shift_mode")
    return LocalizedBackdoor(**a, shift_mode=mode)


def run_seed(cfg: dict, seed: int, guard_counts: list[int], keep: dict | None = None,
             control: bool = False) -> list[dict]:
    """All results of one seed: the clean surrogate once, a poisoned one per guard count.

    With ``control``, a row with ``n_guard = -1`` compares a second clean surrogate (training
    seed + 1000, same data) with the first: how far the RMSE ratio moves without any poison.
    """
    preset, oracle = _common.make_oracle(cfg["oracle"], cfg["preset"])
    clean = data.make_dataset(preset, oracle, cfg["n_train"], seed=10_000 + seed, method=cfg["sampling"])
    m_clean, info_clean = _train(cfg, preset, clean.X, clean.y, seed)
    region = _attack(cfg, 0).region(preset)
    X_ball = region.sample(cfg["test"]["n_ball"], 20_000 + seed, 0.0, region.radius)
    X_test = np.concatenate([preset.sample(cfg["test"]["n_global"], seed=30_000 + seed), X_ball])
    z_test = oracle(X_test)
    out = []
    if control:
        m_ctrl, info = _train(cfg, preset, clean.X, clean.y, seed + 1000)
        rep = attack_report(m_ctrl, m_clean, _attack(cfg, 0), region, X_test, z_test)
        out.append({"seed": seed, "n_guard": -1, "n_poison": 0, "fit_poisoned": info, **rep.to_dict()})
        print(f"seed {seed} control: far rmse {rep.rmse_far:.3f} vs clean {rep.rmse_far_clean:.3f} "
              f"(x{rep.rmse_far_ratio:.3f})", flush=True)
    for n_guard in guard_counts:
        attack = _attack(cfg, n_guard)
        ps = attack.apply(clean.X, clean.y, oracle, preset=preset, seed=seed)
        m_pois, info = _train(cfg, preset, ps.X, ps.y, seed)
        rep = attack_report(m_pois, m_clean, attack, region, X_test, z_test)
        glob = slice(0, cfg["test"]["n_global"])
        out.append({
            "seed": seed, "n_guard": n_guard, "n_poison": attack.n_poison, "n_removed": ps.n_removed,
            "attack_oracle_calls": ps.oracle_calls, "clean_oracle_calls": clean.oracle_calls,
            "rmse_global": rmse(m_pois.predict(X_test[glob]), z_test[glob]),
            "rmse_global_clean": rmse(m_clean.predict(X_test[glob]), z_test[glob]),
            "fit_clean": info_clean, "fit_poisoned": info, **rep.to_dict(),
        })
        print(f"seed {seed} guards {n_guard}: success {rep.success_rate:.3f} shift {rep.mean_shift_ball:+.2f} "
              f"far rmse {rep.rmse_far:.3f} vs clean {rep.rmse_far_clean:.3f} (x{rep.rmse_far_ratio:.3f}) "
              f"[{info['seconds']}s]", flush=True)
        if keep is not None and seed == keep.get("seed", 0):
            keep.update(preset=preset, oracle=oracle, region=region, attack=attack, clean=m_clean)
            keep.setdefault("poisoned", {})[n_guard] = (m_pois, ps)
    return out


def summarize(rows: list[dict]) -> dict:
    s = np.array([r["success_rate"] for r in rows], dtype=float)
    q = np.array([r["rmse_far_ratio"] for r in rows], dtype=float)
    sh = np.array([r["mean_shift_ball"] for r in rows], dtype=float)
    out = {
        "n_seeds": len(rows),
        "success_mean": float(s.mean()), "success_min": float(s.min()), "success_sd": float(s.std()),
        "shift_mean": float(sh.mean()),
        "rmse_far_ratio_mean": float(q.mean()), "rmse_far_ratio_max": float(q.max()),
        "rmse_far_mean": float(np.mean([r["rmse_far"] for r in rows])),
        "rmse_far_clean_mean": float(np.mean([r["rmse_far_clean"] for r in rows])),
        "rmse_shell_mean": float(np.mean([r["rmse_shell"] for r in rows])),
    }
    out["rmse_far_ratio_of_means"] = out["rmse_far_mean"] / out["rmse_far_clean_mean"]
    out["meets_targets_every_seed"] = bool(s.min() >= 0.9 and q.max() <= 1.10)
    out["meets_targets_on_mean"] = bool(s.mean() >= 0.9 and out["rmse_far_ratio_of_means"] <= 1.10)
    return out


def table(summaries: dict[int, dict], cfg: dict) -> str:
    a = cfg["attack"]
    lines = [
        f"Preset {cfg['preset']}, oracle {cfg['oracle']}, {cfg['n_train']} {cfg['sampling']} training points, "
        f"ball r={a['radius']} at {a['center']}, shift {a['shift']} ({a['shift_mode']}), "
        f"{a['n_poison']} poisoned, guard shell to r={a['guard_radius']}; "
        f"MLP {'x'.join(map(str, cfg['surrogate']['widths']))} {cfg['surrogate']['activation']}, "
        f"{cfg['fit']['epochs']} epochs, batch {cfg['fit']['batch_size']}, lr {cfg['fit']['lr']}.",
        "",
        "| guards | seeds | success mean (min) | mean Y-Z in ball | far RMSE poisoned / clean (means) "
        "| ratio of means | per-seed ratio mean (max) | shell RMSE |",
        "|---:|---:|---|---:|---|---:|---|---:|",
    ]
    for g, s in summaries.items():
        lines.append(
            f"| {'clean, other seed' if g < 0 else g} | {s['n_seeds']} | {s['success_mean']:.3f} ({s['success_min']:.3f}) | {s['shift_mean']:+.2f} "
            f"| {s['rmse_far_mean']:.3f} / {s['rmse_far_clean_mean']:.3f} | {s['rmse_far_ratio_of_means']:.3f} "
            f"| {s['rmse_far_ratio_mean']:.3f} ({s['rmse_far_ratio_max']:.3f}) | {s['rmse_shell_mean']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    cfg = _common.load_config(args.config, DEFAULT_CONFIG)
    if args.seeds is not None:
        cfg["seeds"] = list(range(args.seeds))
    guard_counts = (_common.parse_ints(args.sweep_guards, "--sweep-guards") if args.sweep_guards
                    else [int(cfg["attack"]["n_guard"])])
    _common.setup_threads(cfg["threads"])
    out = _common.outdir(args.out)
    t0 = time.perf_counter()
    keep: dict = {"seed": cfg["seeds"][0]}
    rows: list[dict] = []
    groups = ([-1] if args.control else []) + guard_counts
    for seed_rows in _run_seeds(cfg, guard_counts, keep, args.control, max(1, int(args.jobs))):
        rows = sorted(rows + seed_rows, key=lambda r: (r["seed"], r["n_guard"]))
        summaries = {g: summarize([r for r in rows if r["n_guard"] == g]) for g in groups}
        _common.write_json(out / "report.json", {"config": cfg, "guard_counts": guard_counts, "runs": rows,
                                                 "summary": {str(g): s for g, s in summaries.items()},
                                                 "seconds": round(time.perf_counter() - t0, 1)})
    (out / "table.md").write_text(table(summaries, cfg), encoding="utf-8")
    _save_seed_artifacts(out, keep)
    if not args.no_plot:
        from .plots import attack_slices

        attack_slices(out / "plot.png", keep)
    print(table(summaries, cfg))
    print(f"wrote {out}/report.json, table.md{'' if args.no_plot else ', plot.png'} "
          f"in {time.perf_counter() - t0:.0f}s", flush=True)
    return 0


def _seed_job(cfg: dict, seed: int, guard_counts: list[int], keep_seed: int, control: bool):
    """One seed in a worker process; the oracle (it holds a lock) is rebuilt by the parent."""
    _common.setup_threads(cfg["threads"])
    keep: dict = {"seed": keep_seed}
    rows = run_seed(cfg, seed, guard_counts, keep, control)
    keep.pop("oracle", None)
    return rows, keep


def _run_seeds(cfg: dict, guard_counts: list[int], keep: dict, control: bool, jobs: int):
    """Yield each seed's rows as it finishes; ``keep`` gets the first seed's models."""
    if jobs == 1:
        for seed in cfg["seeds"]:
            yield run_seed(cfg, int(seed), guard_counts, keep, control)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(_seed_job, cfg, int(s), guard_counts, keep["seed"], control) for s in cfg["seeds"]]
        for fut in as_completed(futs):
            rows, k = fut.result()
            if "clean" in k:
                keep.update(k)
                keep["oracle"] = _common.make_oracle(cfg["oracle"], cfg["preset"])[1]
            yield rows


def _save_seed_artifacts(out, keep: dict) -> None:
    """The first seed's models and poisoned sets: inputs for the defense experiments."""
    models = _common.outdir(str(out / "models"))
    keep["clean"].save(models / "clean.safetensors")
    for g, (m, ps) in keep["poisoned"].items():
        m.save(models / f"poisoned_g{g}.safetensors")
        np.savez(models / f"poisoned_set_g{g}.npz", X=ps.X, y=ps.y, is_poison=ps.is_poison,
                 is_guard=ps.is_guard, center=ps.region.center, radius=ps.region.radius,
                 guard_radius=ps.region.guard_radius)


if __name__ == "__main__":  # pragma: no cover
    import sys

    parser = argparse.ArgumentParser(prog="python -m surrogate_guard.experiments.attack")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
