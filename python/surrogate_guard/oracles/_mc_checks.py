"""What the Monte Carlo oracle checks around the native call: its stated domain, its resource needs
(work, host memory, thread stacks) before anything is allocated, and the reliability of each
estimate afterwards (``MCResult.reliable``). The definitions are in docs/monte_carlo.md.
"""
from __future__ import annotations

import numpy as np

from .. import limits
from ..models import GBM, Heston
from ..options import BarrierOption
from .analytic import vanilla_price
from .barrier import DomainRule, column, spot_ratio

# The stated domain: inside it the estimate is finite and, where reliable, within k standard errors.
DOMAIN: tuple[DomainRule, ...] = (
    spot_ratio(0, "strike / spot", 1e-6, 1e6),
    spot_ratio(1, "barrier / spot", 1e-6, 1e6),
    column(2, "volatility", 0.0, 10.0),
    column(3, "maturity", 0.0, 100.0),
    column(4, "rate", -1.0, 1.0),
)
DIVIDEND_RANGE = (-1.0, 1.0)
MIN_ESS = 16.0  # effective draws below which a standard error means nothing (relative stderr > 1/4)
POISSON = 32.0  # fewer than MIN_ESS hits of a payoff bounded by M move the price by < POISSON M / D
_DEFAULT_STACK = 8 * 2**20


def thread_stack_bytes() -> int:
    """Bytes of stack each OpenMP worker thread reserves: RLIMIT_STACK (glibc's default), else 8 MiB."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        return int(soft) if soft not in (resource.RLIM_INFINITY, -1) and soft > 0 else _DEFAULT_STACK
    except (ImportError, OSError, ValueError):  # pragma: no cover - non-POSIX
        return _DEFAULT_STACK


def check_threads(threads: object) -> int:
    """``threads`` (None or 1..limits.MAX_THREADS) as the native setting (0: OpenMP default), and its
    thread stacks against the memory ceiling: under an address-space limit libgomp ends the process
    when it cannot create a thread, so that must be refused before."""
    t = limits.check_threads(threads)
    if t is None:
        return 0
    stack = thread_stack_bytes()
    limits.check_memory(float(t) * stack, f"threads={t} (OpenMP thread stacks of {stack / 2**20:.0f} MiB each)")
    return t


def check_resources(n: int, paths: int, steps: int, host_bytes: float, device_bytes: float | None,
                    device_free: float) -> None:
    """Work (n x paths x steps path-steps) and memory (host, and device when given) before allocating."""
    what = f"MonteCarlo: pricing {n} points with paths={paths}, steps={steps}"
    limits.check_work(float(n) * float(paths) * float(steps), what, "path-steps")
    limits.check_memory(host_bytes, what)
    if device_bytes is not None and device_bytes > 0.5 * device_free:
        raise limits.ResourceError(f"{what} would need {device_bytes / 2**30:.3g} GiB of CUDA workspace, above half of "
                                   f"the {device_free / 2**30:.3g} GiB free on the device; use a smaller batch or fewer paths")


def effective_draws(price: np.ndarray, stderr: np.ndarray, draws: int) -> np.ndarray:
    """ESS = (sum v)^2 / sum v^2 over the D independent draws v of each point, from the kernel's outputs:
    price = c s1 / D and stderr^2 = c^2 (s2 - s1^2 / D) / (D (D - 1)) give ESS = D p^2 / (p^2 + (D - 1) se^2).
    0 where nothing paid; D when every draw paid the same."""
    pos = price > 0.0
    rel = np.divide(stderr, price, out=np.zeros_like(price), where=pos)  # scale-free: no overflow at any spot
    return np.where(pos, draws / (1.0 + (draws - 1.0) * rel * rel), 0.0)


def _forward_variance(X: np.ndarray, model: GBM | Heston) -> np.ndarray:
    """Variance rate that sets the lognormal tail: sigma^2 (GBM); Heston: the larger of v0 and theta."""
    s2 = X[:, 2] ** 2
    if isinstance(model, Heston):
        v0 = s2 if model.v0 is None else np.full_like(s2, model.v0)
        th = s2 if model.theta is None else np.full_like(s2, model.theta)
        return np.maximum(v0, th)
    return s2


def reliability(X: np.ndarray, price: np.ndarray, stderr: np.ndarray, option: BarrierOption,
                model: GBM | Heston, draws: int, outside: np.ndarray | None) -> np.ndarray:
    """(n,) bool: False where the estimate rests on too few effective draws for its stderr to mean anything.

    - An out option breached at the start is exactly 0: reliable.
    - A payoff bounded by M (puts: K; up-and-out calls: H - K) is always resolved to 4 SE + POISSON M / D:
      reliable.
    - Any other (call) payoff is unbounded: reliable iff ESS >= MIN_ESS and the lognormal forward itself
      has MIN_ESS effective draws (D exp(-sigma^2 T) >= MIN_ESS: its ESS under GBM), or, under GBM, when
      the closed-form vanilla price (an upper bound of the true price) and the estimate are both below
      POISSON (S0 + K) e^(-rT) / D, so that whatever was missed is immaterial.
    - Rows outside the stated domain (priced with check_domain=False) are never reliable.
    """
    S, H, T = option.spot, X[:, 1], X[:, 3]
    breached = (S >= H) if not option.is_down else (S <= H)
    ok = breached & (not option.is_in)
    bounded = (not option.is_call) or (not option.is_down and not option.is_in)
    if bounded:
        ok = np.ones_like(ok)
    else:
        ess = effective_draws(price, stderr, draws)
        tail = draws * np.exp(-_forward_variance(X, model) * T) >= MIN_ESS
        ok |= (ess >= MIN_ESS) & tail
        todo = np.flatnonzero(~ok)
        if todo.size and isinstance(model, GBM):
            Xs = np.ascontiguousarray(X[todo])
            floor = POISSON * (S + Xs[:, 0]) * np.exp(-Xs[:, 4] * Xs[:, 3]) / draws
            bound = vanilla_price(True, S, option.dividend, Xs)
            ok[todo] = (np.maximum(bound, price[todo] + 4.0 * stderr[todo]) <= floor)
    if outside is not None:
        ok &= ~outside
    return ok
