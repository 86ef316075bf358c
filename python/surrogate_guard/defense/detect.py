"""``detect``: find suspicious error maximizers, check nearby training rows against the oracle,
and report suspects with the full cost of doing so.

Stages: signals (free) -> seeds -> batched ascent (oracle, budgeted) -> flag maximizers with a
large error inside dense data -> region growing around each flag, checking rows nearest first
and growing around every confirmed suspect, until the region stops yielding or the budget ends.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import as_points, check_float, check_int
from .budget import CountingOracle
from .infer import infer_poisoned
from .search import Maximizers, find_error_maximizers
from .seeding import TrainingSignals, choose_seeds


@dataclass(frozen=True)
class DetectionReport:
    """What ``detect`` found and what it cost.

    flagged: indices into ``maximizers`` judged suspicious (large error, dense data).
    suspects: training-row indices reported poisoned: ``confirmed`` (label checked against the
        oracle) plus ``inferred`` (label far from a local model of the oracle; not called).
    checked: training-row indices whose label was checked against the oracle.
    cost: oracle calls per stage, total, kernel steps, wall seconds per stage.
    """

    maximizers: Maximizers
    flagged: np.ndarray
    suspects: np.ndarray
    checked: np.ndarray
    oracle_values: np.ndarray  # (len(checked),) oracle at the checked rows
    cost: dict
    settings: dict
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    confirmed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # suspects checked by the oracle
    inferred: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # suspects from the local model

    def recall(self, is_poison: np.ndarray) -> float:
        """Share of truly poisoned rows reported as suspects."""
        n = int(np.count_nonzero(is_poison))
        return float(np.count_nonzero(is_poison[self.suspects]) / n) if n else float("nan")

    def false_positive_rate(self, is_poison: np.ndarray) -> float:
        """Share of clean rows wrongly reported as suspects."""
        n_clean = int(np.count_nonzero(~is_poison))
        return float(np.count_nonzero(~is_poison[self.suspects]) / n_clean) if n_clean else 0.0

    def region_hit(self, region, radius_factor: float = 1.0, maximizers_only: bool = False) -> bool:
        """Whether a flagged maximizer (or, unless ``maximizers_only``, a confirmed suspect) lies
        within ``radius_factor`` x the radius of the region's ball (``sg.attacks.TriggerRegion``)."""
        pts = [self.maximizers.points[self.flagged], self.X_train[self.confirmed if not maximizers_only else []]]
        pts = np.vstack([p for p in pts if len(p)]) if any(len(p) for p in pts) else np.empty((0, self.X_train.shape[1]))
        return bool(len(pts)) and bool(np.any(region.distance(pts) <= radius_factor * region.radius))

    def cleaned(self, mode: str = "drop") -> tuple[np.ndarray, np.ndarray]:
        """The training set with suspects dropped (``"drop"``) or relabelled with their oracle value."""
        keep = np.ones(len(self.y_train), dtype=bool)
        keep[self.suspects] = False
        if mode == "drop":
            return self.X_train[keep], self.y_train[keep]
        if mode == "relabel":
            # Confirmed suspects get their oracle value; inferred ones (never priced) are dropped.
            y = self.y_train.copy()
            pos = {int(r): i for i, r in enumerate(self.checked)}
            y[self.confirmed] = self.oracle_values[[pos[int(r)] for r in self.confirmed]]
            keep = np.ones(len(y), dtype=bool)
            keep[self.inferred] = False
            return self.X_train[keep], y[keep]
        raise ValueError(f"mode: expected 'drop' or 'relabel', got {mode!r}")

    def repair(self, surrogate, *, mode: str = "drop", **fit_kwargs):
        """Retrain a surrogate like ``surrogate`` (same box, widths, activation) on the cleaned set."""
        from ..surrogate import Surrogate

        X, y = self.cleaned(mode)
        fresh = Surrogate(surrogate.bounds, surrogate.y_scale, widths=surrogate.widths,
                          activation=surrogate.activation, seed=fit_kwargs.get("seed", 0))
        fresh.fit(X, y, **fit_kwargs)
        return fresh

    def to_dict(self) -> dict:
        mx = self.maximizers
        return {
            "flagged": [
                {"point": mx.points[i].tolist(), "error": float(mx.error[i]), "abs_error": float(np.sqrt(mx.error[i])),
                 "n_near": int(mx.n_near[i])} for i in self.flagged
            ],
            "n_maximizers": len(mx),
            "n_suspects": int(len(self.suspects)),
            "n_confirmed": int(len(self.confirmed)),
            "n_inferred": int(len(self.inferred)),
            "n_checked": int(len(self.checked)),
            "cost": self.cost,
            "settings": self.settings,
        }


