"""``Surrogate``: a small PyTorch MLP standing in for an oracle, with fixed input/output scaling.

Inputs are normalized by the surrogate's ``Box`` (any dimension), the target is scaled by
``y_scale`` (a preset's spot, or the labels' spread at the first fit), so one set of training
settings fits every problem. Saved as one safetensors file (weights plus a JSON
description in its metadata): loading a model file can never run code.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
import warnings
from typing import Any, Literal

import numpy as np
import torch

from ._device import Device, resolve_device
from ._validate import check_float, check_int, check_labels
from .box import Box
from .limits import check_memory
from .mlp_weights import ACTIVATIONS, MAX_HIDDEN_LAYERS, MAX_WIDTH, MLPWeights

Activation = Literal["silu", "tanh", "relu", "softplus"]
# epochs="auto": at least this many epochs, and at least this many optimizer steps (the step
# budget of the reference fit, 16 000 points x 300 epochs at batch 256), so that a small
# training set is not under-trained: with a fixed epoch count it gets proportionally fewer steps.
AUTO_MIN_EPOCHS = 300
AUTO_STEPS = 18_750
# predict evaluates at most this many rows at once (bounded working memory); chunks are of
# near-equal size, so none is a lone row (torch's matrix-vector path rounds differently).
PREDICT_CHUNK = 65_536

__all__ = ["Surrogate", "FitResult"]

_FORMAT = "surrogate-guard/mlp-v1"
_ACT: dict[str, Any] = {
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
        ok = meta.get("format") == _FORMAT
    except (KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValueError(f"path: {path} has no valid {_FORMAT!r} description in its metadata")
    return meta, tensors


def _check_meta(meta: dict) -> None:
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


def auto_epochs(n_train: int, batch_size: int) -> int:
    """Epochs of ``fit(epochs="auto")``: max(300, the epochs that make 18 750 steps)."""
    steps_per_epoch = max(1, -(-n_train // batch_size))
    return max(AUTO_MIN_EPOCHS, -(-AUTO_STEPS // steps_per_epoch))


class Surrogate:
    """MLP ``Y(x)``: d -> widths (activation) -> 1, ``Y = y_scale * out + y_offset``.

    Args:
        box: an ``sg.Box``, anything with a ``.box`` (a preset, another surrogate, an oracle), or
            (d, 2) [low, high] bounds; fixes the input dimension and normalization.
        y_scale: target scale; default a preset option's spot, else "auto": the first ``fit``
            sets ``y_offset`` to the labels' mean and ``y_scale`` to their standard deviation.
        widths: hidden widths, 1..6 layers of 1..128 units (the native kernels' limits).
        activation: one of ("silu", "tanh", "relu", "softplus").
        seed: seeds the initial weights (a private torch.Generator; global RNG untouched).
    """

    def __init__(self, box: Any = None, y_scale: float | None = None, *, widths=(64, 64, 64, 64),
                 activation: Activation = "silu", seed: int = 0, preset: Any = None, spot: float | None = None) -> None:
        if preset is not None:  # deprecated keyword names (0.1.0), see CHANGELOG.md
            warnings.warn("Surrogate(preset=...) is deprecated; pass the box (or preset) positionally",
                          DeprecationWarning, stacklevel=2)
            box = preset if box is None else box
        if spot is not None:
            warnings.warn("Surrogate(spot=...) is deprecated; use y_scale=", DeprecationWarning, stacklevel=2)
            y_scale = spot if y_scale is None else y_scale
        self.box = Box.of(box, "box")
        option = getattr(box, "option", None)
        if y_scale is None and option is not None and hasattr(option, "spot"):
            y_scale = option.spot
        self._auto_scale = y_scale is None
        self.y_scale = 1.0 if y_scale is None else check_float(y_scale, "y_scale", positive=True)
        self.y_offset = 0.0
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
            raise TypeError(f"widths: expected a sequence of ints, got {widths!r}")
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
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._predict_cache: list[torch.Tensor] | None = None
        self._export_cache: dict[str, MLPWeights] = {}

    # -- construction -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.box.dim

    @property
    def bounds(self) -> np.ndarray:
        """(d, 2) [low, high] of the box (a new array)."""
        return self.box.bounds

    def like(self, *, seed: int = 0) -> "Surrogate":
        """A fresh, untrained surrogate of the same box, scaling, widths and activation."""
        if self._auto_scale:  # not fitted yet and no natural scale: the copy standardizes at its first fit too
            return Surrogate(self.box, None, widths=self.widths, activation=self.activation, seed=seed)
        s = Surrogate(self.box, self.y_scale, widths=self.widths, activation=self.activation, seed=seed)
        s.y_offset, s._auto_scale = self.y_offset, False
        return s

    def copy(self) -> "Surrogate":
        """An independent copy with the same weights (fine-tuning starts from one)."""
        s = self.like()
        s._params = [p.detach().clone() for p in self._params]
        s._reset_caches()
        return s

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
        return self.box.normalize(X)

    def _check_X(self, X: Any, name: str = "X") -> np.ndarray:
        return self.box.check_points(X, name)

    # -- training ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, epochs: int | Literal["auto"] = "auto", lr: float = 3e-3, batch_size: int = 256,
            seed: int = 0, val_fraction: float = 0.1, patience: int | None = None,
            weight_decay: float = 0.0, device: Device = "auto") -> FitResult:
        """Train by MSE on ``X`` (n, d) float64 and labels ``y`` (n,) float64.

        Adam with a one-cycle learning-rate schedule peaking at ``lr``; a ``val_fraction`` of
        the points (drawn with ``seed``) is held out, the weights with the lowest validation
        error are kept, and training stops after ``patience`` epochs without improvement
        (default: a fifth of ``epochs``, at least 20). ``epochs="auto"`` (the default) runs at least
        300 epochs and at least 18 750 optimizer steps, so that a small set gets the step budget of
        a 16 000-point, 300-epoch fit instead of a fraction of it. Deterministic given ``seed`` on one
        device and thread count: shuffling and the split use a private torch.Generator.
        """
        X = self._check_X(X)
        y_arr = check_labels(y, X.shape[0], "y")
        lr = check_float(lr, "lr", positive=True)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        seed = check_int(seed, "seed", minimum=0)
        val_fraction = check_float(val_fraction, "val_fraction", nonneg=True)
        if val_fraction >= 1.0:
            raise ValueError(f"val_fraction: expected in [0, 1), got {val_fraction}")
        n_tr = X.shape[0] - int(round(val_fraction * X.shape[0]))
        if isinstance(epochs, str) and epochs != "auto":
            raise ValueError(f"epochs: expected an int >= 1 or 'auto', got {epochs!r}")
        epochs = auto_epochs(n_tr, batch_size) if epochs == "auto" else check_int(epochs, "epochs", minimum=1)
        patience = max(20, epochs // 5) if patience is None else check_int(patience, "patience", minimum=1)
        weight_decay = check_float(weight_decay, "weight_decay", nonneg=True)
        dev = torch.device(resolve_device(device, "torch"))
        n = X.shape[0]
        n_val = int(round(val_fraction * n))
        if n - n_val < 1:
            raise ValueError(f"X: expected at least one training point after the validation split, got n={n}")
        scaling = (self.y_offset, self.y_scale, self._auto_scale)  # restored when training diverges
        if self._auto_scale:
            # First fit of a surrogate without a natural price scale: standardize the labels.
            self.y_offset = float(y_arr.mean())
            self.y_scale = float(y_arr.std()) if y_arr.std() > 0 else 1.0
            self._auto_scale = False
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=gen)
        H = torch.as_tensor(self._normalize(X), dtype=torch.float32)
        T = torch.as_tensor((y_arr - self.y_offset) / self.y_scale, dtype=torch.float32)
        train = (H[perm[n_val:]].to(dev), T[perm[n_val:]].to(dev))
        val = (H[perm[:n_val]].to(dev), T[perm[:n_val]].to(dev)) if n_val else None
        t0 = time.perf_counter()
        try:
            final, epoch, best_epoch, best_val = self._train(train, val, gen, dev, epochs=epochs, lr=lr,
                                                             batch_size=batch_size, patience=patience,
                                                             weight_decay=weight_decay)
        except RuntimeError:
            self.y_offset, self.y_scale, self._auto_scale = scaling
            raise
        self._params = [p.cpu() for p in final]
        self._reset_caches()
        with torch.no_grad():
            tr_mse = float(torch.mean((self._forward([p.to(dev) for p in self._params], train[0]) - train[1]) ** 2))
        return FitResult(epochs_run=epoch, best_epoch=best_epoch, best_val_rmse=math.sqrt(best_val) * self.y_scale,
                         final_train_rmse=math.sqrt(tr_mse) * self.y_scale, seconds=time.perf_counter() - t0,
                         device=dev.type)

    def _train(self, train, val, gen: torch.Generator, dev: torch.device, *, epochs: int, lr: float,
               batch_size: int, patience: int, weight_decay: float):
        """Adam + one-cycle minibatch loop: (final params, epochs run, best epoch, best val MSE or nan).

        With a validation split the best weights are kept and training stops after ``patience``
        epochs without improvement; without one, the last weights. A non-finite training loss (checked
        every epoch, with or without a validation split), validation loss or final weight raises
        RuntimeError; the caller's weights and scaling are left untouched.
        """
        (Htr, Ttr), n_tr = train, train[0].shape[0]
        params = [p.detach().clone().to(dev).requires_grad_(True) for p in self._params]
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        steps = (n_tr + batch_size - 1) // batch_size
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
        best = (math.inf, 0, [p.detach().clone() for p in params])
        epoch = 0
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n_tr, generator=gen).to(dev)
            epoch_loss = torch.zeros((), device=dev)
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                loss = torch.mean((self._forward(params, Htr[idx]) - Ttr[idx]) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                epoch_loss += loss.detach()
            if not math.isfinite(t := float(epoch_loss)):  # one device sync per epoch
                raise RuntimeError(f"fit: the training loss became {t} at epoch {epoch} (diverged); lower lr "
                                   f"(got {lr}) or check the labels' scale; the surrogate is left unchanged")
            if val is not None:
                with torch.no_grad():
                    v = float(torch.mean((self._forward(params, val[0]) - val[1]) ** 2))
                if not math.isfinite(v):
                    raise RuntimeError(f"fit: validation loss became {v} at epoch {epoch}; lower lr (got {lr})")
                if v < best[0]:
                    best = (v, epoch, [p.detach().clone() for p in params])
                elif epoch - best[1] >= patience:
                    break
        final = best[2] if val is not None else [p.detach().clone() for p in params]
        bad = [i for i, p in enumerate(final) if not bool(torch.isfinite(p).all())]
        if bad:
            raise RuntimeError(f"fit: the weights became non-finite (parameter tensors {bad}); lower lr (got {lr})")
        if val is None:
            return final, epoch, epoch, math.nan
        return final, epoch, best[1], best[0]

    # -- inference -----------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Prices ``Y(X)`` for X (n, d): (n,) float64, evaluated in float64 on the CPU.

        At most ``PREDICT_CHUNK`` rows at a time, so working memory is bounded; the (n,) output is
        checked against ``limits.check_memory`` first. Rows are independent: chunking changes no bit.
        """
        X = self._check_X(X)
        n = X.shape[0]
        rows = min(n, PREDICT_CHUNK)
        check_memory(8.0 * (n + rows * (self.dim + 3 * max(self.widths))), f"predict on {n} rows")
        params = self._predict_cache
        if params is None:
            params = self._predict_cache = [p.detach().to(torch.float64) for p in self._params]
        out = np.empty(n, dtype=np.float64)
        k = max(1, -(-n // PREDICT_CHUNK))  # k near-equal chunks [i n / k, (i + 1) n / k)
        with torch.no_grad():
            for a, b in ((i * n // k, (i + 1) * n // k) for i in range(k)):
                out[a:b] = self._forward(params, torch.from_numpy(self._normalize(X[a:b]))).numpy()
        return out * self.y_scale + self.y_offset

    def __call__(self, X: Any) -> np.ndarray:
        return self.predict(X)

    def export(self, dtype=np.float64) -> MLPWeights:
        """The plain-array description (``sg.mlp_weights.MLPWeights``) consumed by the native kernels.

        Built once per dtype until the weights change (``fit``), so every consumer shares one
        object (and the kernels' plan cached for it).
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype}")
        w = self._export_cache.get(dtype.name)
        if w is None:
            p = [t.detach().to(torch.float64).numpy().astype(dtype) for t in self._params]
            w = MLPWeights(tuple(p[0::2]), tuple(p[1::2]), self.activation, self.box.lo.astype(dtype),
                           (1.0 / self.box.width).astype(dtype), self.y_scale, self.y_offset)
            self._export_cache[dtype.name] = w
        return w

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write one safetensors file: tensors ``W{l}``/``b{l}`` (float32) and a JSON description."""
        from safetensors.torch import save_file

        meta = {"format": _FORMAT, "widths": list(self.widths), "activation": self.activation,
                "bounds": self.bounds.tolist(), "names": list(self.box.names), "y_scale": self.y_scale, "y_offset": self.y_offset}
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
            _check_meta(meta)
            box = Box.from_bounds(meta["bounds"], tuple(meta.get("names") or ()))
            model = cls(box, meta["y_scale"], widths=meta["widths"], activation=meta["activation"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path: {path}: invalid model description: {exc}") from None
        model.y_offset = float(meta["y_offset"])
        model._auto_scale = False
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
        model._reset_caches()
        return model

    def __repr__(self) -> str:
        w = "x".join(str(v) for v in self.widths)
        return f"Surrogate({self.dim} -> {w} {self.activation} -> 1, y_scale={self.y_scale:g})"
