"""Monte Carlo: ours (one thread, float64 and float32) against QuantLib's MCBarrierEngine at
equal paths and steps, in path-steps per second per core; plus GPU (ours vs a plain torch
simulation on the same card, skipped without a GPU).

Run: .venv/bin/python -m pytest bench/bench_mc.py --benchmark-only -s
Targets (issue 3): CPU per core >= 30x QuantLib in float64, >= 80x in float32; GPU >= 1.5e11
(float64) and 6e11 (float32) path-steps/s for GBM with the bridge.
Sizes (SG_BENCH_SIZE, bench/conftest.py), points x paths: full CPU 16 x 65536, QuantLib 8192 paths,
time-to-stderr 2^20 paths, GPU 256 x 2^20 (torch 16 x 2^20); ci 2 x 4096, 1024, 2^14, 16 x 2^16 (4 x 2^16).
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

import surrogate_guard as sg

OPT = sg.BarrierOption("down-and-out", "call")
ROW = np.array([[100.0, 80.0, 0.2, 1.0, 0.03]])
STEPS = 64
CPU_GROUP = "mc cpu: GBM DOC, 64 steps, path-steps/s per core"
RATE = {}


@pytest.fixture(scope="module")
def ql_paths(size):
    return size(full=8192, ci=1024)  # QuantLib: ~5e6 path-steps/s, so 8192 x 64 keeps a round < 1 s


def _record(benchmark, name, path_steps):
    """Path-steps per second of the fastest round (benchmarks enabled only)."""
    rate = path_steps / benchmark.stats["min"]
    benchmark.extra_info["path_steps_per_s"] = rate
    RATE[name] = rate
    print(f"\n{name}: {rate / 1e6:.1f} M path-steps/s")
    return rate


def quantlib_mc_price(paths: int, steps: int, seed: int = 42) -> tuple[float, float]:
    """QuantLib MCBarrierEngine (discrete monitoring at the steps, no antithetic so that
    requiredSamples = paths simulated): (price, its own error estimate)."""
    ql = pytest.importorskip("QuantLib")
    K, H, sig, T, r = ROW[0]
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(OPT.spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, OPT.dividend, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), sig, dc)))
    o = ql.BarrierOption(ql.Barrier.DownOut, H, 0.0, ql.PlainVanillaPayoff(ql.Option.Call, K),
                         ql.EuropeanExercise(today + 365))
    o.setPricingEngine(ql.MCBarrierEngine(proc, "pseudorandom", timeSteps=steps, requiredSamples=paths,
                                          seed=seed, antitheticVariate=False))
    return o.NPV(), o.errorEstimate()


@pytest.mark.benchmark(group=CPU_GROUP)
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_ours_cpu(benchmark, size, precision):
    n_points, paths = size(full=(16, 65536), ci=(2, 4096))  # full: 16 x 65536 x 64 = 6.7e7 path-steps
    Z = sg.oracles.MonteCarlo(OPT, paths=paths, steps=STEPS, device="cpu", precision=precision, threads=1)
    X = np.repeat(ROW, n_points, axis=0)
    res = benchmark.pedantic(Z.evaluate, args=(X,), rounds=3, iterations=1, warmup_rounds=1)
    cf = sg.oracles.Analytic(OPT)(ROW)[0]
    assert abs(res.price[0] - cf) <= 4 * res.stderr[0], (res.price[0], res.stderr[0], cf)
    if benchmark.enabled:
        _record(benchmark, f"ours {precision}", n_points * paths * STEPS)


@pytest.mark.benchmark(group=CPU_GROUP)
def test_quantlib_cpu(benchmark, ql_paths):
    price, se = benchmark.pedantic(quantlib_mc_price, args=(ql_paths, STEPS), rounds=3, iterations=1)
    # Within 4 of its standard errors of the continuous closed form, plus the discrete-monitoring
    # shift at 64 steps (Broadie-Glasserman-Kou: the barrier moved by exp(-0.5826 sigma sqrt(dt))).
    K, H, sig, T, r = ROW[0]
    shifted = ROW.copy()
    shifted[0, 1] = H * math.exp(-0.5826 * sig * math.sqrt(T / STEPS))
    cf, cf_bgk = sg.oracles.Analytic(OPT)(ROW)[0], sg.oracles.Analytic(OPT)(shifted)[0]
    assert abs(price - cf) <= 4 * se + abs(cf_bgk - cf), (price, se, cf, cf_bgk)
    if benchmark.enabled:
        _record(benchmark, "QuantLib MCBarrierEngine", ql_paths * STEPS)
        if "ours float64" in RATE:
            print(f"speed-up per core: float64 {RATE['ours float64'] / RATE['QuantLib MCBarrierEngine']:.1f}x, "
                  f"float32 {RATE.get('ours float32', float('nan')) / RATE['QuantLib MCBarrierEngine']:.1f}x")


@pytest.mark.benchmark(group="mc cpu: time to stderr 0.01, one core")
def test_time_to_stderr(benchmark, size, ql_paths):
    """Ours with the bridge needs 1 step (exact for GBM); QuantLib monitors discretely, so it
    needs many steps and is still biased. Time = run time x (stderr / target)^2."""
    target = 0.01
    Z = sg.oracles.MonteCarlo(OPT, paths=size(full=2**20, ci=2**14), steps=1, device="cpu", threads=1)
    res = benchmark.pedantic(Z.evaluate, args=(ROW,), rounds=3, iterations=1, warmup_rounds=1)
    cf = sg.oracles.Analytic(OPT)(ROW)[0]
    assert abs(res.price[0] - cf) <= 4 * res.stderr[0], (res.price[0], res.stderr[0], cf)
    if not benchmark.enabled:
        return  # the rest is timing (QuantLib's run is test_quantlib_cpu's, checked there)
    t_ours = benchmark.stats["min"] * (res.stderr[0] / target) ** 2
    t0 = time.perf_counter()
    price_ql, se_ql = quantlib_mc_price(ql_paths, STEPS)
    t_ql = (time.perf_counter() - t0) * (se_ql / target) ** 2
    benchmark.extra_info.update(t_ours_s=t_ours, t_quantlib_s=t_ql)
    print(f"\ntime to stderr {target}: ours (1 step, bridge) {t_ours * 1e3:.1f} ms, "
          f"QuantLib (64 steps, discrete, biased) {t_ql * 1e3:.0f} ms, ratio {t_ql / t_ours:.0f}x; QuantLib bias vs continuous {price_ql - cf:+.3f} (its se {se_ql:.3f})")


# ---------------------------------------------------------------- GPU (skipped without one)
def _torch_gbm_bridge(n_points, paths, steps, dtype, device):
    """Straightforward torch version of the same simulation (GBM DOC, antithetic, bridge)."""
    import torch

    K, H, sig, T, r = (float(v) for v in ROW[0])
    dt = T / steps
    drift, sd, b, inv2var = (r - 0.5 * sig * sig) * dt, sig * math.sqrt(dt), math.log(H / 100.0), 2 / (sig * sig * dt)
    x = torch.zeros(n_points, paths, dtype=dtype, device=device)
    w = torch.ones_like(x)
    for _ in range(steps):
        z = torch.randn(n_points, paths // 2, dtype=dtype, device=device)
        x1 = x + drift + sd * torch.cat([z, -z], dim=1)
        w = w * (1 - torch.exp(-torch.clamp(x - b, min=0) * torch.clamp(x1 - b, min=0) * inv2var))
        x = x1
    return (torch.clamp(100.0 * torch.exp(x) - K, min=0) * w).mean(dim=1) * math.exp(-r * T)


gpu = pytest.mark.skipif(not sg.has_cuda(), reason="needs a CUDA build and a GPU")
GPU_GROUP = "mc gpu: GBM DOC bridge, 64 steps, path-steps/s"


@pytest.fixture(scope="module")
def gpu_paths(size):
    return size(full=2**20, ci=2**16)


@gpu
@pytest.mark.benchmark(group=GPU_GROUP)
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_ours_gpu(benchmark, size, gpu_paths, precision):
    n_points = size(full=256, ci=16)
    Z = sg.oracles.MonteCarlo(OPT, paths=gpu_paths, steps=STEPS, device="cuda", precision=precision)
    X = np.repeat(ROW, n_points, axis=0)
    res = benchmark.pedantic(Z.evaluate, args=(X,), rounds=5, iterations=1, warmup_rounds=1)
    cf = sg.oracles.Analytic(OPT)(ROW)[0]
    assert abs(res.price[0] - cf) <= 4 * res.stderr[0], (res.price[0], res.stderr[0], cf)
    if benchmark.enabled:
        _record(benchmark, f"ours cuda {precision}", n_points * gpu_paths * STEPS)


@gpu
@pytest.mark.benchmark(group=GPU_GROUP)
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_torch_gpu(benchmark, size, gpu_paths, precision):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    dtype = torch.float64 if precision == "float64" else torch.float32
    n = size(full=16, ci=4)  # torch holds the whole state: 16 points x 2^20 paths
    fn = _torch_gbm_bridge
    try:
        fn = torch.compile(_torch_gbm_bridge)
        fn(n, 2**12, STEPS, dtype, "cuda")
    except Exception:  # noqa: BLE001 - compile is optional; fall back to eager
        fn = _torch_gbm_bridge

    def run():
        out = fn(n, gpu_paths, STEPS, dtype, "cuda")
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    cf = sg.oracles.Analytic(OPT)(ROW)[0]
    assert abs(float(out[0]) - cf) < 0.05 * cf, (float(out[0]), cf)
    if benchmark.enabled:
        _record(benchmark, f"torch cuda {precision}", n * gpu_paths * STEPS)
