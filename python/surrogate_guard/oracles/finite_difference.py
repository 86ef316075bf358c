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
from ._fd_grid import grid_factors, level
from .barrier import BarrierOracle, DomainRule, check_in_domain, column, out_of_domain, spot_ratio
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
# The adaptive default grid (docs/finite_difference.md, "Adaptive grid"): every point starts at
# AUTO_SPACE x AUTO_TIME (grown a priori where drift dominates) and solves on it, on its even nodes
# and on every 4th node; the two Richardson values R(N) and R(N/2) give the error estimate
# |R(N) - R(N/2)| of R(N). Points whose estimate exceeds ACCEPT x tolerance x max(|price|, S0/100)
# are refined by (estimate / that)^(1/ORDER) (at least 2^(1/4), at most 4, quarter octaves) and
# solved again, for at most MAX_ROUNDS rounds. Calibrated in docs/finite_difference.md.
AUTO_SPACE = 160
AUTO_TIME = 64
ACCEPT = 0.5
ORDER = 2.0
TIME_POWER = 0.5  # a refinement by g in space refines time by g^TIME_POWER
MAX_ROUNDS = 8
# Bytes per grid node of one block of LANES jobs in flight: the workspace (NF x LANES float64), the
# node coordinates of both grids and the spot-value scratch.
_BYTES_PER_NODE = 8 * (K.NF * K.LANES + 2 * K.LANES + 1)


def _derived_rules(X: np.ndarray, q: float) -> tuple[tuple[str, np.ndarray, float], ...]:
    sig, T = X[:, 2], X[:, 3]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (("volatility^2 x maturity", sig * sig * T, VARIANCE_MAX),
                ("drift number |rate - dividend - volatility^2/2| sqrt(maturity) / volatility",
                 np.abs(X[:, 4] - q - 0.5 * sig * sig) * np.sqrt(T) / sig, DRIFT_MAX))


def inside_domain(X: np.ndarray, spot: float, q: float) -> np.ndarray:
    """(n,) bool: rows of validated X inside the whole stated domain (columns and derived rules)."""
    ok = ~out_of_domain(X, spot, DOMAIN)
    for _, v, hi in _derived_rules(X, q):
        ok &= v <= hi
    return ok


def check_derived(X: np.ndarray, q: float) -> None:
    """The rules of the domain that combine columns (vectorized): volatility^2 x maturity <= VARIANCE_MAX and
    the drift number |rate - q - volatility^2/2| sqrt(maturity) / volatility <= DRIFT_MAX."""
    for label, v, hi in _derived_rules(X, q):
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


def _round_to(v: np.ndarray, e: int) -> np.ndarray:
    return e * np.ceil(v / e).astype(np.int64)


