"""Baseline active-learning strategies (GSx, iGS, query by committee): each spends exactly n new
oracle calls and returns what it paid for, is reproducible from the learner's rng, and does what
its criterion says (GSx far from the data, iGS equal to a brute-force reference, the committee
where its members disagree)."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.active import ActiveLearner
from surrogate_guard.active.baselines import (Committee, GreedyX, ImprovedGreedy, committee_variance, greedy_reference,
                                              gsx_select, igs_select, separated_top)
from surrogate_guard.active.strategies import LearnerState
from surrogate_guard.oracles.budgeted import BudgetedOracle

BOX = sg.Box(np.zeros(2), np.ones(2))
PAPER = sg.presets.get("paper")
FIT = {"epochs": 30, "batch_size": 32, "device": "cpu"}


def bumpy(X):
    U = BOX.normalize(X)
    return U.sum(axis=1) + 3.0 * np.exp(-np.sum((U - 0.8) ** 2, axis=1) / (2 * 0.05**2))


def problem(name):
    """(box, a fresh oracle): the 2-d bump, or the paper preset's analytic barrier pricer (5-d)."""
    if name == "bump":
        return BOX, sg.oracles.Function(bumpy, BOX)
    return PAPER.box, PAPER.oracle()


def make_state(name="bump", seed=0, n_train=40):
    """A learner's state after an initial Sobol' design, the surrogate fitted on it."""
    box, f = problem(name)
    oracle = BudgetedOracle(f)
    X = box.sample(n_train, seed=seed + 11, method="sobol")
    y = np.array(oracle(X))
    sur = sg.Surrogate(PAPER if name == "paper" else box, widths=(16, 16), seed=seed)
    sur.fit(X, y, seed=seed, **FIT)
    return LearnerState(box, sur, X, y, oracle, np.random.default_rng([seed, 7]), 0)


def small(kind):
    return {"greedy-x": lambda: GreedyX(pool=2000), "igs": lambda: ImprovedGreedy(pool=2000),
            "committee": lambda: Committee(members=3, steps=120, batch_size=32, pool=2000, ascent_steps=5)}[kind]()


@pytest.mark.parametrize("name", ["bump", "paper"])
@pytest.mark.parametrize("kind", ["greedy-x", "igs", "committee"])
def test_spends_exactly_n_and_returns_what_it_paid_for(kind, name):
    state, n = make_state(name), 24
    strategy = small(kind)
    before = state.oracle.calls
    got = strategy.propose(state, n)
    assert strategy.name == kind
    assert state.oracle.calls - before == n
    assert got.X.shape == (n, state.box.dim) and got.z.shape == got.stderr.shape == (n,)
    assert len(np.unique(got.X, axis=0)) == n
    assert state.box.contains(got.X).all()
    assert not ({r.tobytes() for r in got.X} & {r.tobytes() for r in state.X})  # new points only
    direct = problem(name)[1].evaluate(got.X)
    np.testing.assert_array_equal(got.z, direct.price)
    np.testing.assert_array_equal(got.stderr, direct.stderr)


@pytest.mark.parametrize("kind", ["greedy-x", "igs", "committee"])
def test_same_seed_same_proposal_bitwise(kind):
    a = small(kind).propose(make_state(seed=3), 16)
    b = small(kind).propose(make_state(seed=3), 16)
    c = small(kind).propose(make_state(seed=4), 16)
    assert a.X.tobytes() == b.X.tobytes() and a.z.tobytes() == b.z.tobytes()
    assert a.X.tobytes() != c.X.tobytes()


@pytest.mark.parametrize("kind", ["greedy-x", "igs", "committee"])
def test_a_pool_smaller_than_the_batch_grows(kind):
    strategy = small(kind)
    strategy.pool = 3
    state = make_state()
    got = strategy.propose(state, 10)
    assert len(got.X) == len(np.unique(got.X, axis=0)) == 10


def test_gsx_is_farther_from_the_training_set_than_random():
    """Mean min-distance to the training set: GSx's picks beat an equal number of random pool points."""
    from scipy.spatial import cKDTree

    for name in ("bump", "paper"):
        state = make_state(name)
        tree = cKDTree(state.box.normalize(state.X))
        got = GreedyX(pool=4000).propose(state, 30)
        rand = state.box.normalize(state.box.sample(30, seed=5))
        d_gsx, d_rand = tree.query(state.box.normalize(got.X))[0], tree.query(rand)[0]
        assert d_gsx.mean() > 1.5 * d_rand.mean(), (name, d_gsx.mean(), d_rand.mean())
        assert d_gsx.min() > np.median(d_rand), (name, d_gsx.min(), np.median(d_rand))


@pytest.mark.parametrize("d", [2, 5])
def test_igs_and_gsx_equal_the_brute_force_reference(d):
    """Tiny pool (200 candidates, 5 picks); iGS's initial min in 7-row chunks, so chunking is exercised."""
    rng = np.random.default_rng(d)
    U, T = rng.random((200, d)), rng.random((30, d))
    f, y = rng.normal(size=200), rng.normal(size=30)
    fast = igs_select(U, f, T, y, 5, chunk_bytes=7 * 16 * 30)
    ref = greedy_reference(U, T, 5, f, y)
    np.testing.assert_array_equal(fast, ref, err_msg=f"U={U!r}\nT={T!r}\nf={f!r}\ny={y!r}")
    np.testing.assert_array_equal(igs_select(U, f, T, y, 5), ref)
    np.testing.assert_array_equal(gsx_select(U, T, 5), greedy_reference(U, T, 5))
    # No training set: the first pick is the first candidate (every score infinite), then greedy.
    np.testing.assert_array_equal(gsx_select(U, T[:0], 5), greedy_reference(U, T[:0], 5))
    assert len(set(fast)) == 5


