"""The defense on a planted, exactly known error bump: search, detection, cost, bad input.

The "oracle" is the surrogate itself minus a compact bump a (1 - |u - c|^2 / r^2)^2 inside a
ball of the unit box, so the true error maximizer is c with |Y - Z| = a, and exactly the
training rows inside the ball carry labels that disagree with the oracle.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.defense import (
    CheckSettings, SearchSettings, detect, find_error_maximizers, merge_maximizers, neighbour_outliers, random_relabel,
)
from surrogate_guard.oracles import BudgetedOracle, BudgetExhausted, Oracle
from surrogate_guard.surrogate import Surrogate

PRESET = sg.presets.get("mild")
CENTER = np.array([0.45, 0.55, 0.5, 0.4, 0.6])
RADIUS = 0.15
AMP = 5.0


class BumpOracle(Oracle):
    """Z = Y - bump: the surrogate is wrong by up to AMP inside the ball, exact outside."""

    def __init__(self, surrogate):
        super().__init__(5, PRESET.box)
        self.surrogate = surrogate

    def bump(self, X):
        u = PRESET.normalize(X)
        q = np.sum((u - CENTER) ** 2, axis=1) / RADIUS**2
        return AMP * np.where(q < 1.0, (1.0 - q) ** 2, 0.0)

    def _evaluate(self, X):
        return self.surrogate.predict(X) - self.bump(X), None


@pytest.fixture(scope="module")
def setup():
    s = Surrogate(PRESET, seed=3, widths=(32, 32))  # untrained weights: a smooth, arbitrary Y
    Z = BumpOracle(s)
    # 3000 points over the box and, as an attacker would, 200 more packed into the ball (3000
    # uniform points put about one there in 5-d).
    rng = np.random.default_rng(2)
    v = rng.normal(size=(200, 5))
    ball = CENTER + RADIUS * v / np.linalg.norm(v, axis=1, keepdims=True) * rng.random((200, 1)) ** 0.2
    X = np.vstack([PRESET.sample(3000, seed=1), PRESET.denormalize(ball)])
    in_ball = np.linalg.norm(PRESET.normalize(X) - CENTER, axis=1) < RADIUS
    # Poisoned labels Z + 1.3 bump, of which the surrogate learned all but 0.3 bump (a fit is never
    # exact): wrong exactly where the bump is non-zero, with a training residual there too.
    y = s.predict(X) + 0.3 * Z.bump(X)
    return s, Z, X, y, in_ball


def test_search_finds_the_bump(setup):
    s, Z, X, y, _ = setup
    seeds = PRESET.denormalize(CENTER + np.random.default_rng(0).uniform(-0.12, 0.12, (16, 5)))
    calls0 = Z.calls
    search = SearchSettings(steps=40, lr=0.03, decay=0.5, decay_every=10)
    mx = find_error_maximizers(s, Z, seeds=seeds, search=search, X_train=X)
    best = mx.unit[0]
    # The ascent converges to c up to its final step length (0.03 * 0.5^3) in each direction.
    assert np.linalg.norm(best - CENTER) < 0.02, f"best maximizer {best} vs centre {CENTER}"
    assert np.sqrt(mx.error[0]) > 0.99 * AMP
    # At most m (2d + 1) points per step; seeds outside the ball see a zero gradient, stay put,
    # and are served from the cache: the count is of distinct points, as the oracle saw them.
    assert mx.oracle_calls == Z.calls - calls0
    assert 16 * 11 < mx.oracle_calls < 40 * 16 * 11
    assert mx.kernel_steps == 40 and mx.n_near[0] > 0
    assert np.all(np.diff(mx.error) <= 0), "maximizers are sorted by decreasing error"
    # Merging leaves no two maximizers closer than the radius.
    if len(mx) > 1:
        dist = np.linalg.norm(mx.unit[:, None] - mx.unit[None], axis=2) + np.eye(len(mx))
        assert dist.min() >= 0.05


def test_detect_recall_and_cost(setup):
    s, Z, X, y, in_ball = setup
    calls0 = Z.calls
    rep = detect(s, Z, X, y, oracle_budget=400, seed=0, check=CheckSettings(error_threshold=1.0, min_density=1))
    assert rep.cost.oracle_calls <= 400
    assert rep.cost.oracle_calls == rep.cost.oracle_calls_search + rep.cost.oracle_calls_check
    assert Z.calls - calls0 == rep.cost.oracle_calls  # the cache priced each distinct point once
    # Rows whose bump is below the label tolerance are indistinguishable: count only clear ones.
    clear = in_ball & (Z.bump(X) > 1e-3)
    assert rep.recall(clear) >= 0.9, rep.to_dict()
    assert rep.false_positive_rate(in_ball) == 0.0
    assert set(rep.suspects) <= set(np.flatnonzero(in_ball))


def test_detect_beats_random_relabel_at_equal_budget(setup):
    s, Z, X, y, in_ball = setup
    ours = detect(s, Z, X, y, oracle_budget=300, seed=0, check=CheckSettings(error_threshold=1.0, min_density=1))
    rand = random_relabel(s, Z, X, y, oracle_budget=300, seed=0)
    assert ours.recall(in_ball) > rand.recall(in_ball) + 0.3
    assert rand.cost.oracle_calls == 300
    nb = neighbour_outliers(s, X, y)
    assert nb.cost.oracle_calls == 0


def test_merge_keeps_largest():
    u = np.array([[0.0, 0.0], [0.01, 0.0], [0.5, 0.5], [0.51, 0.5]])
    e = np.array([1.0, 2.0, 0.5, 0.1])
    assert merge_maximizers(u, e, 0.05).tolist() == [1, 2]
    assert merge_maximizers(u, e, 0.0).tolist() == [1, 0, 2, 3]


def test_budgeted_oracle_caches_and_enforces_budget():
    Z = sg.oracles.Analytic(PRESET.option)
    C = BudgetedOracle(Z, budget=5)
    X = PRESET.sample(3, seed=0)
    np.testing.assert_array_equal(C(np.vstack([X, X])), np.concatenate([Z(X), Z(X)]))
    assert C.calls == 3
    with pytest.raises(BudgetExhausted):
        C(PRESET.sample(3, seed=1))
    assert C.calls == 3  # nothing priced when refused


def test_bad_input(setup):
    s, Z, X, y, _ = setup
    with pytest.raises(ValueError, match="oracle_budget: expected > 0"):
        detect(s, Z, X, y, oracle_budget=0)
    with pytest.raises(TypeError, match="oracle_budget: expected an int"):
        detect(s, Z, X, y, oracle_budget=1.5)
    with pytest.raises(ValueError, match="y_train: expected shape"):
        detect(s, Z, X, y[:-1], oracle_budget=10)
    bad_y = y.copy()
    bad_y[7] = np.nan
    with pytest.raises(ValueError, match="y_train: labels must be finite; row 7"):
        detect(s, Z, X, bad_y, oracle_budget=10)
    seeds = X[:4].copy()
    seeds[2, 1] = np.nan
    with pytest.raises(ValueError, match="seeds: expected finite values; row 2"):
        find_error_maximizers(s, Z, seeds=seeds, search=SearchSettings(steps=1))
    with pytest.raises(ValueError, match=r"seeds: expected an int >= 1 or a non-empty \(m, 5\)"):
        find_error_maximizers(s, Z, seeds=X[:, :3], search=SearchSettings(steps=1))
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        find_error_maximizers(s, Z, seeds=4, search=SearchSettings(steps=0))
    with pytest.raises(ValueError, match="strategy: expected one of"):
        detect(s, Z, X, y, oracle_budget=100, strategy="psychic")


def test_local_model_is_exact_on_a_quadratic_and_refuses_when_inaccurate():
    from surrogate_guard.defense.infer import fit_local_model, infer_poisoned
    from surrogate_guard.defense.training import TrainingView

    rng = np.random.default_rng(0)
    U = 0.5 + 0.1 * rng.uniform(-1, 1, (400, 5))
    A = rng.normal(size=(5, 5))
    quad = lambda V: 3.0 + V @ np.arange(5.0) + np.einsum("ni,ij,nj->n", V - 0.5, A, V - 0.5)  # noqa: E731
    m = fit_local_model(U, quad(U), np.full(5, 0.5), radius=1.0)
    # Rounding only: the features are O(1) and the system small.
    assert m.loo_rms < 1e-9
    V = 0.5 + 0.05 * rng.uniform(-1, 1, (50, 5))
    np.testing.assert_allclose(m(V), quad(V), rtol=0, atol=1e-9)
    assert fit_local_model(U[:20], quad(U[:20]), np.full(5, 0.5), radius=1.0) is None  # 20 < 2 x 21 coefficients

    # Rows 0..99 poisoned by +1; the oracle is known at every row. With exact oracle values the
    # rest of the cluster is inferred; with oracle noise of 0.5 (> shift / 4) nothing is.
    y = quad(U) + np.where(np.arange(400) < 100, 1.0, 0.0)
    view = TrainingView.build(sg.Box(np.zeros(5), np.ones(5)), U, y)
    confirmed = np.arange(20)
    got, note = infer_poisoned(view, confirmed, U[100:], quad(U[100:]), set(range(20)))
    assert set(got) <= set(range(100)) and len(got) > 0, note
    noisy = quad(U[100:]) + rng.normal(0, 0.5, 300)
    got, note = infer_poisoned(view, confirmed, U[100:], noisy, set(range(20)))
    assert len(got) == 0 and note["reason"].startswith("local oracle model not accurate")


def test_seed_split_and_strategies():
    from surrogate_guard.defense.seeding import MIXED_SHARES, SEED_STRATEGIES, TrainingSignals, _split, choose_seeds
    from surrogate_guard.defense.training import TrainingView

    for m in (1, 2, 3, 9, 30, 101):
        counts = _split(m, MIXED_SHARES)
        assert sum(counts.values()) == m and min(counts.values()) >= 0
    assert _split(8, MIXED_SHARES) == MIXED_SHARES
    rng = np.random.default_rng(0)
    U = rng.random((500, 5))
    y = U.sum(axis=1)
    view = TrainingView.build(sg.Box(np.zeros(5), np.ones(5)), U, y)
    sig = TrainingSignals(view, y + 0.01 * rng.normal(size=500), rng.random(500))
    for strat in SEED_STRATEGIES:
        seeds, rows = choose_seeds(strat, 16, sig, 5, np.random.default_rng(1))
        assert seeds.shape == (16, 5) and rows.shape == (16,)
        assert np.all((seeds >= 0) & (seeds <= 1))
        on_rows = rows >= 0
        np.testing.assert_array_equal(seeds[on_rows], U[rows[on_rows]])  # row seeds are the rows, exactly
        assert len(set(rows[on_rows])) == on_rows.sum()  # no row twice


def test_deprecated_names_still_work_with_a_warning(setup):
    """The 0.1.0 keywords of detect / find_error_maximizers and the dict-style cost, for one release."""
    s, Z, X, y, _ = setup
    with pytest.warns(DeprecationWarning, match=r"detect\(error_threshold, min_density, steps=\.\.\.\) is deprecated"):
        old = detect(s, Z, X, y, oracle_budget=300, seed=0, error_threshold=1.0, min_density=1, steps=6)
    new = detect(s, Z, X, y, oracle_budget=300, seed=0, check=CheckSettings(error_threshold=1.0, min_density=1))
    np.testing.assert_array_equal(old.suspects, new.suspects)
    with pytest.warns(DeprecationWarning, match="cost is a DetectionCost"):
        assert old.cost["oracle_calls"] == old.cost.oracle_calls
    with pytest.warns(DeprecationWarning, match="bounds=.* is deprecated"):
        find_error_maximizers(s, Z, seeds=2, search=SearchSettings(steps=1), bounds=PRESET.bounds)
    with pytest.warns(DeprecationWarning, match="maximizers_only"):
        old.region_hit(sg.attacks.TriggerRegion(CENTER, RADIUS, 2 * RADIUS, PRESET.box), maximizers_only=True)
    with pytest.raises(TypeError, match=r"detect\(\) got unexpected keyword arguments \['stepz'\]"):
        detect(s, Z, X, y, oracle_budget=300, stepz=3)
    assert SearchSettings(dtype=np.float32).dtype == "float32"
