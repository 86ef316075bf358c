"""Surrogate.export_onnx: onnxruntime's output against predict, the graph's shape, a clear error without onnx.

Tolerance: the ONNX graph and the native kernel compute the same network in the same precision with
different summation orders and libm, each within the derived bound of the exact value (the bound
of tests/test_native_predict.py: K u 1.1^L mag), so they differ by at most twice that bound.
"""
from __future__ import annotations

import builtins

import numpy as np
import pytest

from surrogate_guard.mlp_weights import ACTIVATIONS
from test_native_predict import bound, points, surrogate

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run(path, X):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("widths", [(64, 64, 64, 64), (17,), (128, 1, 33)], ids=lambda w: "x".join(map(str, w)))
def test_onnxruntime_matches_predict(tmp_path, act, widths, dtype):
    s = surrogate(widths, act)
    s.export_onnx(tmp_path / "m.onnx", dtype=dtype)
    X = points(300, seed=2)
    y = run(tmp_path / "m.onnx", X.astype(dtype))
    assert y.dtype == dtype and y.shape == (300,)
    ref = s.predict(X, dtype=dtype)
    tol = 2 * bound(s, X, dtype)
    bad = np.abs(y.astype(np.float64) - ref) > tol
    assert not bad.any(), f"rows {np.flatnonzero(bad)[:5]}: onnx {y[bad][:3]} predict {ref[bad][:3]} X={X[bad][:3]}"


def test_graph_is_dynamic_in_n_and_documents_its_opset(tmp_path):
    s = surrogate((8,), "silu")
    s.export_onnx(tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in model.opset_import if o.domain == ""] == [17]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "n" and dims[1].dim_value == 5
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Sub", "Mul", "Gemm", "Sigmoid", "Mul", "Gemm", "Mul", "Add", "Reshape"], ops
    for n in (0, 1, 7):
        assert run(tmp_path / "m.onnx", points(n).astype(np.float32)).shape == (n,)


def test_bad_arguments(tmp_path):
    s = surrogate((8,))
    with pytest.raises(TypeError, match="dtype: expected np.float32 or np.float64"):
        s.export_onnx(tmp_path / "m.onnx", dtype=np.int32)
    with pytest.raises(ValueError, match="opset: expected an int >= 13"):
        s.export_onnx(tmp_path / "m.onnx", opset=11)


def test_missing_onnx_names_the_package(tmp_path, monkeypatch):
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r"needs the 'onnx' package.*pip install onnx.*surrogate-guard\[onnx\]"):
        surrogate((8,)).export_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