def test_igs_proposal_is_the_greedy_pick_on_its_pool():
    """The strategy's points are igs_select's on the pool it drew (same rng), priced once."""
    from surrogate_guard.active.baselines import _pool

    state, twin = make_state(seed=1), make_state(seed=1)
    got = ImprovedGreedy(pool=500).propose(state, 6)
    X, U = _pool(twin, 500)
    idx = igs_select(U, twin.surrogate.predict(X), twin.box.normalize(twin.X), twin.y, 6)
    np.testing.assert_array_equal(got.X, X[idx])


def test_committee_picks_where_members_disagree():
    state = make_state(n_train=30)
    strategy = Committee(members=4, steps=150, batch_size=32, pool=2000, ascent_steps=10)
    got = strategy.propose(state, 12)
    assert strategy.last_fit_s > 0 and len(strategy.last_members) == 4
    chosen = committee_variance(strategy.last_members, state.box.normalize(got.X))
    rand = committee_variance(strategy.last_members, np.random.default_rng(9).random((500, 2)))
    assert np.median(chosen) > np.quantile(rand, 0.9), (np.median(chosen), np.quantile(rand, 0.9))
    U = state.box.normalize(got.X)
    gaps = np.sqrt(((U[:, None] - U[None]) ** 2).sum(-1))[np.triu_indices(12, 1)]
    assert gaps.min() >= strategy.separation


def test_separated_top_keeps_its_distance_and_fills():
    U = np.array([[0.0, 0.0], [0.001, 0.0], [0.5, 0.5], [0.002, 0.0]])
    v = np.array([4.0, 3.0, 2.0, 1.0])
    np.testing.assert_array_equal(separated_top(U, v, 2, 0.1), [0, 2])
    np.testing.assert_array_equal(separated_top(U, v, 4, 0.1), [0, 2, 1, 3])  # filled by variance


@pytest.mark.parametrize("make, match", [
    (lambda: GreedyX(pool=0), r"pool: expected an int >= 1, got 0"),
    (lambda: ImprovedGreedy(pool=-5), r"pool: expected an int >= 1, got -5"),
    (lambda: Committee(members=1), r"members: expected an int >= 2, got 1"),
    (lambda: Committee(steps=0), r"steps: expected an int >= 1, got 0"),
    (lambda: Committee(batch_size=0), r"batch_size: expected an int >= 1, got 0"),
    (lambda: Committee(ascent_steps=-1), r"ascent_steps: expected an int >= 0, got -1"),
    (lambda: Committee(step_size=0.0), r"step_size: expected > 0, got 0.0"),
    (lambda: Committee(separation=-0.1), r"separation: expected >= 0, got -0.1"),
    (lambda: Committee(pool=0), r"pool: expected an int >= 1, got 0"),
])
def test_bad_options_name_themselves(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_option_types_name_themselves():
    with pytest.raises(TypeError, match=r"pool: expected an int, got float 2.5"):
        GreedyX(pool=2.5)
    with pytest.raises(TypeError, match=r"members: expected an int, got bool True"):
        Committee(members=True)
    state = make_state()
    state = LearnerState(state.box, state.surrogate, state.X[:1], state.y[:1], state.oracle, state.rng, 0)
    with pytest.raises(ValueError, match=r"state: the committee needs a training set of at least 2 points, got 1"):
        small("committee").propose(state, 4)


@pytest.mark.parametrize("kind", ["greedy-x", "igs", "committee"])
def test_candidates_need_no_oracle_and_are_what_propose_prices(kind):
    """``candidates`` (the learner's ask) with no oracle; ``propose`` prices exactly those points."""
    paid = make_state(seed=2)
    blind = LearnerState(paid.box, paid.surrogate, paid.X, paid.y, None, np.random.default_rng([2, 7]), 0)
    X = small(kind).candidates(blind, 8)
    assert X.shape == (8, 2) and len(np.unique(X, axis=0)) == 8 and BOX.contains(X).all()
    np.testing.assert_array_equal(small(kind).propose(paid, 8).X, X)
    with pytest.raises(ValueError, match=r"state: \w+\.propose needs the learner's oracle, got None"):
        small(kind).propose(blind, 8)


def test_learner_runs_greedy_x_for_two_rounds():
    f = sg.oracles.Function(bumpy, BOX)
    lr = ActiveLearner(f, BOX, surrogate=sg.Surrogate(BOX, widths=(16, 16)), strategy=GreedyX(pool=2000),
                       batch_size=20, initial=30, validation=50, seed=0, fit=FIT)
    res = lr.run(budget=30 + 50 + 2 * 20)
    assert res.stopped_by == "budget" and res.calls == f.calls == 120
    assert len(res.history) == 3  # the initial design's record, then two rounds
    assert len(lr.data.y) == len(np.unique(lr.data.X, axis=0)) == 70
    np.testing.assert_array_equal(lr.data.y, bumpy(lr.data.X))
