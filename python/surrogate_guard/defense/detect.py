"""``detect``: find suspicious error maximizers, check nearby training rows against the oracle,
and report suspects with the full cost of doing so. Any oracle, any dimension.

The stages, in order, each a function below:
  1. ``training_signals``  free per-row signals (surrogate residual, gradient, density)
  2. ``search_seeds``      where the ascent starts (``seeding.choose_seeds``)
  3. ``run_search``        batched ascent inside the search share of the budget
  4. ``flag_maximizers``   large error inside dense data
  5. ``check_around``      label checks growing from every flag and every poisoned seed
  6. ``infer_cluster``     the rest of a confirmed cluster from a local model of the oracle
  7. ``spend_rest``        the budget left goes to uncapped checks around confirmed suspects
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._device import Device
from .._validate import check_int
from ..oracles.base import OracleLike, check_oracle, has_grad, price_equivalents
from ..oracles.budgeted import BudgetedOracle
from .checks import LabelChecker
from .infer import infer_poisoned
from .report import DetectionCost, DetectionReport
from .search import Maximizers, find_error_maximizers
from .seeding import SEED_STRATEGIES, Strategy, TrainingSignals, choose_seeds
from .settings import DETECT_SEARCH, CheckSettings, SearchSettings, apply_legacy
from .training import TrainingView

__all__ = ["detect"]

_INFER_ROUNDS = 8  # inference rounds at most; each refits around every confirmed suspect


@dataclass
class _Run:
    """What the stages share: built once per ``detect``."""

    surrogate: Any
    view: TrainingView
    oracle: BudgetedOracle
    checker: LabelChecker
    search: SearchSettings
    check: CheckSettings
    device: Device
    threads: int | None
    timings: dict[str, float] = field(default_factory=dict)


def detect(surrogate: Any, oracle: OracleLike, X_train: Any, y_train: Any, *, oracle_budget: int, seed: int = 0,
           strategy: Strategy = "mixed", search: SearchSettings | None = None, check: CheckSettings | None = None,
           y_stderr: Any = None, device: Device = "auto", threads: int | None = None, **legacy: Any) -> DetectionReport:
    """Detect poisoned training rows of ``surrogate`` with at most ``oracle_budget`` oracle points.

    Args:
        X_train: (n, d) training inputs; y_train: (n,) their (possibly poisoned) labels.
        oracle: any oracle of the surrogate's dimension (a ``BudgetedOracle`` shares its cache).
        oracle_budget: total oracle points the defense may price (search + checks).
        strategy: seeding strategy (``seeding.SEED_STRATEGIES``).
        search: ``SearchSettings`` of the ascent; default ``DETECT_SEARCH`` (6 steps).
        check: ``CheckSettings``: budget split, flagging, label tolerance, growth, inference.
        y_stderr: (n,) standard errors of the labels; None assumes the oracle's own at each row.
        device, threads: the surrogate's kernels.
    """
    t_all = time.perf_counter()
    search, check = apply_legacy("detect", search or DETECT_SEARCH, check or CheckSettings(), legacy)
    assert check is not None
    budget = _check_budget(oracle_budget)
    seed = check_int(seed, "seed", minimum=0)
    if strategy not in SEED_STRATEGIES:
        raise ValueError(f"strategy: expected one of {SEED_STRATEGIES}, got {strategy!r}")
    view = TrainingView.build(surrogate.box, X_train, y_train, y_stderr)
    Z = BudgetedOracle(check_oracle(oracle, "oracle", view.box.dim), budget)
    run = _Run(surrogate, view, Z, LabelChecker(view, Z, check), search, check, device, threads)
    rng = np.random.default_rng(seed)

    signals, threshold = _timed(run, "signals_s", training_signals, run)
    seeds_raw, seed_rows = search_seeds(run, signals, strategy, budget, rng)
    mx = _timed(run, "search_s", run_search, run, seeds_raw, budget, seed)
    calls_search = Z.calls
    flagged = flag_maximizers(mx, threshold, check.min_density)
    t = time.perf_counter()
    n_free = check_around(run, mx, flagged, seed_rows)
    run.timings["check_s"] = time.perf_counter() - t
    t = time.perf_counter()
    inferred, note = infer_cluster(run)
    spend_rest(run, inferred)
    run.timings["infer_s"] = time.perf_counter() - t
    run.timings["total_s"] = time.perf_counter() - t_all

    cost = DetectionCost(oracle_calls=Z.calls, oracle_calls_search=calls_search,
                         oracle_calls_check=Z.calls - calls_search, oracle_budget=budget,
                         relabel_all_calls=len(view), kernel_steps=mx.kernel_steps, calls_free_seed_checks=n_free,
                         inference=note, grad_calls=Z.grad_calls,
                         price_equivalents=price_equivalents(Z.calls, Z.grad_calls, mx.grad_ratio),
                         grad_ratio=mx.grad_ratio, checks_inconclusive=len(run.checker.inconclusive), **run.timings)
    settings = {"strategy": strategy, "seeds": int(len(seeds_raw)), "seed": seed,
                "error_threshold": float(threshold), "search": search.to_dict(), "check": check.to_dict()}
    confirmed = run.checker.confirmed()
    rows, values = run.checker.checked_rows()
    return DetectionReport(mx, flagged, np.union1d(confirmed, inferred).astype(np.int64), rows, values, cost,
                           settings, view.X, view.y, confirmed=confirmed, inferred=inferred)


def _check_budget(oracle_budget: Any) -> int:
    if isinstance(oracle_budget, bool) or not isinstance(oracle_budget, (int, np.integer)):
        raise TypeError(f"oracle_budget: expected an int, got {type(oracle_budget).__name__}")
    if oracle_budget <= 0:
        raise ValueError(f"oracle_budget: expected > 0 oracle calls, got {oracle_budget}")
    return int(oracle_budget)


def _timed(run: _Run, key: str, fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    run.timings[key] = time.perf_counter() - t
    return out


# -- 1. signals ------------------------------------------------------------------------------------
def training_signals(run: _Run) -> tuple[TrainingSignals, float]:
    """Free per-row signals, and the flagging threshold: given, or 6 robust standard deviations
    (1.4826 x median) of the training residual |Y - y|, insensitive to a minority of poisoned rows."""
    from .. import kernels

    view = run.view
    y_sur, g_sur = kernels.mlp_value_and_grad(run.surrogate.export(np.float64), view.X, device=run.device,
                                              threads=run.threads)
    y_sur = np.asarray(y_sur)
    grad_norm = np.linalg.norm(np.asarray(g_sur) * view.box.width, axis=1)
    signals = TrainingSignals(view, y_sur, grad_norm, density_radius=run.search.density_radius)
    threshold = run.check.error_threshold
    if threshold is None:
        threshold = 6.0 * 1.4826 * float(np.median(np.abs(y_sur - view.y)))
    return signals, float(threshold)


# -- 2. seeds --------------------------------------------------------------------------------------
def search_seeds(run: _Run, signals: TrainingSignals, strategy: Strategy, budget: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(raw seeds (m, d), training row of each seed or -1): as many seeds as the search share of
    the budget pays for at ``steps`` x (2d + 1) points each, or, with the oracle's native gradient,
    at ``steps`` gradient calls each (calls, not measured time: the seeds, and so the results, must
    not depend on the machine; the price-equivalents are reported). Row seeds are the rows, bit for bit."""
    d = run.view.box.dim
    g = run.search.oracle_gradient
    native = g == "native" or (g == "auto" and has_grad(run.oracle))
    per_seed = run.search.steps * (1 if native else 2 * d + 1)
    m = max(1, int(run.check.search_fraction * budget) // per_seed)
    unit, rows = choose_seeds(strategy, m, signals, d, rng)
    raw = run.view.box.denormalize(unit)
    raw[rows >= 0] = run.view.X[rows[rows >= 0]]
    return raw, rows


# -- 3. search -------------------------------------------------------------------------------------
def run_search(run: _Run, seeds_raw: np.ndarray, budget: int, seed: int) -> Maximizers:
    """The ascent on a child budget of the search share: what it prices is cached for the checks."""
    share = run.oracle.child(max(1, int(run.check.search_fraction * budget)))
    return find_error_maximizers(run.surrogate, share, seeds=seeds_raw, search=run.search, seed=seed,
                                 X_train=run.view, device=run.device, threads=run.threads)


# -- 4. flag ---------------------------------------------------------------------------------------
def flag_maximizers(mx: Maximizers, threshold: float, min_density: int) -> np.ndarray:
    """Indices of maximizers with |Y - Z| >= threshold and >= min_density training neighbours,
    most suspicious (error x log density) first."""
    flagged = np.flatnonzero((np.sqrt(mx.error) >= threshold) & (mx.n_near >= min_density))
    return flagged[np.argsort(-mx.score[flagged], kind="stable")]


# -- 5. checks -------------------------------------------------------------------------------------
def grow_checks(run: _Run, queue: list[int], cap: float, skip: set[int]) -> None:
    """Check queued rows in batches, nearest first; queue the k nearest rows of every new suspect
    (growth follows the data's own spacing, far finer inside a poisoned ball than elsewhere); stop
    after two barren batches, at ``cap`` suspects, or at the budget."""
    checker, view, batch = run.checker, run.view, run.check.batch
    barren = 0
    while queue and barren < 2 and checker.remaining > 0 and len(checker.suspects) < cap:
        take = [i for i in queue[:batch] if not checker.is_checked(i) and i not in skip]
        queue = queue[batch:]
        if not take:
            continue
        new = checker.check(take[: int(min(len(take), checker.remaining))])
        barren = 0 if len(new) else barren + 1
        if len(new):
            grow = view.nearest(new, run.check.grow_k + 1) - set(checker.checked) - set(queue) - skip
            Un = view.unit[new]
            queue = queue + sorted(grow, key=lambda i: float(np.min(np.linalg.norm(Un - view.unit[i], axis=1))))


def check_around(run: _Run, mx: Maximizers, flagged: np.ndarray, seed_rows: np.ndarray) -> int:
    """Free checks of the seeds that are training rows (priced by the search), then checks growing
    from every flagged maximizer and every poisoned seed. Returns the number of free checks."""
    rows = np.unique(seed_rows[seed_rows >= 0])
    seed_suspects = run.checker.check(rows) if len(rows) else np.empty(0, np.int64)
    starts = [mx.unit[i] for i in flagged] + [run.view.unit[i] for i in seed_suspects]
    for centre in starts:
        grow_checks(run, run.view.around(centre, run.check.check_radius), run.check.confirm_cap, set())
    return int(len(rows))


# -- 6. inference ----------------------------------------------------------------------------------
def infer_cluster(run: _Run) -> tuple[np.ndarray, dict]:
    """Rounds of inference around the oracle-confirmed rows (unverified inferences never widen the
    cluster), each verified with the budget left; stops when a round adds nothing."""
    checker, view = run.checker, run.view
    if not run.check.infer:
        return np.empty(0, np.int64), {"inferred": 0, "reason": "disabled"}
    if not checker.suspects:
        return np.empty(0, np.int64), {"inferred": 0, "reason": "no confirmed suspects"}
    note: dict = {}
    inferred: set[int] = set()
    verified = verified_wrong = rounds = 0
    for rounds in range(1, _INFER_ROUNDS + 1):
        known_X, known_z, _ = run.oracle.known()
        new, note = infer_poisoned(view, checker.confirmed(), view.box.normalize(known_X), known_z,
                                   set(checker.checked) | inferred, grow_k=run.check.grow_k)
        if not len(new):
            break
        inferred.update(int(i) for i in new)
        if checker.remaining > 0:
            verify = new[: int(min(len(new), checker.remaining))]
            wrong = checker.check(verify)
            inferred.difference_update(int(i) for i in verify)
            verified += len(verify)
            verified_wrong += len(verify) - len(wrong)
    note = {**note, "rounds": rounds, "inferred": len(inferred), "verified": verified,
            "verified_wrong": verified_wrong}
    return np.array(sorted(inferred), dtype=np.int64), note


# -- 7. the rest of the budget ---------------------------------------------------------------------
def spend_rest(run: _Run, inferred: np.ndarray) -> None:
    """Budget left (inference refused, or the cluster is larger than it reached): keep growing by
    direct checks around every confirmed suspect, without the cap."""
    checker = run.checker
    if not checker.suspects or checker.remaining <= 0:
        return
    skip = set(int(i) for i in inferred)
    near = run.view.nearest(checker.confirmed(), run.check.grow_k + 1)
    grow_checks(run, sorted(near - set(checker.checked) - skip), np.inf, skip)
