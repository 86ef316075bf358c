"""The surrogate model file: one safetensors file, float32 tensors ``W{l}``/``b{l}`` and a JSON
description in its metadata. Read and written with ``safetensors.numpy`` (no torch, no pickle):
loading a model file can never run code, and a production process can load one without torch.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .mlp_weights import ACTIVATIONS

FORMAT = "surrogate-guard/mlp-v1"


def read_model(path: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """Header-checked read of a model file: (JSON description, tensors); ValueError when broken."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"path: {path} is not a readable surrogate file (corrupted or truncated?): {exc}") from None
    try:
        meta = json.loads(header["surrogate_guard"])
        ok = meta.get("format") == FORMAT
    except (KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValueError(f"path: {path} has no valid {FORMAT!r} description in its metadata")
    return meta, tensors


def check_meta(meta: dict) -> None:
    """Every field of a model description has its type and is finite (ValueError naming the field)."""
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
    checks = {"widths": isinstance(meta.get("widths"), list) and all(isinstance(w, int) and not isinstance(w, bool)
                                                                       for w in meta["widths"]),
              "activation": meta.get("activation") in ACTIVATIONS,
              "y_scale": num(meta.get("y_scale")) and meta["y_scale"] > 0, "y_offset": num(meta.get("y_offset")),
              "bounds": isinstance(meta.get("bounds"), list) and all(
                  isinstance(r, list) and len(r) == 2 and all(num(v) for v in r) for r in meta["bounds"]),
              "names": isinstance(meta.get("names", []), list) and all(isinstance(v, str) for v in meta.get("names", []))}
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"field {bad[0]!r} is invalid: {meta.get(bad[0])!r} (expected widths: list of ints, "
                         f"activation: one of {ACTIVATIONS}, y_scale: finite > 0, y_offset: finite, "
                         f"bounds: [[lo, hi], ...] finite with lo < hi, names: list of strings)")


def check_tensors(path: Any, tensors: dict[str, np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The tensors W0, b0, W1, ... of the expected float32 shapes, finite, and nothing else: read-only copies."""
    keys = [f"{'Wb'[i % 2]}{i // 2}" for i in range(len(shapes))]
    params = []
    for key, shape in zip(keys, shapes):
        t = tensors.get(key)
        if t is None or tuple(t.shape) != tuple(shape) or t.dtype != np.float32:
            got = None if t is None else (tuple(t.shape), str(t.dtype))
            raise ValueError(f"path: {path}: tensor {key} expected float32 {tuple(shape)}, got {got}")
        if not np.isfinite(t).all():
            raise ValueError(f"path: {path}: tensor {key} holds non-finite values")
        a = np.array(t, dtype=np.float32, order="C")
        a.setflags(write=False)
        params.append(a)
    if set(tensors) != set(keys):
        raise ValueError(f"path: {path}: unexpected tensors {sorted(tensors)}")
    return params


def write_model(path: Any, meta: dict, params: list[np.ndarray]) -> None:
    """Write ``params`` [W0, b0, W1, b1, ...] (float32) and the description ``meta`` to ``path``."""
    from safetensors.numpy import save_file

    tensors = {f"{'Wb'[i % 2]}{i // 2}": np.ascontiguousarray(p, dtype=np.float32) for i, p in enumerate(params)}
    save_file(tensors, str(path), metadata={"surrogate_guard": json.dumps({"format": FORMAT, **meta})})
