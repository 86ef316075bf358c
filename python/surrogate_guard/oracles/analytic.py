"""Closed-form prices of continuously monitored single-barrier options under GBM.

Reiner-Rubinstein (1991) formulas as collected by Haug, "The Complete Guide to Option
Pricing Formulas", 2nd ed., section 4.17.1, without rebate. The terms with (H/S)^(2 mu)
are evaluated in log space when the power is out of range, so that tiny volatilities
(mu ~ r / sigma^2 in the thousands) neither overflow nor produce inf * 0. A Numba kernel, parallel over points; the scalar
function ``barrier_price`` is kept importable as the readable reference. Where sigma sqrt(T) or
sigma is below 1e-100 (sigma^2 would leave the float range in mu) the price is the exact limit,
the deterministic forward path with its barrier check.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..options import BarrierOption
from .barrier import BarrierOracle, DomainRule, check_in_domain, column, spot_ratio
from .base import Spec

_TINY_SD = 1e-100  # below this sigma (or sigma sqrt T) the zero-volatility limit is used

_SQRT1_2 = 0.7071067811865476
_LOG_SQRT_2PI = 0.9189385332046728


@nb.njit(cache=True, fastmath=False)
def _log_ndtr(x: float) -> float:
    """log N(x), accurate in the far left tail where N(x) underflows."""
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    # Asymptotic series of Mills' ratio; at x <= -30 the truncation error is < 1e-14 relative.
    x2 = 1.0 / (x * x)
    s = 1.0 - x2 * (1.0 - 3.0 * x2 * (1.0 - 5.0 * x2 * (1.0 - 7.0 * x2 * (1.0 - 9.0 * x2))))
    return -0.5 * x * x - math.log(-x) - _LOG_SQRT_2PI + math.log(s)


@nb.njit(cache=True, fastmath=False)
def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x * _SQRT1_2)


@nb.njit(cache=True, fastmath=False)
def _forward_payoff(phi: float, S: float, K: float, T: float, r: float, q: float) -> float:
    """The zero-volatility limit of a vanilla price: the discounted payoff of the forward."""
    pay = phi * (S * math.exp((r - q) * T) - K)
    return pay * math.exp(-r * T) if pay > 0.0 else 0.0


@nb.njit(cache=True, fastmath=False)
def _deterministic(code: int, S: float, q: float, K: float, H: float, T: float, r: float) -> float:
    """sigma -> 0: S_t = S e^((r-q)t) is monotone, so it touches H iff S or S_T is at or beyond H."""
    up = (code & 1) != 0
    F = S * math.exp((r - q) * T)
    hit = (S >= H or F >= H) if up else (S <= H or F <= H)
    if hit != ((code & 2) != 0):
        return 0.0
    return _forward_payoff(-1.0 if (code & 4) != 0 else 1.0, S, K, T, r, q)


@nb.njit(cache=True, fastmath=False)
def _vanilla(phi: float, S: float, K: float, sig: float, T: float, r: float, q: float) -> float:
    sst = sig * math.sqrt(T)
    if sig < _TINY_SD or sst < _TINY_SD:
        return _forward_payoff(phi, S, K, T, r, q)
    d1 = (math.log(S / K) + (r - q + 0.5 * sig * sig) * T) / sst
    return phi * (S * math.exp(-q * T) * _ndtr(phi * d1) - K * math.exp(-r * T) * _ndtr(phi * (d1 - sst)))


@nb.njit(cache=True, fastmath=False)
def barrier_price(code: int, S: float, q: float, K: float, H: float, sig: float, T: float, r: float) -> float:
    """Price of one barrier option. ``code``: bit0 up, bit1 in, bit2 put (BarrierOption.code)."""
    up = (code & 1) != 0
    is_in = (code & 2) != 0
    put = (code & 4) != 0
    phi = -1.0 if put else 1.0
    eta = -1.0 if up else 1.0
    if sig < _TINY_SD or sig * math.sqrt(T) < _TINY_SD:  # mu = b / sigma^2 would overflow: the limit
        return _deterministic(code, S, q, K, H, T, r)
    breached = (S >= H) if up else (S <= H)
    if breached:
        return _vanilla(phi, S, K, sig, T, r, q) if is_in else 0.0

    b = r - q
    sst = sig * math.sqrt(T)
    mu = (b - 0.5 * sig * sig) / (sig * sig)
    lnS = math.log(S)
    lnH = math.log(H)
    lnK = math.log(K)
    x1 = (lnS - lnK) / sst + (1.0 + mu) * sst
    x2 = (lnS - lnH) / sst + (1.0 + mu) * sst
    y1 = (2.0 * lnH - lnS - lnK) / sst + (1.0 + mu) * sst
    y2 = (lnH - lnS) / sst + (1.0 + mu) * sst
    Sd = S * math.exp((b - r) * T)
    Kd = K * math.exp(-r * T)
    lhs = lnH - lnS  # log(H/S)

    A = phi * Sd * _ndtr(phi * x1) - phi * Kd * _ndtr(phi * x1 - phi * sst)
    B = phi * Sd * _ndtr(phi * x2) - phi * Kd * _ndtr(phi * x2 - phi * sst)
    # (H/S)^(2 mu) overflows or underflows for tiny sigma^2 (mu ~ r / sigma^2): there the
    # products with N(.) are formed in log space; otherwise one power serves all four terms.
    e2mu = 2.0 * mu * lhs
    if abs(e2mu) < 600.0:
        p2mu = math.exp(e2mu)
        hs2 = math.exp(2.0 * lhs)
        pC2 = p2mu * _ndtr(eta * y1 - eta * sst)
        pD2 = p2mu * _ndtr(eta * y2 - eta * sst)
        pC1 = p2mu * hs2 * _ndtr(eta * y1)
        pD1 = p2mu * hs2 * _ndtr(eta * y2)
    else:
        pC1 = math.exp(e2mu + 2.0 * lhs + _log_ndtr(eta * y1))
        pC2 = math.exp(e2mu + _log_ndtr(eta * y1 - eta * sst))
        pD1 = math.exp(e2mu + 2.0 * lhs + _log_ndtr(eta * y2))
        pD2 = math.exp(e2mu + _log_ndtr(eta * y2 - eta * sst))
    C = phi * Sd * pC1 - phi * Kd * pC2
    D = phi * Sd * pD1 - phi * Kd * pD2

    above = K > H
    if not put:
        if not up:
            if is_in:
                v = C if above else A - B + D
            else:
                v = A - C if above else B - D
        else:
            if is_in:
                v = A if above else B - C + D
            else:
                v = 0.0 if above else A - B + C - D
    else:
        if not up:
            if is_in:
                v = B - C + D if above else A
            else:
                v = A - B + C - D if above else 0.0
        else:
            if is_in:
                v = A - B + D if above else C
            else:
                v = B - D if above else A - C
    # Cancellation can leave -1e-15 * (S + K) on a worthless option: that is 0. NaN and real negatives
    # are returned as they are, for the oracle's output guard to report (never clamped to a price).
    if v < 0.0 and v > -1e-9 * (S + K):
        return 0.0
    return v


@nb.njit(cache=True, parallel=True, fastmath=False)
def _price_batch(code: int, S: float, q: float, X: np.ndarray, out: np.ndarray) -> None:
    for i in nb.prange(X.shape[0]):
        out[i] = barrier_price(code, S, q, X[i, 0], X[i, 1], X[i, 2], X[i, 3], X[i, 4])


# The stated domain of the closed form (docs/monte_carlo.md, docs/reliability.md): inside it the price is
# exact to float64 rounding, absolute error below 1e-12 (S0 + K). Outside, check_domain=True refuses.
DOMAIN: tuple[DomainRule, ...] = (
    spot_ratio(0, "strike / spot", 1e-6, 1e6),
    spot_ratio(1, "barrier / spot", 1e-6, 1e6),
    column(2, "volatility", 1e-8, 10.0),
    column(3, "maturity", 1e-8, 100.0),
    column(4, "rate", -1.0, 1.0),
)
DIVIDEND_RANGE = (-1.0, 1.0)


class Analytic(BarrierOracle):
    """Closed-form oracle (GBM, continuous monitoring): the reference for every other one.

    ``Analytic(opt)(X)`` with X (n, 5) [strike, barrier, volatility, maturity, rate] returns
    (n,) float64 prices. Exact up to float64 rounding; parallel over points (Numba threads).

    Stated domain (checked vectorized before the kernel runs while ``check_domain=True``; outside it
    a ``ValueError`` names the column, the domain and the first row): strike / spot and barrier / spot
    in [1e-6, 1e6], volatility in [1e-8, 10], maturity in [1e-8, 100] years, rate in [-1, 1], the
    option's dividend in [-1, 1]. Inside, prices are exact to rounding (absolute error below
    1e-12 (S0 + K)). ``check_domain=False`` prices any validated point; volatility -> 0 then gives the
    exact deterministic limit, and a point where the formulas overflow is an error from the output
    guard (never a NaN, negative or infinite price).
    """

    def __init__(self, option: BarrierOption, *, box=None, check_domain: bool = True) -> None:
        super().__init__(option, box)
        if not isinstance(check_domain, (bool, np.bool_)):
            raise TypeError(f"check_domain: expected a bool, got {type(check_domain).__name__} {check_domain!r}")
        self.check_domain = bool(check_domain)
        if self.check_domain and not DIVIDEND_RANGE[0] <= option.dividend <= DIVIDEND_RANGE[1]:
            raise ValueError(f"option.dividend: must lie in {list(DIVIDEND_RANGE)} (the stated domain of Analytic), "
                             f"got {option.dividend!r}; pass check_domain=False to price outside it")

    def spec(self) -> Spec:
        """``(Analytic, kwargs)``: what pickles (oracles/base.py)."""
        return Analytic, {"option": self.option, "box": self.box, "check_domain": self.check_domain}

    @property
    def has_grad(self) -> bool:
        """True: ``evaluate(X, grad=True)`` gives exact derivatives in all five columns (forward-mode
        differentiation of the formulas, ``_analytic_grad``), at about 2x the time of a price."""
        return True

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, None]:
        if self.check_domain:
            check_in_domain(X, self.option.spot, DOMAIN, "Analytic")
        out = np.empty(X.shape[0], dtype=np.float64)
        _price_batch(self.option.code, self.option.spot, self.option.dividend, X, out)
        return out, None

    def _evaluate_grad(self, X: np.ndarray) -> tuple[np.ndarray, None, np.ndarray, None]:
        from ._analytic_grad import price_grad_batch

        if self.check_domain:
            check_in_domain(X, self.option.spot, DOMAIN, "Analytic")
        price = np.empty(X.shape[0], dtype=np.float64)
        grad = np.empty((X.shape[0], 5), dtype=np.float64)
        price_grad_batch(self.option.code, self.option.spot, self.option.dividend, X, price, grad)
        return price, None, grad, None


@nb.njit(cache=True, parallel=True, fastmath=False)
def _vanilla_batch(phi: float, S: float, q: float, X: np.ndarray, out: np.ndarray) -> None:
    for i in nb.prange(X.shape[0]):
        out[i] = _vanilla(phi, S, X[i, 0], X[i, 2], X[i, 3], X[i, 4], q)


def vanilla_price(is_call: bool, S: float, q: float, X: np.ndarray) -> np.ndarray:
    """Black-Scholes vanilla prices for validated X (n, 5) (barrier column ignored): (n,) float64."""
    out = np.empty(X.shape[0], dtype=np.float64)
    _vanilla_batch(1.0 if is_call else -1.0, S, q, X, out)
    return out