class FiniteDifference(BarrierOracle):
    """PDE oracle (GBM, continuous barrier): ``FiniteDifference(opt)(X)`` -> (n,) float64.

    X (n, 5) [strike, barrier, volatility, maturity, rate]. Each point gets its own grid over
    ``std_devs`` standard deviations sigma sqrt(T) around the spot and the forward (cut at the
    barrier, which is a node): by default (space_steps = time_steps = None) an adaptive one, started
    at AUTO_SPACE x AUTO_TIME and refined where the a-posteriori estimate |R(N) - R(N/2)| of its
    Richardson value exceeds half of ``tolerance`` x max(|price|, S0 / 100); with both given, a fixed
    grid of ``space_steps`` intervals and ``time_steps`` steps (grown per point where drift
    dominates diffusion or the solution scale dwarfs the price, ``_fd_grid.grid_factors``).
    ``rannacher_steps`` implicit Euler half-steps, then Crank-Nicolson. In options are priced as
    vanilla minus out on one shared grid. Points run in parallel on ``threads`` Numba threads (None:
    Numba's default), ``LANES`` at a time in SIMD. ``evaluate(X, grad=True)``: central differences on
    the base point's grid (``_fd_grad``, ~11 solves per job).

    Contract: |price - closed form| <= 1e-4 max(price, S0 / 100) at the default grid inside the
    stated domain, checked vectorized before any kernel runs while ``check_domain=True``:
    strike / spot and barrier / spot in [0.05, 20], volatility in [0.005, 2], maturity in
    [0.001, 30] years, rate and the option's dividend in [-0.1, 0.3], volatility^2 x maturity
    <= 20, and the drift number |rate - dividend - volatility^2/2| sqrt(maturity) / volatility <= 30
    (binding only at small volatility with a large net drift: at 0.005, |rate - dividend| sqrt(maturity) <= 0.15). Outside it a ``ValueError`` names the column, the domain and the first row;
    ``check_domain=False`` prices anyway, without the contract. Every call is bounded before it
    runs (``limits.check_work`` in node-steps, ``limits.check_memory``), and every price is checked
    against the no-arbitrage bounds: never negative, NaN or infinite (a ValueError instead).
    """

    def __init__(
        self,
        option: BarrierOption,
        *,
        space_steps: int | None = None,
        time_steps: int | None = None,
        rannacher_steps: int = 4,
        std_devs: float = 6.0,
        richardson: bool = True,
        tolerance: float = 1e-4,
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
        self.rannacher_steps = check_int(rannacher_steps, "rannacher_steps", minimum=0, maximum=MAX_RANNACHER)
        # Richardson also solves on the grid of half the steps, which must keep 8 intervals.
        f = 2 if richardson else 1
        minimum = {"space_steps": 8 * f, "time_steps": f * ((self.rannacher_steps + 1) // 2 + 1)}
        maximum = {"space_steps": MAX_SPACE_STEPS, "time_steps": MAX_TIME_STEPS}
        steps: dict[str, int | None] = {}
        for name, v in (("space_steps", space_steps), ("time_steps", time_steps)):
            steps[name] = None if v is None else check_int(v, name, minimum=minimum[name], maximum=maximum[name])
            if richardson and v is not None and v % 2:
                raise ValueError(f"{name}: expected an even int with richardson=True (the coarse grid halves it), "
                                 f"got {v}")
        if (space_steps is None) != (time_steps is None):
            raise ValueError(f"space_steps, time_steps: give both (a fixed grid) or neither (the adaptive grid), "
                             f"got space_steps={space_steps!r}, time_steps={time_steps!r}")
        self.space_steps, self.time_steps = steps["space_steps"], steps["time_steps"]
        self.adaptive = space_steps is None
        if self.adaptive and not self.richardson:
            raise ValueError("richardson: the adaptive grid (space_steps=None) needs richardson=True (its error "
                             "estimate compares two Richardson values); pass space_steps and time_steps for a "
                             "fixed grid without it")
        self.tolerance = check_float(tolerance, "tolerance", positive=True)
        if not 1e-8 <= self.tolerance <= 1e-1:
            raise ValueError(f"tolerance: expected a number in [1e-8, 0.1], got {self.tolerance!r}")
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
                                  "tolerance": self.tolerance, "threads": self.threads,
                                  "check_domain": self.check_domain, "box": self.box}

    @property
    def has_grad(self) -> bool:
        """True: ``evaluate(X, grad=True)`` gives central differences on aligned grids (``_fd_grad``)."""
        return True

    @property
    def _levels(self) -> int:
        """Grids per solve: 3 (adaptive: fine, every 2nd, every 4th node), 2 (Richardson), 1."""
        return 3 if self.adaptive else (2 if self.richardson else 1)

    @property
    def node_steps(self) -> int:
        """Grid node-steps per PDE solve at the base grid (the start grid when adaptive), all its
        levels; points where the grid adapts or is refined cost more (``grids``)."""
        N = AUTO_SPACE if self.space_steps is None else self.space_steps
        M = AUTO_TIME if self.time_steps is None else self.time_steps
        return int(sum(_one(N >> lev, M >> lev, self.rannacher_steps) for lev in range(self._levels)))

    def grids(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(space steps, time steps) (n,) int64 of the grid each point of validated X (n, 5) starts from
        (a fixed grid: the grid it gets; adaptive: refined where its error estimate asks for it)."""
        e = 1 << (self._levels - 1)
        N0: int
        M0: int
        if self.adaptive:
            gs, gt = grid_factors(X, self.option.spot, self.option.dividend, self.std_devs, base=AUTO_SPACE,
                                  drift_nodes=1.0)
            N0, M0 = AUTO_SPACE, AUTO_TIME
        else:
            gs, gt = grid_factors(X, self.option.spot, self.option.dividend, self.std_devs)
            assert self.space_steps is not None and self.time_steps is not None
            N0, M0 = self.space_steps, self.time_steps
        N = _round_to(np.minimum(N0 * gs, max(ADAPT_MAX_SPACE, N0)), e)
        M = _round_to(np.minimum(M0 * gt, max(ADAPT_MAX_TIME, M0)), e)
        return np.maximum(N, N0), np.maximum(M, M0)

    def _check_resources(self, N: np.ndarray, M: np.ndarray, threads: int, levels: int) -> None:
        R = self.rannacher_steps
        Nf, Mf = N.astype(np.float64), M.astype(np.float64)
        work = sum(_one(N >> lev, M >> lev, R) for lev in range(1, levels)) + _one(Nf, Mf, R)
        # Idle lanes of a partly filled block cost as much as busy ones: count whole blocks, at most.
        limits.check_work(float(np.sum(work)) * (1.0 + (K.LANES - 1) * (N.shape[0] < K.LANES)),
                          f"FiniteDifference on {N.shape[0]} PDE solves", "node-steps")
        blocks = -(-N.shape[0] // K.LANES)
        limits.check_memory(float(np.max(N) + 1) * _BYTES_PER_NODE * min(threads, blocks),
                            f"FiniteDifference (grids up to {int(np.max(N))} nodes on {min(threads, blocks)} threads)")

    def _threads(self) -> int:
        threads = self.threads or numba.get_num_threads()
        return min(threads, int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]

    def solve(self, X: np.ndarray, pts: np.ndarray, modes: np.ndarray, N: np.ndarray, M: np.ndarray,
              levels: int, gpts: np.ndarray | None = None, jfs: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Raw solves (res (m, levels), barrier node jout (m,)) of jobs (pts, modes) (m,) on grids of
        N x M (m,) int64 (``_fd_kernel.solve_jobs``; gpts, jfs as there): checked against the work and
        memory ceilings first, then one kernel call per distinct grid on this oracle's threads."""
        res = np.empty((pts.shape[0], levels), dtype=np.float64)
        jout = np.full(pts.shape[0], -1, dtype=np.int64)
        if pts.shape[0] == 0:
            return res, jout
        threads = self._threads()
        self._check_resources(N, M, threads, levels)
        gpts = pts if gpts is None else gpts
        jfs = np.full(pts.shape[0], -1, dtype=np.int64) if jfs is None else jfs
        keys = N * (MAX_TIME_STEPS + 1) + M
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            # One kernel call per distinct grid (few: the factors are rounded to quarter octaves).
            for key in np.unique(keys):
                sel = np.flatnonzero(keys == key)
                res[sel], jout[sel] = K.solve_jobs(self.option.code, self.option.spot, self.option.dividend, X,
                                                   pts[sel], modes[sel], int(N[sel[0]]), int(M[sel[0]]),
                                                   self.rannacher_steps, self.std_devs, levels, gpts=gpts[sel],
                                                   jfs=jfs[sel])
        finally:
            numba.set_num_threads(old)
        return res, jout

    def price_jobs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """Unguarded prices (n,) of validated X (n, 5), with the grids they ended on: (price, N (n,),
        M (n,), jobs (pts, modes), barrier nodes jout (m,)) where jobs = plan_jobs(X).

        Fixed grid: one round, (4 V(N) - V(N/2)) / 3 with richardson. Adaptive: rounds of the
        a-posteriori estimate (AUTO_SPACE, ACCEPT, ORDER above)."""
        opt, n = self.option, X.shape[0]
        pts, modes = plan_jobs(opt, X)
        N, M = self.grids(X)
        levels = self._levels
        res, jout = self.solve(X, pts, modes, N[pts], M[pts], levels)
        if levels == 1:
            return combine_jobs(opt, n, pts, modes, res[:, 0]), N, M, pts, modes, jout
        R1 = (4.0 * res[:, 0] - res[:, 1]) / 3.0
        price = combine_jobs(opt, n, pts, modes, R1)
        if not self.adaptive:
            return price, N, M, pts, modes, jout
        e = 1 << (levels - 1)
        cap_n, cap_m = _round_to(np.array([ADAPT_MAX_SPACE]), e)[0], _round_to(np.array([ADAPT_MAX_TIME]), e)[0]
        R2 = (4.0 * res[:, 1] - res[:, 2]) / 3.0
        est = np.abs(price - combine_jobs(opt, n, pts, modes, R2))
        # Refinement is the contract's, which holds inside the stated domain only: with
        # check_domain=False a row outside it keeps its a-priori grid (bounded cost, no promise).
        todo = np.arange(n) if self.check_domain else np.flatnonzero(inside_domain(X, opt.spot, opt.dividend))
        for _ in range(MAX_ROUNDS):
            tol = ACCEPT * self.tolerance * np.maximum(np.abs(price[todo]), 0.01 * opt.spot)
            more = (est[todo] > tol) & ((N[todo] < cap_n) | (M[todo] < cap_m))
            if not more.any():
                break
            todo, ratio = todo[more], est[todo][more] / tol[more]
            g = level(np.minimum(np.maximum(ratio ** (1.0 / ORDER), 2.0 ** 0.25), 4.0))
            N[todo] = np.minimum(_round_to(N[todo] * g, e), cap_n)
            M[todo] = np.minimum(_round_to(M[todo] * level(g ** TIME_POWER), e), cap_m)
            sel = np.flatnonzero(np.isin(pts, todo))
            r, jout[sel] = self.solve(X, pts[sel], modes[sel], N[pts[sel]], M[pts[sel]], levels)
            R1 = (4.0 * r[:, 0] - r[:, 1]) / 3.0
            R2 = (4.0 * r[:, 1] - r[:, 2]) / 3.0
            p1 = combine_jobs(opt, n, pts[sel], modes[sel], R1)
            price[todo] = p1[todo]
            est[todo] = np.abs(p1 - combine_jobs(opt, n, pts[sel], modes[sel], R2))[todo]
        return price, N, M, pts, modes, jout

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, None]:
        if self.check_domain:
            check_in_domain(X, self.option.spot, DOMAIN, "FiniteDifference")
            check_derived(X, self.option.dividend)
        return guard_prices(self.option, X, self.price_jobs(X)[0]), None

    def _evaluate_grad(self, X: np.ndarray) -> tuple[np.ndarray, None, np.ndarray, None]:
        from ._fd_grad import gradient

        price, grad = gradient(self, X)
        return price, None, grad, None

    def __repr__(self) -> str:
        return (
            f"FiniteDifference({self.option}, space_steps={self.space_steps}, time_steps={self.time_steps}, "
            f"rannacher_steps={self.rannacher_steps}, std_devs={self.std_devs:g}, "
            f"richardson={self.richardson}, tolerance={self.tolerance:g}, check_domain={self.check_domain}, calls={self.calls})"
        )
