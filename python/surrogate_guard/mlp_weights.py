"""The plain-array description of a surrogate MLP, shared by ``Surrogate`` and the native kernels.

    h_0 = (x - x_lo) * x_inv_range                      x: (d,) raw inputs
    h_l = act(W_l @ h_{l-1} + b_l)       l = 1..L-1     W_l: (width_l, width_{l-1})
    Y   = y_scale * (W_L @ h_{L-1} + b_L)[0] + y_offset W_L: (1, width_{L-1})

Every array is C-contiguous, of one float dtype (float32 or float64), read-only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("silu", "tanh", "relu", "softplus")
MAX_WIDTH = 128
MAX_HIDDEN_LAYERS = 6


@dataclass(frozen=True)
class MLPWeights:
    """Weights of an MLP with ``len(weights) - 1`` hidden layers and a scalar output."""

    weights: tuple[np.ndarray, ...]  # W_l: (out_l, in_l)
    biases: tuple[np.ndarray, ...]  # b_l: (out_l,)
    activation: str
    x_lo: np.ndarray  # (d,)
    x_inv_range: np.ndarray  # (d,)
    y_scale: float = 1.0
    y_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {self.activation!r}")
        if len(self.weights) != len(self.biases) or len(self.weights) < 1:
            raise ValueError(
                f"weights/biases: expected equal non-zero counts, got {len(self.weights)} and {len(self.biases)}"
            )
        dtype = np.asarray(self.weights[0]).dtype
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"weights: expected float32 or float64, got {dtype}")
        arrays = [("x_lo", self.x_lo), ("x_inv_range", self.x_inv_range)] + [
            (f"{k}[{i}]", a) for k, seq in (("weights", self.weights), ("biases", self.biases)) for i, a in enumerate(seq)]
        for name, a in arrays:  # no silent conversion of bool, complex, str or object values
            kind = np.asarray(a).dtype.kind
            if kind not in "iuf":
                raise TypeError(f"{name}: expected a real numeric array, got dtype {np.asarray(a).dtype}")
        ws, bs = [], []
        prev = np.asarray(self.x_lo).shape[0]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            w = np.ascontiguousarray(w, dtype=dtype)
            b = np.ascontiguousarray(b, dtype=dtype)
            if w.ndim != 2 or w.shape[1] != prev or b.shape != (w.shape[0],):
                raise ValueError(
                    f"weights[{i}]: expected shape (out, {prev}) with bias (out,), got {w.shape} and {b.shape}"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"weights[{i}]/biases[{i}]: expected finite values (found NaN or inf)")
            prev = w.shape[0]
            w.setflags(write=False)
            b.setflags(write=False)
            ws.append(w)
            bs.append(b)
        if prev != 1:
            raise ValueError(f"weights[-1]: expected a scalar output (1 row), got {prev} rows")
        lo = np.ascontiguousarray(self.x_lo, dtype=dtype)
        inv = np.ascontiguousarray(self.x_inv_range, dtype=dtype)
        if lo.shape != inv.shape or lo.ndim != 1:
            raise ValueError(f"x_lo/x_inv_range: expected equal (d,) shapes, got {lo.shape} and {inv.shape}")
        for name, a in (("x_lo", lo), ("x_inv_range", inv)):
            if not np.isfinite(a).all():
                raise ValueError(f"{name}: expected finite values, got {a.tolist()}")
        for name, v in (("y_scale", self.y_scale), ("y_offset", self.y_offset)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name}: expected a real number, got {type(v).__name__} {v!r}")
            if not np.isfinite(float(v)):
                raise ValueError(f"{name}: expected a finite number, got {v!r}")
        lo.setflags(write=False)
        inv.setflags(write=False)
        object.__setattr__(self, "weights", tuple(ws))
        object.__setattr__(self, "biases", tuple(bs))
        object.__setattr__(self, "x_lo", lo)
        object.__setattr__(self, "x_inv_range", inv)
        object.__setattr__(self, "y_scale", float(self.y_scale))
        object.__setattr__(self, "y_offset", float(self.y_offset))

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    @property
    def in_dim(self) -> int:
        return int(self.x_lo.shape[0])

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths, e.g. (64, 64, 64, 64) for the default 5 -> 4 x 64 -> 1."""
        return tuple(int(w.shape[0]) for w in self.weights[:-1])

    def astype(self, dtype) -> "MLPWeights":
        dtype = np.dtype(dtype)
        return MLPWeights(
            tuple(w.astype(dtype) for w in self.weights),
            tuple(b.astype(dtype) for b in self.biases),
            self.activation,
            self.x_lo.astype(dtype),
            self.x_inv_range.astype(dtype),
            self.y_scale,
            self.y_offset,
        )
