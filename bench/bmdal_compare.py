"""Benchmark-only comparison: bmdal_reg's LCMD (Holzmueller et al., JMLR 2023, "A framework and
benchmark for deep batch active learning for regression") as an ActiveLearner strategy.

Each round ``LCMD`` draws a fresh scrambled Sobol' pool (default 20 000 points; the same pool
protocol as GreedyX / iGS in surrogate_guard.active.baselines) and picks the batch with
bmdal_reg's ``select_batch`` in the paper's recommended configuration, LCMD-TP with sketched
gradient features: selection_method="lcmd", sel_with_train=True, base_kernel="grad",
kernel_transforms=[("rp", [512])]. The kernel is that of the *current surrogate*: its weights are
copied into an equivalent network of bmdal_reg's ``LinearLayer``s (unit-box inputs, the scaled
output before y_scale / y_offset, which only rescales the kernel and leaves LCMD's choices alone);
every round asserts that the copy's outputs match ``Surrogate._forward`` (max abs difference on
1000 pool points < 1e-4 relative to the largest output). The grad features are the gradients of
the network in the surrogate's own (standard) parametrization; ``parametrization="ntk"`` instead
stores the same function in bmdal_reg's NTK parametrization (weight factor 0.2/sqrt(fan_in),
bias factor 0.2, the benchmark's values), which reweights the layers' blocks of the kernel.
The n points are priced in one oracle call.

bmdal_reg is NOT a dependency of surrogate_guard; install it in a separate venv (the project's
.venv stays clean):

    cp -al /work/main/.venv /tmp/bmdal_venv
    rm /tmp/bmdal_venv/lib/python3.11/site-packages/_editable_skbc_surrogate_guard.pth
    /tmp/bmdal_venv/bin/python -m pip install --no-deps bmdal_reg==3.0.2 dill
    # surrogate_guard without the editable hook: a symlink tree of the sources plus the built _core
    mkdir -p /tmp/bmdal_pkg && cp -rs /work/main/python/surrogate_guard /tmp/bmdal_pkg/
    cp /work/main/.venv/lib/python3.11/site-packages/surrogate_guard/_core*.so /tmp/bmdal_pkg/surrogate_guard/

(bmdal_reg's other requirements, pandas/seaborn/openml/mat4py, serve only its own benchmark
code; dill is imported by bmdal_reg.utils. bmdal_reg 3.0.2 uses ``np.Inf``, gone in NumPy 2; this
script restores the alias before importing it.)

Run (from /work/main):

    PYTHONPATH=/tmp/bmdal_pkg /tmp/bmdal_venv/bin/python bench/bmdal_compare.py SEED BUDGET OUT.json

i.e. ActiveLearner(P.oracle(), P, surrogate=sg.Surrogate(P), strategy=LCMD(), batch_size=1000,
initial=500, validation=500, seed=SEED, test=(Xt, zt)) on the "paper" preset, Xt = 50 000
P.sample points (seed 30 000); writes {"strategy": "lcmd", "seed", "history", "select_s"}, with
select_s the total seconds LCMD spent choosing points (pool, network copy, check, select_batch;
not the oracle). Smaller smoke runs: --pool, --batch, --initial, --validation, --test-size,
--fit-epochs (defaults: the real comparison above).
"""
from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

if not hasattr(np, "Inf"):  # bmdal_reg 3.0.2 still spells np.inf as np.Inf (removed in NumPy 2.0)
    np.Inf = np.inf

# Harmless with torch 2.13 (checked: the exact grad kernel equals our autograd gradients' Gram matrix):
# the first layer's full backward hook fires on outputs only; an old-style index in feature_maps.py.
warnings.filterwarnings("ignore", message="Full backward hook is firing")
warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")

from bmdal_reg.bmdal.algorithms import select_batch  # noqa: E402
from bmdal_reg.bmdal.feature_data import TensorFeatureData  # noqa: E402
from bmdal_reg.layers import LinearLayer  # noqa: E402

import surrogate_guard as sg  # noqa: E402
from surrogate_guard.active import ActiveLearner  # noqa: E402
from surrogate_guard.active.base import LearnerState, Proposal  # noqa: E402
from surrogate_guard.active.baselines import _pool, _pool_size  # noqa: E402  (GreedyX/iGS's pool)

_ACT = {"silu": torch.nn.SiLU, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "softplus": torch.nn.Softplus}
NTK_WEIGHT_GAIN, NTK_BIAS_GAIN = 0.2, 0.2  # bmdal_reg run_experiments.py defaults
EQUIV_RTOL = 1e-4


def bmdal_network(surrogate, parametrization: str = "standard") -> torch.nn.Sequential:
    """The surrogate's MLP (unit-box inputs -> scaled output (n, 1)) as bmdal_reg LinearLayers.

    bmdal_reg's LinearLayer computes weight_factor * x @ W + bias_factor * b with W (in, out),
    the transpose of torch's. "standard": factors 1, W = ours.T, b = ours (gradients of our own
    parameters); "ntk": factors gain/sqrt(in) and gain, with W and b divided by them (same function)."""
    if parametrization not in ("standard", "ntk"):
        raise ValueError(f"parametrization: expected 'standard' or 'ntk', got {parametrization!r}")
    params = [p.detach().to(torch.float32) for p in surrogate._params]
    n_layers = len(params) // 2
    layers: list[torch.nn.Module] = []
    for i in range(n_layers):
        W, b = params[2 * i], params[2 * i + 1]  # (out, in), (out,)
        if parametrization == "ntk":
            wf, bf = NTK_WEIGHT_GAIN / math.sqrt(W.shape[1]), NTK_BIAS_GAIN
        else:
            wf, bf = 1.0, 1.0
        layers.append(LinearLayer(weight=(W.t() / wf).contiguous().clone(), bias=(b / bf).clone(),
                                  weight_factor=wf, bias_factor=bf))
        if i < n_layers - 1:
            layers.append(_ACT[surrogate.activation]())
    return torch.nn.Sequential(*layers)


