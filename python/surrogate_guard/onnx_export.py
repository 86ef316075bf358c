"""An ``MLPWeights`` network as an ONNX graph, built with the ``onnx`` package's helper API (the
optional ``onnx`` extra: ``pip install surrogate-guard[onnx]``). No torch.onnx (it needs onnxscript).

Graph, opset ``OPSET`` (17) by default, n dynamic:
    X (n, d) -> Sub x_lo -> Mul x_inv_range -> [Gemm(W_l, b_l, transB=1) -> act] x hidden
      -> Gemm(W_L, b_L, transB=1) -> Mul y_scale -> Add y_offset -> Reshape (n,) -> Y
with act: silu = Z * Sigmoid(Z), Tanh, Relu, Softplus (ONNX's log(exp(z) + 1)); in float64, softplus
is Relu(Z) + Log(1 + Exp(-Abs(Z))) (onnxruntime has no double Softplus kernel; the stable form, exact
to an absolute ulp of 1). Every constant and both ends are of the weights' dtype (float32 or float64).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .mlp_weights import MLPWeights

__all__ = ["OPSET", "mlp_to_onnx"]

OPSET = 17


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("export_onnx needs the 'onnx' package, which is not installed; install it with "
                          "`pip install onnx` (or the extra: `pip install surrogate-guard[onnx]`)") from None
    return onnx


def mlp_to_onnx(weights: MLPWeights, path: Any = None, *, opset: int | None = None) -> Any:
    """The ONNX ModelProto of ``weights`` (checked with onnx.checker); written to ``path`` when given."""
    if not isinstance(weights, MLPWeights):
        raise TypeError(f"weights: expected an MLPWeights, got {type(weights).__name__}")
    opset = OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset: expected an int >= 13 (Gemm, Sigmoid, Softplus as used here), got {opset!r}")
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    dt = weights.dtype
    elem = TensorProto.DOUBLE if dt == np.float64 else TensorProto.FLOAT
    inits, nodes = [], []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dt), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    h = node("Sub", ["X", const("x_lo", weights.x_lo)], "x_shifted")
    h = node("Mul", [h, const("x_inv_range", weights.x_inv_range)], "h0")
    last = len(weights.weights) - 1
    for i, (W, b) in enumerate(zip(weights.weights, weights.biases)):
        z = node("Gemm", [h, const(f"W{i}", W), const(f"b{i}", b)], f"z{i + 1}", transB=1)
        if i == last:
            h = z
        elif weights.activation == "silu":
            h = node("Mul", [z, node("Sigmoid", [z], f"sigmoid{i + 1}")], f"h{i + 1}")
        elif weights.activation == "softplus" and dt == np.float64:
            h = _softplus64(node, const, z, f"h{i + 1}")
        else:
            op = {"tanh": "Tanh", "relu": "Relu", "softplus": "Softplus"}[weights.activation]
            h = node(op, [z], f"h{i + 1}")
    h = node("Mul", [h, const("y_scale", [weights.y_scale])], "y_scaled")
    h = node("Add", [h, const("y_offset", [weights.y_offset])], "y_col")
    node("Reshape", [h, "flat"], "Y")
    inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
    graph = helper.make_graph(nodes, "surrogate_guard_mlp",
                              [helper.make_tensor_value_info("X", elem, ["n", weights.in_dim])],
                              [helper.make_tensor_value_info("Y", elem, ["n"])], initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="surrogate-guard",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save_model(model, str(path))
    return model


def _softplus64(node: Any, const: Any, z: str, out: str) -> str:
    """softplus(z) = relu(z) + log(1 + exp(-|z|)) from primitive ops (never overflows)."""
    e = node("Exp", [node("Neg", [node("Abs", [z], f"{out}_abs")], f"{out}_neg")], f"{out}_exp")
    tail = node("Log", [node("Add", [e, const(f"{out}_one", 1.0)], f"{out}_1pe")], f"{out}_log")
    return node("Add", [node("Relu", [z], f"{out}_relu"), tail], out)
