"""TOML configs: ``surrogate-guard config NAME`` writes every default of a runner and loads back to
exactly that runner's DEFAULT_CONFIG (None, ints and floats included); TOML and JSON configs load
to the same dict; unknown keys, bad files and bad names are errors naming what is wrong."""
from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from surrogate_guard.cli import main
from surrogate_guard.experiments import config as xconfig
from surrogate_guard.experiments import configcmd
from surrogate_guard.experiments.attack import DEFAULT_CONFIG as ATTACK_CONFIG
from surrogate_guard.experiments.defend import DEFAULT_CONFIG as DEFEND_CONFIG

CONFIGS = Path(__file__).resolve().parents[1] / "docs" / "configs"
# Each JSON config in docs/configs and the runner that reads it.
DOC_CONFIGS = [("defend_mc", "defend"), ("defend_mc_blind_rule", "defend"), ("quality_equal_steps", "quality")]


def assert_same(got, want, where: str = "config") -> None:
    """``got == want`` with the same types at every depth: 1.0 is not 1, True is not 1, None is None."""
    assert type(got) is type(want), f"{where}: {got!r} ({type(got).__name__}) != {want!r} ({type(want).__name__})"
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def none_as_string(value):
    """What a complete TOML file holds for ``value``: every None spelled "none"."""
    if isinstance(value, dict):
        return {k: none_as_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return [none_as_string(v) for v in value]
    return "none" if value is None else value


def runner_defaults(name: str) -> dict:
    return importlib.import_module(configcmd.RUNNERS[name]).DEFAULT_CONFIG


# -- the round trip: `config NAME` -> file -> load_config -> DEFAULT_CONFIG ----------------------
@pytest.mark.parametrize("name", sorted(configcmd.RUNNERS))
def test_config_command_round_trips_every_default(tmp_path, name, capsys):
    defaults = runner_defaults(name)
    path = tmp_path / f"{name}.toml"
    assert main(["config", name, "--out", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# surrogate-guard {name}: every default"), text[:200]
    # Complete: every key of every table is written (a None as "none"), not only the non-None ones.
    assert_same(tomllib.loads(text), none_as_string(defaults))
    loaded = xconfig.load_config(str(path), defaults)
    assert_same(loaded, defaults)
    assert loaded is not defaults


def test_defaults_that_are_none_or_floats_survive():
    """The cases TOML makes hard, on the real defaults: None at the top and in tables, 0.0 and 10.0."""
    assert DEFEND_CONFIG["defense_oracle"] is None and DEFEND_CONFIG["defense"]["check"]["label_tol"] is None
    assert isinstance(ATTACK_CONFIG["fit"]["weight_decay"], float) and isinstance(ATTACK_CONFIG["n_train"], int)
    text = xconfig.dump_toml(DEFEND_CONFIG)
    assert 'defense_oracle = "none"' in text and "weight_decay = 0.0" in text and "shift = 10.0" in text
    assert "n_train = 16000\n" in text and "trim = false" in text
    assert "center = [0.5, 0.5, 0.3, 0.4, 0.5]\n" in text  # short arrays on one line
    assert 'TOML has no null: the string "none" stands for None.' in text


def test_dump_and_save_round_trip_nested_values(tmp_path):
    cfg = {"a_float": 1.0, "an_int": 1, "neg": -2.5e-300, "big": 1e300, "flag": True, "off": None,
           "text": 'quote " and, comma [x] {y}', "empty": [], "ints": [1, 2, 3], "floats": [1.0, 2.0],
           "mixed": [1, 2.0, "three", None, [4, [5.0]]], "long": list(range(60)),
           "rows": [{"x": 1, "y": None}, {"x": 2.0, "y": [1]}],
           "outer": {"inner": {"deep": {"v": 0.5, "gone": None}}, "n": 3, "nothing": {}}}
    # Defaults that differ everywhere, so what is loaded comes from the file.
    defaults = {**cfg, "a_float": 7.5, "off": 3, "mixed": [], "outer": {"inner": {"deep": {"v": 9.0, "gone": 1}},
                                                                        "n": 0, "nothing": {}}}
    for suffix in (".toml", ".json"):
        path = xconfig.save_config(cfg, tmp_path / f"cfg{suffix}", header="a run's config\nline two")
        assert_same(xconfig.load_config(path, defaults), cfg)
    text = (tmp_path / "cfg.toml").read_text(encoding="utf-8")
    assert text.startswith("# a run's config\n# line two\n# TOML has no null"), text[:200]
    assert "a_float = 1.0\n" in text and "an_int = 1\n" in text and "ints = [1, 2, 3]\n" in text
    with pytest.raises(FileExistsError):
        xconfig.save_config(cfg, tmp_path / "cfg.toml", overwrite=False)
    xconfig.save_config(ATTACK_CONFIG, tmp_path / "cfg.toml")  # overwrite is the default
    assert_same(xconfig.load_config(tmp_path / "cfg.toml", ATTACK_CONFIG), ATTACK_CONFIG)
    assert "TOML has no null" not in xconfig.dump_toml(ATTACK_CONFIG)  # no None, no note


def test_the_string_none_cannot_be_written():
    with pytest.raises(ValueError, match=r"config\.fit\.mode: the string 'none' cannot be written to TOML"):
        xconfig.dump_toml({"fit": {"mode": "none"}})
    with pytest.raises(ValueError, match=r"config\.tags\[1\]: the string 'none'"):
        xconfig.dump_toml({"tags": ["a", "none"]})
    with pytest.raises(ValueError, match=r"path: .*cfg\.yaml: expected a file ending in \.toml or \.json"):
        xconfig.save_config({}, "cfg.yaml")


# -- errors -----------------------------------------------------------------------------------------
def test_unknown_key_in_toml_names_the_dotted_key(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[defense.check]\nk_sigmaa = 3.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config\.defense\.check\.k_sigmaa: unknown key 'k_sigmaa' "
                                         r"\(did you mean 'k_sigma'\?\); expected one of"):
        xconfig.load_config(str(path), DEFEND_CONFIG)
    path.write_text("n_trian = 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config\.n_trian: unknown key 'n_trian'"):
        main(["attack", "--config", str(path), "--out", str(tmp_path / "out")])
    path.write_text("fit = 3\n", encoding="utf-8")
    with pytest.raises(TypeError, match=r"config\.fit: expected a JSON object, got int"):
        xconfig.load_config(str(path), ATTACK_CONFIG)


def test_bad_toml_names_the_file_and_the_parse_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[fit]\nepochs = \n", encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as parse:
        tomllib.loads(path.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=rf"--config: {re.escape(str(path))} is not valid TOML: ") as exc:
        xconfig.load_config(str(path), ATTACK_CONFIG)
    assert str(parse.value) in str(exc.value)
    path.write_bytes(b"preset = \"\xff\"\n")
    with pytest.raises(ValueError, match=rf"--config: {re.escape(str(path))} is not valid TOML"):
        xconfig.load_config(str(path), ATTACK_CONFIG)
    with pytest.raises(ValueError, match=r"--config: cannot read .*missing\.toml"):
        xconfig.load_config(str(tmp_path / "missing.toml"), ATTACK_CONFIG)


@pytest.mark.parametrize("name", ["cfg.yaml", "cfg", "cfg.toml.bak"])
def test_other_extensions_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"--config: {re.escape(str(path))}: expected a file ending in "
                                         r"\.toml or \.json, got"):
        xconfig.load_config(str(path), ATTACK_CONFIG)


# -- the configs in docs/configs ---------------------------------------------------------------------
@pytest.mark.parametrize("stem, runner", DOC_CONFIGS)
def test_doc_configs_json_and_toml_twins_load_the_same(stem, runner):
    defaults = runner_defaults(runner)
    from_json = xconfig.load_config(str(CONFIGS / f"{stem}.json"), defaults)
    from_toml = xconfig.load_config(str(CONFIGS / f"{stem}.toml"), defaults)
    assert from_json != defaults, "the config overrides nothing"
    assert_same(from_toml, from_json)


def test_doc_configs_say_what_they_say():
    quality = xconfig.load_config(str(CONFIGS / "quality_equal_steps.toml"), runner_defaults("quality"))
    assert quality["fit"]["epochs"] == "auto" and quality["fit"]["patience"] is None  # patience = "none"
    blind = xconfig.load_config(str(CONFIGS / "defend_mc_blind_rule.toml"), DEFEND_CONFIG)
    assert_same(blind["defense"]["check"]["k_sigma"], 0.0)
    assert blind["defense_oracle"]["seed"] == 7 and blind["oracle"]["seed"] == 0
    assert sorted(p.stem for p in CONFIGS.glob("*.toml")) == sorted(p.stem for p in CONFIGS.glob("*.json"))


# -- the command line ---------------------------------------------------------------------------------
def test_config_command_prints_toml(capsys):
    assert main(["config", "attack"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# surrogate-guard attack: every default") and "[fit]" in out
    assert_same(tomllib.loads(out), ATTACK_CONFIG)  # no None in the attack defaults


def test_config_command_out_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "defend.toml"
    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"--out: {re.escape(str(path))} exists; pass --force to replace it"):
        main(["config", "defend", "--out", str(path)])
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert main(["config", "defend", "--out", str(path), "--force"]) == 0
    assert_same(xconfig.load_config(path, DEFEND_CONFIG), DEFEND_CONFIG)
    with pytest.raises(ValueError, match=r"--out: expected a file ending in \.toml, got '.*defend\.json'"):
        main(["config", "defend", "--out", str(tmp_path / "defend.json")])
    assert not (tmp_path / "defend.json").exists()


def test_config_command_unknown_name(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["config", "atack"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'atack'" in err and all(f"'{n}'" in err for n in configcmd.RUNNERS), err
    with pytest.raises(ValueError, match=r"NAME: expected one of \[.*'attack'.*got 'atack'"):
        configcmd.runner_defaults("atack")


def test_a_runner_takes_a_toml_config(tmp_path):
    """End to end: the attack runner on a tiny TOML config; its report holds the TOML's values."""
    tiny = {"n_train": 300, "fit": {"epochs": 2, "batch_size": 128, "patience": None},
            "attack": {"n_poison": 20, "n_guard": 10, "radius": 0.15}, "test": {"n_global": 200, "n_ball": 30},
            "seeds": [0]}
    path = xconfig.save_config(tiny, tmp_path / "tiny.toml")
    assert 'patience = "none"' in path.read_text(encoding="utf-8")
    out = tmp_path / "out"
    assert main(["attack", "--config", str(path), "--out", str(out), "--no-plot"]) == 0
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rep["config"] == xconfig.merge(ATTACK_CONFIG, tiny) and rep["config"]["fit"]["patience"] is None


def test_a_user_function_is_an_oracle_over_its_box(tmp_path, monkeypatch):
    """``"package.module:function"`` with a box table: ``sg.oracles.Function``; errors name the keys."""
    import numpy as np

    import surrogate_guard as sg

    (tmp_path / "two_d.py").write_text("def f(X):\n    return X[:, 0] + 2 * X[:, 1]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    box = {"bounds": [[0.0, 1.0], [-1.0, 1.0]], "names": ["a", "b"]}
    f = xconfig.make_oracle("two_d:f", "paper", box=box)
    assert isinstance(f, sg.oracles.Function) and f.box.names == ("a", "b")
    np.testing.assert_array_equal(f(np.array([[0.5, 1.0]])), [2.5])
    with pytest.raises(ValueError, match=r"oracle: 'two_d:g': 'two_d' has no attribute 'g'"):
        xconfig.make_oracle("two_d:g", "paper", box=box)
    with pytest.raises(ValueError, match=r"box: the user oracle 'two_d:f' needs its box"):
        xconfig.make_oracle("two_d:f", "paper")
    with pytest.raises(ValueError, match=r"data\.box\.bound: unknown key 'bound' \(did you mean 'bounds'\?\)"):
        xconfig.make_box({"bound": [[0, 1]]}, "data.box")
    with pytest.raises(ValueError, match=r"box: box: expected high > low in every column; column 0"):
        xconfig.make_box({"bounds": [[1.0, 0.0]]})
    with pytest.raises(ValueError, match=r"oracle: expected a user oracle as 'package.module:function', got 'x:'"):
        xconfig.make_oracle("x:", "paper", box=box)


def test_check_types_names_the_key():
    defaults = {"n": 1, "x": 1.0, "flag": True, "name": "a", "ws": [1, 2], "t": {"k": 0.5}, "free": None}
    xconfig.check_types({**defaults, "x": 2, "free": "anything"}, defaults)  # an int where a float is: fine
    for bad, msg in ((("n", "many"), r"config\.n: expected an int, got str 'many'"),
                     (("n", True), r"config\.n: expected an int, got bool True"),
                     (("flag", 1), r"config\.flag: expected true or false, got int 1"),
                     (("ws", [1, "2"]), r"config\.ws\[1\]: expected an int, got str '2'"),
                     (("t", {"k": "half"}), r"config\.t\.k: expected a number, got str 'half'")):
        with pytest.raises(TypeError, match=msg):
            xconfig.check_types({**defaults, bad[0]: bad[1]}, defaults)
    xconfig.check_types({**defaults, "n": "auto"}, defaults, also={"n": (str,)})
