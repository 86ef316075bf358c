"""Pathwise Monte Carlo gradients (issue 13): ``MonteCarlo.evaluate(X, grad=True)``.

GBM gradients against a Richardson-extrapolated central difference of the closed form on the paper
box (all 8 kinds), the SIMD kernel against the scalar reference, the pathwise gradient against a
same-seed central difference of the MC price itself (GBM and Heston), float32 against float64, the
price bitwise unchanged by grad=True, thread independence, bad input. Tolerances are derived in each
test's docstring; docs/monte_carlo.md ("Pathwise sensitivities") explains the scheme.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ALL_OPTIONS, kind_points
from test_monte_carlo import binomial_band

import surrogate_guard as sg
from surrogate_guard import _core
from surrogate_guard._validate import COLUMNS
from surrogate_guard.oracles.base import has_grad
from surrogate_guard.limits import ResourceError

pytestmark = pytest.mark.filterwarnings("ignore::surrogate_guard.ReliabilityWarning")

E64, E32 = 2.0**-53, 2.0**-24
DOC = sg.BarrierOption("down-and-out", "call")
UIP = sg.BarrierOption("up-and-in", "put")
MILD = sg.presets.get("mild")
# Heston inside the Feller condition (2 kappa theta = 0.16 >= xi^2 = 0.09): v stays away from 0, so the
# tangent of sqrt(v+) stays bounded and rounding arguments apply. HESTON_WILD breaks it (theta = sigma^2
# from the column): the tangents are heavy-tailed there (docs), still the derivative of the estimator.
HESTON = sg.Heston(kappa=2.0, theta=0.04, xi=0.3, rho=-0.7, v0=0.04)
HESTON_COLUMN = sg.Heston(kappa=2.0, xi=0.3, rho=-0.7, v0=0.04)  # theta = sigma^2: the column drives theta
HESTON_WILD = sg.Heston(kappa=1.5, xi=0.6, rho=-0.5)


def mc(opt, **kw):
    kw.setdefault("device", "cpu")
    return sg.oracles.MonteCarlo(opt, **kw)


def draws(Z) -> int:
    return Z.paths // 2 if Z.antithetic else Z.paths


def per_draw_rms(res, D: int) -> np.ndarray:
    """(n, 5) root mean square of the discounted per-draw tangents, from the outputs: E y^2 = mean^2 + var,
    var = D se^2 (D vs D - 1 immaterial here). The scale each draw's rounding is relative to."""
    return np.sqrt(res.grad**2 + D * res.grad_stderr**2)


# ---------------------------------------------------------------- the slow reference gradient
ANALYTIC_EPS = 1e-12  # Analytic's stated absolute accuracy, in units of (S0 + K) (oracles/analytic.py)
ETA = 1e-3  # relative step of the reference central differences


def column_scale(X: np.ndarray) -> np.ndarray:
    """(n, 5) the scale each column's step is relative to: the value itself (strike, barrier, volatility,
    maturity are positive) and 0.1 for the rate (which may be 0; 0.1 is the paper box's width)."""
    return np.column_stack([X[:, 0], X[:, 1], X[:, 2], X[:, 3], np.full(len(X), 0.1)])


