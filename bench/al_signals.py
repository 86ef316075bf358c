"""Which cheap signal ranks the true worst-fit pool points? (docs/active_learning.md) python bench/al_signals.py"""
import numpy as np, torch, time
import surrogate_guard as sg
from scipy.spatial import cKDTree
from surrogate_guard.box import sobol_unit
torch.set_num_threads(1)
P = sg.presets.get("paper"); Z = P.oracle(); box = P.box
X = box.denormalize(sobol_unit(2000, 5, 1)); y = Z(X)
s = sg.Surrogate(P); s.fit(X, y, seed=0)
Up = sobol_unit(40000, 5, 2); Xp = box.denormalize(Up); r = np.abs(s.predict(Xp) - Z(Xp))
top = set(np.argsort(-r)[:250]); print("true error: top-250 mean", r[list(top)].mean(), "median all", np.median(r))
def prec(score, name):
    sel = np.argsort(-score)[:250]; print(f"{name:40s} overlap {len(top & set(sel))/250:.2f}  mean true err of picks {r[sel].mean():.2f}")
Ub = sobol_unit(500, 5, 3); Xb = box.denormalize(Ub); rb = np.abs(s.predict(Xb) - Z(Xb))
for k in (1, 4, 8):
    d, i = cKDTree(Ub).query(Up, k=k); d = d.reshape(len(Up), -1); i = i.reshape(len(Up), -1)
    w = 1 / (d + 1e-3); prec((w * rb[i] ** 2).sum(1) / w.sum(1), f"knn{k} of 500 breadth residuals")
G = sg.kernels.input_gradient(s, Xp) if hasattr(sg, "kernels") and hasattr(sg.kernels, "input_gradient") else None
H = torch.tensor(Up, requires_grad=True); params = [p.double() for p in s._params]
out = s._forward(params, H); g, = torch.autograd.grad(out.sum(), H); gn = g.norm(dim=1).numpy()
prec(gn, "surrogate |grad| (unit box)")
rt = np.abs(s.predict(X) - y); d, i = cKDTree(box.normalize(X)).query(Up, k=4); w = 1/(d+1e-3)
prec((w * rt[i]**2).sum(1)/w.sum(1), "knn4 of training residuals (in-sample)")
prec(np.random.default_rng(0).random(len(Up)), "random")
d, i = cKDTree(Ub).query(Up, k=4); w = 1/(d+1e-3); kb = (w * rb[i]**2).sum(1)/w.sum(1)
prec(gn * np.sqrt(kb), "grad x sqrt(knn4 breadth)")
prec(np.log(gn) + 0.5*np.log(kb), "same (log)")
from surrogate_guard.active.baselines import separated_top
for sep in (0.0, 0.02, 0.05):
    sel = separated_top(Up, gn, 250, sep); print("grad separated", sep, "mean true err", r[sel].mean().round(2))
