"""``surrogate-guard run``: the whole story on a tiny config, with real components.

The run directory holds every file; result.json is the same bytes for the same seed and again
when the run's own config.toml is fed back; report.md tells the attack, the defense's cost and the
repair; bad input is exit code 2 with nothing written; a user's "package.module:function" oracle
works in its own dimension.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from surrogate_guard.cli import main
from surrogate_guard.experiments import config as xconfig
from surrogate_guard.experiments import io as xio
from surrogate_guard.experiments.story import DEFAULT_CONFIG, SIZES

# A few hundred points and a few epochs: the backdoor does not take at this size, the files do.
TINY = {"data": {"n_train": 500}, "surrogate": {"widths": [32, 32], "fit": {"epochs": 4, "batch_size": 128}},
        "attack": {"n_poison": 50, "n_guard": 50, "radius": 0.15},
        "test": {"n_global": 300, "n_ball": 100}, "defense": {"budget_curve": [0.02, 0.05]},
        "learn": {"enabled": True, "budget": 200, "initial": 50, "validation": 50, "batch_size": 50,
                  "fit": {"epochs": 3, "batch_size": 64}}}
FILES = {"config.toml", "result.json", "timings.json", "report.md", "slices.png", "maximizers.png", "budget.png"}


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return xconfig.save_config(TINY, tmp_path_factory.mktemp("cfg") / "tiny.toml")


@pytest.fixture(scope="module")
def first(tiny, tmp_path_factory) -> Path:
    """One tiny run, progress bars on (they go to stderr)."""
    out = tmp_path_factory.mktemp("runs") / "first"
    assert main(["run", "--config", str(tiny), "--out", str(out)]) == 0
    return out


def test_the_run_writes_every_file(first):
    assert {p.name for p in first.iterdir()} == FILES
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    for name in ("slices.png", "maximizers.png", "budget.png"):
        _png(first / name)
    res = json.loads((first / "result.json").read_text(encoding="utf-8"))
    assert res["training_set"] == {"rows": 500, "oracle_calls": 500, "sampling": "uniform"}
    assert res["attack"]["poisoned_rows"] == 50 and res["attack"]["oracle_calls"] == 100
    d = res["defense"]
    assert d["oracle_calls"] <= d["oracle_budget"] == int(0.1 * res["attack"]["rows"])
    assert d["true_positives"] + d["false_negatives"] == d["n_poison"] == 50
    assert set(res["surrogates"]) == {"clean", "poisoned", "repaired"}
    assert [r["budget_fraction"] for r in res["budget_curve"] if r["kind"] == "detect"] == [0.02, 0.05, 0.1]
    assert res["learn"]["calls"] == 200 and res["false_alarm"]["rows"] == 500
    text = json.dumps(res)
    assert "seconds" not in text and "_s\"" not in text and str(first) not in text  # no timings, no paths
    t = json.loads((first / "timings.json").read_text(encoding="utf-8"))
    assert {"label clean set", "train clean surrogate", "poison", "train poisoned surrogate", "detect",
            "repair (retrain)", "active learning", "figures"} <= set(t["stages"])
    assert t["stages"]["label clean set"]["oracle_calls"] == 500
    assert {"platform", "cpu_count", "torch_threads", "surrogate_guard"} <= set(t["machine"])


def test_config_toml_is_complete(first):
    raw = tomllib.loads((first / "config.toml").read_text(encoding="utf-8"))
    assert sorted(raw) == sorted(DEFAULT_CONFIG) and raw["data"]["n_train"] == 500
    assert xconfig.load_config(first / "config.toml", DEFAULT_CONFIG)["surrogate"]["fit"]["patience"] == 60


def test_report_tells_attack_cost_and_repair(first):
    text = (first / "report.md").read_text(encoding="utf-8")
    for part in ("## What was attacked", "shifted by 10", "50 rows there", "## Did the backdoor work?",
                 "## What the defense found, and what it cost", "oracle calls allowed", "of relabelling everything",
                 "relabel every training row", "wall seconds", "## The surrogate before and after repair",
                 "| repaired |", "## Active learning", "![slices.png](slices.png)"):
        assert part in text, part


def test_same_seed_same_bytes_and_the_config_reproduces_the_run(first, tiny, tmp_path, capsys):
    capsys.readouterr()
    assert main(["run", "--config", str(tiny), "--out", str(tmp_path / "again"), "--quiet", "--json"]) == 0
    out = capsys.readouterr().out
    again = (tmp_path / "again" / "result.json").read_bytes()
    assert again == (first / "result.json").read_bytes()
    assert json.loads(out) == json.loads(again)  # --json: result.json on stdout, nothing else
    assert main(["run", "--config", str(first / "config.toml"), "--out", str(tmp_path / "re"), "--quiet"]) == 0
    assert (tmp_path / "re" / "result.json").read_bytes() == again
    printed = capsys.readouterr().out
    assert "| poisoned |" in printed and f"report: {tmp_path / 're' / 'report.md'}" in printed


def test_a_rerun_replaces_the_run_directory_whole(tiny, tmp_path):
    out = tmp_path / "run"
    seeded = xconfig.save_config({**TINY, "learn": {"enabled": False}, "defense": {"false_alarm": False}},
                                 tmp_path / "c.toml")
    assert main(["run", "--config", str(seeded), "--out", str(out), "--quiet", "--seed", "3"]) == 0
    assert json.loads((out / "result.json").read_text())["seed"] == 3 and (out / "report.md").exists()
    (out / "stale.txt").write_text("from before")
    assert main(["run", "--config", str(seeded), "--out", str(out), "--quiet", "--seed", "4"]) == 0
    assert {p.name for p in out.iterdir()} == FILES
    assert json.loads((out / "result.json").read_text())["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "run"]


def test_staged_dir_leaves_nothing_when_the_run_fails(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "result.json").write_text("{}")
    with pytest.raises(RuntimeError, match="half way"):
        with xio.staged_dir(old) as tmp:
            (tmp / "result.json").write_text('{"new": 1}')
            raise RuntimeError("half way")
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and (old / "result.json").read_text() == "{}"


BAD = [
    ("[attack]\nradus = 0.1\n",
     r"config.attack.radus: unknown key 'radus' (did you mean 'radius'?); expected one of ['center'"),
    ('[data]\nn_train = "many"\n', "config.data.n_train: expected an int, got str 'many'"),
    ('[data]\noracle = "no.such.module:fn"\n', "config.data.oracle: cannot import module 'no.such.module'"),
    ('[data]\noracle = "json:dumps"\n', "config.data.box: the user oracle 'json:dumps' needs its box"),
    ('[data]\nbox = {bounds = [[0.0, 1.0]]}\n', "config.data.box: a box is only for a user oracle"),
    ("[attack]\ncenter = [0.5, 0.5]\n", "config.attack: center: expected 5 coordinates for this box, got 2"),
    ('[defense]\nstrategy = "psychic"\n', "config.defense.strategy: expected one of ("),
    ("[defense.check]\nk_sigmaa = 3.0\n", "config.defense.check.k_sigmaa: unknown key 'k_sigmaa' (did you mean 'k_sigma'?)"),
    ("[surrogate.fit]\nepochs = 0\n", "config.surrogate.fit.epochs: expected a value >= 1, got 0"),
    ("[surrogate]\nwidths = [64, 1.5]\n", "config.surrogate.widths[1]: expected an int, got float 1.5"),
    ("[learn]\nenabled = 1\n", "config.learn.enabled: expected true or false, got int 1"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_input_is_exit_code_2_and_writes_nothing(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet"], report_errors=True) == 2
    err = capsys.readouterr().err
    assert err.startswith("surrogate-guard: error: ") and message in err, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_the_console_script_reports_errors_with_exit_code_2(tmp_path):
    """The real command line (argv from sys.argv): a message on stderr, no traceback, exit code 2."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[attack]\nradus = 0.1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "surrogate_guard.cli", "run", "--config", str(cfg), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "did you mean 'radius'?" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_out_that_is_not_a_run_directory_is_refused(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["run", "--out", str(tmp_path / "mine")], report_errors=True) == 2
    assert "is a folder that is not a run directory" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    with pytest.raises(ValueError, match="not a run directory"):  # a caller passing argv gets the exception
        main(["run", "--out", str(tmp_path / "mine")])


