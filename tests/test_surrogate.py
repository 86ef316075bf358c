"""Surrogate: training at small sizes, determinism, export to MLPWeights, safe save/load, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import surrogate_guard as sg
from surrogate_guard.mlp_weights import MLPWeights

PAPER = sg.presets.get("paper")
ORACLE = sg.oracles.Analytic(PAPER.option)
_ACT = {
    "silu": lambda v: v / (1.0 + np.exp(-v)),
    "tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0.0),
    "softplus": lambda v: np.logaddexp(0.0, v),
}


def naive_forward(w: MLPWeights, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point-by-point forward pass in w's dtype, and the same pass on |W|, |h| (a rounding-error scale)."""
    act = _ACT[w.activation]
    out, mag = np.empty(len(X)), np.empty(len(X))
    for i, x in enumerate(X):
        h = (x.astype(w.dtype) - w.x_lo) * w.x_inv_range
        a = np.abs(h)
        for layer, (W, b) in enumerate(zip(w.weights, w.biases)):
            h, a = W @ h + b, np.abs(W) @ a + np.abs(b)
            if layer < len(w.weights) - 1:
                h, a = act(h), a + 1.0  # every activation here is 1.1-Lipschitz with |act(0)| <= log 2
        out[i] = w.y_scale * float(h[0]) + w.y_offset
        mag[i] = w.y_scale * float(a[0])
    return out, mag


@pytest.fixture(scope="module")
def data():
    d = sg.data.make_dataset(PAPER, sg.oracles.Analytic(PAPER.option), 400, seed=3)
    return d.X, d.y


@pytest.fixture(scope="module")
def trained(data):
    m = sg.Surrogate(PAPER, seed=1)
    m.fit(*data, epochs=15, seed=1, batch_size=64)
    return m


def test_label_counts_calls_and_batches_agree():
    oracle = sg.oracles.Analytic(PAPER.option)
    X = PAPER.sample(1000, seed=5)
    a = sg.data.label(oracle, X, batch_size=64)
    assert a.oracle_calls == 1000 and oracle.calls == 1000
    b = sg.data.label(oracle, X, batch_size=10_000)
    np.testing.assert_array_equal(a.y, b.y)
    assert not a.y.flags.writeable and not a.X.flags.writeable
    assert len(sg.data.label(oracle, np.empty((0, 5)))) == 0


def test_fit_learns_and_predict_is_float64(data):
    X, y = data
    m = sg.Surrogate(PAPER, seed=0)
    err0 = np.sqrt(np.mean((m.predict(X) - y) ** 2))
    res = m.fit(X, y, epochs=30, seed=0, batch_size=64)
    p = m.predict(X)
    assert p.dtype == np.float64 and p.shape == (len(X),)
    err1 = np.sqrt(np.mean((p - y) ** 2))
    assert err1 < 0.5 * err0, f"training did not reduce the RMSE enough: {err0:.3f} -> {err1:.3f}"
    assert res.epochs_run <= 30 and 1 <= res.best_epoch <= res.epochs_run and res.device == "cpu"
    assert math.isfinite(res.best_val_rmse)


