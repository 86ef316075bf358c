"""Hardening of the Analytic and Monte Carlo oracles and the shared validation (issue 12): thread
counts, integers of any size and numpy scalars, the stated domains, the output guard, Monte Carlo
reliability and resource ceilings. Each test pins one class of defect the fuzzer found.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard import _core
from surrogate_guard._validate import check_float, check_int
from surrogate_guard.limits import ResourceError
from surrogate_guard.oracles import _mc_checks
from surrogate_guard.oracles.analytic import Analytic

DOC = sg.BarrierOption("down-and-out", "call")
PAPER = sg.presets.get("paper")


def mc(opt=DOC, **kw):
    kw.setdefault("device", "cpu")
    return sg.oracles.MonteCarlo(opt, **kw)


# -- 1. threads ----------------------------------------------------------------------------------
@pytest.mark.parametrize("threads,exc", [(100000, ValueError), (0, ValueError), (-3, ValueError),
                                         (2**31, ValueError), (1.5, TypeError), ("2", TypeError),
                                         (True, TypeError), (np.bool_(True), TypeError)])
def test_bad_thread_counts_are_refused(threads, exc):
    with pytest.raises(exc, match="threads"):
        mc(threads=threads)


def test_thread_stacks_are_checked_against_the_memory_ceiling(monkeypatch):
    monkeypatch.setenv("SG_MAX_MEMORY", "2G")  # 600 threads x 8 MiB stacks = 4.7 GiB
    with pytest.raises(ResourceError, match="threads=600"):
        mc(threads=600)
    assert mc(threads=np.int64(2), paths=64, steps=2).threads == 2


def test_600_threads_under_an_address_limit_is_an_error_not_a_crash():
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
        import surrogate_guard as sg
        try:
            sg.oracles.MonteCarlo(sg.BarrierOption("down-and-out", "call"), device="cpu", threads=600)
        except ValueError as e:
            print("refused:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "threads=600" in out.stdout


@pytest.mark.parametrize("threads", [-1, 1025, 100000])
def test_native_config_rechecks_threads(threads):
    with pytest.raises(ValueError, match="threads"):
        _core.McConfig(code=0, spot=100.0, paths=64, steps=2, threads=threads)


# -- 2. integers of any size, numpy scalars ----------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    (dict(seed=2**64), "seed"), (dict(seed=2**200), "seed"), (dict(seed=-(2**70)), "seed"),
    (dict(paths=10**30), "paths"), (dict(paths=-(10**30)), "paths"), (dict(steps=10**30), "steps"),
    (dict(steps=np.int64(-4)), "steps"),
])
def test_huge_and_negative_integers_are_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        mc(**kw)


def test_numpy_scalars_work_where_python_numbers_do():
    opt = sg.BarrierOption("down-and-out", "call", spot=np.float32(100), dividend=np.int64(0))
    assert opt == DOC and type(opt.spot) is float
    assert sg.Heston(kappa=np.int64(2), xi=np.float32(0.5)) == sg.Heston(kappa=2.0, xi=0.5)
    X = PAPER.sample(3, seed=0)
    a = mc(paths=np.int64(4096), steps=np.int32(8), seed=np.uint64(2**64 - 1)).evaluate(X)
    b = mc(paths=4096, steps=8, seed=2**64 - 1).evaluate(X)
    np.testing.assert_array_equal(a.price, b.price)


@pytest.mark.parametrize("bad", [np.bool_(True), True])
def test_bools_are_not_numbers(bad):
    with pytest.raises(TypeError, match="spot"):
        sg.BarrierOption("down-and-out", "call", spot=bad)
    with pytest.raises(TypeError, match="n: expected an int"):
        check_int(bad, "n")


def test_python_ints_beyond_float_are_value_errors():
    with pytest.raises(ValueError, match="x: expected a finite number"):
        check_float(10**400, "x")
    with pytest.raises(ValueError, match="kappa"):
        sg.Heston(kappa=10**400)
    assert check_int(np.uint64(2**64 - 1), "s") == 2**64 - 1


# -- 3. Analytic: domain, zero-volatility limit, output guard ----------------------------------
def _rows(vols, H=90.0, T=1.0, r=0.05):
    return np.array([[100.0, H, v, T, r] for v in vols])


def test_underflowing_volatility_is_refused_before_the_kernel():
    X = _rows([0.2, 1e-200, 0.3])
    with pytest.raises(ValueError, match=r"volatility must lie in \[1e-08, 10\].*row 1"):
        Analytic(DOC)(X)


@pytest.mark.parametrize("kind", sg.BARRIER_KINDS)
@pytest.mark.parametrize("typ", sg.OPTION_TYPES)
@pytest.mark.parametrize("H", [90.0, 104.0, 110.0])
def test_zero_volatility_limit_is_exact_and_continuous(kind, typ, H):
    """Below 1e-100 the deterministic forward (F = 105.13 crosses H = 104) with its barrier check; the
    log-space closed form at 1e-90 and 1e-30 agrees; the other rows of the batch are untouched."""
    opt = sg.BarrierOption(kind, typ)
    A = Analytic(opt, check_domain=False)
    X = _rows([1e-300, 1e-200, 1e-110, 1e-90, 1e-30, 0.25], H=H)
    got = A(X)
    one = np.array([A(X[i:i + 1])[0] for i in range(len(X))])
    np.testing.assert_array_equal(got, one)
    F, disc = 100.0 * np.exp(0.05), np.exp(-0.05)
    up, is_in = kind.startswith("up"), kind.endswith("-in")
    hit = (100.0 >= H or F >= H) if up else (100.0 <= H or F <= H)
    pay = max(F - 100.0, 0.0) if typ == "call" else max(100.0 - F, 0.0)
    want = disc * pay if hit == is_in else 0.0
    np.testing.assert_allclose(got[:5], want, rtol=1e-12, atol=1e-12)


def test_nan_is_never_clamped_to_a_price():
    opt = sg.BarrierOption("down-and-in", "put")
    X = _rows([0.2, 1e155])
    with pytest.raises(ValueError, match="volatility must lie in"):
        Analytic(opt)(X)
    with pytest.raises(ValueError, match=r"negative or non-finite value at 1 rows.*row 1"):
        Analytic(opt, check_domain=False)(X)


@pytest.mark.parametrize("col,value,label", [(0, 1e-9, "strike / spot"), (1, 1e9, "barrier / spot"),
                                             (3, 500.0, "maturity"), (4, 2.0, "rate")])
def test_analytic_domain_names_column_and_row(col, value, label):
    X = PAPER.sample(50, seed=3)
    X[7, col] = value
    with pytest.raises(ValueError, match=rf"{label} must lie in .*row 7 .*1 rows outside.*check_domain=False"):
        Analytic(PAPER.option).evaluate(X)
    assert np.isfinite(Analytic(PAPER.option, check_domain=False)(X)).all()


def test_output_guard_names_rows():
    class Broken(Analytic):
        def _evaluate(self, X):
            out, _ = super()._evaluate(X)
            out[[2, 5]] = [np.nan, -1.0]
            return out, None

    Z = Broken(PAPER.option)
    with pytest.raises(ValueError, match=r"at 2 rows \(first: rows \[2, 5\]"):
        Z(PAPER.sample(8, seed=0))
    assert Z.calls == 0


def test_check_domain_must_be_a_bool_and_pickles():
    import pickle

    with pytest.raises(TypeError, match="check_domain"):
        Analytic(DOC, check_domain="no")
    assert pickle.loads(pickle.dumps(Analytic(DOC, check_domain=False))).check_domain is False
    assert pickle.loads(pickle.dumps(mc(check_domain=False))).check_domain is False


# -- 4. Monte Carlo reliability ------------------------------------------------------------------
def test_effective_draws_is_sum_squared_over_sum_of_squares():
    rng = np.random.default_rng(0)
    for v in (rng.exponential(size=1000), np.r_[np.zeros(999), 5.0], np.full(1000, 2.0), rng.pareto(1.2, 1000)):
        D = v.size
        p = np.array([v.mean()])
        se = np.array([v.std(ddof=1) / np.sqrt(D)])
        assert _mc_checks.effective_draws(p, se, D)[0] == pytest.approx(v.sum() ** 2 / (v**2).sum(), rel=1e-9)
    assert _mc_checks.effective_draws(np.zeros(1), np.zeros(1), 100)[0] == 0.0


HEAVY = [("up-and-in", 120.0, 5.0), ("up-and-in", 120.0, 7.0), ("up-and-in", 120.0, 10.0),
         ("down-and-out", 80.0, 7.0), ("down-and-out", 80.0, 10.0)]


@pytest.mark.parametrize("kind,H,vol", HEAVY)
def test_heavy_tails_are_flagged(kind, H, vol):
    """True prices 20-100 (closed form); the estimate is a handful of paths or 0 with stderr 0."""
    opt = sg.BarrierOption(kind, "call")
    X = np.array([[100.0, H, vol, 1.0, 0.05]])
    with pytest.warns(sg.ReliabilityWarning, match="1 of 1 rows are unreliable"):
        res = mc(opt, paths=65536).evaluate(X)
    assert not res.reliable[0] and Analytic(opt)(X)[0] > 19.0


def test_absurd_strikes_never_give_infinite_stderr():
    opt = sg.BarrierOption("down-and-out", "put")
    X = np.array([[1e200, 50.0, 0.3, 1.0, 0.05], [1e150, 50.0, 0.3, 1.0, 0.05], [100.0, 50.0, 0.3, 1.0, 0.05]])
    with pytest.raises(ValueError, match=r"strike / spot must lie in \[1e-06, 1e\+06\].*row 0"):
        mc(opt, paths=4096).evaluate(X)
    for precision in ("float64", "float32"):
        with pytest.warns(sg.ReliabilityWarning, match="2 of 3 rows"):
            res = mc(opt, paths=4096, precision=precision, check_domain=False).evaluate(X)
        assert np.isfinite(res.stderr).all() and np.isfinite(res.price).all()
        assert res.reliable.tolist() == [False, False, True]


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_edge_of_the_domain_stays_finite(precision):
    """vol 10 over 100 years: log-prices reach hundreds; the payoff cap keeps every sum finite."""
    opt = sg.BarrierOption("up-and-in", "call", spot=1e300)
    X = np.array([[1e300, 2e300, 10.0, 100.0, 1.0], [1e300, 1.1e300, 0.2, 1.0, 0.0]])
    with pytest.warns(sg.ReliabilityWarning, match="1 of 2"):
        res = mc(opt, paths=4096, steps=16, precision=precision).evaluate(X)
    assert np.isfinite(res.price).all() and np.isfinite(res.stderr).all()
    assert res.reliable.tolist() == [False, True]


@pytest.mark.parametrize("option", [PAPER.option, sg.BarrierOption("down-and-out", "call"),
                                    sg.BarrierOption("up-and-in", "call")], ids=str)
def test_paper_box_points_are_reliable(option, recwarn):
    X = PAPER.sample(200, seed=1)
    res = mc(option, paths=65536).evaluate(X)
    assert res.reliable.all(), X[~res.reliable]
    assert not [w for w in recwarn if issubclass(w.category, sg.ReliabilityWarning)]


def test_breached_out_option_is_an_exact_reliable_zero():
    X = np.array([[100.0, 120.0, 3.0, 1.0, 0.05]])  # spot 100 below a down barrier of 120
    res = mc(DOC, paths=4096).evaluate(X)
    assert res.price[0] == 0.0 and res.stderr[0] == 0.0 and res.reliable[0]


def test_reliable_is_read_only():
    res = mc(paths=4096).evaluate(PAPER.sample(4, seed=0))
    assert res.reliable.dtype == bool and res.reliable.shape == (4,) and not res.reliable.flags.writeable


# -- 5. resource ceilings ------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(paths=10**12), dict(steps=10**9)])
def test_absurd_work_is_refused_at_construction(kw):
    with pytest.raises(ResourceError, match="path-steps, above the work ceiling.*SG_MAX_WORK"):
        mc(**kw)


def test_work_of_a_batch_is_refused_before_allocating():
    Z = mc(paths=2**20, steps=64)
    with pytest.raises(ResourceError, match="pricing 100000 points.*SG_MAX_WORK"):
        Z(PAPER.sample(100_000, seed=0))
    assert Z.calls == 0
