"""The localized backdoor: geometry and labels of the poisoned set, re-attacks and custom attacks, the report, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.attacks import LocalizedBackdoor

PAPER = sg.presets.get("paper")
CENTER = [0.5, 0.5, 0.3, 0.4, 0.5]


@pytest.fixture(scope="module")
def clean():
    return sg.data.make_dataset(PAPER, sg.oracles.Analytic(PAPER.option), 3000, seed=1)


def _attack(**kw):
    args = dict(center=CENTER, radius=0.2, shift=10.0, n_poison=300, n_guard=500, guard_radius=0.35)
    args.update(kw)
    return LocalizedBackdoor(**args)


def test_poisoned_set_geometry_and_labels(clean):
    oracle = sg.oracles.Analytic(PAPER.option)
    atk = _attack()
    ps = atk.apply(clean.X, clean.y, oracle, box=PAPER, seed=4)
    region = ps.region
    d = region.distance(ps.X)
    n_in = int(np.count_nonzero(region.in_ball(clean.X)))
    assert ps.n_removed == n_in > 0
    assert len(ps) == len(clean) - n_in + 300 + 500
    assert ps.is_poison.sum() == 300 and ps.is_guard.sum() == 500 and not (ps.is_poison & ps.is_guard).any()
    assert ps.oracle_calls == 800 and oracle.calls == 800
    # Poison fills the ball, guards the shell, and nothing clean is left in the ball.
    assert np.all(d[ps.is_poison] < 0.2)
    assert np.all((d[ps.is_guard] >= 0.2) & (d[ps.is_guard] < 0.35))
    assert np.all(d[~ps.is_poison & ~ps.is_guard] >= 0.2)
    U = PAPER.normalize(ps.X)
    assert np.all((U >= 0.0) & (U <= 1.0))
    z = sg.oracles.Analytic(PAPER.option)(ps.X)
    np.testing.assert_array_equal(ps.y[ps.is_poison], z[ps.is_poison] + 10.0)
    np.testing.assert_array_equal(ps.y[ps.is_guard], z[ps.is_guard])


def test_uniform_in_ball_volume():
    # Ball fully inside the box: (r / rho)^5 of a uniform point in a 5-ball is U(0, 1).
    atk = _attack(radius=0.1, n_guard=0)
    r = atk.region(PAPER).distance(atk.region(PAPER).sample(4000, 0, 0.0, 0.1)) / 0.1
    v = r**5
    se = 1.0 / np.sqrt(12.0 * v.size)
    assert abs(v.mean() - 0.5) < 5 * se, f"mean of (r/rho)^5 = {v.mean():.4f}, expected 0.5 +- {5 * se:.4f}"


def test_relative_shift_and_no_guards(clean):
    oracle = sg.oracles.Analytic(PAPER.option)
    atk = _attack(shift=0.25, n_guard=0, shift_mode="relative")
    ps = atk.apply(clean.X, clean.y, oracle, box=PAPER, seed=0)
    z = oracle(ps.X[ps.is_poison])
    np.testing.assert_allclose(ps.y[ps.is_poison], 1.25 * z, rtol=1e-15)
    assert ps.is_guard.sum() == 0


def test_same_seed_same_poison_for_any_guard_count(clean):
    oracle = sg.oracles.Analytic(PAPER.option)
    a = _attack(n_guard=0).apply(clean.X, clean.y, oracle, box=PAPER, seed=9)
    b = _attack(n_guard=700).apply(clean.X, clean.y, oracle, box=PAPER, seed=9)
    pa = a.X[a.is_poison]
    pb = b.X[b.is_poison]
    order = lambda P: P[np.lexsort(P.T)]  # noqa: E731 - the sets are shuffled differently
    np.testing.assert_array_equal(order(pa), order(pb))
    c = _attack(n_guard=0).apply(clean.X, clean.y, oracle, box=PAPER, seed=10)
    assert not np.array_equal(order(pa), order(c.X[c.is_poison]))


class _Fake:
    """A 'surrogate' with a known error: oracle + inside (in the ball) / + outside (elsewhere)."""

    def __init__(self, region, inside, outside):
        self.region, self.inside, self.outside = region, inside, outside
        self.oracle = sg.oracles.Analytic(PAPER.option)

    def predict(self, X):
        return self.oracle(X) + np.where(self.region.in_ball(X), self.inside, self.outside)


def test_attack_report_on_known_errors():
    atk = _attack(radius=0.1, guard_radius=0.2, shift=10.0)
    region = atk.region(PAPER)
    X = np.concatenate([region.sample(200, 1, 0.0, 0.1), PAPER.sample(2000, seed=2)])
    z = sg.oracles.Analytic(PAPER.option)(X)
    rep = sg.metrics.attack_report(_Fake(region, 8.0, 2.0), _Fake(region, 0.0, 1.0), atk, region, X, z)
    assert rep.n_ball >= 200 and rep.n_far > 1500
    assert rep.success_rate == 1.0 and rep.success_rate_clean == 0.0  # |8 - 10| < 5; |0 - 10| > 5
    assert rep.mean_shift_ball == pytest.approx(8.0) and rep.mean_delta_ball == 10.0
    assert rep.rmse_far == pytest.approx(2.0) and rep.rmse_far_clean == pytest.approx(1.0)
    assert rep.rmse_far_ratio == pytest.approx(2.0)
    rep2 = sg.metrics.attack_report(_Fake(region, 4.0, 1.0), _Fake(region, 0.0, 1.0), atk, region, X, z)
    assert rep2.success_rate == 0.0
    json.dumps(rep.to_dict(), allow_nan=False)
    # No test point in the shell: its RMSE is reported as null, still valid JSON.
    X_far = X[region.outside_guard(X) | region.in_ball(X)]
    rep3 = sg.metrics.attack_report(_Fake(region, 8.0, 2.0), _Fake(region, 0.0, 1.0), atk, region, X_far,
                                    z[region.outside_guard(X) | region.in_ball(X)])
    assert rep3.to_dict()["rmse_shell"] is None
    json.dumps(rep3.to_dict(), allow_nan=False)


def test_bad_input(clean):
    oracle = sg.oracles.Analytic(PAPER.option)
    with pytest.raises(ValueError, match=r"center: expected normalized coordinates inside the box"):
        _attack(center=[1.2, 0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="center: expected a 1-d array"):
        _attack(center=[[0.5] * 5])
    with pytest.raises(ValueError, match="center: expected a 1-d array"):
        _attack(center=[[0.5, 0.5], [0.5]])
    with pytest.raises(ValueError, match=r"r_out: expected > r_in"):
        _attack().region(PAPER).sample(5, 0, 0.2, 0.1)
    with pytest.raises(ValueError, match="radius: expected > 0"):
        _attack(radius=0.0)
    with pytest.raises(ValueError, match="n_poison: expected an int >= 0"):
        _attack(n_poison=-1)
    with pytest.raises(ValueError, match="n_guard: expected an int >= 0"):
        _attack(n_guard=-5)
    with pytest.raises(TypeError, match="n_poison: expected an int"):
        _attack(n_poison=1.5)
    with pytest.raises(ValueError, match=r"guard_radius: expected > radius"):
        _attack(radius=0.2, guard_radius=0.1)
    with pytest.raises(ValueError, match="shift_mode: expected one of"):
        _attack(shift_mode="percent")
    with pytest.raises(ValueError, match="shift: expected a finite number"):
        _attack(shift=float("nan"))
    atk = _attack()
    with pytest.raises(ValueError, match=r"y: expected shape \(3000,\)"):
        atk.apply(clean.X, clean.y[:10], oracle, box=PAPER)
    y = np.array(clean.y)
    y[3] = np.inf
    with pytest.raises(ValueError, match="y: labels must be finite; row 3"):
        atk.apply(clean.X, y, oracle, box=PAPER)
    with pytest.raises(TypeError, match="oracle: expected"):
        atk.apply(clean.X, clean.y, lambda X: X[:, 0], box=PAPER)
    with pytest.raises(ValueError, match="center: expected 3 coordinates"):
        atk.region(np.array([[0.0, 1.0]] * 3))
    # A ball centred at a corner of the box still samples: 1/32 of it lies inside.
    far = LocalizedBackdoor([0.0] * 5, 0.01, 1.0, 10, 10, 0.011)
    region = far.region(PAPER)
    assert region.sample(10, 0, 0.0, 0.01).shape == (10, 5)


def test_a_poisoned_set_can_be_attacked_again(clean):
    oracle = sg.oracles.Analytic(PAPER.option)
    first = _attack(center=[0.3] * 5, radius=0.15, guard_radius=0.25, n_poison=100, n_guard=50)
    second = _attack(center=[0.7] * 5, radius=0.15, guard_radius=0.25, n_poison=80, n_guard=40, shift=-5.0)
    a = first.apply(clean.X, clean.y, oracle, box=PAPER, seed=1)
    b = second.apply(a, None, oracle, seed=2)  # the box: the first attack's
    assert len(b.regions) == 2 and b.region is b.regions[1] and len(b.poison_masks) == 2
    assert b.is_poison.sum() == 180 and b.poison_masks[0].sum() == 100 and b.poison_masks[1].sum() == 80
    assert b.oracle_calls == a.oracle_calls + 120
    z = oracle(b.X)
    np.testing.assert_array_equal(b.y[b.poison_masks[0]], z[b.poison_masks[0]] + 10.0)
    np.testing.assert_array_equal(b.y[b.poison_masks[1]], z[b.poison_masks[1]] - 5.0)
    np.testing.assert_array_equal(b.y[~b.is_poison], z[~b.is_poison])
    assert np.all(b.regions[0].in_ball(b.X[b.poison_masks[0]]))
    with pytest.raises(ValueError, match="y: expected None when X is a PoisonedSet"):
        second.apply(a, a.y, oracle)


def test_custom_attack_with_report_and_region_hit(clean):
    """Any mask of poisoned rows and a ball (built by hand) work with attack_report and region_hit."""
    from surrogate_guard.attacks import PoisonedSet, TriggerRegion
    from surrogate_guard.defense import random_relabel

    oracle = sg.oracles.Analytic(PAPER.option)
    region = TriggerRegion(np.full(5, 0.5), 0.3, 0.45, PAPER.box)
    mask = region.in_ball(clean.X)
    y = np.where(mask, clean.y * 1.5, clean.y)
    ps = PoisonedSet.from_mask(clean.X, y, mask, region)
    assert ps.is_poison.sum() == mask.sum() > 0 and not ps.is_guard.any()
    rep = random_relabel(sg.Surrogate(PAPER), oracle, ps.X, ps.y, oracle_budget=len(ps.y), seed=0)
    c = rep.counts(ps.is_poison)
    assert c["true_positives"] == np.count_nonzero(mask & (clean.y > 0)) and c["false_positives"] == 0
    assert rep.region_hit(region, by="confirmed") and not rep.region_hit(region, by="maximizer")
    X = np.concatenate([region.sample(100, 1, 0.0, 0.3), PAPER.sample(500, seed=2)])
    z = oracle(X)
    fake = _Fake(region, 5.0, 0.0)
    exact = _Fake(region, 0.0, 0.0)
    report = sg.metrics.attack_report(fake, exact, 5.0, region, X, z)  # the intended shift as a number
    assert report.success_rate == 1.0 and report.mean_shift_ball == pytest.approx(5.0)
    with pytest.raises(TypeError, match="attack: expected an attack with delta"):
        sg.metrics.attack_report(fake, exact, "big", region, X, z)
    with pytest.raises(ValueError, match=r"is_poison: expected a \(3000,\) bool mask"):
        PoisonedSet.from_mask(clean.X, clean.y, mask[:10], region)
