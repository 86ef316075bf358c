"""``surrogate-guard price``: price a batch of a preset with every oracle, against the closed form
and QuantLib; print price error and time per option. (Before the whole-story ``run`` existed,
this was ``surrogate-guard demo``.)
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from typing import Any, Callable, Iterator

import numpy as np

from .. import presets
from .._device import resolve_device
from ..presets import Preset
from .runner import standalone

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="paper", help="preset name (default: paper)")
    p.add_argument("--n", type=int, default=200, help="points priced by the slow oracles (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mc-paths", type=int, default=65536, help="Monte Carlo paths per point (default 65536)")
    p.add_argument("--mc-steps", type=int, default=64, help="Monte Carlo time steps per path (default 64)")


def _engines(preset: Preset, mc_paths: int, mc_steps: int) -> Iterator[tuple[str, Callable[[Any], Any], str]]:
    """(name, pricer, note) for every oracle this build offers, cheapest first. A pricer maps X (n, 5)
    to an oracle result (``.price``, ``.stderr``) or to prices (n,)."""
    yield "analytic (closed form)", preset.oracle("analytic").evaluate, "reference"
    yield "finite difference (Numba)", preset.oracle("finite_difference").evaluate, "default grid"
    mc = preset.oracle("monte_carlo", paths=mc_paths, steps=mc_steps, seed=0, device="auto")
    yield (f"Monte Carlo ({resolve_device('auto')}, {mc_paths} paths x {mc_steps} steps)", mc.evaluate,
           "error in SE units below")
    if importlib.util.find_spec("QuantLib") is not None:  # QuantLib is optional
        from ..quantlib_ref import quantlib_prices

        yield "QuantLib AnalyticBarrierEngine", lambda X: quantlib_prices(preset.option, X), "independent"
        yield ("QuantLib FdBlackScholesBarrierEngine 800x800",
               lambda X: quantlib_prices(preset.option, X, engine="fd", grid=(800, 800)), "independent")


def _timed(fn: Callable[[Any], Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(prices (n,), stderr (n,) or None, seconds) of one call."""
    t = time.perf_counter()
    out = fn(X)
    dt = time.perf_counter() - t
    if hasattr(out, "price"):
        return np.asarray(out.price), np.asarray(out.stderr), dt
    return np.asarray(out), None, dt


def _line(name: str, note: str, y: np.ndarray, se: np.ndarray | None, ref: np.ndarray, dt: float) -> str:
    ok = np.isfinite(y)
    err = np.abs(y[ok] - ref[ok])
    extra = ""
    if se is not None and np.any(se > 0):  # deterministic engines report zeros: no ratio to print
        ratio = np.abs(y - ref)[se > 0] / se[se > 0]
        extra = f"; max |err|/SE = {np.max(ratio):.2f}"
    if not ok.all():
        extra += f"; {np.count_nonzero(~ok)} points failed"
    worst = f"{err.max():>11.3e} {err.mean():>11.3e}" if err.size else f"{'n/a':>11} {'n/a':>11}"
    return f"{name:<52} {worst} {dt / len(y) * 1e6:>11.2f}  {note}{extra}"


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n: expected a count >= 1, got {args.n}")
    preset = presets.get(args.preset)
    X = preset.sample(args.n, seed=args.seed)
    ref = preset.oracle("analytic")(X)
    print(f"preset {preset.name!r}: {preset.option}; {args.n} points drawn uniformly from the box")
    print(f"{'oracle':<52} {'max |err|':>11} {'mean |err|':>11} {'us/option':>11}  note")
    X_big = preset.sample(100_000, seed=args.seed + 1)
    for name, fn, note in _engines(preset, args.mc_paths, args.mc_steps):
        fn(X[:2])  # pay JIT / first-use costs outside the timing
        y, se, dt = _timed(fn, X)
        if name.startswith("analytic"):
            # Per-option time of the closed form only means something on a large batch.
            dt = _timed(fn, X_big)[2] * len(X) / len(X_big)
        print(_line(name, note, y, se, ref, dt))
    return 0


if __name__ == "__main__":  # pragma: no cover
    standalone("python -m surrogate_guard.experiments.price", add_arguments, run)