def equivalence_error(surrogate, net: torch.nn.Module, U: np.ndarray) -> float:
    """max |net(U) - Surrogate._forward(U)| / max |Surrogate._forward(U)| on unit points U (k, d), float32."""
    H = torch.as_tensor(np.ascontiguousarray(U), dtype=torch.float32)
    with torch.no_grad():
        ours = surrogate._forward([p.detach().to(torch.float32) for p in surrogate._params], H)
        theirs = net(H)[:, 0]
    return float((ours - theirs).abs().max() / ours.abs().max().clamp_min(1e-30))


def lcmd_select(net: torch.nn.Module, U_train: np.ndarray, U_pool: np.ndarray, n: int, seed: int,
                n_features: int = 512) -> tuple[np.ndarray, dict]:
    """bmdal_reg LCMD-TP, grad kernel sketched to ``n_features``: n row indices of U_pool, and
    select_batch's result dict. The sketch's random matrices come from torch's global RNG, so it is
    seeded (in a forked RNG state, leaving the caller's untouched)."""
    data = {"train": TensorFeatureData(torch.as_tensor(np.ascontiguousarray(U_train), dtype=torch.float32)),
            "pool": TensorFeatureData(torch.as_tensor(np.ascontiguousarray(U_pool), dtype=torch.float32))}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        idx, res = select_batch(batch_size=n, models=[net], data=data, y_train=None, base_kernel="grad",
                                kernel_transforms=[("rp", [n_features])], selection_method="lcmd",
                                sel_with_train=True, verbosity=0)
    return idx.cpu().numpy().astype(np.int64), res


@dataclass
class LCMD:
    """bmdal_reg LCMD-TP (grad kernel, 512 random-projection features) on a fresh Sobol' pool.

    ``select_s``: total seconds spent choosing points; ``last_equiv``: the last round's network
    equivalence error; ``last_result``: select_batch's result dict (kernel/selection times, status)."""

    pool: int = 20_000
    n_features: int = 512
    parametrization: str = "standard"
    name: str = "lcmd"
    select_s: float = field(default=0.0, init=False)
    last_equiv: float = field(default=math.nan, init=False)
    last_result: dict = field(default_factory=dict, init=False, repr=False)

    def candidates(self, state: LearnerState, n: int) -> np.ndarray:
        t = time.perf_counter()
        X, U = _pool(state, _pool_size(self.pool, n))
        net = bmdal_network(state.surrogate, self.parametrization)
        self.last_equiv = equivalence_error(state.surrogate, net, U[:1000])
        assert self.last_equiv < EQUIV_RTOL, f"bmdal_reg network differs from the surrogate: {self.last_equiv:.3g}"
        idx, self.last_result = lcmd_select(net, state.box.normalize(state.X), U, min(n, len(U)),
                                            int(state.rng.integers(2**62)), self.n_features)
        if self.last_result.get("selection_status") is not None:
            print("lcmd:", self.last_result["selection_status"], flush=True)
        assert len(np.unique(idx)) == len(idx)
        self.select_s += time.perf_counter() - t
        return X[idx]

    def propose(self, state: LearnerState, n: int) -> Proposal:
        assert state.oracle is not None
        X = self.candidates(state, n)
        res = state.oracle.evaluate(X)
        return Proposal(X, np.array(res.price), np.array(res.stderr))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("budget", type=int)
    ap.add_argument("out")
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--initial", type=int, default=500)
    ap.add_argument("--validation", type=int, default=500)
    ap.add_argument("--test-size", type=int, default=50_000)
    ap.add_argument("--fit-epochs", type=int, default=None, help="Surrogate.fit epochs (default: 'auto')")
    ap.add_argument("--parametrization", choices=("standard", "ntk"), default="standard")
    a = ap.parse_args()
    torch.set_num_threads(1)
    P = sg.presets.get("paper")
    Xt = P.sample(a.test_size, seed=30000)
    zt = P.oracle()(Xt)
    strategy = LCMD(pool=a.pool, parametrization=a.parametrization)
    fit = None if a.fit_epochs is None else {"epochs": a.fit_epochs}
    lr = ActiveLearner(P.oracle(), P, surrogate=sg.Surrogate(P), strategy=strategy, batch_size=a.batch,
                       initial=a.initial, validation=a.validation, seed=a.seed, test=(Xt, zt), fit=fit)
    result = lr.run(a.budget, progress=False)
    out = {"strategy": "lcmd", "seed": a.seed, "history": [r.to_dict() for r in result.history],
           "select_s": strategy.select_s}
    if (a.pool, a.batch, a.initial, a.validation, a.test_size, a.fit_epochs, a.parametrization) != \
            (20_000, 1000, 500, 500, 50_000, None, "standard"):
        out["options"] = {k: v for k, v in vars(a).items() if k not in ("seed", "budget", "out")}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    for r in result.history:
        print(f"round {r.round}: calls {r.calls} n_train {r.n_train} test_rmse {r.test_rmse:.4g} "
              f"test_worst {r.test_worst:.4g} propose_s {r.propose_s:.1f} fit_s {r.fit_s:.1f}", flush=True)
    print(f"select_s {strategy.select_s:.1f}  last equivalence error {strategy.last_equiv:.2e}  "
          f"stopped_by {result.stopped_by}", flush=True)


if __name__ == "__main__":
    main()
