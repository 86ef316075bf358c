"""``Box``: the axis-aligned domain of an oracle or a surrogate, and the one map onto the unit cube.

Every distance of the method (radii, neighbourhoods, step lengths) is measured in unit-box
coordinates u = (x - lo) / (hi - lo). Presets, surrogates, attacks, the defense and the plots all
normalize through this class; nothing else writes that formula.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._validate import check_int, check_matrix

__all__ = ["Box", "SamplingMethod", "sobol_unit"]

SamplingMethod = Literal["uniform", "sobol"]
SAMPLING_METHODS: tuple[str, ...] = ("uniform", "sobol")


@dataclass(frozen=True, eq=False)
class Box:
    """A box [lo, hi] in d dimensions with column ``names``; ``lo``, ``hi`` (d,) float64, read-only.

    Build one with ``Box(lo, hi)``, ``Box.from_bounds(bounds (d, 2))`` or ``Box.of(obj)`` (a Box, an
    object with a ``.box`` such as a preset, a surrogate or an oracle, or a (d, 2) bounds array).
    """

    lo: np.ndarray
    hi: np.ndarray
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        lo = _real_vector(self.lo, "lo")
        hi = _real_vector(self.hi, "hi")
        if lo.shape != hi.shape or lo.size == 0:
            raise ValueError(f"box: expected lo and hi of one shape (d,) with d >= 1, got {lo.shape} and {hi.shape}")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError(f"box: expected finite bounds, got lo={lo.tolist()} hi={hi.tolist()}")
        bad = np.flatnonzero(~(hi > lo))
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"box: expected high > low in every column; column {j} has [{float(lo[j])!r}, {float(hi[j])!r}]")
        if not np.isfinite(hi - lo).all():
            raise ValueError(f"box: the width hi - lo overflows; got lo={lo.tolist()} hi={hi.tolist()}")
        names = tuple(self.names) if self.names else tuple(f"x{j}" for j in range(lo.size))
        if len(names) != lo.size or not all(isinstance(n, str) for n in names):
            raise ValueError(f"names: expected {lo.size} strings, got {self.names!r}")
        lo.setflags(write=False)
        hi.setflags(write=False)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "names", names)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_bounds(cls, bounds: Any, names: tuple[str, ...] = ()) -> "Box":
        """From a (d, 2) array of [low, high] rows."""
        b = _real_array(bounds, "bounds", "(d, 2)")
        if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
            raise ValueError(f"bounds: expected shape (d, 2) with d >= 1, got {b.shape}")
        b = b.astype(np.float64)
        return cls(b[:, 0].copy(), b[:, 1].copy(), tuple(names))

    @classmethod
    def of(cls, obj: Any, name: str = "box") -> "Box":
        """The box of ``obj``: a Box, anything with a ``.box`` attribute, or (d, 2) bounds."""
        if isinstance(obj, Box):
            return obj
        inner = getattr(obj, "box", None)
        if isinstance(inner, Box):
            return inner
        if obj is None or isinstance(obj, (str, bytes, dict)):
            raise TypeError(f"{name}: expected an sg.Box, a preset or surrogate, or (d, 2) bounds; "
                            f"got {type(obj).__name__}")
        try:
            return cls.from_bounds(obj)
        except TypeError:
            raise TypeError(f"{name}: expected an sg.Box, a preset or surrogate, or (d, 2) bounds; "
                            f"got {type(obj).__name__}") from None

    # -- geometry --------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    @property
    def width(self) -> np.ndarray:
        """hi - lo: (d,)."""
        return self.hi - self.lo

    @property
    def bounds(self) -> np.ndarray:
        """(d, 2) [low, high] rows (a new array)."""
        return np.stack([self.lo, self.hi], axis=1)

    def normalize(self, X: Any) -> np.ndarray:
        """Unit-box coordinates of raw points X (n, d): (n, d) float64."""
        return (np.asarray(X, dtype=np.float64) - self.lo) / self.width

    def denormalize(self, U: Any) -> np.ndarray:
        """Raw points of unit-box coordinates U (n, d): (n, d) float64."""
        return self.lo + np.asarray(U, dtype=np.float64) * self.width

    def unit_distance(self, X: Any, centre: Any) -> np.ndarray:
        """Euclidean distance in the unit box of raw points X (n, d) to a unit-box ``centre`` (d,): (n,)."""
        U = self.normalize(X)
        return np.sqrt(np.sum((U - np.asarray(centre, dtype=np.float64)) ** 2, axis=1))

    def contains(self, X: Any) -> np.ndarray:
        """(n,) bool: rows of X inside the closed box."""
        X = np.asarray(X, dtype=np.float64)
        return np.all((X >= self.lo) & (X <= self.hi), axis=1)

    def clip(self, X: Any) -> np.ndarray:
        return np.clip(np.asarray(X, dtype=np.float64), self.lo, self.hi)

    def sample(self, n: int, seed: int = 0, method: SamplingMethod = "uniform") -> np.ndarray:
        """``n`` points of the box: (n, d) float64, i.i.d. uniform (PCG64 from ``seed``) or scrambled
        Sobol' (scipy, seeded; any n)."""
        n = check_int(n, "n", minimum=0)
        seed = check_int(seed, "seed", minimum=0)
        if method == "uniform":
            u = np.random.default_rng(seed).random((n, self.dim))
        elif method == "sobol":
            u = sobol_unit(n, self.dim, seed)
        else:
            raise ValueError(f"method: expected one of {SAMPLING_METHODS}, got {method!r}")
        return self.denormalize(u)

    def check_points(self, X: Any, name: str = "X") -> np.ndarray:
        """Validate points of this box's dimension: a C-contiguous (n, d) float64 array, finite.

        Real numeric dtypes are converted to float64 (the documented exception to "no silent
        conversion"); bool, complex, object and string dtypes are refused. Points outside the
        box are allowed: the box is the domain of sampling and normalization, not a constraint.
        """
        return check_matrix(X, name, self.dim)

    # -- comparison and serialization ------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Box) and self.dim == other.dim and bool(np.array_equal(self.lo, other.lo))
                and bool(np.array_equal(self.hi, other.hi)))

    def __hash__(self) -> int:
        return hash((self.lo.tobytes(), self.hi.tobytes()))

    def to_dict(self) -> dict:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "names": list(self.names)}

    def __repr__(self) -> str:
        cols = ", ".join(f"{n}=[{a:g}, {b:g}]" for n, a, b in zip(self.names, self.lo, self.hi))
        return f"Box({cols})"


def _real_array(v: Any, name: str, shape: str) -> np.ndarray:
    """``v`` as a new array of a real numeric dtype; strings, bool, complex, object refused."""
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{name}: expected a real {shape} array, got {type(v).__name__}")
    try:
        a = np.array(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real {shape} array, got {type(v).__name__}") from None
    if a.dtype == np.bool_ or a.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real numeric {shape} array, got dtype {a.dtype}")
    return a


def _real_vector(v: Any, name: str) -> np.ndarray:
    a = _real_array(v, name, "(d,)")
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array (d,), got shape {a.shape}")
    return a.astype(np.float64)


def sobol_unit(n: int, d: int, seed: int) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol' sequence in [0, 1)^d (scipy), seeded: (n, d).

    Drawn as the next power of two and cut, so any n is allowed; Sobol's balance properties hold
    exactly only at powers of two.
    """
    from scipy.stats import qmc

    if n == 0:
        return np.empty((0, d))
    m = max(0, int(np.ceil(np.log2(n))))
    return qmc.Sobol(d=d, scramble=True, seed=seed).random_base2(m)[:n]
