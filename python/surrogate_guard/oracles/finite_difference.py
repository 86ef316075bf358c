"""Finite-difference oracle: the Black-Scholes PDE in log-spot, Crank-Nicolson with Rannacher
start-up, one grid per parameter point aligned on the barrier and sized for it, batched in
parallel (Numba); a stated domain, resource ceilings and an output guard around it.

Design, domain and measured accuracy: docs/finite_difference.md. Kernels: ``_fd_kernel``; the
per-point grid sizes: ``_fd_grid.grid_factors``; the dense reference of the tests: ``_fd_reference``.
"""
from __future__ import annotations

import numba
import numpy as np

from .. import limits
from .._validate import check_float, check_int
from ..options import BarrierOption
from . import _fd_kernel as K
from ._fd_grid import grid_factors
from .barrier import BarrierOracle, DomainRule, check_in_domain, column, spot_ratio
from .base import Spec

__all__ = ["FiniteDifference", "DOMAIN", "DIVIDEND_RANGE"]

# The stated domain (docs/finite_difference.md): inside it the default grid, adapted per point,
# meets |error| <= 1e-4 max(price, S0 / 100). Outside, check_domain=True refuses.
DOMAIN: tuple[DomainRule, ...] = (
    spot_ratio(0, "strike / spot", 0.05, 20.0),
    spot_ratio(1, "barrier / spot", 0.05, 20.0),
    column(2, "volatility", 0.005, 2.0),
    column(3, "maturity", 0.001, 30.0),
    column(4, "rate", -0.1, 0.3),
)
VARIANCE_MAX = 20.0  # volatility^2 x maturity
DIVIDEND_RANGE = (-0.1, 0.3)
# Drift over diffusion across the option's life, D = |r - q - sigma^2/2| sqrt(T) / sigma: the grid
# grows as D^2 (_fd_grid.grid_factors), so D is bounded (it only binds below volatility ~0.02).
DRIFT_MAX = 30.0
MAX_SPACE_STEPS = 2**17  # user grids; the per-point adaptation may grow them up to ADAPT_MAX_*
MAX_TIME_STEPS = 2**20
MAX_RANNACHER = 64
# The adapted grid's ceiling (above the user's): inside the domain the default grid grows to at most
# 9514 x 5657; outside (check_domain=False) the cap keeps a solve below ~6e8 node-steps.
ADAPT_MAX_SPACE = 2**15
ADAPT_MAX_TIME = 2**14
# Bytes per grid node of one block of LANES jobs in flight: the workspace (NF x LANES float64), the
# node coordinates of both grids and the spot-value scratch.
_BYTES_PER_NODE = 8 * (K.NF * K.LANES + 2 * K.LANES + 1)


def check_derived(X: np.ndarray, q: float) -> None:
    """The rules of the domain that combine columns (vectorized): volatility^2 x maturity <= VARIANCE_MAX and
    the drift number |rate - q - volatility^2/2| sqrt(maturity) / volatility <= DRIFT_MAX."""
    sig, T = X[:, 2], X[:, 3]
    rules = (("volatility^2 x maturity", sig * sig * T, VARIANCE_MAX),
             ("drift number |rate - dividend - volatility^2/2| sqrt(maturity) / volatility",
              np.abs(X[:, 4] - q - 0.5 * sig * sig) * np.sqrt(T) / sig, DRIFT_MAX))
    for label, v, hi in rules:
        bad = ~(v <= hi)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f"X: {label} must lie in [0, {hi:g}] (the stated domain of FiniteDifference); row {row} "
                             f"holds {float(v[row])!r} ({int(bad.sum())} rows outside); pass check_domain=False to "
                             f"price outside it without the accuracy contract")


def _breached(option: BarrierOption, H: np.ndarray) -> np.ndarray:
    return (option.spot <= H) if option.is_down else (option.spot >= H)


def plan_jobs(option: BarrierOption, X: np.ndarray):
    """The PDE solves for validated X (n, 5): (points (m,) int64, modes (m,) int64).

    Out options: one solve per point not already knocked out. In options: vanilla minus out on
    a shared grid (two solves), or the vanilla alone when the barrier is breached at the start.
    """
    idx = np.arange(X.shape[0], dtype=np.int64)
    hit = _breached(option, X[:, 1])
    if not option.is_in:
        live = idx[~hit]
        return live, np.full(live.shape[0], K.MODE_OUT, dtype=np.int64)
    live = idx[~hit]
    pts = np.concatenate([idx, live])
    modes = np.concatenate([np.full(idx.shape[0], K.MODE_VANILLA), np.full(live.shape[0], K.MODE_IN_OUT)])
    return pts.astype(np.int64), modes.astype(np.int64)


