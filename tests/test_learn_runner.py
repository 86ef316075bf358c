"""``surrogate-guard learn`` end to end at a tiny size: a TOML config, every output file, a rerun
that skips finished runs, and an unfinished run resumed from its checkpoint to the same curve."""
from __future__ import annotations

import json

import pytest

from surrogate_guard.cli import main

CONFIG = """
strategies = ["random", "error-maximizers", "greedy-x"]
seeds = [0, 1]
baseline_seeds = 1
budget = 300
report_at = [200, 300]
random_single = [250]
batch_size = 50
initial = 100
validation = 100
[surrogate]
widths = [16, 16]
[fit]
epochs = 4
batch_size = 64
[test]
points = 2000
[strategy_options.error-maximizers]
steps = 2
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("learn")
    (d / "learn.toml").write_text(CONFIG)
    assert main(["learn", "--config", str(d / "learn.toml"), "--out", str(d / "out"), "--quiet"]) == 0
    return d


def test_learn_writes_curves_table_and_figure(run_dir, capsys):
    out = run_dir / "out"
    report = json.loads((out / "learning_curves.json").read_text())
    names = sorted(r["name"] for r in report["runs"])
    assert names == ["error-maximizers-0", "error-maximizers-1", "greedy-x-0", "random-0", "random-1",
                     "random-single250-0", "random-single250-1"]
    for r in report["runs"]:
        assert r["calls"] == (r["single"] or 300) and r["history"][-1]["calls"] == r["calls"]
    em = [r for r in report["runs"] if r["name"] == "error-maximizers-0"][0]
    assert [h["calls"] for h in em["history"]] == [200, 250, 300]
    assert em["history"][0]["test_rmse"] > 0
    rows = {(s["strategy"], s["calls"]): s for s in report["summary"]}
    assert rows[("random", 300)]["seeds"] == 2 and rows[("greedy-x", 300)]["seeds"] == 1
    assert rows[("random (one design)", 250)]["seeds"] == 2
    md = (out / "learning_curves.md").read_text()
    assert "| error-maximizers | 300 | 2 |" in md and "Where the time went" in md
    assert "| error-maximizers | 2 |" in md  # the time table: 2 runs
    assert (out / "learning_curves.png").stat().st_size > 10_000
    assert (out / "checkpoints" / "random-0" / "LATEST").exists()


def test_rerun_skips_finished_runs_and_resumes_unfinished_ones(run_dir):
    out = run_dir / "out"
    before = json.loads((out / "runs" / "random-1.json").read_text())
    (out / "runs" / "random-1.json").unlink()  # finished, but as if killed before its result was written
    assert main(["learn", "--config", str(run_dir / "learn.toml"), "--out", str(out), "--quiet", "--no-plot"]) == 0
    after = json.loads((out / "runs" / "random-1.json").read_text())
    assert [h["test_rmse"] for h in after["history"]] == [h["test_rmse"] for h in before["history"]]


def test_unknown_strategy_and_key_are_refused(tmp_path):
    with pytest.raises(ValueError, match="strategies"):
        main(["learn", "--strategies", "best", "--out", str(tmp_path / "o")])
    (tmp_path / "bad.toml").write_text("budgett = 3\n")
    with pytest.raises(ValueError, match="budgett"):
        main(["learn", "--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "o")])
