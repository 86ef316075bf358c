"""First active-learning comparison (docs/active_learning.md): python bench/al_compare.py STRATEGY SEED BUDGET [TAG [OPTIONS_JSON]]
Prints test RMSE and worst error on 50 000 uniform paper-box points after every round; writes runs/al_*.json."""
import json, os, sys, time

import numpy as np
import torch

import surrogate_guard as sg
from surrogate_guard.active import ActiveLearner
torch.set_num_threads(1)
strategy, seed, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
P = sg.presets.get("paper"); Z = P.oracle()
Xt = P.sample(50000, seed=30_000); zt = Z(Xt)
rows = []
def cb(r):
    e = lr.surrogate.predict(Xt) - zt
    rows.append({"calls": r.calls, "n_train": r.n_train, "test_rmse": float(np.sqrt(np.mean(e**2))), "test_worst": float(np.abs(e).max()), "propose_s": r.propose_s, "fit_s": r.fit_s})
    print(sys.argv[1], seed, rows[-1], flush=True)
    return True
opts = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
if opts:  # e.g. '{"ascent": "gradient"}' or '{"steps": 2}': the strategy's options
    strategy = sg.active.strategies.make_strategy(strategy, opts)
initial, validation = int(os.environ.get("AL_INITIAL", 500)), int(os.environ.get("AL_VALIDATION", 500))
lr = ActiveLearner(Z, P, surrogate=sg.Surrogate(P), strategy=strategy, batch_size=500, initial=initial, validation=validation, seed=seed)
t = time.time(); res = lr.run(budget=budget, callback=cb)
os.makedirs("runs", exist_ok=True)
tag = sys.argv[4] if len(sys.argv) > 4 else "x"
json.dump({"strategy": sys.argv[1], "options": opts, "seed": seed, "rows": rows, "wall": time.time() - t}, open("runs/al_%s_%d_%s.json" % (sys.argv[1], seed, tag), "w"))
