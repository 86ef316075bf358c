"""The learner's contract beyond strategies: ask/tell, fine-tuning, checkpoints that resume
exactly (a process killed after a checkpoint ends like an uninterrupted run, bit for bit), and bad
input refused with nothing written half-way."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import surrogate_guard as sg
from surrogate_guard.active import ActiveLearner

BOX = sg.Box(np.zeros(2), np.ones(2))
FIT = {"epochs": 40, "batch_size": 64, "device": "cpu"}


def fn(X):
    U = BOX.normalize(X)
    return U.sum(axis=1) + 3.0 * np.exp(-np.sum((U - 0.8) ** 2, axis=1) / (2 * 0.05**2))


def make(strategy="error-maximizers", oracle=True, **kw):
    args = dict(surrogate=sg.Surrogate(BOX, widths=(16, 16)), strategy=strategy, batch_size=48, initial=40,
                validation=60, seed=3, fit=FIT)
    args.update(kw)
    return ActiveLearner(sg.oracles.Function(fn, BOX) if oracle else None, BOX, **args)


def test_ask_tell_without_an_oracle():
    lr = make("random", oracle=False)
    X0 = lr.ask(40)  # the initial design
    assert X0.shape == (40, 2) and BOX.contains(X0).all()
    lr.tell(X0, fn(X0))
    X1 = lr.ask()  # fits first, then asks the strategy
    assert X1.shape == (48, 2) and len(lr.history) == 1 and lr.calls == 40
    lr.tell(X1, fn(X1), stderr=np.full(48, 0.01))
    assert lr.calls == 88 and len(lr.data.y) == 88
    with pytest.raises(ValueError, match="oracle"):
        lr.step()


def test_ask_with_error_maximizers_gives_moves_near_the_worst_fit_points():
    lr = make(oracle=False)
    X0 = lr.ask(40)
    lr.tell(X0, fn(X0))
    X = lr.ask(30)
    assert X.shape == (30, 2) and BOX.contains(X).all()


def test_finetune_continues_from_the_weights_and_stays_accurate():
    lr = make("random", update="finetune", finetune_steps=100)
    res = lr.run(budget=250)
    assert res.calls == 250 and res.history[-1].val_rmse < res.history[0].val_rmse * 1.5
    assert np.isfinite(res.history[-1].val_rmse)


def test_run_reports_a_test_set_and_wall_time():
    Xt = BOX.sample(500, seed=9)
    lr = make("random", test=(Xt, fn(Xt)))
    h = lr.run(budget=200).history
    assert all(np.isfinite(r.test_rmse) and r.test_worst >= r.test_rmse for r in h)
    assert [r.wall_s for r in h] == sorted(r.wall_s for r in h)


def _same(a: ActiveLearner, b: ActiveLearner) -> None:
    np.testing.assert_array_equal(a.data.X, b.data.X)
    np.testing.assert_array_equal(a.data.y, b.data.y)
    Xt = BOX.sample(300, seed=1)
    np.testing.assert_array_equal(a.surrogate.predict(Xt), b.surrogate.predict(Xt))
    assert [r.calls for r in a.history] == [r.calls for r in b.history]
    assert [r.val_rmse for r in a.history] == [r.val_rmse for r in b.history]


@pytest.mark.parametrize("strategy", ["error-maximizers", "random"])
def test_save_load_and_resume_in_process(tmp_path, strategy):
    whole = make(strategy)
    whole.run(budget=300)
    part = make(strategy)
    part.run(budget=196, checkpoint=tmp_path / "ck")  # 100 + 2 rounds of 48
    assert (tmp_path / "ck" / "LATEST").read_text().strip() == "round-000002"
    resumed = ActiveLearner.load(tmp_path / "ck", sg.oracles.Function(fn, BOX))
    resumed.run(budget=300)
    _same(whole, resumed)
    again = make(strategy)
    again.run(budget=300, resume_from=tmp_path / "ck")
    _same(whole, again)


KILLED = textwrap.dedent("""
    import os, sys, numpy as np, torch
    sys.path.insert(0, {tests!r})
    torch.set_num_threads({threads})
    from test_active_learner import make
    lr = make()
    def die(r):
        if r.round == 2:
            os._exit(17)  # killed after the round-2 checkpoint, nothing flushed or closed
        return True
    lr.run(budget=400, checkpoint={ck!r}, callback=die)
