"""Monte Carlo oracle: native CPU (OpenMP x SIMD) or CUDA simulation of GBM or Heston paths.

Philox random numbers keyed by (seed, path, step), never by the parameter point: every point
sees the same normals (common random numbers), results do not depend on thread count, and CPU
and CUDA draw the same numbers. See docs/monte_carlo.md for the schemes and their accuracy.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import _core
from .._device import Device, resolve_device
from .._validate import check_int
from ..models import GBM, Heston
from ..options import BarrierOption
from . import _mc_checks
from .barrier import COLUMNS, BarrierOracle, check_in_domain, out_of_domain
from .base import OracleResult, ReliabilityWarning, Spec, check_grad

__all__ = ["MonteCarlo", "MCResult"]

Precision = Literal["float64", "float32"]
PRECISIONS: tuple[str, ...] = ("float64", "float32")
_MAX_STEPS = 2**31 - 1
_MAX_PATHS = 2**62


@dataclass(frozen=True, kw_only=True)
class MCResult(OracleResult):
    """One Monte Carlo evaluation: ``price`` and ``stderr`` (n,) float64 (read-only), the
    ``paths`` and ``steps`` simulated per point, the ``device`` and ``precision`` used, and
    ``reliable`` (n,) bool (read-only): False where the estimate rests on too few effective paths
    for its standard error to mean anything (docs/monte_carlo.md, "Reliability"). With
    ``evaluate(X, grad=True)``: ``grad`` and ``grad_stderr`` (n, 5) float64 (read-only), the pathwise
    derivatives of the price in [strike, barrier, volatility, maturity, rate] and their standard
    errors, from the same paths as the price (docs/monte_carlo.md, "Pathwise sensitivities")."""

    paths: int
    steps: int
    device: str
    precision: str
    reliable: np.ndarray


class MonteCarlo(BarrierOracle):
    """Monte Carlo prices of ``option`` under ``model`` (``sg.GBM()`` or ``sg.Heston(...)``).

    ``Z(X)`` with X (n, 5) [strike, barrier, volatility, maturity, rate] returns (n,) float64
    prices; ``Z.evaluate(X)`` also returns standard errors (``MCResult``).

    Args:
        paths: simulated paths per point (with ``antithetic``, paths/2 antithetic pairs; must be
            even then). The standard error is over independent draws (pairs).
        steps: time steps per path.
        seed: Philox key, an int in [0, 2^64).
        bridge: Brownian-bridge survival weight between steps (continuous monitoring); False
            monitors the barrier at the step dates only.
        antithetic: pair every path with its negated-normals twin.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        precision: ``"float64"`` or ``"float32"`` path state (sums are always float64).
        threads: CPU threads, None (the OpenMP default) or 1..limits.MAX_THREADS whose stacks fit the
            memory ceiling. Results never depend on it.
        check_domain: refuse points outside the stated domain (strike / spot and barrier / spot in
            [1e-6, 1e6], volatility <= 10, maturity <= 100 years, rate and the option's dividend in
            [-1, 1]) with a ValueError naming the column; False prices them, flagged unreliable.

    Gradients: ``evaluate(X, grad=True)`` also returns ``grad`` and ``grad_stderr`` (n, 5), pathwise
    tangents carried through the same simulation (same normals: the price is bitwise the one of
    ``grad=False``), for a small multiple of one price's time. They need ``bridge=True`` (``has_grad``
    is False without it: the discretely monitored indicator is discontinuous in the barrier).

    Reliability: ``evaluate(X).reliable`` (n,) bool; a call on rows that are not reliable emits a
    ``sg.ReliabilityWarning`` naming how many. Work (n x paths x steps) and memory are checked against
    ``sg.limits`` ceilings before anything is allocated (``ResourceError``).
    """

    def __init__(self, option: BarrierOption, model: GBM | Heston | None = None, paths: int = 65536,
                 steps: int = 64, seed: int = 0, bridge: bool = True, antithetic: bool = True,
                 device: Device = "auto", precision: Precision = "float64", threads: int | None = None,
                 box=None, check_domain: bool = True) -> None:
        super().__init__(option, box)
        model = GBM() if model is None else model
        if not isinstance(model, (GBM, Heston)):
            raise TypeError(f"model: expected sg.GBM() or sg.Heston(...), got {type(model).__name__}")
        self.model = model
        self.paths = check_int(paths, "paths", minimum=1, maximum=_MAX_PATHS)
        self.steps = check_int(steps, "steps", minimum=1, maximum=_MAX_STEPS)
        self.seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
        for name, flag in (("bridge", bridge), ("antithetic", antithetic), ("check_domain", check_domain)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        self.bridge, self.antithetic, self.check_domain = bool(bridge), bool(antithetic), bool(check_domain)
        lo, hi = _mc_checks.DIVIDEND_RANGE
        if self.check_domain and not lo <= option.dividend <= hi:
            raise ValueError(f"option.dividend: must lie in [{lo:g}, {hi:g}] (the stated domain of MonteCarlo), got "
                             f"{option.dividend!r}; pass check_domain=False to price outside it")
        if self.antithetic and self.paths % 2:
            raise ValueError(f"paths: with antithetic=True expected an even number of paths, got {self.paths}")
        draws = self.paths // 2 if self.antithetic else self.paths
        if draws < 2:
            raise ValueError(f"paths: expected at least 2 independent draws for a standard error, got paths={self.paths}"
                             f" (antithetic={self.antithetic}); use paths >= {4 if self.antithetic else 2}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.threads = _mc_checks.check_threads(threads)
        self.device = resolve_device(device)
        _mc_checks.check_resources(1, self.paths, self.steps, 0.0, None, 0.0)  # one point must be possible
        kappa, theta, xi, rho, v0 = self.model.native_params() if isinstance(self.model, Heston) else [0.0] * 5
        # The native op's settings, validated there once more (csrc/mc/op.h, bind/register_mc.cpp).
        self._config = _core.McConfig(code=option.code, spot=option.spot, dividend=option.dividend,
                                      model=self.model.code, kappa=kappa, theta=theta, xi=xi, rho=rho, v0=v0,
                                      paths=self.paths, steps=self.steps, seed=self.seed, bridge=self.bridge,
                                      antithetic=self.antithetic, single=self.precision == "float32",
                                      threads=self.threads)

    def spec(self) -> Spec:
        """``(MonteCarlo, kwargs)``: what pickles (oracles/base.py). The device is the resolved one,
        so a copy computes what this oracle computes (bitwise) or fails if that device is absent."""
        return MonteCarlo, {"option": self.option, "model": self.model, "paths": self.paths, "steps": self.steps,
                            "seed": self.seed, "bridge": self.bridge, "antithetic": self.antithetic,
                            "device": self.device, "precision": self.precision,
                            "threads": self.threads or None, "box": self.box, "check_domain": self.check_domain}

    @property
    def has_grad(self) -> bool:
        """True with the bridge: ``evaluate(X, grad=True)`` returns pathwise gradients."""
        return self.bridge

    def _require_grad(self) -> None:
        if not self.bridge:
            raise ValueError("grad: MonteCarlo has pathwise gradients only with bridge=True; with discrete monitoring "
                             "(bridge=False) the knock-out indicator is discontinuous in the barrier and the path, so "
                             "its pathwise derivative is not the price's; use bridge=True (continuous monitoring) or "
                             "difference the prices")

    def _check_resources(self, n: int, grad: bool = False) -> None:
        ws = _core.mc_workspace_bytes(n, self._config, self.device, grad=grad)
        # host: the outputs and the per-point constants (CPU: with the partial sums, as the workspace says)
        outs = 16.0 * n + (80.0 * n if grad else 0.0)
        host = outs + (ws if self.device == "cpu" else 200.0 * n)
        cuda = self.device == "cuda"
        _mc_checks.check_resources(n, self.paths, self.steps, host, ws if cuda else None,
                                   _core.mc_cuda_free_bytes() if cuda else 0.0)

    def _run(self, X: np.ndarray, reference: bool = False, grad: bool = False) -> MCResult:
        n = X.shape[0]
        outside = None
        if n and self.check_domain:
            check_in_domain(X, self.option.spot, _mc_checks.DOMAIN, "MonteCarlo")
        elif n:
            outside = out_of_domain(X, self.option.spot, _mc_checks.DOMAIN)
        price = np.empty(n, dtype=np.float64)
        stderr = np.empty(n, dtype=np.float64)
        g = gs = None
        if grad:
            g = np.empty((n, len(COLUMNS)), dtype=np.float64)
            gs = np.empty((n, len(COLUMNS)), dtype=np.float64)
        if n:
            self._check_resources(n, grad)
            if g is not None and gs is not None:
                _core.mc_grad(X, price, stderr, g, gs, self._config, device=self.device, reference=reference)
                check_grad("MonteCarlo", X, g, gs)
            else:
                _core.mc_price(X, price, stderr, self._config, device=self.device, reference=reference)
            self._check_output(X, price, stderr)
        draws = self.paths // 2 if self.antithetic else self.paths
        reliable = _mc_checks.reliability(X, price, stderr, self.option, self.model, draws, outside)
        bad = int(n - np.count_nonzero(reliable))
        if bad:
            warnings.warn(f"MonteCarlo: {bad} of {n} rows are unreliable (too few effective paths for the standard "
                          f"error to mean anything, or outside the stated domain); see MCResult.reliable and "
                          f"docs/monte_carlo.md", ReliabilityWarning, stacklevel=3)
        for a in (price, stderr, reliable, g, gs):
            if a is not None:
                a.setflags(write=False)
        return MCResult(price=price, stderr=stderr, grad=g, grad_stderr=gs, paths=self.paths, steps=self.steps,
                        device=self.device, precision=self.precision, reliable=reliable)

    def evaluate(self, X, grad: bool = False) -> MCResult:
        """Price X (n, 5): an ``MCResult`` with price and stderr (n,) float64; with ``grad=True`` also
        grad and grad_stderr (n, 5) (needs bridge=True). Counts n calls (and n grad_calls)."""
        X = self.check_points(X)
        if not isinstance(grad, (bool, np.bool_)):
            raise TypeError(f"grad: expected a bool, got {type(grad).__name__} {grad!r}")
        if grad:
            self._require_grad()
        t0 = time.perf_counter()
        res = self._run(X, grad=bool(grad))
        self._count(X.shape[0], bool(grad), time.perf_counter() - t0)
        return res

    def _evaluate_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        res = self._run(X, grad=True)
        assert res.grad is not None and res.grad_stderr is not None
        return res.price, res.stderr, res.grad, res.grad_stderr

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        res = self._run(X)
        return res.price, res.stderr

    def reference(self, X, grad: bool = False) -> MCResult:
        """The slow path: serial, one draw at a time through the scalar kernel code (CPU only,
        float64 sums), with ``grad=True`` its tangents too; for tests. Not counted as oracle calls."""
        X = self.check_points(X)
        if self.device != "cpu":
            raise ValueError("reference: only on device='cpu'")
        if not isinstance(grad, (bool, np.bool_)):
            raise TypeError(f"grad: expected a bool, got {type(grad).__name__} {grad!r}")
        if grad:
            self._require_grad()
        return self._run(X, reference=True, grad=bool(grad))

    def __repr__(self) -> str:
        return (f"MonteCarlo({self.option}, {self.model}, paths={self.paths}, steps={self.steps}, seed={self.seed}, "
                f"bridge={self.bridge}, antithetic={self.antithetic}, device={self.device!r}, "
                f"precision={self.precision!r}, calls={self.calls})")
