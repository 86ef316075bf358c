"""Active learning with the error-maximizer search: build a surrogate with few oracle calls.

``ActiveLearner`` (learner.py) runs rounds of propose (strategies.py), price, retrain. Every
oracle call goes through one ``BudgetedOracle``, so costs are counted once, whatever pays them.
"""
from .learner import ActiveLearner, LearnResult, Round
from .strategies import STRATEGIES, ErrorMaximizers, RandomSobol

__all__ = ["ActiveLearner", "LearnResult", "Round", "STRATEGIES", "ErrorMaximizers", "RandomSobol"]
