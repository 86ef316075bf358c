"""QuantLib as an independent reference for barrier prices (optional: needs QuantLib installed).

European barrier prices under GBM depend on volatility, rate and dividend only through
sigma^2 T, r T and q T, so every point is priced by QuantLib at T' = 1 year (365 days,
Actual/365 Fixed: exactly 1.0) with sigma' = sigma sqrt(T), r' = r T, q' = q T. This avoids
dates for maturities shorter than a day and is exact.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

ql = None


def _ql():
    global ql
    if ql is None:
        import QuantLib

        ql = QuantLib
    return ql


_KIND = {
    "down-and-out": "DownOut",
    "down-and-in": "DownIn",
    "up-and-out": "UpOut",
    "up-and-in": "UpIn",
}


def quantlib_prices(option, X: np.ndarray, engine: Literal["analytic", "fd"] = "analytic",
                    grid=(800, 800)) -> np.ndarray:
    """QuantLib prices of ``option`` at points X (n, 5); NaN where QuantLib fails or returns non-finite."""
    q = _ql()
    today = q.Date(2, 1, 2026)
    q.Settings.instance().evaluationDate = today
    dc = q.Actual365Fixed()
    maturity = today + 365
    exercise = q.EuropeanExercise(maturity)
    spot = q.QuoteHandle(q.SimpleQuote(option.spot))
    barrier_type = getattr(q.Barrier, _KIND[option.kind])
    opt_type = q.Option.Call if option.is_call else q.Option.Put
    out = np.full(X.shape[0], np.nan)
    for i, (K, H, sig, T, r) in enumerate(np.asarray(X, dtype=float)):
        rr, qq, ss = r * T, option.dividend * T, sig * math.sqrt(T)
        rts = q.YieldTermStructureHandle(q.FlatForward(today, rr, dc, q.Continuous))
        dts = q.YieldTermStructureHandle(q.FlatForward(today, qq, dc, q.Continuous))
        vts = q.BlackVolTermStructureHandle(q.BlackConstantVol(today, q.NullCalendar(), ss, dc))
        process = q.BlackScholesMertonProcess(spot, dts, rts, vts)
        inst = q.BarrierOption(barrier_type, float(H), 0.0, q.PlainVanillaPayoff(opt_type, float(K)), exercise)
        if engine == "analytic":
            inst.setPricingEngine(q.AnalyticBarrierEngine(process))
        else:
            inst.setPricingEngine(q.FdBlackScholesBarrierEngine(process, grid[0], grid[1], 0))
        try:
            v = inst.NPV()
        except RuntimeError:
            continue
        if math.isfinite(v):
            out[i] = v
    return out
