"""The portable build's CPU kernel variants (csrc/common/isa.h) compute the same thing.

Each variant runs in its own process (SG_CPU_ISA lowers the level, read once at first use); the
results are compared with the best variant this CPU has: float64 Monte Carlo to 1e-9 relative
(FMA contraction and vector width change rounding only), the MLP kernel to 1e-12 relative to
the sum of |terms| (float64).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from surrogate_guard import _core

SCRIPT = r"""
import json, numpy as np, surrogate_guard as sg
from surrogate_guard import _core
P = sg.presets.get("paper")
X = P.sample(20, seed=3)
out = {"isa": _core.cpu_isa()}
for model in (sg.GBM(), sg.Heston()):
    Z = sg.oracles.MonteCarlo(sg.BarrierOption("down-and-in", "call"), model=model, paths=4100, steps=7,
                              device="cpu", threads=1)
    out[type(model).__name__] = Z(X).tolist()
w = sg.Surrogate(P, widths=(32, 32, 32), seed=1).export(np.float64)
vg = sg.kernels.mlp_value_and_grad(w, X, device="cpu", threads=1)
out["y"], out["g"] = np.asarray(vg.y).tolist(), np.asarray(vg.grad).tolist()
print(json.dumps(out))
"""


def run(level: str | None) -> dict:
    env = dict(os.environ)
    env.pop("SG_CPU_ISA", None)
    if level:
        env["SG_CPU_ISA"] = level
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(_core.cpu_isa() == "native", reason="a native build has one variant")
@pytest.mark.parametrize("level", ["base", "v3"])
def test_variants_agree(level):
    best, low = run(None), run(level)
    assert low["isa"] == {"base": "x86-64", "v3": "x86-64-v3"}[level] or low["isa"] == best["isa"]
    for model in ("GBM", "Heston"):
        np.testing.assert_allclose(low[model], best[model], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(low["y"], best["y"], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(low["g"], best["g"], rtol=1e-11, atol=1e-10)
