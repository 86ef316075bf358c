"""Active learning with the error-maximizer search: build a surrogate with few oracle calls.

``ActiveLearner`` (learner.py) runs rounds of propose (strategies.py), price, update, with
checkpoints (checkpoint.py, persist.py). Every oracle call goes through one ``BudgetedOracle``,
so costs are counted once, whatever pays them.
"""
from .base import LearnerState, Proposal
from .learner import UPDATES, ActiveLearner, LearnResult, Round
from .maximizers import ErrorMaximizers
from .strategies import STRATEGIES, RandomSobol, make_strategy

__all__ = ["ActiveLearner", "LearnResult", "Round", "UPDATES", "STRATEGIES", "ErrorMaximizers", "RandomSobol",
           "LearnerState", "Proposal", "make_strategy"]
