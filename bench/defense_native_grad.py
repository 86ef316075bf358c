"""The defense with the oracle's native gradient against central differences (issue 13).

For each seed: the attack of `surrogate-guard defend` (its default config, or SG_DEFEND_CONFIG),
one poisoned surrogate, then ``detect`` three times on it at the main setting (strategy "mixed", 10%
of the training set as budget): ``oracle_gradient="differences"``; "native" (the search share sized
in calls, so 2d + 1 times the seeds); and "native, equal seeds" (the search share divided by 2d + 1:
the differences' seeds, the rest of the budget to the label checks).
Prints a markdown table: recall, false positive rate, trigger-region hit, calls (search and total),
gradient calls, price-equivalents and the measured gradient-to-price time ratio.

    .venv/bin/python bench/defense_native_grad.py [--seeds 0 1 2] [--n-train 16000] [--epochs 300]
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np

from surrogate_guard.experiments.attack import run_seed
from surrogate_guard.experiments.config import load_config
from surrogate_guard.experiments.defend import DEFAULT_CONFIG, budget_of, defense_oracle, run_detect


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--json", default=None, help="write the rows here")
    a = p.parse_args()
    cfg = load_config(a.config, DEFAULT_CONFIG)
    if a.n_train:
        cfg["n_train"] = a.n_train
    if a.epochs:
        cfg["fit"]["epochs"] = a.epochs
    n_guard = int(cfg["attack"]["n_guard"])
    rows = []
    for seed in a.seeds:
        t = time.perf_counter()
        _, art = run_seed(cfg, seed, [n_guard])
        model, ps = art.poisoned[n_guard]
        print(f"seed {seed}: attack and fits {time.perf_counter() - t:.0f} s", flush=True)
        budget = budget_of(cfg["defense"]["main_budget_fraction"], len(ps.y))
        for mode in ("differences", "native", "native, equal seeds"):
            c = copy.deepcopy(cfg)
            c["defense"]["search"]["oracle_gradient"] = mode.split(",")[0]
            if mode.endswith("equal seeds"):
                c["defense"]["check"]["search_fraction"] /= 2 * ps.X.shape[1] + 1
            t = time.perf_counter()
            rep = run_detect(c, model, defense_oracle(c), ps.X, ps.y, budget, seed, c["defense"]["main_strategy"],
                             ps.y_stderr)
            counts = rep.counts(ps.is_poison)
            cost = rep.cost
            rows.append({"seed": seed, "gradient": mode, "recall": counts["recall"],
                         "fpr": counts["false_positive_rate"], "hit": bool(rep.region_hit(art.region)),
                         "calls_search": cost.oracle_calls_search, "calls": cost.oracle_calls,
                         "grad_calls": cost.grad_calls, "price_equivalents": cost.price_equivalents,
                         "grad_ratio": cost.grad_ratio, "budget": budget, "search_s": cost.search_s,
                         "wall_s": time.perf_counter() - t})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| seed | oracle gradient | recall | FPR | region hit | search calls | grad calls | search price-eq. "
          "| total calls | total price-eq. | grad/price time | search s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "-" if r["grad_ratio"] is None else f"{r['grad_ratio']:.2f}"
        pe_search = r["calls_search"] - r["grad_calls"] + r["grad_calls"] * (r["grad_ratio"] or 1.0)
        print(f"| {r['seed']} | {r['gradient']} | {r['recall']:.3f} | {r['fpr']:.2e} | {r['hit']} | "
              f"{r['calls_search']} | {r['grad_calls']} | {pe_search:.0f} | {r['calls']} | "
              f"{r['price_equivalents']:.0f} | {ratio} | "
              f"{r['search_s']:.2f} |")
    for mode in ("differences", "native", "native, equal seeds"):
        sel = [r for r in rows if r["gradient"] == mode]
        print(f"mean {mode}: recall {np.mean([r['recall'] for r in sel]):.3f}, "
              f"fpr {np.mean([r['fpr'] for r in sel]):.2e}, search calls {np.mean([r['calls_search'] for r in sel]):.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
