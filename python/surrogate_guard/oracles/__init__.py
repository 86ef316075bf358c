"""Oracles: the expensive functions a surrogate stands in for. ``values = Z(X)``.

``Oracle`` is the protocol (any dimension); ``Function`` wraps a user's callable over a box;
``Analytic``, ``FiniteDifference`` and ``MonteCarlo`` price barrier options; ``BudgetedOracle``
counts, caches and limits the calls of any of them; ``Distributed`` prices a batch in chunks on
an executor or a Dask cluster (``distributed.connect(address)``; docs/scale_out.md).
"""
from . import distributed
from .analytic import Analytic
from .barrier import BarrierOracle
from .base import Oracle, OracleLike, OracleResult, ReliabilityWarning, check_oracle
from .budgeted import BudgetedOracle, BudgetExhausted
from .distributed import ChunkError, Distributed, chunk_size
from .finite_difference import FiniteDifference
from .function import Function, OracleFunctionError
from .monte_carlo import MCResult, MonteCarlo

__all__ = ["Oracle", "OracleLike", "OracleResult", "ReliabilityWarning", "check_oracle", "BarrierOracle", "Analytic", "MonteCarlo",
           "MCResult", "FiniteDifference", "Function", "OracleFunctionError", "BudgetedOracle", "BudgetExhausted",
           "Distributed", "ChunkError", "chunk_size", "distributed"]
