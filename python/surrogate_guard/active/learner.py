"""``ActiveLearner``: rounds of propose, price, update, with every oracle call counted once.

The learner pays for an initial Sobol' design and a validation set (both count toward the
budget), then, each round, lets its strategy spend up to ``batch_size`` oracle points, adds every
point paid for to the training set and updates the surrogate: ``update="retrain"`` trains from
scratch at the equal-step budget of ``Surrogate.fit(epochs="auto")`` (rounds of different sizes
stay comparable); ``"finetune"`` continues from the current weights for ``finetune_steps``
optimizer steps. Stopping: the budget, a target validation RMSE, a deadline, or a callback.
``ask``/``tell`` serve callers that run the oracle themselves. ``save``/``load`` and
``run(checkpoint=, resume_from=)`` checkpoint after every round and continue exactly (checkpoint.py).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal

import numpy as np

from .._validate import check_float, check_int, check_labels
from ..box import Box, sobol_unit
from ..oracles.base import OracleLike, check_oracle, grad_cost_ratio, price_equivalents
from ..oracles.budgeted import BudgetedOracle
from . import checkpoint as ckpt
from .base import LearnerState
from .strategies import StrategyName, make_strategy

__all__ = ["ActiveLearner", "LearnResult", "Round", "UPDATES"]

UPDATES: tuple[str, ...] = ("retrain", "finetune")


@dataclass(frozen=True)
class Round:
    """One round: oracle calls so far (all of them, ``tell``'s included), training-set size,
    validation and (when a test set is given) test RMSE and worst absolute error, seconds spent
    proposing (search and pricing) and updating, wall seconds since the learner started and, of
    them, seconds inside the oracle (``tell``'s oracle time is the caller's, not counted).
    ``grad_calls``: how many of the calls (in this process) were native oracle gradients, and
    ``price_equivalents`` the calls with those weighted by the oracle's measured gradient-to-price
    time (``oracles.base.grad_cost_ratio``)."""

    round: int
    calls: int
    n_train: int
    val_rmse: float
    val_worst: float
    test_rmse: float
    test_worst: float
    propose_s: float
    fit_s: float
    wall_s: float
    oracle_s: float
    grad_calls: int = 0
    price_equivalents: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LearnResult:
    history: tuple[Round, ...]
    stopped_by: str  # "budget", "target_rmse", "deadline", "callback" or "no new points"
    calls: int
    wall_s: float

    def to_dict(self) -> dict:
        return {"history": [r.to_dict() for r in self.history], "stopped_by": self.stopped_by, "calls": self.calls,
                "wall_s": self.wall_s}


def _errors(model: Any, XY: tuple[np.ndarray, np.ndarray] | None) -> tuple[float, float]:
    if XY is None or not len(XY[1]):
        return math.nan, math.nan
    e = model.predict(XY[0]) - XY[1]
    return float(np.sqrt(np.mean(e**2))), float(np.max(np.abs(e)))


def _strategy_options(strategy: Any) -> dict:
    """The JSON-able constructor options of a dataclass strategy (what a checkpoint records)."""
    if not dataclasses.is_dataclass(strategy):
        return {}
    return {f.name: getattr(strategy, f.name) for f in dataclasses.fields(strategy)
            if f.init and f.name != "name" and isinstance(getattr(strategy, f.name), (bool, int, float, str))}


class ActiveLearner:
    """Build a surrogate over ``box`` from ``oracle`` calls chosen by ``strategy``.

    Args:
        oracle: any oracle of the box's dimension, wrapped in a ``BudgetedOracle`` (its count is
            the cost every figure reports); None for a learner used only through ``ask``/``tell``.
        box: an ``sg.Box`` or anything with one (a preset).
        surrogate: an untrained ``sg.Surrogate`` over the box giving the architecture.
        strategy: a name of ``STRATEGIES`` (with ``strategy_options``) or a strategy object.
        batch_size: oracle points per round (the last round may spend fewer).
        initial: points of the initial scrambled Sobol' design.
        validation: points of the validation set the learner pays for (RMSE, worst error, target).
        seed: every random choice (designs, strategies, training) derives from it.
        fit: keyword arguments of ``Surrogate.fit`` (default: equal steps, ``epochs="auto"``, CPU).
        update: "retrain" (from scratch each round) or "finetune" (``finetune_steps`` steps on).
        test: an optional held-out (X, y) measured after every round; never counted, never used.
    """

    def __init__(self, oracle: OracleLike | None, box: Any, *, surrogate: Any,
                 strategy: StrategyName | Any = "error-maximizers", strategy_options: dict | None = None,
                 batch_size: int = 256, initial: int = 1000, validation: int = 1000, seed: int = 0,
                 fit: dict | None = None, update: Literal["retrain", "finetune"] = "retrain",
                 finetune_steps: int = 3000, test: tuple[Any, Any] | None = None) -> None:
        self.box = Box.of(box, "box")
        self.oracle = None if oracle is None else BudgetedOracle(check_oracle(oracle, "oracle", self.box.dim))
        self.strategy = make_strategy(strategy, strategy_options)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.initial = check_int(initial, "initial", minimum=2)
        self.validation = check_int(validation, "validation", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        if update not in UPDATES:
            raise ValueError(f"update: expected one of {UPDATES}, got {update!r}")
        self.update = update
        self.finetune_steps = check_int(finetune_steps, "finetune_steps", minimum=1)
        if getattr(surrogate, "box", None) != self.box or not hasattr(surrogate, "like"):
            raise ValueError(f"surrogate: expected an sg.Surrogate over the learner's box {self.box}, "
                             f"got {type(surrogate).__name__} over {getattr(surrogate, 'box', None)}")
        if fit is not None and not isinstance(fit, dict):
            raise TypeError(f"fit: expected a dict of Surrogate.fit options, got {type(fit).__name__}")
        self.template = surrogate.like(seed=0)
        self.fit_kwargs = {"device": "cpu", **(fit or {})}
        self.test = None if test is None else self._check_test(test)
        self.rng = np.random.default_rng([self.seed, 0xA11])
        self.surrogate = surrogate
        self.X = np.empty((0, self.box.dim))
        self.y = np.empty(0)
        self.se = np.empty(0)
        self.val: tuple[np.ndarray, np.ndarray] | None = None
        self.history: list[Round] = []
        self.told = 0  # points labelled by the caller (tell)
        self._fitted_on = -1  # training-set size of the last update (-1: never)
        self._elapsed = 0.0  # wall seconds of earlier runs (checkpoints)
        self._oracle_s0 = 0.0  # oracle seconds of earlier runs (checkpoints)

    def _check_test(self, test: Any) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError(f"test: expected a pair (X, y), got {type(test).__name__}")
        X = self.box.check_points(test[0], "test[0]")
        return X, check_labels(test[1], X.shape[0], "test[1]")

    @property
    def calls(self) -> int:
        """Oracle calls paid so far: through the learner's oracle plus the points ``tell`` added."""
        return (0 if self.oracle is None else self.oracle.calls) + self.told

    @property
    def data(self) -> Any:
        """The training set (X, y, se) as a read-only view (attributes ``X``, ``y``, ``se``)."""
        return _View(self.X, self.y, self.se)

    # -- data ----------------------------------------------------------------------------------
    def _sobol(self, n: int) -> np.ndarray:
        return self.box.denormalize(sobol_unit(n, self.box.dim, int(self.rng.integers(2**63))))

    def _add(self, X: np.ndarray, y: np.ndarray, se: np.ndarray) -> None:
        self.X, self.y, self.se = np.vstack([self.X, X]), np.concatenate([self.y, y]), np.concatenate([self.se, se])

    def tell(self, X: Any, y: Any, stderr: Any = None) -> None:
        """Add points the caller labelled: X (k, d) in the box, finite y (k,), optional stderr (k,) >= 0.
        They count as ``k`` calls. Nothing is added when any argument is wrong."""
        X = self.box.check_points(X)
        y = check_labels(y, X.shape[0], "y")
        se = np.zeros(len(y)) if stderr is None else check_labels(stderr, X.shape[0], "stderr")
        if (se < 0).any():
            raise ValueError(f"stderr: expected >= 0, row {int(np.argmax(se < 0))} is {se[se < 0][0]}")
        self._add(X, y, se)
        self.told += len(y)

    def ask(self, n: int | None = None) -> np.ndarray:
        """Points (n, d) the strategy would price next (default ``batch_size``), for a caller who
        runs the oracle itself and ``tell``s the values. Before any data: the initial Sobol' design.
        The surrogate is updated first when points were told since the last update."""
        n = self.batch_size if n is None else check_int(n, "n", minimum=1)
        if not len(self.y):
            return self._sobol(n)
        if not hasattr(self.strategy, "candidates"):
            raise TypeError(f"ask: strategy {self.strategy.name!r} needs the oracle during its search; use run()/step()")
        self._ensure_fitted()
        state = LearnerState(self.box, self.surrogate, self.X, self.y, None, self.rng, len(self.history))
        return self.box.check_points(self.strategy.candidates(state, n))

    # -- updates -------------------------------------------------------------------------------
    def _update(self) -> float:
        t = time.perf_counter()
        k = len(self.history)
        if self.update == "finetune" and self._fitted_on > 0:
            model = self.surrogate.copy()
            n_tr = len(self.y) - int(round(self.fit_kwargs.get("val_fraction", 0.1) * len(self.y)))
            per_epoch = -(-max(n_tr, 1) // int(self.fit_kwargs.get("batch_size", 256)))
            kw = {**self.fit_kwargs, "epochs": max(1, -(-self.finetune_steps // per_epoch))}
        else:
            model, kw = self.template.like(seed=self.seed + k), self.fit_kwargs
        model.fit(self.X, self.y, seed=self.seed + k, **kw)
        self.surrogate = model
        self._fitted_on = len(self.y)
        return time.perf_counter() - t

    def _record(self, propose_s: float, fit_s: float) -> Round:
        vr, vw = _errors(self.surrogate, self.val)
        tr, tw = _errors(self.surrogate, self.test)
        oracle_s = self._oracle_s0 + (0.0 if self.oracle is None else self.oracle.seconds)
        grads = 0 if self.oracle is None else self.oracle.grad_calls
        ratio = grad_cost_ratio(self.oracle) if grads else None
        r = Round(len(self.history), self.calls, len(self.y), vr, vw, tr, tw, propose_s, fit_s,
                  self._elapsed + time.perf_counter() - self._t0, oracle_s, grads,
                  price_equivalents(self.calls, grads, ratio))
        self.history.append(r)
        return r

    def _ensure_fitted(self) -> None:
        if self._fitted_on != len(self.y):
            self._t0 = getattr(self, "_t0", time.perf_counter())
            self._record(0.0, self._update())

    def _start(self) -> None:
        oracle = self._need_oracle()
        if self.val is None:
            Xv = self._sobol(self.validation)
            self.val = (Xv, np.array(oracle(Xv)))
        if not len(self.y):
            X0 = self._sobol(self.initial)
            res = oracle.evaluate(X0)
            self._add(X0, np.array(res.price), np.array(res.stderr))
        self._ensure_fitted()

    def _need_oracle(self) -> BudgetedOracle:
        if self.oracle is None:
            raise ValueError("oracle: this learner has none (ask/tell only); pass one to run or step")
        return self.oracle

    # -- rounds --------------------------------------------------------------------------------
    def step(self, n: int | None = None) -> Round:
        """One round: the strategy spends up to ``n`` (default ``batch_size``) points; update."""
        self._t0 = getattr(self, "_t0", time.perf_counter())
        self._start()
        oracle = self._need_oracle()
        n = self.batch_size if n is None else check_int(n, "n", minimum=1)
        t = time.perf_counter()
        state = LearnerState(self.box, self.surrogate, self.X, self.y, oracle, self.rng, len(self.history))
        got = self.strategy.propose(state, n)
        if len(got.X):
            self._add(self.box.check_points(got.X), check_labels(got.z, len(got.X), "proposal z"),
                      check_labels(got.stderr, len(got.X), "proposal stderr"))
        propose_s = time.perf_counter() - t
        return self._record(propose_s, self._update())

    def run(self, budget: int, *, target_rmse: float | None = None, deadline: float | None = None,
            callback: Callable[[Round], bool] | None = None, progress: bool | None = None,
            checkpoint: Any = None, resume_from: Any = None) -> LearnResult:
        """Rounds until ``budget`` calls (initial design and validation included) are spent, the
        validation RMSE reaches ``target_rmse``, ``deadline`` seconds pass, or ``callback`` (called
        after every round, after its checkpoint) returns False.

        ``progress``: a tqdm bar of calls, RMSE and worst error (None: only on a terminal).
        ``checkpoint``: a directory written after every round; ``resume_from``: a checkpoint of
        this learner's settings to continue from (the same as ``load`` then ``run``).
        """
        budget = check_int(budget, "budget", minimum=1)
        target = None if target_rmse is None else check_float(target_rmse, "target_rmse", positive=True)
        deadline = None if deadline is None else check_float(deadline, "deadline", positive=True)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback: expected a callable(Round) -> bool, got {type(callback).__name__}")
        self._need_oracle()
        if resume_from is not None:
            self.restore(resume_from)
        need = self.calls + (0 if self.val is not None else self.validation) + (0 if len(self.y) else self.initial)
        if budget < need:
            raise ValueError(f"budget: expected at least the initial design and validation set "
                             f"({self.initial} + {self.validation} calls) plus the {self.calls} already spent, "
                             f"got {budget}")
        t0 = self._t0 = time.perf_counter()
        with _Progress(progress, budget, self.calls, self.strategy.name) as bar:
            self._start()
            if checkpoint is not None and len(self.history) == 1:
                self.save(checkpoint)
            bar.show(self.history[-1])
            stopped = self._loop(budget, target, deadline, callback, bar, checkpoint, t0)
        self._elapsed += time.perf_counter() - t0
        del self._t0
        return LearnResult(tuple(self.history), stopped, self.calls, time.perf_counter() - t0)

    def _loop(self, budget, target, deadline, callback, bar, checkpoint, t0) -> str:
        oracle = self._need_oracle()
        while self.calls < budget:
            before = oracle.calls
            r = self.step(min(self.batch_size, budget - self.calls))
            bar.show(r)
            if checkpoint is not None:
                self.save(checkpoint)
            if oracle.calls == before:  # a strategy that finds nothing new would loop forever
                return "no new points"
            if target is not None and r.val_rmse <= target:
                return "target_rmse"
            if deadline is not None and time.perf_counter() - t0 >= deadline:
                return "deadline"
            if callback is not None and callback(r) is False:
                return "callback"
        return "budget"

    # -- checkpoints ---------------------------------------------------------------------------
    def settings(self) -> dict:
        """What a checkpoint must agree on to be resumed by this learner (JSON values)."""
        t = self.template
        raw = None if self.oracle is None else self.oracle.oracle
        return {"strategy": self.strategy.name, "strategy_options": _strategy_options(self.strategy),
                "batch_size": self.batch_size, "initial": self.initial, "validation": self.validation,
                "seed": self.seed, "update": self.update, "finetune_steps": self.finetune_steps,
                "fit": {k: v for k, v in self.fit_kwargs.items()},
                "box": {"bounds": self.box.bounds.tolist(), "names": list(self.box.names)},
                "surrogate": {"widths": list(t.widths), "activation": t.activation,
                              "y_scale": None if t._auto_scale else t.y_scale},
                "oracle": None if raw is None else type(raw).__name__}

    def save(self, path: Any) -> None:
        """Checkpoint the whole learner under directory ``path`` (see checkpoint.py)."""
        from .persist import save_learner

        save_learner(self, path)

    def restore(self, path: Any) -> None:
        """Continue from the checkpoint in ``path``: it must match ``settings()`` and this oracle."""
        from .persist import restore_learner

        restore_learner(self, path)

    @classmethod
    def load(cls, path: Any, oracle: OracleLike | None, *, test: tuple[Any, Any] | None = None) -> "ActiveLearner":
        """A learner rebuilt from the checkpoint in ``path`` with its settings, over ``oracle``."""
        from .persist import load_learner

        return load_learner(cls, path, oracle, test)


@dataclass(frozen=True)
class _View:
    X: np.ndarray
    y: np.ndarray
    se: np.ndarray


class _Progress:
    """A tqdm bar of oracle calls (shown when ``enabled``; None: only on a terminal)."""

    def __init__(self, enabled: bool | None, total: int, initial: int, name: str) -> None:
        self.enabled, self.args = enabled, dict(total=total, initial=initial, desc=name, unit="call")
        self.bar: Any = None

    def __enter__(self) -> "_Progress":
        if self.enabled is not False:
            from tqdm.auto import tqdm

            self.bar = tqdm(**self.args, disable=None if self.enabled is None else False, leave=True)
        return self

    def show(self, r: Round) -> None:
        if self.bar is not None:
            self.bar.n = r.calls
            self.bar.set_postfix(rmse=f"{r.val_rmse:.3g}", worst=f"{r.val_worst:.3g}", n=r.n_train, refresh=True)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
