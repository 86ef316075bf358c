"""``ActiveLearner``: rounds of propose, price, retrain, with every oracle call counted once.

The learner pays for an initial Sobol' design and a validation set (both count toward the
budget), then, each round, lets its strategy spend up to ``batch_size`` oracle points, adds
every point paid for to the training set, and retrains the surrogate from scratch at the
equal-step budget of ``Surrogate.fit(epochs="auto")`` (so rounds of different sizes are
comparable). Stopping: the budget, a target validation RMSE, a deadline, or a callback.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .._validate import check_float, check_int, check_labels
from ..box import Box, sobol_unit
from ..oracles.base import OracleLike, check_oracle
from ..oracles.budgeted import BudgetedOracle
from .strategies import LearnerState, StrategyName, make_strategy

__all__ = ["ActiveLearner", "LearnResult", "Round"]


@dataclass(frozen=True)
class Round:
    """One round: oracle calls so far (all of them), training-set size, validation RMSE and worst
    absolute error, seconds spent proposing (search and pricing) and fitting."""

    round: int
    calls: int
    n_train: int
    val_rmse: float
    val_worst: float
    propose_s: float
    fit_s: float

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


@dataclass
class _Data:
    X: np.ndarray
    y: np.ndarray
    se: np.ndarray = field(default_factory=lambda: np.empty(0))


class ActiveLearner:
    """Build ``surrogate`` over ``box`` from ``oracle`` calls chosen by ``strategy``.

    Args:
        oracle: any oracle of the box's dimension; wrapped in a ``BudgetedOracle`` (its count is
            the cost every figure reports).
        box: an ``sg.Box`` or anything with one (a preset).
        strategy: "error-maximizers", "random", or a strategy object (``strategies.Strategy``).
        batch_size: oracle points per round (the last round may spend fewer).
        initial: points of the initial scrambled Sobol' design.
        validation: points of the validation set the learner pays for (RMSE, worst error, target).
        surrogate: an untrained ``sg.Surrogate`` giving the architecture; retrained each round.
        fit: keyword arguments of ``Surrogate.fit`` (default: equal steps, ``epochs="auto"``).
    """

    def __init__(self, oracle: OracleLike, box: Any, *, surrogate: Any, strategy: StrategyName | Any = "error-maximizers",
                 batch_size: int = 256, initial: int = 1000, validation: int = 1000, seed: int = 0,
                 fit: dict | None = None) -> None:
        self.box = Box.of(box, "box")
        self.oracle = BudgetedOracle(check_oracle(oracle, "oracle", self.box.dim))
        self.strategy = make_strategy(strategy)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.initial = check_int(initial, "initial", minimum=2)
        self.validation = check_int(validation, "validation", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        if getattr(surrogate, "box", None) != self.box:
            raise ValueError("surrogate: expected an sg.Surrogate over the learner's box")
        self.template = surrogate
        self.fit_kwargs = {"device": "cpu", **(fit or {})}
        self.rng = np.random.default_rng([self.seed, 0xA11])
        self.surrogate = surrogate
        self.data: _Data | None = None
        self.val: _Data | None = None
        self.history: list[Round] = []

    # -- data ----------------------------------------------------------------------------------
    def _sobol(self, n: int) -> np.ndarray:
        return self.box.denormalize(sobol_unit(n, self.box.dim, int(self.rng.integers(2**63))))

    def tell(self, X: Any, y: Any, stderr: Any = None) -> None:
        """Add labelled points (for callers that run the oracle themselves): X (k, d), y (k,)."""
        X = self.box.check_points(X)
        y = check_labels(y, X.shape[0], "y")
        se = np.zeros(len(y)) if stderr is None else check_labels(stderr, X.shape[0], "stderr")
        if self.data is None:
            self.data = _Data(X.copy(), y.copy(), se.copy())
        else:
            self.data = _Data(np.vstack([self.data.X, X]), np.concatenate([self.data.y, y]),
                              np.concatenate([self.data.se, se]))

    def _start(self) -> None:
        if self.val is None:
            Xv = self._sobol(self.validation)
            self.val = _Data(Xv, np.array(self.oracle(Xv)))
        if self.data is None:
            X0 = self._sobol(self.initial)
            res = self.oracle.evaluate(X0)
            self.tell(X0, res.price, res.stderr)
            self._retrain()

    def _retrain(self) -> float:
        assert self.data is not None
        t = time.perf_counter()
        model = self.template.like(seed=self.seed + len(self.history))
        model.fit(self.data.X, self.data.y, seed=self.seed + len(self.history), **self.fit_kwargs)
        self.surrogate = model
        return time.perf_counter() - t

    def _record(self, propose_s: float, fit_s: float) -> Round:
        assert self.data is not None and self.val is not None
        err = self.surrogate.predict(self.val.X) - self.val.y
        r = Round(len(self.history), self.oracle.calls, len(self.data.y), float(np.sqrt(np.mean(err**2))),
                  float(np.max(np.abs(err))), propose_s, fit_s)
        self.history.append(r)
        return r

    # -- rounds --------------------------------------------------------------------------------
    def step(self, n: int | None = None) -> Round:
        """One round: the strategy spends up to ``n`` (default ``batch_size``) points; retrain."""
        self._start()
        assert self.data is not None
        n = self.batch_size if n is None else check_int(n, "n", minimum=1)
        t = time.perf_counter()
        state = LearnerState(self.box, self.surrogate, self.data.X, self.data.y, self.oracle, self.rng,
                             len(self.history))
        got = self.strategy.propose(state, n)
        if len(got.X):
            self.tell(got.X, got.z, got.stderr)
        propose_s = time.perf_counter() - t
        return self._record(propose_s, self._retrain())

    def run(self, budget: int, *, target_rmse: float | None = None, deadline: float | None = None,
            callback: Callable[[Round], bool] | None = None) -> LearnResult:
        """Rounds until ``budget`` oracle calls (initial design and validation included) are spent,
        the validation RMSE reaches ``target_rmse``, ``deadline`` seconds pass, or ``callback``
        (called after every round) returns False."""
        budget = check_int(budget, "budget", minimum=1)
        if budget < self.oracle.calls + (0 if self.val else self.validation) + (0 if self.data else self.initial):
            raise ValueError(f"budget: expected at least the initial design and validation set "
                             f"({self.initial} + {self.validation} calls), got {budget}")
        target = None if target_rmse is None else check_float(target_rmse, "target_rmse", positive=True)
        t0 = time.perf_counter()
        self._start()
        if not self.history:
            self._record(0.0, 0.0)
        stopped = "budget"
        while self.oracle.calls < budget:
            before = self.oracle.calls
            r = self.step(min(self.batch_size, budget - self.oracle.calls))
            if self.oracle.calls == before:  # a strategy that finds nothing new would loop forever
                stopped = "no new points"
                break
            if target is not None and r.val_rmse <= target:
                stopped = "target_rmse"
                break
            if deadline is not None and time.perf_counter() - t0 >= deadline:
                stopped = "deadline"
                break
            if callback is not None and callback(r) is False:
                stopped = "callback"
                break
        return LearnResult(tuple(self.history), stopped, self.oracle.calls, time.perf_counter() - t0)
