"""Which 1 000 points added to 2 000 Sobol points help the test RMSE most? (docs/active_learning.md) python bench/al_ceiling.py"""
import numpy as np, torch, sys
import surrogate_guard as sg
from surrogate_guard.box import sobol_unit
from surrogate_guard.kernels import mlp_value_and_grad
torch.set_num_threads(1)
P = sg.presets.get("paper"); Z = P.oracle(); box = P.box
Xt = P.sample(50000, seed=30_000); zt = Z(Xt)
X = box.denormalize(sobol_unit(2000, 5, 1)); y = Z(X)
s = sg.Surrogate(P); s.fit(X, y, seed=0)
def ev(m): e = m.predict(Xt) - zt; return round(float(np.sqrt(np.mean(e**2))), 3), round(float(np.abs(e).max()), 1)
print("base 2000", ev(s), flush=True)
Xp = box.denormalize(sobol_unit(40000, 5, 2)); r = np.abs(s.predict(Xp) - Z(Xp))
G = mlp_value_and_grad(s.export(np.float64), Xp, device="cpu").grad; gn = np.linalg.norm(G * box.width, axis=1)
adds = {"sobol": box.denormalize(sobol_unit(1000, 5, 3)), "true-top": Xp[np.argsort(-r)[:1000]],
        "grad-top": Xp[np.argsort(-gn)[:1000]], "half true-top + half sobol": np.vstack([Xp[np.argsort(-r)[:500]], box.denormalize(sobol_unit(500, 5, 3))]),
        "half grad-top + half sobol": np.vstack([Xp[np.argsort(-gn)[:500]], box.denormalize(sobol_unit(500, 5, 3))])}
for name in sys.argv[1:] or adds:
    A = adds[name]; X2 = np.vstack([X, A]); m = s.like(seed=1); m.fit(X2, Z(X2), seed=1)
    print(name, ev(m), "mean true err of added", round(float(np.mean(np.abs(s.predict(A) - Z(A)))), 2), flush=True)
