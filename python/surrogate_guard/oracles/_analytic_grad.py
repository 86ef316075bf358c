"""Exact derivatives of the closed-form barrier price by forward-mode differentiation in Numba.

A dual number is a tuple (value, d/dK, d/dH, d/dsigma, d/dT, d/dr): the five columns of X. Every
operation of ``analytic.barrier_price`` is repeated on duals in the same order and with the same
branches (decided on values), so the value part is that function's price and the tangent part its
exact derivative (to rounding), wherever the price is differentiable. At the formula's kinks
(strike = barrier, a barrier at the spot) the branch taken gives a one-sided derivative.
Tuples stay in registers: no allocation per operation. Tested against central differences of the
price (tests/test_analytic_grad.py).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .analytic import _LOG_SQRT_2PI, _TINY_SD, _log_ndtr, _ndtr

_INV_SQRT_2PI = 0.3989422804014327

_jit = nb.njit(cache=True, fastmath=False, inline="always")


@_jit
def _c(c):
    return (c, 0.0, 0.0, 0.0, 0.0, 0.0)


@_jit
def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5])


@_jit
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4], a[5] - b[5])


@_jit
def _addc(a, c):
    return (a[0] + c, a[1], a[2], a[3], a[4], a[5])


@_jit
def _scale(a, c):
    return (a[0] * c, a[1] * c, a[2] * c, a[3] * c, a[4] * c, a[5] * c)


@_jit
def _mul(a, b):
    return (a[0] * b[0], a[1] * b[0] + a[0] * b[1], a[2] * b[0] + a[0] * b[2], a[3] * b[0] + a[0] * b[3],
            a[4] * b[0] + a[0] * b[4], a[5] * b[0] + a[0] * b[5])


@_jit
def _div(a, b):
    q = a[0] / b[0]
    return (q, (a[1] - q * b[1]) / b[0], (a[2] - q * b[2]) / b[0], (a[3] - q * b[3]) / b[0],
            (a[4] - q * b[4]) / b[0], (a[5] - q * b[5]) / b[0])


@_jit
def _chain(a, v, dv):
    """f(a) with f(a0) = v and f'(a0) = dv."""
    return (v, dv * a[1], dv * a[2], dv * a[3], dv * a[4], dv * a[5])


@_jit
def _exp(a):
    e = math.exp(a[0])
    return _chain(a, e, e)


@_jit
def _log(a):
    return _chain(a, math.log(a[0]), 1.0 / a[0])


@_jit
def _sqrt(a):
    s = math.sqrt(a[0])
    return _chain(a, s, 0.5 / s)


@_jit
def _N(a):
    x = a[0]
    return _chain(a, _ndtr(x), _INV_SQRT_2PI * math.exp(-0.5 * x * x))


@_jit
def _logN(a):
    """log N(a); its derivative pdf / N formed in log space (finite far in the left tail)."""
    x = a[0]
    ln = _log_ndtr(x)
    return _chain(a, ln, math.exp(-0.5 * x * x - _LOG_SQRT_2PI - ln))


@_jit
def _forward_payoff(phi, S, K, T, r, q):
    """Dual of analytic._forward_payoff (K, T, r duals; phi, S, q numbers)."""
    pay = _scale(_sub(_scale(_exp(_mul(_addc(r, -q), T)), S), K), phi)
    if pay[0] > 0.0:
        return _mul(pay, _exp(_scale(_mul(r, T), -1.0)))
    return _c(0.0)


@_jit
def _vanilla(phi, S, K, sig, T, r, q):
    sst = _mul(sig, _sqrt(T))
    if sig[0] < _TINY_SD or sst[0] < _TINY_SD:
        return _forward_payoff(phi, S, K, T, r, q)
    d1 = _div(_add(_log(_div(_c(S), K)), _mul(_add(_addc(r, -q), _scale(_mul(sig, sig), 0.5)), T)), sst)
    a = _scale(_mul(_exp(_scale(T, -q)), _N(_scale(d1, phi))), S)
    b = _mul(_mul(K, _exp(_scale(_mul(r, T), -1.0))), _N(_scale(_sub(d1, sst), phi)))
    return _scale(_sub(a, b), phi)


@_jit
def _deterministic(code, S, q, K, H, T, r):
    up = (code & 1) != 0
    F = S * math.exp((r[0] - q) * T[0])
    hit = (S >= H[0] or F >= H[0]) if up else (S <= H[0] or F <= H[0])
    if hit != ((code & 2) != 0):
        return _c(0.0)
    return _forward_payoff(-1.0 if (code & 4) != 0 else 1.0, S, K, T, r, q)


