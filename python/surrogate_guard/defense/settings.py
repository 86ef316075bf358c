"""Settings that travel together: ``SearchSettings`` (the ascent) and ``CheckSettings`` (flagging,
label checks, inference). Frozen, validated on construction, ``replace``-able, ``to_dict``-able.

The defaults are the documented ones (docs/choices.md, docs/defense.md). ``DETECT_SEARCH`` is the
shorter ascent ``detect`` runs by default: it spends most of its budget checking labels.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from .._validate import check_float, check_int

__all__ = ["SearchSettings", "CheckSettings", "DETECT_SEARCH", "Dtype"]

Dtype = Literal["float64", "float32"]


@dataclass(frozen=True)
class SearchSettings:
    """The batched ascent on (Y - Z)^2.

    steps: iterations; each prices m (2d + 1) stencil points and makes one fused kernel call.
    lr: initial step length in the unit box; times ``decay`` every ``decay_every`` steps.
    fd_step: central-difference half-width of the oracle gradient, a fraction of each box width.
    merge_radius: maximizers closer than this (unit box) merge, keeping the largest error.
    density_radius: training points within this distance count as a maximizer's neighbours.
    dtype: precision of the surrogate's kernel ("float64" or "float32").
    oracle_gradient: "auto" (the oracle's native gradient where it has one, ``has_grad``, else
        central differences), "native" (required: an error for an oracle without one) or
        "differences" (always central differences, 2d + 1 prices per seed and step).
    """

    steps: int = 30
    lr: float = 0.05
    decay: float = 0.5
    decay_every: int = 10
    fd_step: float = 1e-3
    merge_radius: float = 0.05
    density_radius: float = 0.1
    dtype: Dtype = "float64"
    oracle_gradient: Literal["auto", "native", "differences"] = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", check_int(self.steps, "steps", minimum=1))
        object.__setattr__(self, "lr", check_float(self.lr, "lr", positive=True))
        object.__setattr__(self, "decay", check_float(self.decay, "decay", positive=True))
        object.__setattr__(self, "decay_every", check_int(self.decay_every, "decay_every", minimum=1))
        object.__setattr__(self, "fd_step", check_float(self.fd_step, "fd_step", positive=True))
        object.__setattr__(self, "merge_radius", check_float(self.merge_radius, "merge_radius", nonneg=True))
        object.__setattr__(self, "density_radius", check_float(self.density_radius, "density_radius", positive=True))
        try:
            name = np.dtype(self.dtype).name  # np.float32 and "float32" alike
        except TypeError:
            name = None
        if name not in ("float64", "float32"):
            raise ValueError(f"dtype: expected 'float64' or 'float32', got {self.dtype!r}")
        object.__setattr__(self, "dtype", name)
        if self.oracle_gradient not in ("auto", "native", "differences"):
            raise ValueError(f"oracle_gradient: expected 'auto', 'native' or 'differences', got {self.oracle_gradient!r}")

    def step_length(self, t: int) -> float:
        return self.lr * self.decay ** (t // self.decay_every)

    def replace(self, **changes: Any) -> "SearchSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DETECT_SEARCH = SearchSettings(steps=6, decay_every=3)


@dataclass(frozen=True)
class CheckSettings:
    """How ``detect`` flags maximizers and checks labels.

    search_fraction: share of the oracle budget for the ascent; the rest checks training rows.
    error_threshold: |Y - Z| above which a maximizer in dense data is flagged; None: 6 robust
        standard deviations (1.4826 x median) of the training residual |Y - y|.
    min_density: training points within ``SearchSettings.density_radius`` for "dense data".
    check_radius: training rows within this distance of a flagged maximizer are checked first.
    grow_k: around each confirmed suspect, its grow_k nearest rows are checked next.
    batch: rows per oracle batch of the checks.
    confirm_cap: direct checks stop growing at this many confirmed suspects; the rest is inferred.
    infer: infer the rest of a confirmed cluster from a local model of the oracle.
    k_sigma: a label is wrong when |y - Z| > k_sigma sqrt(se_y^2 + se_Z^2) + rel_tol max(1, |Z|).
    rel_tol: the deterministic floor of that tolerance (rounding, another converged engine).
    label_tol: None (the rule above), a number (an absolute tolerance), or a callable
        ``(X, z, z_stderr, y_stderr) -> (n,)`` tolerances.
    """

    search_fraction: float = 0.3
    error_threshold: float | None = None
    min_density: int = 20
    check_radius: float = 0.1
    grow_k: int = 8
    batch: int = 32
    confirm_cap: int = 200
    infer: bool = True
    k_sigma: float = 5.0
    rel_tol: float = 1e-6
    label_tol: float | Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        frac = check_float(self.search_fraction, "search_fraction", positive=True)
        if frac >= 1.0:
            raise ValueError(f"search_fraction: expected a share in (0, 1), got {frac}")
        object.__setattr__(self, "search_fraction", frac)
        if self.error_threshold is not None:
            object.__setattr__(self, "error_threshold", check_float(self.error_threshold, "error_threshold",
                                                                    nonneg=True))
        object.__setattr__(self, "min_density", check_int(self.min_density, "min_density", minimum=0))
        object.__setattr__(self, "check_radius", check_float(self.check_radius, "check_radius", positive=True))
        object.__setattr__(self, "grow_k", check_int(self.grow_k, "grow_k", minimum=1))
        object.__setattr__(self, "batch", check_int(self.batch, "batch", minimum=1))
        object.__setattr__(self, "confirm_cap", check_int(self.confirm_cap, "confirm_cap", minimum=1))
        if not isinstance(self.infer, (bool, np.bool_)):
            raise TypeError(f"infer: expected a bool, got {type(self.infer).__name__}")
        object.__setattr__(self, "k_sigma", check_float(self.k_sigma, "k_sigma", nonneg=True))
        object.__setattr__(self, "rel_tol", check_float(self.rel_tol, "rel_tol", nonneg=True))
        tol = self.label_tol
        if tol is not None and not callable(tol):
            object.__setattr__(self, "label_tol", check_float(tol, "label_tol", nonneg=True))

    def replace(self, **changes: Any) -> "CheckSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if callable(d["label_tol"]):
            d["label_tol"] = getattr(self.label_tol, "__name__", "callable")
        return d


_SEARCH_FIELDS = {f.name for f in dataclasses.fields(SearchSettings)}
_CHECK_FIELDS = {f.name for f in dataclasses.fields(CheckSettings)}


def apply_legacy(where: str, search: SearchSettings, check: CheckSettings | None,
                 legacy: dict[str, Any]) -> tuple[SearchSettings, CheckSettings | None]:
    """Fold the keyword arguments of the 0.1.0 signatures into the settings, with a DeprecationWarning."""
    if not legacy:
        return search, check
    unknown = sorted(k for k in legacy if k not in _SEARCH_FIELDS and (check is None or k not in _CHECK_FIELDS))
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword arguments {unknown}")
    warnings.warn(f"{where}({', '.join(sorted(legacy))}=...) is deprecated: pass search=SearchSettings(...)"
                  + ("" if check is None else " / check=CheckSettings(...)"), DeprecationWarning, stacklevel=3)
    s = {k: v for k, v in legacy.items() if k in _SEARCH_FIELDS}
    c = {k: v for k, v in legacy.items() if k not in _SEARCH_FIELDS}
    return search.replace(**s), (check.replace(**c) if check is not None else None)
