"""Gather `surrogate-guard learn` runs (and bench/bmdal_compare.py outputs) of several folders
into one table and one figure (docs/active_learning.md).

    python bench/al_combine.py OUT_PREFIX LABEL=DIR_OR_JSON [LABEL=...]

Each DIR is a learn output folder (its runs/*.json are read; a run's strategy name is replaced by
LABEL when LABEL is not "-"), each JSON a bmdal_compare output. Writes OUT_PREFIX.md, .json, .png.
"""
import glob
import json
import sys
from pathlib import Path

from surrogate_guard.experiments.learn import summarize
from surrogate_guard.experiments.plots import learning_curves


def load(spec: str) -> list[dict]:
    label, path = spec.split("=", 1)
    files = sorted(glob.glob(f"{path}/runs/*.json")) if Path(path).is_dir() else sorted(glob.glob(path))
    runs = []
    for f in files:
        r = json.load(open(f))
        r.setdefault("single", None)
        r.setdefault("calls", r["history"][-1]["calls"])
        if label != "-":
            r["strategy"] = label if r["single"] is None else r["strategy"]
        runs.append(r)
    return runs


def main() -> None:
    out, specs = sys.argv[1], sys.argv[2:]
    runs = [r for s in specs for r in load(s)]
    points = [1000, 2000, 4000, 8000, 16000]
    summary = summarize([r for r in runs if r["single"] is None], points)
    summary += [dict(s, strategy="random, one design") for s in summarize([dict(r, history=r["history"][-1:]) for r in runs if r["single"] is not None], points)]
    lines = ["| strategy | oracle calls | seeds | test RMSE mean +- sd (min-max) | worst abs error mean (min-max) | training points |",
             "|---|---:|---:|---|---|---:|"]
    for s in sorted(summary, key=lambda s: (s["calls"], s["rmse_mean"])):
        lines.append(f"| {s['strategy']} | {s['calls']} | {s['seeds']} | {s['rmse_mean']:.3f} +- {s['rmse_sd']:.3f} "
                     f"({s['rmse_min']:.3f}-{s['rmse_max']:.3f}) | {s['worst_mean']:.1f} ({s['worst_min']:.1f}-"
                     f"{s['worst_max']:.1f}) | {s['n_train_mean']:.0f} |")
    Path(out + ".md").write_text("\n".join(lines) + "\n")
    Path(out + ".json").write_text(json.dumps({"summary": summary, "sources": specs}, indent=1))
    cfg = {"preset": "paper", "oracle": "analytic", "test": {"points": 50000}}
    learning_curves(out + ".png", runs, cfg)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
