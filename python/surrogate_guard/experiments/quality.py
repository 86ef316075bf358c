"""``surrogate-guard quality``: clean surrogate quality vs training-set size, per preset: test RMSE
and worst error. Uses the attack experiment's surrogate and fit settings (same epochs at every size).

    surrogate-guard quality --out runs/quality [--sizes 1000,4000,16000] [--presets paper,mild]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import presets
from ..metrics import rmse
from .attack import DEFAULT_CONFIG
from .config import load_config, make_oracle, oracle_label, parse_ints
from .io import outdir, write_json, write_text
from .pipeline import TEST_SEED, clean_data, train_surrogate
from .runner import setup_threads, standalone

__all__ = ["add_arguments", "run", "quality_row", "table"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (e.g. runs/quality)")
    p.add_argument("--presets", default="paper,mild", help="comma-separated preset names")
    p.add_argument("--sizes", default="1000,4000,16000", help="comma-separated training-set sizes")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per size")
    p.add_argument("--n-test", type=int, default=20000, help="uniform test points per preset")
    p.add_argument("--config", default=None, help="JSON overriding the attack defaults (oracle, surrogate, fit)")


def _presets(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ValueError(f"--presets: expected comma-separated preset names, got {text!r}")
    for name in names:
        presets.get(name)  # a ValueError naming the known presets
    return names


def quality_row(cfg: dict, name: str, n: int, seed: int, oracle, X_test: np.ndarray, z_test: np.ndarray) -> dict:
    """One surrogate of preset ``name`` trained on ``n`` points (seed ``seed``), judged on the test set."""
    preset = presets.get(name)
    d = clean_data({**cfg, "n_train": n}, preset, oracle, seed)
    m, info = train_surrogate(cfg, preset.box, d.X, d.y, seed)
    err = m.predict(X_test) - z_test
    worst = int(np.argmax(np.abs(err)))
    return {"preset": name, "n_train": n, "seed": seed, "rmse": rmse(err, 0.0),
            "max_abs_err": float(abs(err[worst])), "worst_point": X_test[worst].tolist(),
            "mean_price": float(z_test.mean()), **info}


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, DEFAULT_CONFIG)
    names, sizes = _presets(args.presets), parse_ints(args.sizes, "--sizes")
    if args.seeds < 1 or args.n_test < 1:
        raise ValueError(f"--seeds, --n-test: expected counts >= 1, got {args.seeds} and {args.n_test}")
    if 0 in sizes:
        raise ValueError(f"--sizes: expected sizes >= 1, got {args.sizes!r}")
    setup_threads(cfg["threads"])
    out = outdir(args.out)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for name in names:
        oracle = make_oracle(cfg["oracle"], name)
        X_test = presets.get(name).sample(args.n_test, seed=TEST_SEED)
        z_test = oracle(X_test)
        for n in sizes:
            for seed in range(args.seeds):
                rows.append(quality_row(cfg, name, n, seed, oracle, X_test, z_test))
                r = rows[-1]
                print(f"{name} n={n} seed={seed}: rmse {r['rmse']:.3f} max {r['max_abs_err']:.2f} "
                      f"[{r['seconds']}s]", flush=True)
                write_json(out / "report.json", {"config": cfg, "presets": names, "sizes": sizes,
                                                 "n_test": args.n_test, "runs": rows})
    md = table(rows, cfg, args.seeds, args.n_test)
    write_text(out / "table.md", md)
    print(md)
    print(f"wrote {out}/report.json, table.md in {time.perf_counter() - t0:.0f}s")
    return 0


def table(rows: list[dict], cfg: dict, seeds: int, n_test: int) -> str:
    """Markdown: per preset and size, test RMSE and worst error, mean (min-max) over seeds."""
    f = cfg["fit"]
    lines = [
        f"MLP {'x'.join(map(str, cfg['surrogate']['widths']))} {cfg['surrogate']['activation']}, {f['epochs']} epochs "
        f"(patience {f['patience']}), batch {f['batch_size']}, lr {f['lr']}, {cfg['sampling']} training points "
        f"labelled by {oracle_label(cfg['oracle'])}; {n_test} uniform test points; mean (min-max) over {seeds} seeds.",
        "",
        "| preset | n_train | test RMSE | worst abs error | mean test price | train s |",
        "|---|---:|---|---|---:|---:|",
    ]
    keys = sorted({(r["preset"], r["n_train"]) for r in rows}, key=lambda k: (k[0] != "paper", k))
    for p, n in keys:
        rs = [r for r in rows if r["preset"] == p and r["n_train"] == n]
        e = np.array([r["rmse"] for r in rs])
        w = np.array([r["max_abs_err"] for r in rs])
        s = np.mean([r["seconds"] for r in rs])
        lines.append(f"| {p} | {n} | {e.mean():.3f} ({e.min():.3f}-{e.max():.3f}) | {w.mean():.2f} "
                     f"({w.min():.2f}-{w.max():.2f}) | {rs[0]['mean_price']:.2f} | {s:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.quality", add_arguments, run)
