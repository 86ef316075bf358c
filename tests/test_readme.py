"""The README's tour runs as written: each ```python block is executed in order, in a temp dir.

The barrier tour trains on 10 000 points for 300 epochs and prices them by Monte Carlo with
65 536 paths, so it runs under ``-m slow``; the any-dimension and active-learning blocks run in the default suite.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_three_tour_blocks():
    assert len(blocks()) == 3


def test_any_dimension_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    env = {"np": __import__("numpy"), "sg": __import__("surrogate_guard"),
           "detect": __import__("surrogate_guard.defense", fromlist=["detect"]).detect}
    exec(compile(blocks()[1], "README.md[2]", "exec"), env, ns)
    c = ns["rep"].counts(ns["ps"].is_poison)
    assert c["recall"] > 0.9 and c["false_positives"] == 0, c
    exec(compile(blocks()[2], "README.md[3]", "exec"), env, ns)  # active learning on the same function
    assert ns["res"].calls == 700 and ns["learner"].calls == 750
    assert [c for c, _, _ in ns["curve"]] == [400, 500, 600, 700]
    assert ns["again"].calls == 700 and (tmp_path / "ckpt" / "LATEST").exists()


@pytest.mark.slow
def test_barrier_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(blocks()[0], "README.md[1]", "exec"), ns)
    assert (tmp_path / "model.safetensors").exists()
    assert ns["rep"].cost.oracle_calls <= len(ns["ps"].y) // 10
