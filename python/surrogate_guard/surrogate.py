"""``Surrogate``: a small MLP standing in for an oracle, with fixed input/output scaling.

Inputs are normalized by the surrogate's ``Box`` (any dimension), the target is scaled by
``y_scale`` (a preset's spot, or the labels' spread at the first fit), so one set of training
settings fits every problem. Trained with torch; predicted by the native fused forward kernel
(``kernels.mlp_value``), with torch kept as the reference backend. Saved as one safetensors file
(weights plus a JSON description in its metadata): loading a model file can never run code, and
loading and predicting never import torch (``_torch_mlp`` holds every torch part).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import kernels

_FAST_ROWS = 4  # predict's few-point fast path (at most this many rows)
from ._device import Device, resolve_device
from ._model_file import check_meta, check_tensors, read_model, write_model
from ._validate import _F32_MAX, check_float, check_int, check_labels, check_points_as
from .box import Box
from .limits import MAX_THREADS, check_memory, check_threads
from .mlp_weights import ACTIVATIONS, MAX_HIDDEN_LAYERS, MAX_WIDTH, MLPWeights

if TYPE_CHECKING:
    import torch

Activation = Literal["silu", "tanh", "relu", "softplus"]
PredictBackend = Literal["native", "torch"]
# epochs="auto": at least this many epochs, and at least this many optimizer steps (the step
# budget of the reference fit, 16 000 points x 300 epochs at batch 256), so that a small
# training set is not under-trained: with a fixed epoch count it gets proportionally fewer steps.
AUTO_MIN_EPOCHS = 300
AUTO_STEPS = 18_750
# predict(backend="torch") evaluates at most this many rows at once (bounded working memory); chunks
# are of near-equal size, so none is a lone row (torch's matrix-vector path rounds differently).
PREDICT_CHUNK = 65_536

__all__ = ["Surrogate", "FitResult"]


@dataclass(frozen=True)
class FitResult:
    """What ``Surrogate.fit`` did: epochs run, best epoch, losses (in (price/scale)^2), seconds."""

    epochs_run: int
    best_epoch: int
    best_val_rmse: float  # price units; nan when val_fraction == 0
    final_train_rmse: float  # price units, of the restored weights on the training part
    seconds: float
    device: str


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
        self._dim = self.box.dim  # predict's fast path reads it
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
        self._seed = check_int(seed, "seed", minimum=0)
        # The weights [W0, b0, W1, ...] (float32) in one or both forms: read-only numpy arrays
        # (predict, export, save; what load sets) and torch tensors (fit; what fit sets). Neither:
        # not drawn yet (the first use draws them from ``seed`` with torch).
        self._np_params: list[np.ndarray] | None = None
        self._torch_params: list[torch.Tensor] | None = None
        self._reset_caches()

    def _reset_caches(self) -> None:
        """Forget everything derived from the weights (called whenever they change)."""
        self._predict_cache: list[torch.Tensor] | None = None  # float64 copies for predict(backend="torch")
        self._export_cache: dict[str, MLPWeights] = {}
        self._plans: dict[Any, Any] = {}  # (dtype name, device), or the dtype for the CPU fast path -> plan

    def __getstate__(self) -> dict:
        """Pickling (process pools) leaves the native plans behind: they belong to one process."""
        return {**self.__dict__, "_plans": {}}

    @property
    def _params(self) -> list[torch.Tensor]:
        """The weights as float32 torch tensors [W0, b0, W1, ...] (imports torch)."""
        if self._torch_params is None:
            from . import _torch_mlp

            if self._np_params is None:
                self._torch_params = _torch_mlp.init_params(self.dim, self.widths, self._seed)
            else:
                import torch

                self._torch_params = [torch.from_numpy(a.copy()) for a in self._np_params]
        return self._torch_params

    @_params.setter
    def _params(self, params: list[torch.Tensor]) -> None:
        self._torch_params, self._np_params = list(params), None
        self._reset_caches()

    def _weights32(self) -> list[np.ndarray]:
        """The weights as read-only float32 numpy arrays [W0, b0, W1, ...] (no torch once loaded)."""
        if self._np_params is None:
            params = [p.detach().cpu().numpy().astype(np.float32, copy=True) for p in self._params]
            for a in params:
                a.setflags(write=False)
            self._np_params = params
        return self._np_params

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
        s._np_params = list(self._weights32())  # read-only arrays: sharing them is safe
        s._reset_caches()
        return s

    def _forward(self, params: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """Scaled output (before y_scale/y_offset) of normalized inputs h: (n, d) -> (n,) (torch)."""
        from . import _torch_mlp

        return _torch_mlp.forward(self.activation, params, h)

    def _normalize(self, X: np.ndarray) -> np.ndarray:
        return self.box.normalize(X)

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
        X = self.box.check_points(X)
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
        import torch

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
        self._params = [p.cpu() for p in final]  # the setter forgets the caches (exports, native plans)
        with torch.no_grad():
            tr_mse = float(torch.mean((self._forward([p.to(dev) for p in self._params], train[0]) - train[1]) ** 2))
        return FitResult(epochs_run=epoch, best_epoch=best_epoch, best_val_rmse=math.sqrt(best_val) * self.y_scale,
                         final_train_rmse=math.sqrt(tr_mse) * self.y_scale, seconds=time.perf_counter() - t0,
                         device=dev.type)

    def _train(self, train, val, gen, dev, **settings):
        """The training loop (``_torch_mlp.train``) from the current weights through ``self._forward``."""
        from . import _torch_mlp

        return _torch_mlp.train(self._forward, self._params, train, val, gen, dev, **settings)

    # -- inference -----------------------------------------------------------------------------
    def predict(self, X: Any, *, dtype: Any = np.float64, backend: PredictBackend = "native",
                device: Device = "cpu", threads: int | None = None) -> np.ndarray:
        """Prices ``Y(X)`` for X (n, d): (n,) of ``dtype``, evaluated in that precision.

        dtype: np.float64 (the default, and what predict always returned) or np.float32 (about twice
        as fast; within float32 rounding of the float64 result, docs/mlp_kernel.md). backend="native":
        the fused forward kernel (``kernels.mlp_value``) on ``device`` ("cpu", the default, "cuda" or
        "auto") with ``threads`` CPU threads (None: the OpenMP default; no bit depends on it).
        backend="torch": the reference, the same network in torch on the CPU, PREDICT_CHUNK rows at a
        time. X: a real numeric (n, d) array-like, any layout, finite, converted to ``dtype``; the
        working memory (the output and that copy) is checked against ``limits.check_memory`` first.
        """
        if (type(X) is np.ndarray and X.ndim == 2 and 0 < X.shape[0] <= _FAST_ROWS and backend == "native"
                and (threads is None or (type(threads) is int and 1 <= threads <= MAX_THREADS)) and device == "cpu"
                and (dtype is np.float64 or dtype is np.float32)
                and X.dtype.kind == "f" and X.shape[1] == self._dim):
            # The few-point fast path (a production code pricing one point at a time): the same checks
            # as check_points_as in fewer steps (a finite sum means every value is finite; the float32
            # range when narrowing), the same kernel on a C-contiguous copy: the same bits.
            vals = X.ravel().tolist()
            t = sum(vals)
            if t - t == 0.0 and (dtype is np.float64 or (-_F32_MAX <= min(vals) and max(vals) <= _F32_MAX)):
                run = self._plans.get(dtype)
                if run is None:
                    run = self._plans[dtype] = self._plan(dtype, "cpu")
                out = np.empty(X.shape[0], dtype=dtype)
                run(X.astype(dtype, order="C"), out, threads or 0)
                return out
        if dtype is not np.float64 and dtype is not np.float32:
            dtype = _predict_dtype(dtype)
        if backend == "torch":
            if device != "cpu" or threads is not None:
                raise ValueError(f"backend='torch': the reference runs on the CPU with torch's threads; got "
                                 f"device={device!r}, threads={threads!r} (use backend='native')")
            return self._predict_torch(X, dtype)
        if backend != "native":
            raise ValueError(f"backend: expected 'native' or 'torch', got {backend!r}")
        nt = 0 if threads is None else check_threads(threads, "threads")
        Xc = check_points_as(X, self.box.dim, dtype, "predict on {n} rows", out_bytes=1)
        run = self._plans.get((dtype.__name__, device)) or self._plan(dtype, device)
        out = np.empty(Xc.shape[0], dtype=dtype)
        run(Xc, out, nt)
        return out

    def _plan(self, dtype: Any, device: Device) -> Any:
        """run(X, out, threads) with the native plan of ``export(dtype)`` on ``device``, cached until the
        weights change (``_reset_caches``)."""
        dev: Device = "cuda" if resolve_device(device) == "cuda" else "cpu"
        plan = kernels.native_plan(self.export(dtype), dev)
        run = plan.value if dev == "cpu" else (lambda X, out, _threads: plan.value_host(X, out))
        self._plans[(np.dtype(dtype).name, device)] = run
        return run

    def _predict_torch(self, X: Any, dtype: Any) -> np.ndarray:
        """The reference: the network in torch (float64 or float32) on the CPU, PREDICT_CHUNK rows at a time."""
        import torch

        from . import _torch_mlp

        X = self.box.check_points(X)
        n = X.shape[0]
        rows = min(n, PREDICT_CHUNK)
        check_memory(8.0 * (n + rows * (self.dim + 3 * max(self.widths))), f"predict on {n} rows")
        tdt = torch.float64 if dtype is np.float64 else torch.float32
        params = self._predict_cache
        if params is None or params[0].dtype != tdt:
            params = self._predict_cache = [torch.from_numpy(a.astype(dtype)) for a in self._weights32()]
        y = _torch_mlp.predict(self.activation, params, self._normalize(X), PREDICT_CHUNK)
        return (y * dtype(self.y_scale) + dtype(self.y_offset)).astype(dtype, copy=False)

    def __call__(self, X: Any) -> np.ndarray:
        return self.predict(X)

    def export(self, dtype=np.float64) -> MLPWeights:
        """The plain-array description (``sg.mlp_weights.MLPWeights``) consumed by the native kernels.

        Built once per dtype until the weights change (``fit``, ``load``), so every consumer shares
        one object (and the kernels' plan cached for it).
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype}")
        w = self._export_cache.get(dtype.name)
        if w is None:
            p = [a.astype(np.float64).astype(dtype) for a in self._weights32()]
            w = MLPWeights(tuple(p[0::2]), tuple(p[1::2]), self.activation, self.box.lo.astype(dtype),
                           (1.0 / self.box.width).astype(dtype), self.y_scale, self.y_offset)
            self._export_cache[dtype.name] = w
        return w

    def export_onnx(self, path: Any, dtype: Any = np.float32, *, opset: int | None = None) -> None:
        """Write the network as an ONNX graph (``onnx_export.mlp_to_onnx``; needs the ``onnx`` extra).

        Input ``X`` (n, d) and output ``Y`` (n,) of ``dtype``, n dynamic; the input normalization and
        the output scaling are inside the graph, so its Y is ``predict(X, dtype=dtype)`` to rounding.
        """
        from .onnx_export import mlp_to_onnx

        mlp_to_onnx(self.export(_predict_dtype(dtype)), path, opset=opset)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write one safetensors file: tensors ``W{l}``/``b{l}`` (float32) and a JSON description."""
        meta = {"widths": list(self.widths), "activation": self.activation, "bounds": self.bounds.tolist(),
                "names": list(self.box.names), "y_scale": self.y_scale, "y_offset": self.y_offset}
        write_model(path, meta, self._weights32())

    @classmethod
    def load(cls, path) -> "Surrogate":
        """Read a file written by ``save``; a corrupted or foreign file raises ValueError. No torch needed."""
        meta, tensors = read_model(path)
        try:
            check_meta(meta)
            box = Box.from_bounds(meta["bounds"], tuple(meta.get("names") or ()))
            model = cls(box, meta["y_scale"], widths=meta["widths"], activation=meta["activation"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path: {path}: invalid model description: {exc}") from None
        model.y_offset = float(meta["y_offset"])
        model._auto_scale = False
        shapes, prev = [], model.dim
        for out in (*model.widths, 1):
            shapes += [(out, prev), (out,)]
            prev = out
        model._np_params = check_tensors(path, tensors, shapes)
        model._reset_caches()
        return model

    def __repr__(self) -> str:
        w = "x".join(str(v) for v in self.widths)
        return f"Surrogate({self.dim} -> {w} {self.activation} -> 1, y_scale={self.y_scale:g})"


def _predict_dtype(dtype: Any) -> Any:
    """np.float32 or np.float64 (the scalar type) from any spelling numpy accepts; TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype!r}")
    return dt.type