def analytic_grad(opt, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d price / d column of the closed form by central differences with Richardson extrapolation, and
    a bound on its error. (n, 5) each.

    D(h) = (f(x + h) - f(x - h)) / 2h = f' + c2 h^2 + c4 h^4 + ...; R(h) = (4 D(h/2) - D(h)) / 3 = f' + O(h^4).
    Rounding: each f carries at most eps_f = 1e-12 (S0 + K) (Analytic's contract), so D(h) is off by
    <= eps_f / h and R(h) by <= (4 eps_f / (h/2) + eps_f / h) / 3 = 3 eps_f / h. Truncation: R(h) - R(2h)
    = (1 - 16) c4' h^4 + ..., so |R(h) - R(2h)| bounds R(h)'s own O(h^4) error (by 15x where the price is
    smooth); where a step straddles a kink of the closed form (K = H switching the formula, a barrier
    near the spot) the two extrapolations disagree and |R(h) - R(2h)| grows to cover it.
    h = 1e-3 x the column's scale: O(h^4) ~ 1e-12 relative, rounding 3e-9 (S0 + K) / scale.
    """
    A = sg.oracles.Analytic(opt)
    scale = column_scale(X)
    g, err = np.empty_like(scale), np.empty_like(scale)

    def central(j: int, h: np.ndarray) -> np.ndarray:
        up, dn = X.copy(), X.copy()
        up[:, j] += h
        dn[:, j] -= h
        return (A(up) - A(dn)) / (2 * h)

    for j in range(5):
        h = ETA * scale[:, j]
        d_h, d_half, d_2h = central(j, h), central(j, h / 2), central(j, 2 * h)
        r_h, r_2h = (4 * d_half - d_h) / 3, (4 * d_h - d_2h) / 3
        g[:, j] = r_h
        err[:, j] = 3 * ANALYTIC_EPS * (opt.spot + X[:, 0]) / h + np.abs(r_h - r_2h)
    return g, err


# ---------------------------------------------------------------- (1) GBM against the closed form
def _closed_form_coverage(opt, paths: int, steps: int, n: int, seed0: int) -> None:
    """n paper-box points, one seed each (independent trials, as the price test). Per component:

    - resolved (0 < se <= |grad| / 4): the component's effective draws >= 16, the price test's rule;
      exact for one-signed tangents (d/dH of an out option is <= 0 on every path), conservative for the
      others. Their share within 2 SE must lie in the price test's binomial band p0 +- 4 sd.
    - every component: |mc - ref| <= 5 SE + ref_err + rare, ref_err from analytic_grad, and rare the
      Poisson floor of the price test for events unseen among D draws: 32 / D (fewer than 16 expected
      hits) times what such an event moves a draw's tangent by, at most |grad| + (S0 + K) / scale
      (a draw's price moves by <= S0 + K over a relative change 1 of the column). It covers zero
      stderr (every draw alike, e.g. deep in the money) and the unresolved rare-event components
      (a far barrier's d/dH: few paths come near it).
    """
    X = kind_points(opt, n, seed=seed0)
    ref, ref_err = analytic_grad(opt, X)
    G, S = np.empty((n, 5)), np.empty((n, 5))
    for i in range(n):
        r = mc(opt, paths=paths, steps=steps, seed=seed0 * 1000 + i).evaluate(X[i:i + 1], grad=True)
        G[i], S[i] = r.grad[0], r.grad_stderr[0]
    D = paths // 2
    rare = 32.0 * (np.abs(ref) + (opt.spot + X[:, [0]]) / column_scale(X)) / D
    dev = np.abs(G - ref)
    bad = dev > 5 * S + ref_err + rare
    assert not bad.any(), "\n".join(
        f"{opt} {COLUMNS[j]} row={X[i].tolist()} mc={G[i, j]!r} se={S[i, j]!r} "
        f"ref={ref[i, j]!r} ref_err={ref_err[i, j]!r}" for i, j in np.argwhere(bad)[:10])
    resolved = (S > 0) & (S <= 0.25 * np.abs(G))
    for j in range(5):
        hits = dev[resolved[:, j], j] <= 2 * S[resolved[:, j], j]
        assert len(hits) >= 0.25 * n, f"{opt} column {j}: only {len(hits)} resolved components"
        lo, hi = binomial_band(len(hits))
        assert lo <= hits.mean() <= hi, (f"{opt} {COLUMNS[j]}: share within 2 SE {hits.mean():.3f} "
                                         f"outside [{lo:.3f}, {hi:.3f}] over {len(hits)} points")


def test_gbm_grad_matches_closed_form(option):
    """200 paper-box points per kind, 65 536 paths, 8 bridged steps (exact for GBM at any step count)."""
    _closed_form_coverage(option, paths=65536, steps=8, n=200, seed0=400 + ALL_OPTIONS.index(option))


@pytest.mark.slow
def test_gbm_grad_matches_closed_form_64_steps(option):
    _closed_form_coverage(option, paths=65536, steps=64, n=200, seed0=500 + ALL_OPTIONS.index(option))


# ---------------------------------------------------------------- (2) SIMD against the scalar reference
@pytest.mark.parametrize("model", [sg.GBM(), HESTON, HESTON_WILD], ids=["gbm", "heston", "heston-wild"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("antithetic", [True, False])
def test_grad_simd_matches_scalar_reference(model, precision, antithetic):
    """Same formulas, same normals; only rounding differs (the vector clones contract multiply-adds, the
    scalar reference is baseline code). Per draw and step each tangent takes <= 8 rounded operations on
    terms bounded by the path's tangent magnitude times the bridge's amplification (its terms may exceed
    the tangent they sum to by a factor <= 8 where a path grazes the barrier), so a draw's tangent is off
    by <= 64 steps eps |y|, and the mean by <= 64 steps eps rms(y), rms from the outputs. The price (same
    arithmetic as the price kernel's) keeps the price test's bound."""
    eps = E64 if precision == "float64" else E32
    steps = 13
    for opt in (DOC, UIP):
        X = kind_points(opt, 5, seed=2)
        Z = mc(opt, model=model, paths=3000, steps=steps, seed=5, antithetic=antithetic, precision=precision)
        a, b = Z.evaluate(X, grad=True), Z.reference(X, grad=True)
        tol = 64 * steps * eps * per_draw_rms(b, draws(Z))
        assert np.all(np.abs(a.grad - b.grad) <= tol), (opt, model, np.abs(a.grad - b.grad) / tol)
        assert np.all(np.abs(a.grad_stderr - b.grad_stderr) <= tol), (opt, model)
        if precision == "float64":
            np.testing.assert_allclose(a.price, b.price, rtol=1e-12, atol=1e-14)
        else:
            assert np.all(np.abs(a.price - b.price) <= 16 * steps * eps * (X[:, 0] + opt.spot))


# ---------------------------------------------------------------- (3, 4) against the MC price's own differences
def _same_seed_fd(Z, X: np.ndarray, rel: float) -> np.ndarray:
    """(n, 5) central differences of Z's prices, steps rel x the column's scale, same seed."""
    scale = column_scale(X)
    out = np.empty_like(scale)
    for j in range(5):
        h = rel * scale[:, j]
        up, dn = X.copy(), X.copy()
        up[:, j] += h
        dn[:, j] -= h
        out[:, j] = (Z(up) - Z(dn)) / (2 * h)
    return out


def _check_pathwise_is_the_estimators_derivative(Z, X: np.ndarray, rel: float = 1e-6) -> None:
    """With the same seed the MC price P(theta) is one continuous, piecewise smooth function of theta
    (bridge, payoff, max(v, 0) are continuous), and the pathwise gradient is its derivative a.e. So
    FD(h) = (P(theta + h) - P(theta - h)) / 2h is exactly the average of the pathwise gradient over
    [theta - h, theta + h]: they differ by
    - truncation h^2 P''' / 6 on the smooth pieces: (1e-6)^2 relative, negligible;
    - kinks: only draws with a kink (S_T = K, a step end at the barrier, v = 0) inside the interval,
      a fraction q ~ (steps + 2) h |dx/dtheta| / sqrt(var) ~ 1e-4 of them, each off by at most its own
      tangent's jump (of the size of its tangent), so the difference is ~ sqrt(q) SE ~ 0.01 SE: we allow
      1 SE, i.e. 4 sd of the kink term while q <= 1/16;
    - rounding of the two prices: each draw's value is off by <= 16 steps eps (K + S0) (the price
      tests' bound), so FD by 16 steps eps (K + S0) disc / h.
    A gradient from other random numbers would differ by ~1.4 SE (half the components beyond 1 SE), a
    wrong tangent formula by its error."""
    res = Z.evaluate(X, grad=True)
    fd = _same_seed_fd(Z, X, rel)
    h = rel * column_scale(X)
    rounding = 16 * Z.steps * E64 * (X[:, [0]] + Z.option.spot) / h
    tol = res.grad_stderr + rounding
    bad = np.abs(res.grad - fd) > tol
    assert not bad.any(), [(X[i].tolist(), j, res.grad[i, j], fd[i, j], res.grad_stderr[i, j])
                           for i, j in np.argwhere(bad)[:8]]


@pytest.mark.parametrize("antithetic", [True, False])
def test_gbm_grad_is_the_derivative_of_the_same_estimator(option, antithetic):
    X = kind_points(option, 12, seed=17)
    _check_pathwise_is_the_estimators_derivative(mc(option, paths=4096, steps=16, seed=9, antithetic=antithetic), X)


@pytest.mark.parametrize("model", [HESTON, HESTON_COLUMN, HESTON_WILD], ids=["fixed", "theta-column", "wild"])
def test_heston_grad_is_the_derivative_of_the_same_estimator(model):
    """Heston: full-truncation Euler tangents (v, max(v, 0), sqrt of the step variance, the bridge with
    it) against the same-seed differences of its own prices, the derivation of the GBM test."""
    for opt in (DOC, UIP, sg.BarrierOption("down-and-in", "put")):
        X = kind_points(opt, 8, seed=23)
        _check_pathwise_is_the_estimators_derivative(mc(opt, model=model, paths=2048, steps=16, seed=4), X)


def test_heston_volatility_column_fixed_gives_zero_exactly():
    """v0 and theta both fixed: the volatility column drives nothing, its derivative is 0 exactly."""
    X = MILD.sample(6, seed=3)
    res = mc(DOC, model=HESTON, paths=2000, steps=8).evaluate(X, grad=True)
    assert np.all(res.grad[:, 2] == 0.0) and np.all(res.grad_stderr[:, 2] == 0.0)
    assert np.all(res.grad_stderr[:, 3] > 0)


# ---------------------------------------------------------------- (5) float32 against float64
def test_grad_float32_matches_float64_gbm():
    """Same normals, float32 path state. x is off by <= 4 steps eps32 (the price test's argument) and
    each tangent by <= 8 roundings per step on terms up to the bridge-amplified tangent (the SIMD test's
    64 steps eps |y|); a draw whose rounded x lands on the other side of a kink (payoff, barrier) within
    that distance switches its tangent by at most its own size, a fraction of draws of order
    steps x 4 steps eps32 / sqrt(var) ~ 1e-4, which stays inside 64 steps eps32 rms(y).
    Plus float32's exp range: a bridge term with crossing probability e < e^-87 is 0 in float32 (the
    clamped exponent is constant), while float64 keeps it; each such term is w e dg <= g e^-g |dd / d|
    <= 87 e^-87 x (d's tangent over d, at most the path's spot scale) per step, so a floor of
    steps x 1e-34 (S0 + K) covers them (87 e^-87 ~ 1.4e-36, with a factor 100 for |dd / d|)."""
    X = MILD.sample(60, seed=9)
    steps = 64
    for opt in (DOC, UIP, sg.BarrierOption("up-and-out", "call")):
        a = mc(opt, paths=4096, steps=steps).evaluate(X, grad=True)
        b = mc(opt, paths=4096, steps=steps, precision="float32").evaluate(X, grad=True)
        assert b.precision == "float32"
        tol = 64 * steps * E32 * per_draw_rms(a, 2048) + steps * 1e-34 * (opt.spot + X[:, [0]])
        assert np.all(np.abs(a.grad - b.grad) <= tol), (opt, np.max(np.abs(a.grad - b.grad) / tol))


@pytest.mark.parametrize("model", [HESTON, HESTON_COLUMN, HESTON_WILD], ids=["fixed", "theta-column", "wild"])
def test_grad_float32_matches_float64_heston(model):
    """Heston: the Euler variance reaches 0 on some paths even inside the Feller condition (the scheme's
    steps, not the SDE), and there d sqrt(v+) = dv / (2 sqrt(v+)) amplifies rounding without bound, so
    no rounding bound holds for every point (docs/monte_carlo.md). What holds: float32 and float64 on the
    same normals differ by less than 4 of their combined standard errors (a bound valid even for
    independent estimates), plus the GBM test's rounding terms."""
    X = MILD.sample(30, seed=10)
    for opt in (DOC, UIP):
        a = mc(opt, model=model, paths=4096, steps=32).evaluate(X, grad=True)
        b = mc(opt, model=model, paths=4096, steps=32, precision="float32").evaluate(X, grad=True)
        tol = (4 * np.hypot(a.grad_stderr, b.grad_stderr) + 64 * 32 * E32 * per_draw_rms(a, 2048)
               + 32 * 1e-34 * (opt.spot + X[:, [0]]))
        assert np.all(np.abs(a.grad - b.grad) <= tol), (opt, model)


# ---------------------------------------------------------------- one pass: the price is the price
@pytest.mark.parametrize("model", [sg.GBM(), HESTON_WILD], ids=["gbm", "heston"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("antithetic", [True, False])
def test_price_with_grad_is_bitwise_the_price(option, model, precision, antithetic):
    """Same normals, same arithmetic (mc_tangent.h's rounding rule), same reduction order."""
    X = kind_points(option, 9, seed=41)
    Z = mc(option, model=model, paths=2 * 2048 + 200, steps=7, seed=11, precision=precision, antithetic=antithetic)
    a, b = Z.evaluate(X), Z.evaluate(X, grad=True)
    assert np.array_equal(a.price, b.price) and np.array_equal(a.stderr, b.stderr)
    assert np.array_equal(a.reliable, b.reliable)
    ra, rb = Z.reference(X[:3]), Z.reference(X[:3], grad=True)
    assert np.array_equal(ra.price, rb.price) and np.array_equal(ra.stderr, rb.stderr)


@pytest.mark.parametrize("model", [sg.GBM(), HESTON_WILD], ids=["gbm", "heston"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_grad_independent_of_thread_count(model, precision):
    X = MILD.sample(5, seed=1)
    a = mc(DOC, model=model, paths=10_000, steps=9, precision=precision, threads=1).evaluate(X, grad=True)
    b = mc(DOC, model=model, paths=10_000, steps=9, precision=precision, threads=2).evaluate(X, grad=True)
    for f in ("price", "stderr", "grad", "grad_stderr"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def test_point_alone_or_in_a_batch_is_bitwise_the_same():
    X = MILD.sample(4, seed=2)
    Z = mc(UIP, paths=4096, steps=8)
    batch = Z.evaluate(X, grad=True)
    for i in range(len(X)):
        one = Z.evaluate(X[i:i + 1], grad=True)
        assert np.array_equal(one.grad[0], batch.grad[i]) and np.array_equal(one.grad_stderr[0], batch.grad_stderr[i])


# ---------------------------------------------------------------- API, bad input, edge cases
def test_result_counting_and_cost():
    X = MILD.sample(3, seed=1)
    Z = mc(DOC, paths=1000, steps=4)
    assert Z.has_grad and has_grad(Z)
    res = Z.evaluate(X, grad=True)
    assert isinstance(res, sg.oracles.MCResult)
    assert res.grad.shape == res.grad_stderr.shape == (3, 5) and res.grad.dtype == np.float64
    assert np.all(np.isfinite(res.grad)) and np.all(res.grad_stderr >= 0)
    assert res.reliable.shape == (3,) and res.paths == 1000
    with pytest.raises(ValueError):
        res.grad[0, 0] = 1.0
    with pytest.raises(ValueError):
        res.grad_stderr[0, 0] = 1.0
    assert Z.calls == 3 and Z.grad_calls == 3
    Z.evaluate(X)
    cost = Z.cost()
    assert cost.grad_points == 3 and cost.price_points == 3 and cost.grad_seconds > 0 and cost.price_seconds > 0
    assert Z.evaluate(X).grad is None


def test_empty_batch():
    Z = mc(DOC, paths=1000, steps=4)
    res = Z.evaluate(np.empty((0, 5)), grad=True)
    assert res.price.shape == (0,) and res.grad.shape == (0, 5) and res.grad_stderr.shape == (0, 5)
    assert Z.calls == 0


def test_bridge_false_has_no_gradient():
    """Discrete monitoring: the knock-out indicator is a step function of the barrier and of each path,
    so its pathwise derivative (0 a.e.) misses the knock-out mass: refused, and has_grad says so."""
    Z = mc(DOC, paths=1000, steps=4, bridge=False)
    assert not Z.has_grad and not has_grad(Z)
    X = MILD.sample(2, seed=0)
    with pytest.raises(ValueError, match="grad: .*bridge=True"):
        Z.evaluate(X, grad=True)
    with pytest.raises(ValueError, match="grad: .*bridge=True"):
        Z.reference(X, grad=True)
    assert Z.calls == 0
    cfg = _core.McConfig(code=DOC.code, spot=100.0, paths=1000, steps=4, bridge=False)
    with pytest.raises(ValueError, match="grad: pathwise gradients need bridge=True"):
        _core.mc_grad(X, np.empty(2), np.empty(2), np.empty((2, 5)), np.empty((2, 5)), cfg)


def test_grad_argument_must_be_a_bool():
    Z = mc(DOC, paths=1000, steps=4)
    X = MILD.sample(2, seed=0)
    with pytest.raises(TypeError, match="grad: expected a bool"):
        Z.evaluate(X, grad=1)
    with pytest.raises(TypeError, match="grad: expected a bool"):
        Z.reference(X, grad="yes")


def test_native_grad_boundary_is_strict():
    X = MILD.sample(4, seed=0)
    p, s, g, gs = np.empty(4), np.empty(4), np.empty((4, 5)), np.empty((4, 5))
    cfg = _core.McConfig(code=DOC.code, spot=100.0, paths=1000, steps=4)
    _core.mc_grad(X, p, s, g, gs, cfg, device="cpu")
    assert np.isfinite(g).all() and (gs >= 0).all()
    with pytest.raises(ValueError, match="grad/grad_stderr: expected shape"):
        _core.mc_grad(X, p, s, np.empty((4, 4)), gs, cfg)
    with pytest.raises(ValueError, match="grad/grad_stderr: expected shape"):
        _core.mc_grad(X, p, s, g, np.empty((3, 5)), cfg)
    with pytest.raises(ValueError, match="grad/grad_stderr: expected shape"):
        _core.mc_grad(X, p, s, np.empty(20), gs, cfg)
    with pytest.raises(TypeError):
        _core.mc_grad(X, p, s, np.asfortranarray(g), gs, cfg)
    with pytest.raises(TypeError):
        _core.mc_grad(X, p, s, g.astype(np.float32), gs, cfg)
    with pytest.raises(ValueError, match="price/stderr: expected shape"):
        _core.mc_grad(X, np.empty(3), s, g, gs, cfg)
    ro = np.empty((4, 5))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        _core.mc_grad(X, p, s, ro, gs, cfg)
    with pytest.raises(ValueError, match="reference: only on device 'cpu'"):
        _core.mc_grad(X, p, s, g, gs, cfg, device="cuda", reference=True)


def test_grad_resources_are_checked(monkeypatch):
    """The gradient's partial sums (12 per chunk instead of 2) and outputs enter the memory check."""
    cfg = _core.McConfig(code=DOC.code, spot=100.0, paths=2**20, steps=4)
    base, grad = _core.mc_workspace_bytes(10, cfg, "cpu"), _core.mc_workspace_bytes(10, cfg, "cpu", grad=True)
    chunks = math.ceil(2**19 / 2048)
    assert grad - base == pytest.approx(10 * (8 * 10 * chunks + 8 * 10))
    monkeypatch.setenv("SG_MAX_WORK", "1e30")
    Z = sg.oracles.MonteCarlo(DOC, paths=2**30, steps=1, device="cpu")
    n = 20_000  # price: n x (2^29 / 2048 chunks x 16 B) ~ 84 GB of partial sums; grad: 6x that
    need_price = _core.mc_workspace_bytes(n, Z._config, "cpu")
    monkeypatch.setenv("SG_MAX_MEMORY", str(int(2 * need_price)))
    Z._check_resources(n)  # the price alone fits under this ceiling (checked, never run)
    with pytest.raises(ResourceError, match="working memory.*SG_MAX_MEMORY"):
        Z._check_resources(n, grad=True)
    with pytest.raises(ResourceError, match="working memory.*SG_MAX_MEMORY"):
        Z.evaluate(MILD.sample(n, seed=0), grad=True)
    assert Z.calls == 0


def test_out_option_breached_at_start_has_zero_gradient():
    X = np.array([[100.0, 120.0, 0.2, 1.0, 0.03]])  # down barrier above the spot: out = 0 exactly
    res = mc(DOC, paths=1000, steps=4).evaluate(X, grad=True)
    assert res.price[0] == 0.0 and np.all(res.grad == 0.0) and np.all(res.grad_stderr == 0.0)


@pytest.mark.cuda
@pytest.mark.skipif(not sg.has_cuda(), reason="needs a CUDA build and a GPU")
@pytest.mark.parametrize("model", [sg.GBM(), HESTON], ids=["gbm", "heston"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_grad_cpu_and_cuda_agree(option, model, precision):
    """Same normals, same inline math (draw_grad): float64 agrees to rounding (FMA contraction may differ:
    the SIMD test's 64 steps eps rms bound); float32 to that bound with eps32. The CUDA price with grad is
    bitwise its price without."""
    X = kind_points(option, 32, seed=31)
    eps = E64 if precision == "float64" else E32
    kw = dict(model=model, paths=16384, steps=16, seed=4, precision=precision)
    a, b = mc(option, **kw).evaluate(X, grad=True), mc(option, device="cuda", **kw).evaluate(X, grad=True)
    tol = 64 * 16 * eps * per_draw_rms(a, 8192)
    assert np.all(np.abs(a.grad - b.grad) <= tol)
    pb = mc(option, device="cuda", **kw).evaluate(X)
    assert np.array_equal(pb.price, b.price) and np.array_equal(pb.stderr, b.stderr)