""")


def test_a_killed_run_resumes_bit_for_bit(tmp_path):
    ck = str(tmp_path / "ck")
    code = KILLED.format(tests=str(Path(__file__).parent), threads=torch.get_num_threads(), ck=ck)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 17, proc.stderr[-2000:]
    whole = make()
    whole.run(budget=400)
    resumed = make()
    resumed.run(budget=400, resume_from=ck)
    _same(whole, resumed)
    assert resumed.strategy.breadth_share == whole.strategy.breadth_share


def test_checkpoint_of_another_learner_or_oracle_is_refused(tmp_path):
    lr = make("random")
    lr.run(budget=148, checkpoint=tmp_path / "ck")
    with pytest.raises(ValueError, match="batch_size"):
        make("random", batch_size=32).run(budget=300, resume_from=tmp_path / "ck")
    other_box = sg.Box(np.zeros(2), np.full(2, 2.0))
    other = ActiveLearner(sg.oracles.Function(fn, other_box), other_box, surrogate=sg.Surrogate(other_box, widths=(16, 16)),
                          strategy="random", batch_size=48, initial=40, validation=60, seed=3, fit=FIT)
    with pytest.raises(ValueError, match="box"):
        other.run(budget=300, resume_from=tmp_path / "ck")
    shifted = ActiveLearner(sg.oracles.Function(lambda X: fn(X) + 1.0, BOX), BOX,
                            surrogate=sg.Surrogate(BOX, widths=(16, 16)), strategy="random", batch_size=48,
                            initial=40, validation=60, seed=3, fit=FIT)
    with pytest.raises(ValueError, match="another oracle"):
        shifted.run(budget=300, resume_from=tmp_path / "ck")
    assert shifted.calls == 0 and not len(shifted.data.y)  # nothing changed by the refused restore
    paper = sg.presets.get("paper")
    mc = ActiveLearner(paper.oracle(), paper, surrogate=sg.Surrogate(paper), strategy="random")
    with pytest.raises(ValueError, match="another learner"):
        mc.run(budget=5000, resume_from=tmp_path / "ck")
    with pytest.raises(ValueError, match="not a learner checkpoint"):
        make().run(budget=300, resume_from=tmp_path)


def test_bad_input_is_refused_before_anything_is_priced(tmp_path):
    lr = make()
    with pytest.raises(ValueError, match="budget"):
        lr.run(budget=99)  # the initial design (40) and validation (60) need 100
    assert lr.calls == 0
    with pytest.raises(ValueError, match="batch_size"):
        make(batch_size=0)
    with pytest.raises(ValueError, match="update"):
        make(update="sometimes")
    with pytest.raises(ValueError, match="strategy"):
        make("best")
    with pytest.raises(ValueError, match="surrogate"):
        make(surrogate=sg.Surrogate(sg.Box(np.zeros(3), np.ones(3))))
    X = BOX.sample(5, seed=0)
    with pytest.raises(ValueError, match="y"):
        lr.tell(X, np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        lr.tell(X, np.array([1.0, np.nan, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="stderr"):
        lr.tell(X, np.ones(5), stderr=-np.ones(5))
    with pytest.raises(ValueError, match="X"):
        lr.tell(np.ones((5, 3)), np.ones(5))
    assert lr.calls == 0 and not len(lr.data.y)  # none of the refused tells added anything
    with pytest.raises(TypeError, match="callback"):
        lr.run(budget=200, callback=3)
    with pytest.raises(ValueError, match="deadline"):
        lr.run(budget=200, deadline=-1)
    assert not (tmp_path / "ck").exists()


def test_monte_carlo_and_budgeted_oracles_keep_their_standard_errors():
    paper = sg.presets.get("paper")
    mc = paper.oracle("monte_carlo", paths=256, steps=8, seed=1)
    outer = sg.oracles.BudgetedOracle(mc, budget=500)  # a caller's own budget layer under the learner's
    lr = ActiveLearner(outer, paper, surrogate=sg.Surrogate(paper, widths=(16,)), strategy="error-maximizers",
                       batch_size=40, initial=40, validation=40, seed=0, fit={"epochs": 3, "device": "cpu"})
    res = lr.run(budget=200, progress=False)
    assert res.calls == lr.calls == outer.calls == 200
    X, z, se = outer.known()
    assert len(lr.data.se) == 160 and (lr.data.se > 0).any()
    row = {r.tobytes(): i for i, r in enumerate(X)}
    idx = [row[r.tobytes()] for r in lr.data.X]  # every training label is the oracle's, with its stderr
    np.testing.assert_array_equal(lr.data.y, z[idx])
    np.testing.assert_array_equal(lr.data.se, se[idx])
