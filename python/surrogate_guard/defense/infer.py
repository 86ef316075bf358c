"""Label checks without an oracle call per row: a local quadratic model of the oracle.

Once checks have confirmed a cluster of poisoned rows, every oracle value already paid for
near it (checked rows, the ascent's stencil points) fits a quadratic model of Z around the
cluster. Unchecked neighbours whose label departs from that model, in the direction and by
at least half of the confirmed shift, are inferred poisoned; the model's leave-one-out error
must be well below the shift, or nothing is inferred.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .training import TrainingView


def _features(D: np.ndarray) -> np.ndarray:
    """1, the d offsets and their d (d + 1) / 2 products: (n, 1 + d + d (d + 1) / 2)."""
    n, d = D.shape
    iu = np.triu_indices(d)
    quad = (D[:, :, None] * D[:, None, :])[:, iu[0], iu[1]]
    return np.hstack([np.ones((n, 1)), D, quad])


@dataclass(frozen=True)
class LocalModel:
    centre: np.ndarray
    coef: np.ndarray
    loo_rms: float  # leave-one-out RMS error of the fit, price units
    radius: float  # the model is used only this close to the centre (unit box)
    n_points: int

    def __call__(self, U: np.ndarray) -> np.ndarray:
        return _features((U - self.centre) / self.radius) @ self.coef


def fit_local_model(U: np.ndarray, z: np.ndarray, centre: np.ndarray, radius: float,
                    ridge: float = 1e-10) -> LocalModel | None:
    """Ridge-regularized quadratic least squares on the points within ``radius`` of ``centre``;
    None when there are too few points to fit (fewer than twice the coefficients)."""
    near = np.linalg.norm(U - centre, axis=1) <= radius
    # Offsets scaled by the radius: every feature is O(1), so the tiny ridge only guards rank.
    A = _features((U[near] - centre) / radius)
    if A.shape[0] < 2 * A.shape[1]:
        return None
    zn = z[near]
    G = A.T @ A + ridge * np.eye(A.shape[1])
    Ginv_At = np.linalg.solve(G, A.T)
    coef = Ginv_At @ zn
    h = np.einsum("ij,ji->i", A, Ginv_At)
    loo = (zn - A @ coef) / np.maximum(1.0 - h, 1e-6)
    return LocalModel(centre, coef, float(np.sqrt(np.mean(loo**2))), float(radius), int(A.shape[0]))


def infer_poisoned(view: TrainingView, confirmed: np.ndarray, known_U: np.ndarray, known_z: np.ndarray,
                   exclude: set[int], *, grow_k: int = 8, reliability: float = 4.0) -> tuple[np.ndarray, dict]:
    """Rows inferred poisoned around the ``confirmed`` ones (indices into ``view``), and a note on why/why not.

    known_U, known_z: every point (unit box) whose oracle value is known. ``exclude``: rows
    already checked. Growth follows each inferred row's ``grow_k`` nearest rows, inside the
    model's radius, and within twice the confirmed rows' spacing of an oracle value it was fitted to.
    """
    unit_train, y_train, tree = view.unit, view.y, view.tree
    if len(confirmed) < 3:
        return np.empty(0, np.int64), {"inferred": 0, "reason": "fewer than 3 confirmed suspects"}
    Uc = unit_train[confirmed]
    centre = Uc.mean(axis=0)
    radius = float(np.max(np.linalg.norm(Uc - centre, axis=1))) + 0.05
    model = fit_local_model(known_U, known_z, centre, radius)
    if model is None:
        return np.empty(0, np.int64), {"inferred": 0, "reason": "too few oracle values near the suspects"}
    delta = y_train[confirmed] - model(Uc)
    shift = float(np.median(delta))
    note: dict = {"shift": shift, "model_loo_rms": model.loo_rms, "model_points": model.n_points, "radius": radius}
    if abs(shift) < reliability * model.loo_rms:
        note.update(inferred=0, reason="local oracle model not accurate enough against the shift")
        return np.empty(0, np.int64), note
    tau = 0.5 * abs(shift)
    sign = np.sign(shift)
    # The model is trusted only near the oracle values it was fitted to: within twice the median
    # nearest-neighbour spacing of the confirmed rows (the data's scale; the stencil points of the
    # ascent are far denser and would make it meaningless), so it never extrapolates.
    from scipy.spatial import cKDTree

    near = np.linalg.norm(known_U - centre, axis=1) <= radius
    ktree = cKDTree(known_U[near])
    spacing = float(np.median(cKDTree(Uc).query(Uc, k=2)[0][:, 1]))
    support = 2.0 * max(spacing, 1e-9)
    note["support"] = support
    inferred: set[int] = set()
    frontier = list(confirmed)
    seen = set(exclude) | set(int(i) for i in confirmed)
    while frontier:
        _, nb = tree.query(unit_train[frontier], k=min(grow_k + 1, len(unit_train)))
        cand = np.array(sorted(set(int(j) for j in np.atleast_2d(nb).ravel()) - seen), dtype=np.int64)
        seen.update(int(c) for c in cand)
        if not len(cand):
            break
        inside = np.linalg.norm(unit_train[cand] - centre, axis=1) <= radius
        inside &= ktree.query(unit_train[cand])[0] <= support
        cand = cand[inside]
        hit = cand[sign * (y_train[cand] - model(unit_train[cand])) > tau]
        inferred.update(int(i) for i in hit)
        frontier = list(hit)
    note.update(inferred=len(inferred), threshold=tau)
    return np.array(sorted(inferred), dtype=np.int64), note
