"""Batch's autoscale formula language, evaluated on the local service's own task and node counts.

`lexer` and `parser` turn a formula into a syntax tree, `evaluator` runs it (with `operators`,
`functions` and the sample methods of `samples`), `metrics` keeps each pool's 30-second samples.
"""

from __future__ import annotations

from datetime import datetime

from batchforge.localbatch.account import Account
from batchforge.localbatch.autoscale.evaluator import DEALLOCATION_OPTIONS, AutoScaleResult, PoolState, evaluate
from batchforge.localbatch.autoscale.metrics import history_of, observe, pool_state
from batchforge.localbatch.entities import Pool


def evaluate_pool(formula: str, account: Account, pool: Pool, now: datetime) -> AutoScaleResult:
    """Evaluate a formula on a pool as the service does: after taking any sample that is due."""
    observe(account, pool, now)
    return evaluate(formula, pool_state(pool), history_of(account, pool), now)


__all__ = ["DEALLOCATION_OPTIONS", "AutoScaleResult", "PoolState", "evaluate", "evaluate_pool", "observe"]