def test_a_user_oracle_package_module_function(tmp_path, monkeypatch):
    (tmp_path / "my_oracles").mkdir()
    (tmp_path / "my_oracles" / "__init__.py").write_text("")
    (tmp_path / "my_oracles" / "bowl.py").write_text(
        "import numpy as np\n\ndef bowl(X):\n    return X[:, 0] ** 2 + np.sin(3 * X[:, 1])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = {**TINY, "data": {"oracle": "my_oracles.bowl:bowl", "n_train": 400,
                            "box": {"bounds": [[-1.0, 1.0], [0.0, 2.0]], "names": ["x", "t"]}},
           "attack": {"center": [0.5, 0.5], "radius": 0.15, "shift": 1.0, "n_poison": 40, "n_guard": 40},
           "learn": {"enabled": False}}
    path = xconfig.save_config(cfg, tmp_path / "user.toml")
    out = tmp_path / "user_run"
    assert main(["run", "--config", str(path), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["oracle"] == "my_oracles.bowl:bowl" and res["box"]["names"] == ["x", "t"]
    assert res["training_set"]["oracle_calls"] == 400 and len(res["attack"]["center_raw"]) == 2
    assert {p.name for p in out.iterdir()} == FILES
    _png(out / "slices.png")
    assert "my_oracles.bowl:bowl" in (out / "report.md").read_text()
    back = tomllib.loads((out / "config.toml").read_text())
    assert back["data"]["box"] == cfg["data"]["box"]


def test_demo_is_run_at_the_demo_size(monkeypatch):
    from surrogate_guard.experiments import story

    seen = {}
    monkeypatch.setattr(story, "run", lambda args: seen.update(vars(args)) or 0)
    assert main(["demo"]) == 0
    assert seen["size"] == "demo" and seen["out"] == "runs/demo" and seen["config"] is None
    assert main(["run"]) == 0
    assert seen["size"] == "full" and seen["out"] == "runs/run"
    demo = xconfig.merge(DEFAULT_CONFIG, SIZES["demo"])
    assert demo["data"]["n_train"] < DEFAULT_CONFIG["data"]["n_train"] and demo["learn"]["enabled"] is False


def test_no_poison_and_no_budget_curve_still_tell_the_story(tmp_path):
    """n_poison 0 (only guards): recall is undefined and written as null; the figures still come."""
    cfg = {**TINY, "attack": {"n_poison": 0, "n_guard": 30, "radius": 0.15}, "learn": {"enabled": False},
           "defense": {"budget_curve": [], "strategy": "residual", "repair_mode": "drop"}}
    out = tmp_path / "none"
    assert main(["run", "--config", str(xconfig.save_config(cfg, tmp_path / "c.toml")), "--out", str(out),
                 "--quiet"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["defense"]["n_poison"] == 0 and res["defense"]["recall"] is None and res["learn"] is None
    assert [r["budget_fraction"] for r in res["budget_curve"]] == [0.1, 0.1]
    _png(out / "budget.png")
