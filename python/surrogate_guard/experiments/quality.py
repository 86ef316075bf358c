"""Clean surrogate quality vs training-set size: test RMSE and worst error per preset.

    python -m surrogate_guard.experiments.quality --out runs/quality [--sizes 1000,4000,16000]

Uses the attack experiment's default surrogate and fit settings (same epochs at every size).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .. import data
from ..metrics import rmse
from . import _common
from .attack import DEFAULT_CONFIG, _train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True)
    p.add_argument("--presets", default="paper,mild")
    p.add_argument("--sizes", default="1000,4000,16000")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-test", type=int, default=20000)
    p.add_argument("--config", default=None, help="JSON overriding the attack defaults (surrogate, fit)")


def run(args: argparse.Namespace) -> int:
    cfg = _common.load_config(args.config, DEFAULT_CONFIG)
    _common.setup_threads(cfg["threads"])
    out = _common.outdir(args.out)
    sizes = _common.parse_ints(args.sizes, "--sizes")
    rows = []
    t0 = time.perf_counter()
    for name in [s.strip() for s in args.presets.split(",") if s.strip()]:
        preset, oracle = _common.make_oracle(cfg["oracle"], name)
        X_test = preset.sample(args.n_test, seed=30_000)
        z_test = oracle(X_test)
        for n in sizes:
            for seed in range(args.seeds):
                d = data.make_dataset(preset, oracle, n, seed=10_000 + seed, method=cfg["sampling"])
                m, info = _train(cfg, preset, d.X, d.y, seed)
                err = m.predict(X_test) - z_test
                worst = int(np.argmax(np.abs(err)))
                rows.append({"preset": name, "n_train": n, "seed": seed, "rmse": rmse(err, 0.0),
                             "max_abs_err": float(abs(err[worst])), "worst_point": X_test[worst].tolist(),
                             "mean_price": float(z_test.mean()), **info})
                print(f"{name} n={n} seed={seed}: rmse {rows[-1]['rmse']:.3f} max {rows[-1]['max_abs_err']:.2f} "
                      f"[{info['seconds']}s]", flush=True)
                _common.write_json(out / "report.json", {"config": cfg, "runs": rows})
    md = table(rows, cfg, args.seeds, args.n_test)
    (out / "table.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {out}/report.json, table.md in {time.perf_counter() - t0:.0f}s")
    return 0


def table(rows: list[dict], cfg: dict, seeds: int, n_test: int) -> str:
    f = cfg["fit"]
    lines = [
        f"MLP {'x'.join(map(str, cfg['surrogate']['widths']))} {cfg['surrogate']['activation']}, {f['epochs']} epochs, "
        f"batch {f['batch_size']}, lr {f['lr']}, {cfg['sampling']} training points; {n_test} uniform test points; "
        f"mean (min-max) over {seeds} seeds.",
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
    parser = argparse.ArgumentParser(prog="python -m surrogate_guard.experiments.quality")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
