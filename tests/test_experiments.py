"""The experiments and the command line on tiny configs: the files they write, their invariants
(oracle calls within budget, counts that add up), seeds in worker processes, config errors."""
from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

import surrogate_guard as sg
from surrogate_guard.cli import main
from surrogate_guard.experiments import config as xconfig
from surrogate_guard.experiments import runner
from surrogate_guard.experiments.attack import DEFAULT_CONFIG as ATTACK_CONFIG
from surrogate_guard.experiments.defend import DEFAULT_CONFIG as DEFEND_CONFIG

ATTACK_TINY = {"n_train": 400, "fit": {"epochs": 2, "batch_size": 128},
               "attack": {"n_poison": 30, "n_guard": 20, "radius": 0.15, "guard_radius": 0.3},
               "test": {"n_global": 300, "n_ball": 50}, "seeds": [0]}
DEFEND_TINY = {"preset": "mild", "n_train": 600, "fit": {"epochs": 3, "batch_size": 128},
               "attack": {"n_poison": 60, "n_guard": 60, "radius": 0.1, "guard_radius": 0.2},
               "test": {"n_global": 300, "n_ball": 100}, "seeds": [0],
               "defense": {"budget_fractions": [0.1], "strategies": ["mixed", "random"],
                           "sweep": {"radius": [0.1], "shift": [5.0], "n_poison": [40]}}}


