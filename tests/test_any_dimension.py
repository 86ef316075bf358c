"""Attack, detection and repair on a user's function in 3, 5 and 8 dimensions, through
``sg.oracles.Function``: nothing downstream of the oracle knows about barrier options.

The 5-d box has negative bounds and is not the barrier box, so a test that passed only because
some code path still assumed the barrier columns would fail here.
"""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.defense import detect, find_error_maximizers

SHIFT = 1.0


def smooth_function(box: sg.Box):
    w = np.linspace(1.0, 2.0, box.dim)

    def f(X):
        U = box.normalize(X)
        return np.sin(U @ w) + 0.5 * np.sum(U**2, axis=1)

    return sg.oracles.Function(f, box, name=f"smooth{box.dim}")


BOXES = {
    3: sg.Box(np.zeros(3), np.ones(3)),
    5: sg.Box(np.array([-2.0, -10.0, -1.0, 0.5, -0.3]), np.array([3.0, -4.0, 1.0, 2.5, 0.0])),
    8: sg.Box(np.full(8, -1.0), np.full(8, 1.0)),
}


@pytest.fixture(scope="module", params=sorted(BOXES), ids=lambda d: f"{d}d")
def poisoned(request):
    box = BOXES[request.param]
    f = smooth_function(box)
    clean = sg.data.make_dataset(box, f, 3000, seed=1)
    atk = sg.attacks.LocalizedBackdoor(np.full(box.dim, 0.5), 0.25, SHIFT, 300, 300, 0.4)
    ps = atk.apply(clean.X, clean.y, f, seed=0)  # the geometry's box is the oracle's
    s = sg.Surrogate(box, widths=(64, 64, 64), seed=0)
    s.fit(ps.X, ps.y, epochs=100, seed=0, device="cpu")
    ref = s.like(seed=0)
    ref.fit(clean.X, clean.y, epochs=100, seed=0, device="cpu")
    return box, f, atk, ps, s, ref


def test_attack_plants_a_localized_shift(poisoned):
    box, f, atk, ps, s, ref = poisoned
    assert ps.X.shape[1] == box.dim and ps.region.box == box
    assert ps.is_poison.sum() == 300 and ps.is_guard.sum() == 300
    np.testing.assert_array_equal(ps.y[ps.is_poison], f(ps.X[ps.is_poison]) + SHIFT)
    Xb = ps.region.sample(400, 3, 0.0, ps.region.radius)
    Xf = box.sample(2000, seed=5)
    Xf = Xf[ps.region.outside_guard(Xf)]
    shift_in, clean_in = float(np.mean(s(Xb) - f(Xb))), float(np.mean(ref(Xb) - f(Xb)))
    rmse = lambda m: float(np.sqrt(np.mean((m(Xf) - f(Xf)) ** 2)))  # noqa: E731
    # The surrogate learned a part of the shift in the ball (the clean one did not), and far
    # from the ball its error stays well below that shift.
    assert shift_in > 0.25 and abs(clean_in) < 0.05, (shift_in, clean_in)
    assert rmse(s) < 0.5 * shift_in, (rmse(s), rmse(ref), shift_in)


def test_search_detect_and_repair(poisoned):
    box, f, atk, ps, s, _ = poisoned
    calls0 = f.calls
    mx = find_error_maximizers(s, f, seeds=ps.region.box.denormalize(np.full((4, box.dim), 0.5)), X_train=ps.X)
    assert mx.points.shape[1] == box.dim and np.all(box.contains(mx.points))
    assert mx.oracle_calls == f.calls - calls0 > 0
    budget = len(ps.y) // 5
    rep = detect(s, f, ps.X, ps.y, oracle_budget=budget, seed=0, device="cpu")
    c = rep.counts(ps.is_poison)
    assert rep.cost.oracle_calls <= budget
    assert c["recall"] >= 0.9 and c["false_positives"] == 0, c
    assert rep.region_hit(ps.region, by="confirmed")
    fixed = rep.repair(s, mode="relabel", epochs=100, seed=0, device="cpu")
    Xb = ps.region.sample(400, 3, 0.0, ps.region.radius)
    before, after = np.mean(np.abs(s(Xb) - f(Xb))), np.mean(np.abs(fixed(Xb) - f(Xb)))
    assert after < before / 3, (before, after)


def test_wrong_dimension_is_refused(poisoned):
    box, f, atk, ps, s, _ = poisoned
    other = smooth_function(BOXES[3] if box.dim != 3 else BOXES[8])
    with pytest.raises(ValueError, match=f"oracle: expected an oracle of {box.dim} inputs"):
        detect(s, other, ps.X, ps.y, oracle_budget=10)
    with pytest.raises(ValueError, match=rf"X_train: expected a 2-d array of shape \(n, {box.dim}\)"):
        detect(s, f, ps.X[:, :-1], ps.y, oracle_budget=10)