def combine_jobs(option: BarrierOption, n: int, pts: np.ndarray, modes: np.ndarray, res: np.ndarray) -> np.ndarray:
    """Prices (n,) from job results: out = its solve (0 if breached); in = vanilla - out (not clipped:
    ``guard_prices`` judges the sign)."""
    out = np.zeros(n, dtype=np.float64)
    if not option.is_in:
        out[pts] = res
        return out
    van = modes == K.MODE_VANILLA
    out[pts[van]] = res[van]
    np.subtract.at(out, pts[~van], res[~van])
    return out


def guard_prices(option: BarrierOption, X: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Prices (n,) checked against no-arbitrage bounds, vectorized: 0 <= price <= S e^{-qT} (call) or
    K e^{-rT} (put), within the contract's tolerance 1e-4 max(bound, S0 / 100). Values inside the
    tolerance are clipped (never further from the truth); NaN, inf or beyond it is a ValueError
    naming the rows (inside the stated domain it never fires)."""
    S, T = option.spot, X[:, 3]
    with np.errstate(over="ignore", invalid="ignore"):
        bound = S * np.exp(-option.dividend * T) if option.is_call else X[:, 0] * np.exp(-X[:, 4] * T)
        tol = 1e-4 * np.maximum(bound, 0.01 * S)
        ok = (price >= -tol) & (price <= bound + tol)  # False for NaN
    if not ok.all():
        rows = np.flatnonzero(~ok)
        r = int(rows[0])
        raise ValueError(f"FiniteDifference: the PDE solution left the no-arbitrage bounds [0, {float(bound[r]):.6g}] "
                         f"at {rows.size} rows (first: {rows[:5].tolist()}; row {r} = {X[r].tolist()} gave "
                         f"{float(price[r])!r}); outside the stated domain (check_domain=False) or on a grid too "
                         f"coarse for the point: use the default grid inside the domain")
    return np.clip(price, 0.0, bound)


def _one(N: np.ndarray | int, M: np.ndarray | int, R: int) -> np.ndarray | int:
    """Interior nodes times steps of one solve of N intervals and M steps (R Rannacher half-steps)."""
    return (N - 1) * (R + M - (R + 1) // 2)


class FiniteDifference(BarrierOracle):
    """PDE oracle (GBM, continuous barrier): ``FiniteDifference(opt)(X)`` -> (n,) float64.

    X (n, 5) [strike, barrier, volatility, maturity, rate]. Each point gets its own grid of
    ``space_steps`` intervals over ``std_devs`` standard deviations sigma sqrt(T) around the
    spot and the forward (cut at the barrier, which is a node), and ``time_steps`` steps:
    ``rannacher_steps`` implicit Euler half-steps, then Crank-Nicolson; both grow per point
    where drift dominates diffusion or the solution scale dwarfs the price
    (``_fd_grid.grid_factors``; not on the paper box). In options are priced as vanilla minus out
    on one shared grid. Points run in parallel on ``threads`` Numba threads (None: Numba's
    default), ``LANES`` at a time in SIMD.

    Contract: |price - closed form| <= 1e-4 max(price, S0 / 100) at the default grid inside the
    stated domain, checked vectorized before any kernel runs while ``check_domain=True``:
    strike / spot and barrier / spot in [0.05, 20], volatility in [0.005, 2], maturity in
    [0.001, 30] years, rate and the option's dividend in [-0.1, 0.3], volatility^2 x maturity
    <= 20, and the drift number |rate - dividend - volatility^2/2| sqrt(maturity) / volatility <= 100
    (binding only at small volatility with a large net drift: at 0.005, |rate - dividend| sqrt(maturity) <= 0.15). Outside it a ``ValueError`` names the column, the domain and the first row;
    ``check_domain=False`` prices anyway, without the contract. Every call is bounded before it
    runs (``limits.check_work`` in node-steps, ``limits.check_memory``), and every price is checked
    against the no-arbitrage bounds: never negative, NaN or infinite (a ValueError instead).
    """

    def __init__(
        self,
        option: BarrierOption,
        *,
        space_steps: int = 1000,
        time_steps: int = 1000,
        rannacher_steps: int = 4,
        std_devs: float = 6.0,
        richardson: bool = True,
        threads: int | None = None,
        check_domain: bool = True,
        box=None,
    ) -> None:
        super().__init__(option, box)
        for name, flag in (("richardson", richardson), ("check_domain", check_domain)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        self.richardson = bool(richardson)
        self.check_domain = bool(check_domain)
        self.threads = limits.check_threads(threads)
        # Richardson also solves on the grid of half the steps, which must keep 8 intervals.
        f = 2 if richardson else 1
        self.rannacher_steps = check_int(rannacher_steps, "rannacher_steps", minimum=0, maximum=MAX_RANNACHER)
        self.space_steps = check_int(space_steps, "space_steps", minimum=8 * f, maximum=MAX_SPACE_STEPS)
        self.time_steps = check_int(time_steps, "time_steps", minimum=f * ((self.rannacher_steps + 1) // 2 + 1),
                                    maximum=MAX_TIME_STEPS)
        if richardson:
            for name in ("space_steps", "time_steps"):
                if getattr(self, name) % 2:
                    raise ValueError(
                        f"{name}: expected an even int with richardson=True (the coarse grid halves it), "
                        f"got {getattr(self, name)}"
                    )
        self.std_devs = check_float(std_devs, "std_devs", positive=True)
        if not 3.0 <= self.std_devs <= 20.0:
            raise ValueError(f"std_devs: expected a number in [3, 20], got {self.std_devs!r}")
        if self.check_domain and not DIVIDEND_RANGE[0] <= option.dividend <= DIVIDEND_RANGE[1]:
            raise ValueError(f"option.dividend: must lie in {list(DIVIDEND_RANGE)} (the stated domain of "
                             f"FiniteDifference), got {option.dividend!r}; pass check_domain=False to price outside it")

    def spec(self) -> Spec:
        """``(FiniteDifference, kwargs)``: what pickles (oracles/base.py)."""
        return FiniteDifference, {"option": self.option, "space_steps": self.space_steps,
                                  "time_steps": self.time_steps, "rannacher_steps": self.rannacher_steps,
                                  "std_devs": self.std_devs, "richardson": self.richardson,
                                  "threads": self.threads, "check_domain": self.check_domain, "box": self.box}

    @property
    def node_steps(self) -> int:
        """Grid node-steps per PDE solve at the base grid (interior nodes times time steps, both
        Richardson grids); points where the grid adapts cost more (``grids``)."""
        R = self.rannacher_steps
        n = int(_one(self.space_steps, self.time_steps, R))
        if self.richardson:
            n += int(_one(self.space_steps // 2, self.time_steps // 2, R))
        return n

    def grids(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(space steps, time steps) (n,) int64 of the grid each point of validated X (n, 5) gets."""
        gs, gt = grid_factors(X, self.option.spot, self.option.dividend, self.std_devs)
        e = 2 if self.richardson else 1
        N = e * np.ceil(np.minimum(self.space_steps * gs, max(ADAPT_MAX_SPACE, self.space_steps)) / e).astype(np.int64)
        M = e * np.ceil(np.minimum(self.time_steps * gt, max(ADAPT_MAX_TIME, self.time_steps)) / e).astype(np.int64)
        return np.maximum(N, self.space_steps), np.maximum(M, self.time_steps)

    def _check_resources(self, N: np.ndarray, M: np.ndarray, threads: int) -> None:
        R = self.rannacher_steps
        work = _one(N.astype(np.float64), M.astype(np.float64), R)
        if self.richardson:
            work = work + _one(N // 2, M // 2, R)
        # Idle lanes of a partly filled block cost as much as busy ones: count whole blocks, at most.
        limits.check_work(float(np.sum(work)) * (1.0 + (K.LANES - 1) * (N.shape[0] < K.LANES)),
                          f"FiniteDifference on {N.shape[0]} PDE solves", "node-steps")
        blocks = -(-N.shape[0] // K.LANES)
        limits.check_memory(float(np.max(N) + 1) * _BYTES_PER_NODE * min(threads, blocks),
                            f"FiniteDifference (grids up to {int(np.max(N))} nodes on {min(threads, blocks)} threads)")

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, None]:
        opt = self.option
        if self.check_domain:
            check_in_domain(X, opt.spot, DOMAIN, "FiniteDifference")
            check_derived(X, opt.dividend)
        pts, modes = plan_jobs(opt, X)
        res = np.empty(pts.shape[0], dtype=np.float64)
        if pts.shape[0]:
            N, M = self.grids(X[pts])
            threads = self.threads or numba.get_num_threads()
            threads = min(threads, int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
            self._check_resources(N, M, threads)
            # One kernel call per distinct grid (few: the factors are rounded to quarter octaves).
            # With richardson, each job also solves on every other node and step of its grid and
            # returns (4 V_fine - V_coarse) / 3, which cancels the leading O(h^2 + dt^2) error.
            keys = N * (MAX_TIME_STEPS + 1) + M
            old = numba.get_num_threads()
            numba.set_num_threads(threads)
            try:
                for key in np.unique(keys):
                    sel = np.flatnonzero(keys == key)
                    out = np.empty(sel.shape[0], dtype=np.float64)
                    K.solve_jobs(opt.code, opt.spot, opt.dividend, X, pts[sel], modes[sel], int(N[sel[0]]),
                                 int(M[sel[0]]), self.rannacher_steps, self.std_devs, self.richardson, out)
                    res[sel] = out
            finally:
                numba.set_num_threads(old)
        return guard_prices(opt, X, combine_jobs(opt, X.shape[0], pts, modes, res)), None

    def __repr__(self) -> str:
        return (
            f"FiniteDifference({self.option}, space_steps={self.space_steps}, time_steps={self.time_steps}, "
            f"rannacher_steps={self.rannacher_steps}, std_devs={self.std_devs:g}, "
            f"richardson={self.richardson}, check_domain={self.check_domain}, calls={self.calls})"
        )
