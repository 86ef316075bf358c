"""Surrogates and model files under hostile inputs (issue 12, item 5): divergence with or without a
validation split, every loaded field checked, every dimension validated like the 5-column path,
predict chunked under the memory ceiling.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import surrogate_guard as sg
import surrogate_guard.surrogate as surrogate_mod
from surrogate_guard.limits import ResourceError
from surrogate_guard.mlp_weights import MLPWeights


def _data(d=3, n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, d))
    return X, np.sin(X).sum(axis=1)


@pytest.mark.parametrize("val_fraction", [0.0, 0.25])
@pytest.mark.parametrize("how", ["lr", "scale"])
def test_fit_divergence_raises_and_leaves_the_surrogate_unchanged(val_fraction, how):
    X, y = _data()
    # lr=1e12 blows the weights up; y_scale=1e-40 puts the scaled labels beyond float32 (inf loss).
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 3), None if how == "lr" else 1e-40, widths=(8,), seed=1)
    before = [p.clone() for p in s._params]
    scaling = (s.y_offset, s.y_scale, s._auto_scale)
    with pytest.raises(RuntimeError, match="fit: the training loss became (nan|inf)|validation loss became"):
        s.fit(X, y, epochs=5, lr=1e12 if how == "lr" else 1e-3, val_fraction=val_fraction, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(before, s._params))
    assert (s.y_offset, s.y_scale, s._auto_scale) == scaling


def test_fit_without_validation_checks_every_epoch(monkeypatch):
    X, y = _data()
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 3), 1.0, widths=(8,), seed=1)
    calls = {"n": 0}
    forward = s._forward

    def poisoned(params, h):  # the training loss turns NaN in the second epoch only
        calls["n"] += 1
        out = forward(params, h)
        return out * float("nan") if calls["n"] == 2 else out

    monkeypatch.setattr(s, "_forward", poisoned)
    with pytest.raises(RuntimeError, match="training loss became nan at epoch 2"):
        s.fit(X, y, epochs=4, batch_size=64, val_fraction=0.0, device="cpu")


def _rewrite(path, out, **changes):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["surrogate_guard"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    for k in [k for k, v in changes.items() if v is KeyError]:
        del meta[k]
    save_file(tensors, str(out), metadata={"surrogate_guard": json.dumps(meta)})  # json writes NaN/Infinity
    return out


@pytest.mark.parametrize("field, value", [
    ("y_offset", float("nan")), ("y_offset", float("inf")), ("y_offset", True), ("y_offset", "0"),
    ("y_scale", float("nan")), ("y_scale", float("inf")), ("y_scale", 0.0), ("y_scale", -2.0), ("y_scale", KeyError),
    ("widths", [8.0]), ("widths", [True]), ("widths", "8"), ("widths", [0]), ("widths", [129]),
    ("activation", "gelu"), ("activation", None),
    ("bounds", [[0.0, 1.0], [0.0, float("nan")], [0.0, 1.0]]), ("bounds", [[1.0, 1.0]] * 3),
    ("bounds", [[2.0, 1.0]] * 3), ("bounds", [[0.0, 1.0]] * 2), ("bounds", "box"), ("bounds", [[0.0, 1.0, 2.0]] * 3),
    ("names", "abc"), ("names", ["a", "b"]), ("names", [1, 2, 3]),
])
def test_load_rejects_every_bad_field(tmp_path, field, value):
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 3), 2.0, widths=(8,))
    s.save(tmp_path / "m.safetensors")
    bad = _rewrite(tmp_path / "m.safetensors", tmp_path / "bad.safetensors", **{field: value})
    with pytest.raises(ValueError, match="invalid model description|no valid"):
        sg.Surrogate.load(bad)


def test_load_roundtrip_keeps_names(tmp_path):
    s = sg.Surrogate(sg.Box(np.zeros(2), np.ones(2), ("a", "b")), 2.0, widths=(4,))
    s.save(tmp_path / "m.safetensors")
    t = sg.Surrogate.load(tmp_path / "m.safetensors")
    assert t.box.names == ("a", "b") and t.y_scale == 2.0


def _weights(**kw):
    base = dict(weights=(np.ones((2, 3)), np.ones((1, 2))), biases=(np.zeros(2), np.zeros(1)), activation="silu",
                x_lo=np.zeros(3), x_inv_range=np.ones(3), y_scale=1.0, y_offset=0.0)
    return MLPWeights(**{**base, **kw})


@pytest.mark.parametrize("kw, err, match", [
    (dict(y_scale=float("nan")), ValueError, "y_scale: expected a finite"),
    (dict(y_scale=float("inf")), ValueError, "y_scale: expected a finite"),
    (dict(y_offset=-float("inf")), ValueError, "y_offset: expected a finite"),
    (dict(y_offset="1"), TypeError, "y_offset: expected a real number"),
    (dict(x_lo=np.array([0.0, np.nan, 0.0])), ValueError, "x_lo: expected finite"),
    (dict(x_inv_range=np.array([1.0, np.inf, 1.0])), ValueError, "x_inv_range: expected finite"),
    (dict(x_lo=np.zeros(3, complex)), TypeError, "x_lo: expected a real numeric"),
    (dict(biases=(np.zeros(2), np.array([np.nan]))), ValueError, r"weights\[1\]/biases\[1\]: expected finite"),
    (dict(weights=(np.ones((2, 3)), np.ones((1, 2), bool))), TypeError, r"weights\[1\]: expected a real numeric"),
])
def test_mlp_weights_reject_non_finite_and_non_real(kw, err, match):
    with pytest.raises(err, match=match):
        _weights(**kw)


@pytest.mark.parametrize("d", [1, 2, 3, 7])
@pytest.mark.parametrize("X, dtype", [(np.ones((2, 1), bool), "bool"), (np.ones((2, 1), complex), "complex128"),
                                      (np.full((2, 1), "1"), "<U1"), (np.ones((2, 1), object), "object")])
def test_every_dimension_refuses_non_real_inputs(d, X, dtype):
    s = sg.Surrogate(np.array([[0.0, 1.0]] * d), 1.0, widths=(4,))
    with pytest.raises(TypeError, match=f"X: expected a real numeric dtype.*got dtype {dtype}"):
        s.predict(np.repeat(X, d, axis=1))


def test_predict_chunks_are_exact(monkeypatch):
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 5), 3.0, widths=(32, 32), seed=3)
    X = np.random.default_rng(1).uniform(-0.5, 1.5, (4321, 5))
    whole = s.predict(X)
    monkeypatch.setattr(surrogate_mod, "PREDICT_CHUNK", 1000)  # 5 chunks of 864 or 865 rows
    assert np.array_equal(s.predict(X), whole)
    assert s.predict(X[:0]).shape == (0,)


def test_predict_checks_the_memory_ceiling(monkeypatch):
    s = sg.Surrogate(np.array([[0.0, 1.0]] * 5), 3.0, widths=(8,))
    monkeypatch.setenv("SG_MAX_MEMORY", "1M")
    with pytest.raises(ResourceError, match="predict on 200000 rows.*SG_MAX_MEMORY"):
        s.predict(np.zeros((200_000, 5)))
    assert s.predict(np.zeros((10, 5))).shape == (10,)
