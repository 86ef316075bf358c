"""``Surrogate``: a small PyTorch MLP standing in for an oracle, with fixed input/output scaling.

Inputs are normalized by the preset's box, the target is divided by spot, so one set of
training settings fits every preset. Saved as one safetensors file (weights plus a JSON
description in its metadata): loading a model file can never run code.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._device import resolve_device
from ._validate import as_points, check_float, check_int
from .mlp_weights import ACTIVATIONS, MAX_HIDDEN_LAYERS, MAX_WIDTH, MLPWeights
from .presets import Preset

__all__ = ["Surrogate", "FitResult"]

_FORMAT = "surrogate-guard/mlp-v1"
_ACT = {
    "silu": torch.nn.functional.silu,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": torch.nn.functional.softplus,
}


@dataclass(frozen=True)
class FitResult:
    """What ``Surrogate.fit`` did: epochs run, best epoch, losses (in (price/scale)^2), seconds."""

    epochs_run: int
    best_epoch: int
    best_val_rmse: float  # price units; nan when val_fraction == 0
    final_train_rmse: float  # price units, of the restored weights on the training part
    seconds: float
    device: str


def _read_model(path) -> tuple[dict, dict]:
    """Header-checked read of a model file: (JSON description, tensors); ValueError when broken."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"path: {path} is not a readable surrogate file (corrupted or truncated?): {exc}") from None
    try:
        meta = json.loads(header["surrogate_guard"])
        ok = (meta.get("format") == _FORMAT and isinstance(meta.get("widths"), list)
              and isinstance(meta.get("activation"), str) and isinstance(meta.get("y_scale"), (int, float))
              and isinstance(meta.get("y_offset"), (int, float)) and isinstance(meta.get("bounds"), list))
    except (KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValueError(f"path: {path} has no valid {_FORMAT!r} description in its metadata")
    return meta, tensors


def _bounds_of(preset: Any) -> np.ndarray:
    if isinstance(preset, Preset):
        return np.array(preset.bounds, dtype=np.float64)
    try:
        b = np.array(preset, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"preset: expected sg.presets.Preset or (d, 2) bounds, got {type(preset).__name__}") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1 or not np.isfinite(b).all() or not (b[:, 1] > b[:, 0]).all():
        raise ValueError(f"preset: expected (d, 2) finite bounds with high > low, got {b!r}")
    return b


class Surrogate:
    """MLP ``Y(x)``: d -> widths (activation) -> 1, ``Y = y_scale * out + y_offset``.

    Args:
        preset: ``sg.presets.Preset`` or (d, 2) [low, high] bounds; fixes input normalization.
        spot: target scale (``y_scale``); defaults to the preset option's spot (else 1).
        widths: hidden widths, 1..6 layers of 1..128 units (the native kernels' limits).
        activation: one of ("silu", "tanh", "relu", "softplus").
        seed: seeds the initial weights (a private torch.Generator; global RNG untouched).
    """

    def __init__(self, preset: Any, spot: float | None = None, *, widths=(64, 64, 64, 64),
                 activation: str = "silu", seed: int = 0) -> None:
        self.bounds = _bounds_of(preset)
        if spot is None:
            spot = preset.option.spot if isinstance(preset, Preset) else 1.0
        self.y_scale = check_float(spot, "spot", positive=True)
        self.y_offset = 0.0
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        try:
            widths = tuple(check_int(w, "widths[i]", minimum=1) for w in widths)
        except TypeError as exc:
            raise TypeError(f"widths: expected a sequence of ints, got {widths!r} ({exc})") from None
        if not 1 <= len(widths) <= MAX_HIDDEN_LAYERS or max(widths) > MAX_WIDTH:
            raise ValueError(
                f"widths: expected 1..{MAX_HIDDEN_LAYERS} hidden layers of 1..{MAX_WIDTH} units, got {widths}"
            )
        self.widths = widths
        seed = check_int(seed, "seed", minimum=0)
        self._params = self._init_params(torch.Generator().manual_seed(seed))
        self._predict_cache: list[torch.Tensor] | None = None

    # -- construction -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.bounds.shape[0])

    def _init_params(self, gen: torch.Generator) -> list[torch.Tensor]:
        # torch.nn.Linear's default (Kaiming-uniform, a=sqrt(5)) drawn from our own generator.
        params: list[torch.Tensor] = []
        prev = self.dim
        for out in (*self.widths, 1):
            bound = 1.0 / math.sqrt(prev)
            params.append((torch.rand((out, prev), generator=gen, dtype=torch.float32) * 2 - 1) * bound)
            params.append((torch.rand((out,), generator=gen, dtype=torch.float32) * 2 - 1) * bound)
            prev = out
        return params

    def _forward(self, params: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """Scaled output (before y_scale/y_offset) of normalized inputs h: (n, d) -> (n,)."""
        act = _ACT[self.activation]
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = torch.nn.functional.linear(h, params[2 * i], params[2 * i + 1])
            if i < n_layers - 1:
                h = act(h)
        return h[:, 0]

    def _normalize(self, X: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return (X - lo) * (1.0 / (hi - lo))

    def _check_X(self, X: Any, name: str = "X") -> np.ndarray:
        if self.dim == 5:
            return as_points(X, name)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.dim or not np.isfinite(arr).all():
            raise ValueError(f"{name}: expected a finite (n, {self.dim}) array, got shape {arr.shape}")
        return arr

    # -- training ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, epochs: int = 300, lr: float = 3e-3, batch_size: int = 256,
            seed: int = 0, val_fraction: float = 0.1, patience: int | None = None,
            weight_decay: float = 0.0, device: str = "cpu") -> FitResult:
        """Train by MSE on ``X`` (n, d) float64 and labels ``y`` (n,) float64.

        Adam with a one-cycle learning-rate schedule peaking at ``lr``; a ``val_fraction`` of
        the points (drawn with ``seed``) is held out, the weights with the lowest validation
        error are kept, and training stops after ``patience`` epochs without improvement
        (default: a fifth of ``epochs``, at least 20). Deterministic given ``seed`` on one
        device and thread count: shuffling and the split use a private torch.Generator.
        """
        X = self._check_X(X)
        y_arr = np.asarray(y)
        if y_arr.dtype == np.bool_ or y_arr.dtype.kind not in "iuf":
            raise TypeError(f"y: expected a real numeric array, got dtype {y_arr.dtype}")
        y_arr = y_arr.astype(np.float64)
        if y_arr.ndim != 1 or y_arr.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected shape ({X.shape[0]},) to match X, got {y_arr.shape}")
        if not np.isfinite(y_arr).all():
            row = int(np.argmax(~np.isfinite(y_arr)))
            raise ValueError(f"y: labels must be finite; row {row} holds {y_arr[row]!r}")
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_float(lr, "lr", positive=True)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        seed = check_int(seed, "seed", minimum=0)
        val_fraction = check_float(val_fraction, "val_fraction", nonneg=True)
        if val_fraction >= 1.0:
            raise ValueError(f"val_fraction: expected in [0, 1), got {val_fraction}")
        patience = max(20, epochs // 5) if patience is None else check_int(patience, "patience", minimum=1)
        weight_decay = check_float(weight_decay, "weight_decay", nonneg=True)
        dev = torch.device(resolve_device(device))
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device='cuda': this torch build ({torch.__version__}) has no CUDA support; "
                               "install a CUDA build of torch or use device='cpu'")
        n = X.shape[0]
        n_val = int(round(val_fraction * n))
        if n - n_val < 1:
            raise ValueError(f"X: expected at least one training point after the validation split, got n={n}")

        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=gen)
        H = torch.as_tensor(self._normalize(X), dtype=torch.float32)
        T = torch.as_tensor((y_arr - self.y_offset) / self.y_scale, dtype=torch.float32)
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        Htr, Ttr = H[tr_idx].to(dev), T[tr_idx].to(dev)
        Hva, Tva = H[val_idx].to(dev), T[val_idx].to(dev)
        params = [p.detach().clone().to(dev).requires_grad_(True) for p in self._params]
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        n_tr = Htr.shape[0]
        steps = (n_tr + batch_size - 1) // batch_size
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)

        best = (math.inf, 0, [p.detach().clone() for p in params])
        t0 = time.perf_counter()
        epoch = 0
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n_tr, generator=gen).to(dev)
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                loss = torch.mean((self._forward(params, Htr[idx]) - Ttr[idx]) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if n_val:
                with torch.no_grad():
                    v = float(torch.mean((self._forward(params, Hva) - Tva) ** 2))
                if not math.isfinite(v):
                    raise RuntimeError(f"fit: validation loss became {v} at epoch {epoch}; lower lr (got {lr})")
                if v < best[0]:
                    best = (v, epoch, [p.detach().clone() for p in params])
                elif epoch - best[1] >= patience:
                    break
        if n_val:
            final = best[2]
        else:
            final = [p.detach().clone() for p in params]
        self._params = [p.cpu() for p in final]
        self._predict_cache = None
        with torch.no_grad():
            tr_mse = float(torch.mean((self._forward([p.to(dev) for p in self._params], Htr) - Ttr) ** 2))
        return FitResult(
            epochs_run=epoch,
            best_epoch=best[1] if n_val else epoch,
            best_val_rmse=math.sqrt(best[0]) * self.y_scale if n_val else math.nan,
            final_train_rmse=math.sqrt(tr_mse) * self.y_scale,
            seconds=time.perf_counter() - t0,
            device=dev.type,
        )

    # -- inference -----------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Prices ``Y(X)`` for X (n, d): (n,) float64, evaluated in float64 on the CPU."""
        X = self._check_X(X)
        if self._predict_cache is None:
            self._predict_cache = [p.detach().to(torch.float64) for p in self._params]
        with torch.no_grad():
            out = self._forward(self._predict_cache, torch.from_numpy(self._normalize(X)))
        return out.numpy() * self.y_scale + self.y_offset

    def __call__(self, X: Any) -> np.ndarray:
        return self.predict(X)

    def export(self, dtype=np.float64) -> MLPWeights:
        """The plain-array description (``sg.mlp_weights.MLPWeights``) consumed by the native kernels."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype}")
        p = [t.detach().to(torch.float64).numpy().astype(dtype) for t in self._params]
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return MLPWeights(tuple(p[0::2]), tuple(p[1::2]), self.activation, lo.astype(dtype),
                          (1.0 / (hi - lo)).astype(dtype), self.y_scale, self.y_offset)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write one safetensors file: tensors ``W{l}``/``b{l}`` (float32) and a JSON description."""
        from safetensors.torch import save_file

        meta = {"format": _FORMAT, "widths": list(self.widths), "activation": self.activation,
                "bounds": self.bounds.tolist(), "y_scale": self.y_scale, "y_offset": self.y_offset}
        tensors = {}
        for i in range(len(self._params) // 2):
            tensors[f"W{i}"] = self._params[2 * i].contiguous()
            tensors[f"b{i}"] = self._params[2 * i + 1].contiguous()
        save_file(tensors, str(path), metadata={"surrogate_guard": json.dumps(meta)})

    @classmethod
    def load(cls, path) -> "Surrogate":
        """Read a file written by ``save``; a corrupted or foreign file raises ValueError."""
        meta, tensors = _read_model(path)
        try:
            model = cls(np.array(meta["bounds"]), meta["y_scale"], widths=meta["widths"],
                        activation=meta["activation"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path: {path}: invalid model description: {exc}") from None
        model.y_offset = float(meta["y_offset"])
        expected = [p.shape for p in model._params]
        params = []
        for i, shape in enumerate(expected):
            key = f"{'Wb'[i % 2]}{i // 2}"
            t = tensors.get(key)
            if t is None or tuple(t.shape) != tuple(shape) or t.dtype != torch.float32:
                got = None if t is None else (tuple(t.shape), t.dtype)
                raise ValueError(f"path: {path}: tensor {key} expected float32 {tuple(shape)}, got {got}")
            if not torch.isfinite(t).all():
                raise ValueError(f"path: {path}: tensor {key} holds non-finite values")
            params.append(t.clone())
        if set(tensors) != {f"{'Wb'[i % 2]}{i // 2}" for i in range(len(expected))}:
            raise ValueError(f"path: {path}: unexpected tensors {sorted(tensors)}")
        model._params = params
        return model

    def __repr__(self) -> str:
        w = "x".join(str(v) for v in self.widths)
        return f"Surrogate({self.dim} -> {w} {self.activation} -> 1, y_scale={self.y_scale:g})"
