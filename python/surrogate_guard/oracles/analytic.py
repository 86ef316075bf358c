"""Closed-form prices of continuously monitored single-barrier options under GBM.

Reiner-Rubinstein (1991) formulas as collected by Haug, "The Complete Guide to Option
Pricing Formulas", 2nd ed., section 4.17.1, without rebate. The terms with (H/S)^(2 mu)
are evaluated in log space when the power is out of range, so that tiny volatilities
(mu ~ r / sigma^2 in the thousands) neither overflow nor produce inf * 0. A Numba kernel, parallel over points; the scalar
function ``barrier_price`` is kept importable as the readable reference.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..options import BarrierOption
from .barrier import BarrierOracle
from .base import Spec

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
def _vanilla(phi: float, S: float, K: float, sig: float, T: float, r: float, q: float) -> float:
    sst = sig * math.sqrt(T)
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
    # Cancellation can leave -1e-15 on a worthless option; prices are never negative.
    return v if v > 0.0 else 0.0


@nb.njit(cache=True, parallel=True, fastmath=False)
def _price_batch(code: int, S: float, q: float, X: np.ndarray, out: np.ndarray) -> None:
    for i in nb.prange(X.shape[0]):
        out[i] = barrier_price(code, S, q, X[i, 0], X[i, 1], X[i, 2], X[i, 3], X[i, 4])


class Analytic(BarrierOracle):
    """Closed-form oracle (GBM, continuous monitoring): the reference for every other one.

    ``Analytic(opt)(X)`` with X (n, 5) [strike, barrier, volatility, maturity, rate] returns
    (n,) float64 prices. Exact up to float64 rounding; parallel over points (Numba threads).
    """

    def __init__(self, option: BarrierOption, *, box=None) -> None:
        super().__init__(option, box)

    def spec(self) -> Spec:
        """``(Analytic, kwargs)``: what pickles (oracles/base.py)."""
        return Analytic, {"option": self.option, "box": self.box}

    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, None]:
        out = np.empty(X.shape[0], dtype=np.float64)
        _price_batch(self.option.code, self.option.spot, self.option.dividend, X, out)
        return out, None


@nb.njit(cache=True, parallel=True, fastmath=False)
def _vanilla_batch(phi: float, S: float, q: float, X: np.ndarray, out: np.ndarray) -> None:
    for i in nb.prange(X.shape[0]):
        out[i] = _vanilla(phi, S, X[i, 0], X[i, 2], X[i, 3], X[i, 4], q)


def vanilla_price(is_call: bool, S: float, q: float, X: np.ndarray) -> np.ndarray:
    """Black-Scholes vanilla prices for validated X (n, 5) (barrier column ignored): (n,) float64."""
    out = np.empty(X.shape[0], dtype=np.float64)
    _vanilla_batch(1.0 if is_call else -1.0, S, q, X, out)
    return out
