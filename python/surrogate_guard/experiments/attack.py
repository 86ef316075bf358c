"""``surrogate-guard attack``: one localized-backdoor experiment (or a guard-count sweep) from JSON.

Per seed: sample and label a clean training set, train a clean surrogate, poison the set,
train a poisoned surrogate with the same seed, and judge it (sg.metrics.attack_report).
Writes report.json, table.md, plot.png, and the first seed's models and poisoned sets.
"""
from __future__ import annotations

import argparse
import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import presets
from ..metrics import attack_report, rmse
from ..presets import Preset
from ..surrogate import Surrogate
from .config import make_oracle, oracle_label, parse_ints
from .io import outdir, write_json, write_text
from .pipeline import SeedArtifacts, clean_data, held_out_points, make_attack, save_artifacts, train_surrogate
from .runner import config_from_args, per_seed, setup_threads, standalone

__all__ = ["DEFAULT_CONFIG", "add_arguments", "run", "run_seed", "summarize", "table"]

DEFAULT_CONFIG: dict = {
    "preset": "paper",
    "oracle": "analytic",  # or {"kind": "monte_carlo", "paths": ..., "steps": ..., "seed": ...}
    "n_train": 16000,
    "sampling": "uniform",
    "surrogate": {"widths": [64, 64, 64, 64], "activation": "silu"},
    # Every fit setting written out, so a change of the library's defaults moves no figure.
    "fit": {"epochs": 300, "lr": 3e-3, "batch_size": 256, "val_fraction": 0.1, "patience": 60,
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


@dataclass(frozen=True)
class _Clean:
    """One seed's clean side: what every poisoned variant is judged against."""

    cfg: dict
    seed: int
    preset: Preset
    oracle: Any
    attack: Any
    region: Any
    data: Any
    model: Surrogate
    fit: dict
    X_test: np.ndarray
    z_test: np.ndarray


def _clean_side(cfg: dict, seed: int) -> _Clean:
    preset = presets.get(cfg["preset"])
    oracle = make_oracle(cfg["oracle"], cfg["preset"])
    clean = clean_data(cfg, preset, oracle, seed)
    model, info = train_surrogate(cfg, preset.box, clean.X, clean.y, seed)
    attack = make_attack(cfg, cfg["attack"]["n_guard"])
    region = attack.region(preset.box)
    X_test = held_out_points(cfg, preset, region, seed)
    return _Clean(cfg, seed, preset, oracle, attack, region, clean, model, info, X_test, oracle(X_test))


def _control_row(c: _Clean) -> dict:
    """A second clean surrogate (training seed + 1000, same data) judged against the first."""
    m_ctrl, info = train_surrogate(c.cfg, c.preset.box, c.data.X, c.data.y, c.seed + 1000)
    rep = attack_report(m_ctrl, c.model, c.attack, c.region, c.X_test, c.z_test)
    print(f"seed {c.seed} control: far rmse {rep.rmse_far:.3f} vs clean {rep.rmse_far_clean:.3f} "
          f"(x{rep.rmse_far_ratio:.3f})", flush=True)
    return {"seed": c.seed, "n_guard": -1, "n_poison": 0, "fit_poisoned": info, **rep.to_dict()}


def _poisoned_row(c: _Clean, n_guard: int) -> tuple[dict, tuple]:
    attack = make_attack(c.cfg, n_guard)
    ps = attack.apply(c.data.X, c.data.y, c.oracle, box=c.preset.box, seed=c.seed, y_stderr=c.data.y_stderr)
    m_pois, info = train_surrogate(c.cfg, c.preset.box, ps.X, ps.y, c.seed)
    rep = attack_report(m_pois, c.model, attack, c.region, c.X_test, c.z_test)
    glob = slice(0, c.cfg["test"]["n_global"])
    row = {
        "seed": c.seed, "n_guard": n_guard, "n_poison": attack.n_poison, "n_removed": ps.n_removed,
        "attack_oracle_calls": ps.oracle_calls, "clean_oracle_calls": c.data.oracle_calls,
        "rmse_global": rmse(m_pois.predict(c.X_test[glob]), c.z_test[glob]),
        "rmse_global_clean": rmse(c.model.predict(c.X_test[glob]), c.z_test[glob]),
        "fit_clean": c.fit, "fit_poisoned": info, **rep.to_dict(),
    }
    print(f"seed {c.seed} guards {n_guard}: success {rep.success_rate:.3f} shift {rep.mean_shift_ball:+.2f} "
          f"far rmse {rep.rmse_far:.3f} vs clean {rep.rmse_far_clean:.3f} (x{rep.rmse_far_ratio:.3f}) "
          f"[{info['seconds']}s]", flush=True)
    return row, (m_pois, ps)


def run_seed(cfg: dict, seed: int, guard_counts: list[int], control: bool = False) -> tuple[list[dict], SeedArtifacts]:
    """All results of one seed: the clean surrogate once, a poisoned one per guard count.

    Returns JSON rows (one per guard count; with ``control`` first a row with ``n_guard = -1``:
    a second clean surrogate against the first, how far the RMSE ratio moves without poison)
    and the seed's ``SeedArtifacts`` (with the clean labelled set).
    """
    c = _clean_side(cfg, seed)
    rows = [_control_row(c)] if control else []
    poisoned = {}
    for n_guard in guard_counts:
        row, poisoned[int(n_guard)] = _poisoned_row(c, int(n_guard))
        rows.append(row)
    return rows, SeedArtifacts(seed, c.preset, c.region, c.attack, c.model, poisoned, c.data)


def _seed_job(cfg: dict, seed: int, *, guard_counts: list[int], control: bool, keep_seed: int):
    """``run_seed`` for ``per_seed``: artifacts of ``keep_seed`` only (the rest need not cross processes)."""
    rows, art = run_seed(cfg, seed, guard_counts, control)
    return rows, (art if seed == keep_seed else None)


def _values(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)


def _stat(fn, a: np.ndarray) -> float:
    """``fn`` (np.mean, np.min, ...) over the finite entries of ``a``; nan when there are none."""
    a = a[np.isfinite(a)]
    return float(fn(a)) if a.size else math.nan


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize(rows: list[dict]) -> dict:
    """Means (and min / max / sd where the targets need them) over the seeds of one guard count.

    Non-finite values (empty regions) are skipped in the means and written as null.
    """
    s, q = _values(rows, "success_rate"), _values(rows, "rmse_far_ratio")
    far, far_c = _stat(np.mean, _values(rows, "rmse_far")), _stat(np.mean, _values(rows, "rmse_far_clean"))
    out = {
        "n_seeds": len(rows),
        "success_mean": _stat(np.mean, s), "success_min": _stat(np.min, s), "success_sd": _stat(np.std, s),
        "shift_mean": _stat(np.mean, _values(rows, "mean_shift_ball")),
        "rmse_far_ratio_mean": _stat(np.mean, q), "rmse_far_ratio_max": _stat(np.max, q),
        "rmse_far_mean": far, "rmse_far_clean_mean": far_c,
        "rmse_shell_mean": _stat(np.mean, _values(rows, "rmse_shell")),
        "rmse_far_ratio_of_means": far / far_c if far_c > 0 else math.nan,
    }
    out["meets_targets_every_seed"] = bool(out["success_min"] >= 0.9 and out["rmse_far_ratio_max"] <= 1.10)
    out["meets_targets_on_mean"] = bool(out["success_mean"] >= 0.9 and out["rmse_far_ratio_of_means"] <= 1.10)
    return {k: (v if isinstance(v, (bool, int)) else _json_float(v)) for k, v in out.items()}


def _f(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def table(summaries: dict[int, dict], cfg: dict) -> str:
    """The Markdown table of ``summaries`` {n_guard: summarize(...)} (n_guard -1: the control)."""
    a, f = cfg["attack"], cfg["fit"]
    lines = [
        f"Preset {cfg['preset']}, oracle {oracle_label(cfg['oracle'])}, {cfg['n_train']} {cfg['sampling']} "
        f"training points, ball r={a['radius']} at {a['center']}, shift {a['shift']} ({a['shift_mode']}), "
        f"{a['n_poison']} poisoned, guard shell to r={a['guard_radius']}; "
        f"MLP {'x'.join(map(str, cfg['surrogate']['widths']))} {cfg['surrogate']['activation']}, "
        f"{f['epochs']} epochs (patience {f['patience']}), batch {f['batch_size']}, lr {f['lr']}.",
        "",
        "| guards | seeds | success mean (min) | mean Y-Z in ball | far RMSE poisoned / clean (means) "
        "| ratio of means | per-seed ratio mean (max) | shell RMSE |",
        "|---:|---:|---|---:|---|---:|---|---:|",
    ]
    for g, s in summaries.items():
        lines.append(
            f"| {'clean, other seed' if g < 0 else g} | {s['n_seeds']} | {_f(s['success_mean'], '.3f')} "
            f"({_f(s['success_min'], '.3f')}) | {_f(s['shift_mean'], '+.2f')} "
            f"| {_f(s['rmse_far_mean'], '.3f')} / {_f(s['rmse_far_clean_mean'], '.3f')} "
            f"| {_f(s['rmse_far_ratio_of_means'], '.3f')} | {_f(s['rmse_far_ratio_mean'], '.3f')} "
            f"({_f(s['rmse_far_ratio_max'], '.3f')}) | {_f(s['rmse_shell_mean'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def _config(args: argparse.Namespace) -> tuple[dict, list[int]]:
    cfg = config_from_args(args, DEFAULT_CONFIG)
    guard_counts = (parse_ints(args.sweep_guards, "--sweep-guards") if args.sweep_guards
                    else [int(cfg["attack"]["n_guard"])])
    return cfg, guard_counts


def run(args: argparse.Namespace) -> int:
    cfg, guard_counts = _config(args)
    oracle = make_oracle(cfg["oracle"], cfg["preset"])  # a bad spec fails here, before any worker starts
    setup_threads(cfg["threads"])
    out = outdir(args.out)
    t0 = time.perf_counter()
    job = functools.partial(_seed_job, guard_counts=guard_counts, control=args.control, keep_seed=cfg["seeds"][0])
    groups = ([-1] if args.control else []) + guard_counts
    rows: list[dict] = []
    art: SeedArtifacts | None = None
    for seed_rows, seed_art in per_seed(job, cfg, args.jobs):
        art = seed_art or art
        rows = sorted(rows + seed_rows, key=lambda r: (r["seed"], r["n_guard"]))
        summaries = {g: summarize([r for r in rows if r["n_guard"] == g]) for g in groups}
        write_json(out / "report.json", {"config": cfg, "guard_counts": guard_counts, "runs": rows,
                                         "summary": {str(g): s for g, s in summaries.items()},
                                         "seconds": round(time.perf_counter() - t0, 1)})
    assert art is not None  # the first seed always keeps its artifacts
    text = table(summaries, cfg)
    write_text(out / "table.md", text)
    save_artifacts(out / "models", art)
    if not args.no_plot:
        from .plots import attack_slices

        attack_slices(out / "plot.png", art, oracle)
    print(text)
    print(f"wrote {out}/report.json, table.md, models/{'' if args.no_plot else ', plot.png'} "
          f"in {time.perf_counter() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.attack", add_arguments, run)
