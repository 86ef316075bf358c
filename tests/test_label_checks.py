"""Noise-aware label checks: an honest Monte Carlo label re-priced by an independent Monte Carlo
oracle is not a suspect; a shifted one is; deterministic oracles keep a tight tolerance."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.defense import CheckSettings, label_tolerance, random_relabel

PAPER = sg.presets.get("paper")


def mc(seed: int):
    # One bridged step is exact for GBM barrier options (docs/monte_carlo.md): cheap, unbiased.
    return PAPER.oracle("monte_carlo", paths=8192, steps=1, seed=seed, device="cpu")


@pytest.fixture(scope="module")
def mc_labelled():
    lab = sg.data.make_dataset(PAPER, mc(1), 600, seed=3)
    y = np.array(lab.y)
    poison = np.zeros(len(y), dtype=bool)
    poison[:60] = True
    y[poison] += 10.0  # the default attack's shift
    return lab, y, poison


def test_tolerance_rule():
    s = CheckSettings()
    z, se = np.array([0.5, 50.0, 50.0]), np.array([0.0, 0.0, 0.3])
    np.testing.assert_allclose(label_tolerance(s, np.zeros((3, 5)), z, se, None),
                               [1e-6, 5e-5, 5.0 * np.sqrt(2.0) * 0.3 + 5e-5], rtol=1e-12)
    # Labels with a known standard error of their own (here exact labels: 0).
    np.testing.assert_allclose(label_tolerance(s, np.zeros((3, 5)), z, se, np.zeros(3)),
                               [1e-6, 5e-5, 5.0 * 0.3 + 5e-5], rtol=1e-12)
    assert label_tolerance(s.replace(label_tol=0.25), np.zeros((3, 5)), z, se, None).tolist() == [0.25] * 3
    custom = s.replace(label_tol=lambda X, z, zse, yse: 0.1 * np.abs(z))
    np.testing.assert_allclose(label_tolerance(custom, np.zeros((3, 5)), z, se, None), [0.05, 5.0, 5.0])
    with pytest.raises(ValueError, match="k_sigma: expected >= 0"):
        CheckSettings(k_sigma=-1.0)


def test_honest_mc_labels_pass_an_independent_mc_check(mc_labelled):
    lab, y, poison = mc_labelled
    n = len(y)
    honest = random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, lab.y, oracle_budget=n, seed=0)
    assert honest.cost.oracle_calls == n and len(honest.suspects) == 0
    # The rule of 0.1.0 (1e-6 relative, blind to noise) reports most honest MC labels.
    blind = random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, lab.y, oracle_budget=n, seed=0,
                           check=CheckSettings(k_sigma=0.0))
    assert len(blind.suspects) > 0.5 * n
    shifted = random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, y, oracle_budget=n, seed=0)
    c = shifted.counts(poison)
    assert c["true_positives"] == 60 and c["false_positives"] == 0, c


def test_given_label_stderr_is_used(mc_labelled):
    lab, y, poison = mc_labelled
    # Claiming the MC labels are exact (stderr 0) halves the variance the rule allows: still far
    # above the oracle's own noise at k = 5, so honest rows pass; with k = 1 some fail.
    exact = random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, lab.y, oracle_budget=len(y), seed=0,
                           y_stderr=np.zeros(len(y)), check=CheckSettings(k_sigma=1.0))
    loose = random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, lab.y, oracle_budget=len(y), seed=0,
                           y_stderr=lab.y_stderr, check=CheckSettings(k_sigma=1.0))
    assert len(exact.suspects) > len(loose.suspects) > 0
    with pytest.raises(ValueError, match="y_stderr: expected standard errors >= 0"):
        random_relabel(sg.Surrogate(PAPER), mc(2), lab.X, lab.y, oracle_budget=5, y_stderr=-np.ones(len(y)))


def test_deterministic_oracle_stays_tight():
    Z = PAPER.oracle()
    X = PAPER.sample(200, seed=4)
    y = Z(X) + np.where(np.arange(200) < 20, 1e-3, 0.0)
    rep = random_relabel(sg.Surrogate(PAPER), Z, X, y, oracle_budget=200, seed=0)
    assert sorted(rep.suspects.tolist()) == list(range(20))


def test_poisoned_set_carries_the_labels_stderr(mc_labelled):
    lab = mc_labelled[0]
    atk = sg.attacks.LocalizedBackdoor([0.5, 0.5, 0.3, 0.4, 0.5], 0.2, 10.0, 50, 50, 0.3)
    ps = atk.apply(lab.X, lab.y, mc(1), box=PAPER, seed=0, y_stderr=lab.y_stderr)
    assert ps.y_stderr is not None and ps.y_stderr.shape == ps.y.shape and not ps.y_stderr.flags.writeable
    # The added rows carry the labelling oracle's own standard errors (same seed: same values).
    np.testing.assert_array_equal(ps.y_stderr[ps.is_poison], mc(1).evaluate(ps.X[ps.is_poison]).stderr)
    assert atk.apply(lab.X, lab.y, mc(1), box=PAPER, seed=0).y_stderr is None
    rep = random_relabel(sg.Surrogate(PAPER), mc(2), ps.X, ps.y, oracle_budget=len(ps.y), seed=0, y_stderr=ps.y_stderr)
    c = rep.counts(ps.is_poison)
    assert c["true_positives"] == 50 and c["false_positives"] == 0, c
