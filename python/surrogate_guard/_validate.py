"""Input validation at the Python boundary: one place, clear messages.

Every message names the argument (and for parameter arrays the column and the first
offending row), what was expected, and what came.
"""
from __future__ import annotations

from typing import Any

import math

import numba as nb
import numpy as np

from .limits import SMALL_BYTES, check_memory

COLUMNS = ("strike", "barrier", "volatility", "maturity", "rate")
# Columns 0..3 (strike, barrier, volatility, maturity) must be > 0; rate may be any finite number.


def as_points(X: Any, name: str = "X") -> np.ndarray:
    """Validate an oracle input and return it as a C-contiguous (n, 5) float64 array.

    Accepts any real numeric array-like (converted to float64: the documented exception to
    "no silent conversion", since pricing is always done in float64). Rejects bool, complex,
    object and string dtypes, wrong ndim or width, NaN/inf, and non-positive strike, barrier,
    volatility or maturity.
    """
    arr = _real_array(X, name, "(n, 5)")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array of shape (n, 5), got ndim={arr.ndim} shape={arr.shape}")
    if arr.shape[1] != len(COLUMNS):
        raise ValueError(
            f"{name}: expected {len(COLUMNS)} columns {COLUMNS}, got shape {arr.shape}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.shape[0] == 0:
        return arr
    row, col = _first_bad(arr)
    if row >= 0:
        v = arr[row, col]
        need = "finite" if not np.isfinite(v) else "> 0"
        raise ValueError(f"{name}: column {col} ({COLUMNS[col]}) must be {need}; row {row} holds {v!r}")
    return arr


def _real_array(X: Any, name: str, shape: str) -> np.ndarray:
    """X as an array of a real numeric dtype (not converted yet); bool, complex, object, str refused."""
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name}: expected a real numeric {shape} array, could not convert: {exc}") from None
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real numeric dtype (float or int), got dtype {arr.dtype}; "
                        f"convert with np.asarray({name}, dtype=np.float64)")
    return arr


@nb.njit(cache=True)
def _first_bad(X: np.ndarray) -> tuple[int, int]:
    """(row, col) of the first entry that is non-finite, or <= 0 in a positive column; (-1, -1) if none.

    One pass in row order: the validation of a million points costs a few ns each, not a
    handful of temporary arrays.
    """
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            v = X[i, j]
            if not np.isfinite(v) or (j < 4 and v <= 0.0):
                return i, j
    return -1, -1


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer argument of any size (Python or numpy int; bool and np.bool_ rejected), optionally
    bounded: checked here, as a Python int, before it can reach pybind11 or numpy."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
                         + f", got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an int <= {maximum}, got {value}")
    return value


def check_float(value: Any, name: str, *, positive: bool = False, nonneg: bool = False) -> float:
    """A finite real argument (Python or numpy int or float; bool and np.bool_ rejected), optionally
    > 0 or >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # a Python int beyond the float range
        raise ValueError(f"{name}: expected a finite number, got an int of {int(value).bit_length()} bits") from None
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and value <= 0.0:
        raise ValueError(f"{name}: expected > 0, got {value!r}")
    if nonneg and value < 0.0:
        raise ValueError(f"{name}: expected >= 0, got {value!r}")
    return value


def check_matrix(X: Any, name: str, d: int) -> np.ndarray:
    """A finite (n, d) real array as C-contiguous float64; errors name ``name``, the shape and the row."""
    arr = _real_array(X, name, f"(n, {d})")
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"{name}: expected a 2-d array of shape (n, {d}), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.size and not np.isfinite(arr).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name}: expected finite values; row {row}, column {col} holds {arr[row, col]!r}")
    return arr


def check_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """Finite real labels (n,) as float64; errors name ``name``, the shape and the first bad row."""
    arr = np.asarray(y)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) to match X, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: labels must be finite; row {int(np.argmax(~np.isfinite(arr)))} is not")
    return arr


_SMALL = 64  # check_points_as: up to this many values, checked one by one in Python (cheaper than ufuncs)
_F32_MAX = float(np.finfo(np.float32).max)
_ITEMSIZE = {np.float64: 8, np.float32: 4}


def check_points_as(X: Any, d: int, dtype: Any, what: str, name: str = "X", out_bytes: int = 0) -> np.ndarray:
    """X as a finite C-contiguous (n, d) array of ``dtype`` (np.float32 or np.float64), a copy only when
    needed; real numeric input of any layout is converted (values beyond float32's range are errors, not
    inf). The memory of the copy and of ``out_bytes`` values of ``dtype`` per row (the caller's output) is
    checked first (``what.format(n=n)`` names the call). Lean: a one-point call costs about a
    microsecond (the small case checks values one by one, without ufuncs)."""
    if type(X) is not np.ndarray or X.dtype.kind not in "fiu":
        X = _real_array(X, name, f"(n, {d})")
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"{name}: expected a 2-d array of shape (n, {d}), got shape {X.shape}")
    n, size = X.shape[0], _ITEMSIZE.get(dtype) or np.dtype(dtype).itemsize
    copy = X.dtype != dtype or not X.flags.c_contiguous
    nbytes = float(n) * size * (out_bytes + (d if copy else 0))
    if nbytes > SMALL_BYTES:  # check_memory passes smaller requests anyway: no message to format
        check_memory(nbytes, what.format(n=n))
    if X.size <= _SMALL:
        # One pass in C over Python floats: a finite sum means every value is finite (NaN and inf
        # propagate); a sum that overflows goes to the full check below, which names the entry.
        vals = X.ravel().tolist()
        narrow = size == 4 and X.dtype.kind == "f" and X.dtype.itemsize > 4
        if math.isfinite(sum(vals)) and (not narrow or not vals or -_F32_MAX <= min(vals) <= max(vals) <= _F32_MAX):
            return X.astype(dtype, order="C") if copy else X
        _raise_non_finite(X, dtype, name)
    if not copy:
        Xc = X
    else:
        with np.errstate(over="ignore"):  # beyond the float32 range: inf, reported below
            Xc = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(Xc).all():
        _raise_non_finite(X, dtype, name)
    return Xc


def _raise_non_finite(X: np.ndarray, dtype: Any, name: str) -> None:
    """ValueError naming the first entry of X that is not finite in ``dtype``, with X's own value."""
    with np.errstate(over="ignore"):
        row, col = (int(i) for i in np.argwhere(~np.isfinite(np.asarray(X, dtype=dtype)))[0])
    v = float(X[row, col])
    why = f" (beyond the {np.dtype(dtype).name} range; use dtype=np.float64)" if np.isfinite(v) else ""
    raise ValueError(f"{name}: expected finite values; row {row}, column {col} holds {v!r}{why}")
