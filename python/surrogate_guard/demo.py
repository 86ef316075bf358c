"""``surrogate-guard demo``: price a batch of the paper preset with every oracle, against the
closed form and QuantLib; print price error and time per option.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from . import oracles, presets


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="paper", help="preset name (default: paper)")
    p.add_argument("--n", type=int, default=200, help="points priced by the slow oracles (default 200)")
    p.add_argument("--seed", type=int, default=0)


def _timed(fn, X):
    t = time.perf_counter()
    y = fn(X)
    return y, time.perf_counter() - t


def _engines(option):
    """(name, callable, note) for every oracle this build offers, cheapest first."""
    yield "analytic (closed form)", oracles.Analytic(option), "reference"
    if hasattr(oracles, "FiniteDifference"):
        fd = oracles.FiniteDifference(option)
        yield "finite difference (Numba)", fd, "default grid"
    if hasattr(oracles, "MonteCarlo"):
        from . import _device

        mc = oracles.MonteCarlo(option, paths=65536, steps=64, seed=0, device="auto")
        yield f"Monte Carlo ({_device.resolve_device('auto')}, 65536 paths x 64 steps)", mc, "error in SE units below"
    try:
        from .quantlib_ref import quantlib_prices

        yield "QuantLib AnalyticBarrierEngine", lambda X: quantlib_prices(option, X), "independent"
        yield "QuantLib FdBlackScholesBarrierEngine 800x800", (
            lambda X: quantlib_prices(option, X, engine="fd", grid=(800, 800))
        ), "independent"
    except ImportError:  # pragma: no cover - QuantLib is optional
        pass


def run(args: argparse.Namespace) -> int:
    preset = presets.get(args.preset)
    X = preset.sample(args.n, seed=args.seed)
    ref = oracles.Analytic(preset.option)(X)
    print(f"preset {preset.name!r}: {preset.option}; {args.n} points drawn uniformly from the box")
    print(f"{'oracle':<52} {'max |err|':>11} {'mean |err|':>11} {'us/option':>11}  note")
    X_big = preset.sample(100_000, seed=args.seed + 1)
    for name, fn, note in _engines(preset.option):
        fn(X[:2])  # pay JIT / first-use costs outside the timing
        y, dt = _timed(fn, X)
        if name.startswith("analytic"):
            # Per-option time of the closed form only means something on a large batch.
            _, dt_big = _timed(fn, X_big)
            dt = dt_big * len(X) / len(X_big)
        ok = np.isfinite(y)
        err = np.abs(y[ok] - ref[ok])
        extra = ""
        if hasattr(fn, "evaluate"):
            res = fn.evaluate(X)
            se = np.where(res.stderr > 0, res.stderr, np.inf)
            extra = f"; max |err|/SE = {np.max(np.abs(res.price - ref) / se):.2f}"
        if not ok.all():
            extra += f"; {np.count_nonzero(~ok)} points failed"
        print(f"{name:<52} {err.max():>11.3e} {err.mean():>11.3e} {dt / len(X) * 1e6:>11.2f}  {note}{extra}")
    return 0