def test_deterministic_and_no_global_rng(data):
    X, y = data
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    preds = []
    for seed in (7, 7, 8):
        m = sg.Surrogate(PAPER, seed=seed)
        m.fit(X, y, epochs=3, seed=seed, batch_size=128)
        preds.append(m.predict(X[:50]))
    np.testing.assert_array_equal(preds[0], preds[1])
    assert not np.array_equal(preds[0], preds[2])
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("activation", ["silu", "tanh", "relu", "softplus"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_export_matches_predict(data, activation, dtype):
    X, y = data
    m = sg.Surrogate(PAPER, widths=(16, 8, 12), activation=activation, seed=2)
    m.fit(X, y, epochs=2, seed=2, batch_size=128, val_fraction=0.0)
    w = m.export(dtype)
    assert isinstance(w, MLPWeights) and w.dtype == dtype and w.widths == (16, 8, 12)
    ref, mag = naive_forward(w, X[:64])
    got = m.predict(X[:64])
    # Rounding error of a dot-product chain: depth*(max fan-in) * eps * the |W||h| magnitude.
    fan = sum(W.shape[1] for W in w.weights)
    tol = 2.0 * fan * np.finfo(dtype).eps * mag
    bad = np.abs(got - ref) > tol
    assert not bad.any(), f"export/predict differ at {np.flatnonzero(bad)[:5]}: {got[bad][:3]} vs {ref[bad][:3]}"


def test_save_load_roundtrip(tmp_path, trained, data):
    path = tmp_path / "m.safetensors"
    trained.save(path)
    back = sg.Surrogate.load(path)
    np.testing.assert_array_equal(back.predict(data[0]), trained.predict(data[0]))
    assert back.widths == trained.widths and back.activation == trained.activation
    np.testing.assert_array_equal(back.bounds, trained.bounds)


def test_corrupted_and_truncated_files(tmp_path, trained):
    good = tmp_path / "m.safetensors"
    trained.save(good)
    raw = good.read_bytes()
    for name, content in [("trunc", raw[: len(raw) // 2]), ("tiny", raw[:5]), ("junk", b"\x00" * 64),
                          ("pickle", b"\x80\x04\x95" + raw[3:])]:
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(content)
        with pytest.raises(ValueError, match="path: .* not a readable surrogate file"):
            sg.Surrogate.load(p)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"W0": torch.zeros(2, 2)}, str(foreign))
    with pytest.raises(ValueError, match="no valid .* description"):
        sg.Surrogate.load(foreign)
    # A consistent header whose tensors do not fit the described architecture.
    meta = {"format": "surrogate-guard/mlp-v1", "widths": [4], "activation": "silu",
            "bounds": PAPER.bounds.tolist(), "y_scale": 100.0, "y_offset": 0.0}
    wrong = tmp_path / "wrong.safetensors"
    save_file({"W0": torch.zeros(3, 5), "b0": torch.zeros(3), "W1": torch.zeros(1, 3), "b1": torch.zeros(1)},
              str(wrong), metadata={"surrogate_guard": json.dumps(meta)})
    with pytest.raises(ValueError, match="tensor W0 expected float32"):
        sg.Surrogate.load(wrong)
    meta["widths"] = [1000]
    save_file({"W0": torch.zeros(3, 5)}, str(wrong), metadata={"surrogate_guard": json.dumps(meta)})
    with pytest.raises(ValueError, match="invalid model description: widths"):
        sg.Surrogate.load(wrong)
    with pytest.raises(FileNotFoundError):
        sg.Surrogate.load(tmp_path / "missing.safetensors")


def test_bad_input(data):
    X, y = data
    m = sg.Surrogate(PAPER)
    with pytest.raises(ValueError, match=r"y: expected shape \(400,\)"):
        m.fit(X, y[:-1], epochs=1)
    y_nan = y.copy()
    y_nan[7] = np.nan
    with pytest.raises(ValueError, match="y: labels must be finite; row 7"):
        m.fit(X, y_nan, epochs=1)
    with pytest.raises(TypeError, match="y: expected a real numeric"):
        m.fit(X, y.astype(str), epochs=1)
    with pytest.raises(ValueError, match=r"X: expected a 2-d array of shape \(n, 5\), got shape \(400, 4\)"):
        m.fit(X[:, :4], y, epochs=1)
    with pytest.raises(ValueError, match="epochs: expected an int >= 1"):
        m.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="val_fraction: expected in"):
        m.fit(X, y, epochs=1, val_fraction=1.0)
    with pytest.raises(ValueError, match="lr: expected > 0"):
        m.fit(X, y, epochs=1, lr=-1.0)
    with pytest.raises(ValueError, match="device: expected one of"):
        m.fit(X, y, epochs=1, device="tpu")
    with pytest.raises(ValueError, match="activation: expected one of"):
        sg.Surrogate(PAPER, activation="gelu")
    with pytest.raises(ValueError, match="widths: expected 1..6 hidden layers"):
        sg.Surrogate(PAPER, widths=(256,))
    with pytest.raises(ValueError, match="y_scale: expected > 0"):
        sg.Surrogate(PAPER, 0.0)
    with pytest.raises(ValueError, match="box: expected high > low in every column; column 0"):
        sg.Surrogate(np.array([[1.0, 0.0]]))
    with pytest.raises(TypeError, match="box: expected an sg.Box"):
        sg.Surrogate("paper")
    with pytest.warns(DeprecationWarning, match="spot=.* is deprecated"):
        assert sg.Surrogate(PAPER, spot=50.0).y_scale == 50.0
    with pytest.raises(TypeError, match="dtype: expected"):
        m.export(np.int32)


def test_cuda_request(data):
    X, y = data
    m = sg.Surrogate(PAPER, widths=(8,), seed=0)
    if not torch.cuda.is_available():  # training is torch's: its own CUDA build decides
        with pytest.raises(RuntimeError, match="device='cuda'"):
            m.fit(X, y, epochs=1, device="cuda")
        pytest.skip("no usable GPU: checked the clear error only")
    res = m.fit(X, y, epochs=2, device="cuda")
    assert res.device == "cuda" and np.isfinite(m.predict(X)).all()


def test_auto_epochs_give_small_sets_the_reference_step_budget():
    """epochs="auto": never fewer than 300 epochs, never fewer than 18 750 optimizer steps."""
    from surrogate_guard.surrogate import AUTO_MIN_EPOCHS, AUTO_STEPS, auto_epochs

    for n in (1, 255, 256, 900, 3600, 14400, 57600, 10**6):
        e = auto_epochs(n, 256)
        steps = e * -(-n // 256)
        assert e >= AUTO_MIN_EPOCHS and steps >= AUTO_STEPS
        assert e == AUTO_MIN_EPOCHS or (e - 1) * -(-n // 256) < AUTO_STEPS  # the least such count
    assert auto_epochs(14400, 256) == 329 and auto_epochs(57600, 256) == 300 and auto_epochs(900, 256) == 4688


def test_epochs_must_be_an_int_or_auto(data):
    X, y = data
    with pytest.raises(ValueError, match="epochs: expected an int >= 1 or 'auto', got 'many'"):
        sg.Surrogate(PAPER).fit(X, y, epochs="many")
