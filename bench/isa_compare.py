# Portable vs native builds, and the CPU kernel variants: `python bench/isa_compare.py [PKG_DIR]` (PKG_DIR: a --target install to compare; SG_CPU_ISA=base|v3 picks a lower variant). Figures: bench/RESULTS.md.
import sys, time, os
if len(sys.argv) > 1 and sys.argv[1] != "-": sys.path.insert(0, sys.argv[1])
import numpy as np, surrogate_guard as sg
from surrogate_guard import _core
from surrogate_guard.kernels import ascent_step
import torch; torch.set_num_threads(1)
opt = sg.BarrierOption("down-and-out", "call")
X = np.array([[100.0, 80.0, 0.25, 1.0, 0.03]])
def best(f, r=5):
    f(); b = 1e9
    for _ in range(r):
        t = time.perf_counter(); f(); b = min(b, time.perf_counter() - t)
    return b
out = [_core.cpu_isa()]
for prec in ("float64", "float32"):
    Z = sg.oracles.MonteCarlo(opt, paths=2**19, steps=64, device="cpu", precision=prec, threads=1)
    t = best(lambda: Z(X))
    out.append(f"mc {prec} {2**19*64/t/1e6:.0f} M path-steps/s")
P = sg.presets.get("paper"); s = sg.Surrogate(P, seed=0)
for dt in (np.float32, np.float64):
    w = s.export(dt); B = 131072
    Xs = P.sample(B, seed=1).astype(dt); z = np.zeros(B, dt); gz = np.zeros((B, 5), dt)
    t = best(lambda: ascent_step(w, Xs, z, gz, eta=0.01, lo=P.box.lo, hi=P.box.hi, device="cpu", threads=1), 3)
    out.append(f"mlp step {np.dtype(dt).name} B={B}: {t*1e3:.1f} ms")
print(" | ".join(out))