def _write(tmp_path, cfg: dict, name: str = "cfg.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return str(path)


def _png(path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000, path


def _check_detection_row(r: dict) -> None:
    """Counts add up, rates follow from them, and no method spends more than its budget."""
    assert r["true_positives"] + r["false_negatives"] == r["n_poison"], r
    assert r["true_positives"] + r["false_positives"] == r["n_suspects"], r
    assert r["recall"] == pytest.approx(r["true_positives"] / r["n_poison"]), r
    assert r["fpr"] == pytest.approx(r["false_positives"] / r["n_clean"]), r
    assert r["oracle_calls"] <= r["oracle_budget"], r
    if r["method"] == "neighbour_outliers":
        assert r["oracle_calls"] == 0


def test_attack_cli_tiny_run(tmp_path):
    cfg = _write(tmp_path, ATTACK_TINY)
    out = tmp_path / "out"
    assert main(["attack", "--config", cfg, "--out", str(out), "--sweep-guards", "0,20", "--control"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert [r["n_guard"] for r in rep["runs"]] == [-1, 0, 20]  # -1: clean surrogate, other seed
    assert set(rep["summary"]) == {"-1", "0", "20"} and rep["config"]["n_train"] == 400
    assert rep["config"]["fit"]["patience"] == 60 and rep["config"]["device"] == "cpu"
    for r in rep["runs"][1:]:
        assert r["clean_oracle_calls"] == 400 and r["attack_oracle_calls"] == 30 + r["n_guard"]
        assert r["n_ball"] > 0 and r["rmse_far"] > 0
    table = (out / "table.md").read_text()
    assert "| clean, other seed | 1 |" in table and "| 20 | 1 |" in table and "patience 60" in table
    _png(out / "plot.png")
    back = sg.Surrogate.load(out / "models" / "poisoned_g20.safetensors")
    assert back.widths == (64, 64, 64, 64) and back.box == sg.presets.get("paper").box
    ps = np.load(out / "models" / "poisoned_set_g20.npz")
    assert ps["X"].shape == (len(ps["y"]), 5) and ps["is_poison"].sum() == 30 and ps["is_guard"].sum() == 20

    bad = _write(tmp_path, {"fit": {"epoch": 3}}, "bad.json")
    with pytest.raises(ValueError, match=r"config\.fit\.epoch: unknown key 'epoch'"):
        main(["attack", "--config", bad, "--out", str(out)])
    with pytest.raises(ValueError, match=r"--sweep-guards: expected comma-separated integers, got '1,x'"):
        main(["attack", "--config", cfg, "--out", str(out), "--sweep-guards", "1,x"])
    with pytest.raises(ValueError, match=r"config\.seeds: expected a non-empty list .*got \[\]"):
        main(["attack", "--config", _write(tmp_path, {"seeds": []}, "none.json"), "--out", str(out)])
    with pytest.raises(ValueError, match=r"oracle: kind expected one of .*got 'exact'"):
        main(["attack", "--config", _write(tmp_path, {"oracle": "exact"}, "exact.json"), "--out", str(out)])


def test_attack_seeds_in_worker_processes_match_one_process(tmp_path):
    """--jobs 2 (spawned workers, 1 torch thread each) gives the rows of --jobs 1, bit for bit."""
    cfg = _write(tmp_path, {**ATTACK_TINY, "seeds": [0, 1]})
    runs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        assert main(["attack", "--config", cfg, "--out", str(out), "--jobs", jobs, "--no-plot"]) == 0
        rows = json.loads((out / "report.json").read_text())["runs"]
        for r in rows:
            for key in ("fit_clean", "fit_poisoned"):
                r[key].pop("seconds")
        runs.append(rows)
        assert (out / "models" / "clean.safetensors").exists() and not (out / "plot.png").exists()
    assert [r["seed"] for r in runs[0]] == [0, 1]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match=r"jobs: expected an int >= 1 \(processes\), got 0"):
        main(["attack", "--config", cfg, "--out", str(tmp_path / "j0"), "--jobs", "0"])


def test_defend_cli_tiny_run(tmp_path):
    """The `defend` subcommand end to end: report, table and plots; then --sweep."""
    cfg = _write(tmp_path, DEFEND_TINY)
    assert main(["defend", "--config", cfg, "--out", str(tmp_path / "d")]) == 0
    rep = json.loads((tmp_path / "d" / "report.json").read_text())
    assert rep["config"]["defense"]["search"]["steps"] == 6 and rep["config"]["defense_oracle"] is None
    res = rep["results"][0]
    assert {r["method"] for r in res["rows"]} >= {"mixed", "random", "random_relabel", "neighbour_outliers"}
    assert all(r["oracle_budget"] == max(1, int(0.1 * 720)) for r in res["rows"] if r["kind"] == "detect")
    for r in res["rows"]:
        _check_detection_row(r)
    mc = res["main_counts"]
    assert mc["true_positives"] + mc["false_negatives"] == mc["n_poison"] == 60
    assert res["main"]["cost"]["oracle_calls"] <= res["main_oracle_budget"] == 72
    assert res["main"]["settings"]["search"] == rep["config"]["defense"]["search"]
    fa = res["false_alarm"]
    assert fa["rows"] == 600 and fa["oracle_calls"] <= fa["oracle_budget"]
    assert fa["false_positives"] == fa["suspect_rows"] and fa["false_positive_rate"] == fa["suspect_rows"] / 600
    assert set(res["ball_error"]) == {"clean", "poisoned", "repaired"}
    table = (tmp_path / "d" / "table.md").read_text()
    assert "| mixed | 10% |" in table and "random_relabel (baseline)" in table and "honest rows reported" in table
    _png(tmp_path / "d" / "budget.png")
    _png(tmp_path / "d" / "maximizers.png")

    assert main(["defend", "--config", cfg, "--out", str(tmp_path / "s"), "--sweep"]) == 0
    sweep = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [(r["vary"], r["value"]) for r in sweep["rows"]] == [("radius", 0.1), ("shift", 5.0), ("n_poison", 40)]
    for r in sweep["rows"]:
        _check_detection_row(r)
    assert sweep["rows"][2]["n_poison"] == 40
    assert "| n_poison | 40 | 1 |" in (tmp_path / "s" / "sweep.md").read_text()


def test_defend_with_noisy_labels_and_another_defense_oracle(tmp_path):
    """Monte Carlo labels (seed 0) checked against Monte Carlo of another seed: every row and the
    false-alarm run report counts, within budget."""
    mc = {"kind": "monte_carlo", "paths": 2048, "steps": 1, "seed": 0, "device": "cpu"}
    cfg = {**DEFEND_TINY, "oracle": mc, "defense_oracle": {**mc, "seed": 7},
           "defense": {"budget_fractions": [0.1], "strategies": ["mixed"]}}
    assert main(["defend", "--config", _write(tmp_path, cfg), "--out", str(tmp_path / "m"), "--no-plot"]) == 0
    rep = json.loads((tmp_path / "m" / "report.json").read_text())
    assert rep["config"]["oracle"] == mc and rep["config"]["defense_oracle"]["seed"] == 7
    res = rep["results"][0]
    for r in res["rows"]:
        _check_detection_row(r)
    assert set(res["main_counts"]) >= {"true_positives", "false_positives", "false_negatives", "n_poison"}
    fa = res["false_alarm"]
    assert fa["rows"] == 600 and 0 < fa["oracle_calls"] <= fa["oracle_budget"]
    assert fa["false_positives"] == fa["suspect_rows"] >= fa["confirmed_rows"]
    table = (tmp_path / "m" / "table.md").read_text()
    assert "Labels from monte_carlo(paths=2048, steps=1, seed=0" in table and "seed=7" in table
    assert not (tmp_path / "m" / "budget.png").exists()


def test_the_checks_and_the_false_alarm_run_use_the_defense_oracle(tmp_path):
    """With no tolerance for noise (k_sigma 0), labels of MC seed 0 checked against MC seed 7 look
    wrong wherever a clean row is checked; against the same spec (defense_oracle null) they agree
    bit for bit (the engine is deterministic per point), so no clean row is reported."""
    mc = {"kind": "monte_carlo", "paths": 1024, "steps": 1, "seed": 0, "device": "cpu"}
    strict = {"budget_fractions": [0.1], "strategies": ["residual"], "main_strategy": "residual",
              "check": {"k_sigma": 0.0, "rel_tol": 1e-12}}
    found = {}
    for name, d_oracle in (("other", {**mc, "seed": 7}), ("same", None)):
        cfg = {**DEFEND_TINY, "oracle": mc, "defense_oracle": d_oracle, "defense": strict}
        out = tmp_path / name
        assert main(["defend", "--config", _write(tmp_path, cfg, f"{name}.json"), "--out", str(out), "--no-plot"]) == 0
        res = json.loads((out / "report.json").read_text())["results"][0]
        relabel = next(r for r in res["rows"] if r["method"] == "random_relabel")
        found[name] = (relabel["false_positives"], res["false_alarm"]["confirmed_rows"])
    assert found["same"] == (0, 0), found
    assert found["other"][0] > 0 and found["other"][1] > 0, found


def test_quality_cli_tiny_run(tmp_path):
    cfg = _write(tmp_path, {"fit": {"epochs": 2, "batch_size": 128}})
    out = tmp_path / "q"
    assert main(["quality", "--config", cfg, "--out", str(out), "--sizes", "200,300", "--seeds", "2",
                 "--n-test", "400", "--presets", "paper,mild"]) == 0
    rep = json.loads((out / "report.json").read_text())
    keys = [(r["preset"], r["n_train"], r["seed"]) for r in rep["runs"]]
    assert keys == [(p, n, s) for p in ("paper", "mild") for n in (200, 300) for s in (0, 1)]
    for r in rep["runs"]:
        assert 0 < r["rmse"] <= r["max_abs_err"] and len(r["worst_point"]) == 5
    table = (out / "table.md").read_text()
    assert table.count("\n| paper |") == 2 and table.count("\n| mild |") == 2
    with pytest.raises(ValueError, match=r"name: expected one of \('paper', 'mild'\), got 'nope'"):
        main(["quality", "--out", str(out), "--presets", "paper,nope"])


def test_price_prints_every_oracle(capsys):
    """`price` (the pricing demo, `demo` before `run` existed)."""
    assert main(["price", "--n", "4", "--mc-paths", "1024", "--mc-steps", "4"]) == 0
    text = capsys.readouterr().out
    for name in ("analytic (closed form)", "finite difference", "Monte Carlo (", "1024 paths x 4 steps"):
        assert name in text, text
    assert "max |err|/SE" in text and text.count("max |err|/SE") == 1  # only the noisy engine has SEs
    with pytest.raises(ValueError, match="--n: expected a count >= 1, got 0"):
        main(["price", "--n", "0"])


# -- config ----------------------------------------------------------------------------------------
def test_config_merge_and_load(tmp_path):
    merged = xconfig.merge(ATTACK_CONFIG, {"fit": {"epochs": 5}, "oracle": {"kind": "monte_carlo"}})
    assert merged["fit"] == {**ATTACK_CONFIG["fit"], "epochs": 5} and merged["oracle"] == {"kind": "monte_carlo"}
    assert ATTACK_CONFIG["fit"]["epochs"] == 300  # the defaults are not touched
    with pytest.raises(ValueError, match=r"config\.attack\.radiuss: unknown key 'radiuss' \(did you mean 'radius'\?\); "
                                         r"expected one of"):
        xconfig.merge(ATTACK_CONFIG, {"attack": {"radiuss": 0.2}})
    with pytest.raises(ValueError, match=r"config\.defense\.check\.k_sigmaa: unknown key"):
        xconfig.merge(DEFEND_CONFIG, {"defense": {"check": {"k_sigmaa": 3}}})
    with pytest.raises(TypeError, match="config.fit: expected a JSON object, got int"):
        xconfig.merge(ATTACK_CONFIG, {"fit": 3})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="--config: .*bad.json is not valid JSON"):
        xconfig.load_config(str(bad), ATTACK_CONFIG)
    with pytest.raises(ValueError, match="--config: cannot read .*missing.json"):
        xconfig.load_config(str(tmp_path / "missing.json"), ATTACK_CONFIG)
    assert xconfig.parse_ints(" 0, 20,200 ", "--sizes") == [0, 20, 200]
    with pytest.raises(ValueError, match="--sizes: expected non-negative integers, got '-1'"):
        xconfig.parse_ints("-1", "--sizes")
    with pytest.raises(ValueError, match=r"config\.seeds: expected a non-empty list of distinct"):
        runner.check_seeds([0, 0])


def test_make_oracle_specs():
    paper = sg.presets.get("paper")
    a = xconfig.make_oracle("analytic", "paper")
    assert isinstance(a, sg.oracles.Analytic) and a.box == paper.box
    mc = xconfig.make_oracle({"kind": "monte_carlo", "paths": 16384, "steps": 1, "seed": 7}, "mild")
    assert isinstance(mc, sg.oracles.MonteCarlo) and (mc.paths, mc.steps, mc.seed) == (16384, 1, 7)
    assert mc.box == sg.presets.get("mild").box
    fd = xconfig.make_oracle({"kind": "finite_difference", "space_steps": 200, "time_steps": 200}, "paper")
    assert isinstance(fd, sg.oracles.FiniteDifference) and fd.space_steps == 200
    assert xconfig.oracle_label({"kind": "monte_carlo", "paths": 8, "seed": 1}) == "monte_carlo(paths=8, seed=1)"
    with pytest.raises(ValueError, match=r"oracle: kind expected one of \('analytic', 'finite_difference', "
                                         r"'monte_carlo'\), got 'quantum'"):
        xconfig.make_oracle("quantum", "paper")
    with pytest.raises(ValueError, match="defense_oracle: expected a 'kind' key"):
        xconfig.make_oracle({"paths": 8}, "paper", "defense_oracle")
    with pytest.raises(ValueError, match="oracle: monte_carlo oracle options .*'path'"):
        xconfig.make_oracle({"kind": "monte_carlo", "path": 8}, "paper")
    with pytest.raises(ValueError, match="oracle: monte_carlo oracle options .*paths: expected an int >= 1"):
        xconfig.make_oracle({"kind": "monte_carlo", "paths": 0}, "paper")
    with pytest.raises(ValueError, match="oracle: 'box' is not an option here"):
        xconfig.make_oracle({"kind": "analytic", "box": [[0, 1]] * 5}, "paper")
    with pytest.raises(TypeError, match="oracle: expected an oracle kind string or an object"):
        xconfig.make_oracle(3, "paper")


def test_configs_pin_every_training_and_detection_setting(tmp_path):
    """The defaults write out the fit patience and every field of SearchSettings / CheckSettings, so
    documented figures do not move with the library's defaults; bad values name their key."""
    from surrogate_guard.defense import CheckSettings, SearchSettings
    from surrogate_guard.experiments.defend import settings

    assert ATTACK_CONFIG["fit"]["patience"] == 60 and ATTACK_CONFIG["device"] == "cpu"
    d = DEFEND_CONFIG["defense"]
    assert set(d["search"]) == {f.name for f in dataclasses.fields(SearchSettings)}
    assert set(d["check"]) == {f.name for f in dataclasses.fields(CheckSettings)}
    search, check = settings(DEFEND_CONFIG)
    assert search.to_dict() == d["search"] and check.to_dict() == d["check"]
    cfg = xconfig.merge(DEFEND_CONFIG, {"defense": {"search": {"steps": 0}}})
    with pytest.raises(ValueError, match=r"config\.defense\.search: steps: expected an int >= 1"):
        settings(cfg)
    path = _write(tmp_path, {"defense_oracle": {"kind": "monte_carlo", "paths": 3}})
    with pytest.raises(ValueError, match="defense_oracle: monte_carlo oracle options .*paths"):
        main(["defend", "--config", path, "--out", str(tmp_path / "x")])
    path = _write(tmp_path, {"defense": {"strategies": ["mixed", "psychic"]}})
    with pytest.raises(ValueError, match=r"config\.defense: strategies expected among .*got \['psychic'\]"):
        main(["defend", "--config", path, "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()  # config errors come before any output


def test_seed_artifacts_pickle_and_plot(tmp_path):
    """What crosses processes pickles (no live oracle inside); the plots take SeedArtifacts."""
    from surrogate_guard.experiments.attack import run_seed
    from surrogate_guard.experiments.defend import DefendSeed
    from surrogate_guard.experiments.pipeline import SeedArtifacts
    from surrogate_guard.experiments.plots import attack_slices, maximizers_over_density

    cfg = xconfig.merge(ATTACK_CONFIG, ATTACK_TINY)
    rows, art = run_seed(cfg, 0, [0, 20])
    assert isinstance(art, SeedArtifacts) and sorted(art.poisoned) == [0, 20] and len(art.clean_set) == 400
    with pytest.raises(dataclasses.FrozenInstanceError):
        art.seed = 1  # type: ignore[misc]
    back = pickle.loads(pickle.dumps(DefendSeed({"seed": 0}, art)))
    np.testing.assert_array_equal(back.artifacts.poisoned[20][1].y, art.poisoned[20][1].y)
    X = art.preset.sample(10, seed=1)
    np.testing.assert_array_equal(back.artifacts.clean.predict(X), art.clean.predict(X))
    attack_slices(tmp_path / "slices.png", art, xconfig.make_oracle(cfg["oracle"], cfg["preset"]))
    _png(tmp_path / "slices.png")
    model, ps = art.poisoned[20]
    rep = sg.defense.detect(model, xconfig.make_oracle("analytic", "paper"), ps.X, ps.y, oracle_budget=60,
                            device="cpu")
    maximizers_over_density(tmp_path / "mx.png", art, rep, 20)
    _png(tmp_path / "mx.png")
    with pytest.raises(ValueError, match=r"n_guard: expected one of \[0, 20\]"):
        maximizers_over_density(tmp_path / "mx.png", art, rep)