@nb.njit(cache=True, fastmath=False)
def barrier_price_dual(code, S, q, k, h, s, t, rr):
    """(price, dK, dH, dsigma, dT, dr) of one barrier option: ``analytic.barrier_price`` on duals."""
    K = (k, 1.0, 0.0, 0.0, 0.0, 0.0)
    H = (h, 0.0, 1.0, 0.0, 0.0, 0.0)
    sig = (s, 0.0, 0.0, 1.0, 0.0, 0.0)
    T = (t, 0.0, 0.0, 0.0, 1.0, 0.0)
    r = (rr, 0.0, 0.0, 0.0, 0.0, 1.0)
    up = (code & 1) != 0
    is_in = (code & 2) != 0
    put = (code & 4) != 0
    phi = -1.0 if put else 1.0
    eta = -1.0 if up else 1.0
    if s < _TINY_SD or s * math.sqrt(t) < _TINY_SD:
        return _deterministic(code, S, q, K, H, T, r)
    breached = (S >= h) if up else (S <= h)
    if breached:
        return _vanilla(phi, S, K, sig, T, r, q) if is_in else _c(0.0)

    b = _addc(r, -q)
    sst = _mul(sig, _sqrt(T))
    sig2 = _mul(sig, sig)
    mu = _div(_sub(b, _scale(sig2, 0.5)), sig2)
    lnS = math.log(S)
    lnH = _log(H)
    lnK = _log(K)
    mu1sst = _mul(_addc(mu, 1.0), sst)
    x1 = _add(_div(_addc(_scale(lnK, -1.0), lnS), sst), mu1sst)
    x2 = _add(_div(_addc(_scale(lnH, -1.0), lnS), sst), mu1sst)
    y1 = _add(_div(_addc(_sub(_scale(lnH, 2.0), lnK), -lnS), sst), mu1sst)
    y2 = _add(_div(_addc(lnH, -lnS), sst), mu1sst)
    Sd = _scale(_exp(_mul(_sub(b, r), T)), S)
    Kd = _mul(K, _exp(_scale(_mul(r, T), -1.0)))
    lhs = _addc(lnH, -lnS)

    A = _scale(_sub(_mul(Sd, _N(_scale(x1, phi))), _mul(Kd, _N(_scale(_sub(x1, sst), phi)))), phi)
    B = _scale(_sub(_mul(Sd, _N(_scale(x2, phi))), _mul(Kd, _N(_scale(_sub(x2, sst), phi)))), phi)
    e2mu = _scale(_mul(mu, lhs), 2.0)
    if abs(e2mu[0]) < 600.0:
        p2mu = _exp(e2mu)
        hs2 = _exp(_scale(lhs, 2.0))
        pC2 = _mul(p2mu, _N(_scale(_sub(y1, sst), eta)))
        pD2 = _mul(p2mu, _N(_scale(_sub(y2, sst), eta)))
        pC1 = _mul(_mul(p2mu, hs2), _N(_scale(y1, eta)))
        pD1 = _mul(_mul(p2mu, hs2), _N(_scale(y2, eta)))
    else:
        l2 = _add(e2mu, _scale(lhs, 2.0))
        pC1 = _exp(_add(l2, _logN(_scale(y1, eta))))
        pC2 = _exp(_add(e2mu, _logN(_scale(_sub(y1, sst), eta))))
        pD1 = _exp(_add(l2, _logN(_scale(y2, eta))))
        pD2 = _exp(_add(e2mu, _logN(_scale(_sub(y2, sst), eta))))
    C = _scale(_sub(_mul(Sd, pC1), _mul(Kd, pC2)), phi)
    D = _scale(_sub(_mul(Sd, pD1), _mul(Kd, pD2)), phi)

    above = k > h
    if not put:
        if not up:
            if is_in:
                v = C if above else _add(_sub(A, B), D)
            else:
                v = _sub(A, C) if above else _sub(B, D)
        else:
            if is_in:
                v = A if above else _add(_sub(B, C), D)
            else:
                v = _c(0.0) if above else _sub(_add(_sub(A, B), C), D)
    else:
        if not up:
            if is_in:
                v = _add(_sub(B, C), D) if above else A
            else:
                v = _sub(_add(_sub(A, B), C), D) if above else _c(0.0)
        else:
            if is_in:
                v = _add(_sub(A, B), D) if above else C
            else:
                v = _sub(B, D) if above else _sub(A, C)
    if v[0] < 0.0 and v[0] > -1e-9 * (S + k):  # the price's rounding to 0 (analytic.barrier_price)
        return _c(0.0)
    return v


@nb.njit(cache=True, parallel=True, fastmath=False)
def price_grad_batch(code: int, S: float, q: float, X: np.ndarray, price: np.ndarray, grad: np.ndarray) -> None:
    """price (n,) and grad (n, 5) of every row of X (n, 5); every output row is written."""
    for i in nb.prange(X.shape[0]):
        d = barrier_price_dual(code, S, q, X[i, 0], X[i, 1], X[i, 2], X[i, 3], X[i, 4])
        price[i] = d[0]
        grad[i, 0] = d[1]
        grad[i, 1] = d[2]
        grad[i, 2] = d[3]
        grad[i, 3] = d[4]
        grad[i, 4] = d[5]


__all__ = ["barrier_price_dual", "price_grad_batch"]