def _default_label_tol(z: np.ndarray) -> np.ndarray:
    # A deterministic oracle reproduces an honest label to rounding; 1e-6 relative leaves room
    # for labels computed on another machine or with another (converged) engine.
    return 1e-6 * np.maximum(1.0, np.abs(z))


def detect(surrogate, oracle, X_train, y_train, *, oracle_budget: int, seed: int = 0, strategy: str = "mixed",
           search_fraction: float = 0.3, steps: int = 6, lr: float = 0.05, decay: float = 0.5,
           decay_every: int = 3, fd_step: float = 1e-3, merge_radius: float = 0.05, density_radius: float = 0.1,
           min_density: int = 20, error_threshold: float | None = None, check_radius: float = 0.1,
           grow_k: int = 8, batch: int = 32, label_tol=None, confirm_cap: int = 200, infer: bool = True,
           device: str = "cpu") -> DetectionReport:
    """Detect poisoned training rows of ``surrogate`` with at most ``oracle_budget`` oracle points.

    Args:
        X_train: (n, d) training inputs; y_train: (n,) their (possibly poisoned) labels.
        oracle_budget: total oracle points the defense may price (search + checks).
        strategy: seeding strategy (``seeding.SEED_STRATEGIES``).
        search_fraction: share of the budget for the ascent; the rest checks training rows.
        error_threshold: |Y - Z| above which a maximizer in dense data is flagged; default
            6 robust standard deviations (1.4826 x median) of the training residual |Y - y|: the
            defender's own estimate of fit quality, insensitive to a minority of poisoned rows.
        min_density: training points within ``density_radius`` for a maximizer to count as "in dense data".
        grow_k: around each confirmed suspect, its grow_k nearest training rows are checked next.
        confirm_cap: direct checks stop growing once this many suspects are confirmed; the rest of
            the cluster is inferred (``infer=True``) from a local quadratic model of the oracle fitted
            to every oracle value already paid for, then verified with whatever budget is left.
        label_tol: callable z -> tolerance, or a float; default 1e-6 max(1, |z|) (deterministic oracles).
    """
    t_all = time.perf_counter()
    X_train = as_points(X_train, "X_train")
    y_train = np.asarray(y_train, dtype=np.float64)
    if y_train.shape != (X_train.shape[0],):
        raise ValueError(f"y_train: expected shape ({X_train.shape[0]},) to match X_train, got {y_train.shape}")
    if not np.isfinite(y_train).all():
        raise ValueError(f"y_train: expected finite labels; row {int(np.argmax(~np.isfinite(y_train)))} is not")
    if isinstance(oracle_budget, bool) or not isinstance(oracle_budget, (int, np.integer)):
        raise TypeError(f"oracle_budget: expected an int, got {type(oracle_budget).__name__}")
    if oracle_budget <= 0:
        raise ValueError(f"oracle_budget: expected > 0 oracle calls, got {oracle_budget}")
    search_fraction = check_float(search_fraction, "search_fraction", positive=True)
    steps = check_int(steps, "steps", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    batch = check_int(batch, "batch", minimum=1)
    min_density = check_int(min_density, "min_density", minimum=0)
    grow_k = check_int(grow_k, "grow_k", minimum=1)
    confirm_cap = check_int(confirm_cap, "confirm_cap", minimum=1)
    rng = np.random.default_rng(seed)
    from .. import kernels

    d = X_train.shape[1]
    lo, hi = surrogate.bounds[:, 0], surrogate.bounds[:, 1]
    unit_train = (X_train - lo) / (hi - lo)
    Z = CountingOracle(oracle, budget=int(oracle_budget))
    timings: dict[str, float] = {}

    # 1. Free signals.
    t = time.perf_counter()
    weights = surrogate.export(np.float64)
    y_sur, g_sur = kernels.mlp_value_and_grad(weights, X_train, device=device)
    grad_norm = np.linalg.norm(np.asarray(g_sur) * (hi - lo), axis=1)
    signals = TrainingSignals(unit_train, y_train, np.asarray(y_sur), grad_norm, density_radius=density_radius)
    if error_threshold is None:
        # Robust to the poison itself: 6 robust standard deviations of the training residual.
        error_threshold = 6.0 * 1.4826 * float(np.median(np.abs(np.asarray(y_sur) - y_train)))
    error_threshold = check_float(error_threshold, "error_threshold", nonneg=True)
    timings["signals_s"] = time.perf_counter() - t

    # 2-3. Seeds and ascent, inside the search share of the budget.
    t = time.perf_counter()
    per_seed = steps * (2 * d + 1)
    m = max(1, int(search_fraction * oracle_budget) // per_seed)
    seeds_unit, seed_rows = choose_seeds(strategy, m, signals, d, rng)
    seeds_raw = lo + seeds_unit * (hi - lo)
    seeds_raw[seed_rows >= 0] = X_train[seed_rows[seed_rows >= 0]]
    search_oracle = CountingOracle(oracle, budget=max(1, int(search_fraction * oracle_budget)))
    search_oracle._cache = Z._cache  # one cache: points priced by the search are free for the checks
    mx = find_error_maximizers(surrogate, search_oracle, seeds=seeds_raw, steps=steps, lr=lr,
                               decay=decay, decay_every=decay_every, fd_step=fd_step, merge_radius=merge_radius,
                               seed=seed, X_train=X_train, density_radius=density_radius, device=device)
    Z.calls += search_oracle.calls
    timings["search_s"] = time.perf_counter() - t
    calls_search = Z.calls

    # 4. Flag: large error inside dense data; most suspicious first.
    big = np.sqrt(mx.error) >= error_threshold
    dense = mx.n_near >= min_density
    flagged = np.flatnonzero(big & dense)
    flagged = flagged[np.argsort(-mx.score[flagged], kind="stable")]

    # 5. Check training rows around each flag, growing around confirmed suspects.
    t = time.perf_counter()
    tol_fn = label_tol if callable(label_tol) else (
        _default_label_tol if label_tol is None else (lambda z, v=float(label_tol): np.full_like(z, v)))
    checked: dict[int, float] = {}
    suspects: list[int] = []
    # Seeds that are training rows were priced by the search: their labels are checked for free.
    rows = np.unique(seed_rows[seed_rows >= 0])
    seed_suspects: list[int] = []
    if len(rows):
        z = Z(X_train[rows])  # all cache hits
        bad = np.abs(y_train[rows] - z) > tol_fn(z)
        for i, zi, b in zip(rows, z, bad):
            checked[int(i)] = float(zi)
            if b:
                suspects.append(int(i))
                seed_suspects.append(int(i))
    def grow_checks(queue: list[int], cap: float, skip: set[int]) -> None:
        """Check queued rows in batches, nearest first; queue the k nearest rows of every new
        suspect (growth follows the data's own spacing, far finer inside a poisoned ball than
        elsewhere); stop after two barren batches, at ``cap`` suspects, or at the budget."""
        barren = 0
        while queue and barren < 2 and Z.remaining > 0 and len(suspects) < cap:
            take = [i for i in queue[:batch] if i not in checked and i not in skip]
            queue = queue[batch:]
            if not take:
                continue
            take = take[: int(min(len(take), Z.remaining))]
            z = Z(X_train[take])
            bad = np.abs(y_train[take] - z) > tol_fn(z)
            for i, zi, b in zip(take, z, bad):
                checked[i] = float(zi)
                if b:
                    suspects.append(i)
            new = [take[k] for k in np.flatnonzero(bad)]
            barren = 0 if new else barren + 1
            if new:
                _, nbrs = signals.tree.query(unit_train[new], k=min(grow_k + 1, len(unit_train)))
                grow = set(int(j) for j in np.atleast_2d(nbrs).ravel()) - set(checked) - set(queue) - skip
                queue = queue + sorted(grow, key=lambda i: np.min(np.linalg.norm(unit_train[new] - unit_train[i], axis=1)))

    starts = [mx.unit[fi] for fi in flagged] + [unit_train[i] for i in seed_suspects]
    for centre in starts:
        queue = list(signals.tree.query_ball_point(centre, r=check_radius))
        queue.sort(key=lambda i: np.linalg.norm(unit_train[i] - centre))
        grow_checks(queue, confirm_cap, set())
    timings["check_s"] = time.perf_counter() - t

    # 6. Infer the rest of a confirmed cluster from a local model of the oracle (no calls), then
    #    spend what is left of the budget verifying inferred rows, closest to the threshold first.
    t = time.perf_counter()
    inferred = np.empty(0, np.int64)
    infer_note: dict = {"inferred": 0, "reason": "disabled" if not infer else "no confirmed suspects"}
    if infer and suspects:
        # Rounds: each refits the model around every confirmed suspect (so the region it covers
        # grows as verification confirms more) and verifies what it can; stops when a round adds nothing.
        all_inferred: set[int] = set()
        verified = verified_wrong = 0
        for _ in range(8):
            keys = list(Z._cache)
            known_U = (np.frombuffer(b"".join(keys), dtype=np.float64).reshape(len(keys), d) - lo) / (hi - lo)
            known_z = np.fromiter((Z._cache[k] for k in keys), dtype=np.float64, count=len(keys))
            # Only oracle-confirmed rows define the cluster: unverified inferences never widen it.
            base = np.array(sorted(set(suspects)), dtype=np.int64)
            new, note = infer_poisoned(unit_train, y_train, signals.tree, base, known_U, known_z,
                                       set(checked) | all_inferred, grow_k=grow_k)
            infer_note = {**note, "rounds": infer_note.get("rounds", 0) + 1}
            if not len(new):
                break
            all_inferred.update(int(i) for i in new)
            if Z.remaining > 0:
                verify = new[: int(min(len(new), Z.remaining))]
                z = Z(X_train[verify])
                bad = np.abs(y_train[verify] - z) > tol_fn(z)
                for i, zi, b in zip(verify, z, bad):
                    checked[int(i)] = float(zi)
                    all_inferred.discard(int(i))
                    if b:
                        suspects.append(int(i))
                verified += len(verify)
                verified_wrong += int(np.count_nonzero(~bad))
        inferred = np.array(sorted(all_inferred), dtype=np.int64)
        infer_note.update(inferred=int(len(inferred)), verified=verified, verified_wrong=verified_wrong)
    # 7. Budget left (inference refused, or the cluster is larger than it reached): keep growing
    #    by direct checks around every confirmed suspect, without the cap.
    if suspects and Z.remaining > 0:
        _, nbrs = signals.tree.query(unit_train[sorted(set(suspects))], k=min(grow_k + 1, len(unit_train)))
        skip = set(int(i) for i in inferred)
        queue = sorted(set(int(j) for j in np.atleast_2d(nbrs).ravel()) - set(checked) - skip)
        grow_checks(queue, np.inf, skip)
    timings["infer_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_all
    checked_idx = np.fromiter(checked.keys(), dtype=np.int64, count=len(checked))
    cost = {
        "oracle_calls": int(Z.calls),
        "oracle_calls_search": int(calls_search),
        "oracle_calls_check": int(Z.calls - calls_search),
        "oracle_budget": int(oracle_budget),
        "relabel_all_calls": int(len(X_train)),
        "fraction_of_relabel_all": float(Z.calls / len(X_train)),
        "kernel_steps": int(mx.kernel_steps),
        **{k: float(v) for k, v in timings.items()},
    }
    cost["calls_free_seed_checks"] = int(len(rows))
    settings = {"strategy": strategy, "seeds": int(m), "steps": steps, "error_threshold": float(error_threshold),
                "min_density": min_density, "density_radius": density_radius, "check_radius": check_radius,
                "grow_k": grow_k, "seed": seed}
    settings["confirm_cap"] = confirm_cap
    cost["inference"] = infer_note
    confirmed = np.array(sorted(set(suspects)), dtype=np.int64)
    return DetectionReport(mx, flagged, np.union1d(confirmed, inferred).astype(np.int64), checked_idx,
                           np.array([checked[i] for i in checked_idx]), cost, settings, X_train, y_train,
                           confirmed=confirmed, inferred=inferred)
