"""Upper bound, not a strategy (docs/active_learning.md): each round the 250 worst of a 40 000-point pool priced
without counting, plus 250 Sobol points bought through the budget. python bench/al_upper_bound.py BUDGET"""
import sys, json, numpy as np, torch
import surrogate_guard as sg
from surrogate_guard.active import ActiveLearner, Proposal
from surrogate_guard.box import sobol_unit
torch.set_num_threads(1)
P = sg.presets.get("paper"); Z = P.oracle()
class UB:
    name = "upper-bound"
    def propose(self, st, n):
        U = sobol_unit(40000, st.box.dim, int(st.rng.integers(2**63))); Xp = st.box.denormalize(U)
        r = np.abs(st.surrogate.predict(Xp) - Z(Xp)); k = n // 2
        X = np.vstack([Xp[np.argsort(-r)[:k]], st.box.denormalize(sobol_unit(n - k, st.box.dim, int(st.rng.integers(2**63))))])
        res = st.oracle.evaluate(X); return Proposal(X, np.array(res.price), np.array(res.stderr))
Xt = P.sample(50000, seed=30_000); zt = Z(Xt)
lr = ActiveLearner(Z, P, surrogate=sg.Surrogate(P), strategy=UB(), batch_size=500, initial=500, validation=500, seed=0, test=(Xt, zt))
for r in lr.run(budget=int(sys.argv[1]), progress=False).history: print(r.calls, r.n_train, round(r.test_rmse, 3), round(r.test_worst, 1), flush=True)
