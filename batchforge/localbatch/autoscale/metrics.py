"""What the service samples for each autoscale pool every 30 s of its clock: task counts from the jobs
bound to the pool, node counts from the pool. Resource metrics ($CPUPercent, $MemoryBytes, disk and network)
are sampled as 0: local nodes are folders on one host, with nothing per node to measure.
"""

from __future__ import annotations

import weakref
from datetime import datetime

from batchforge.localbatch.account import Account
from batchforge.localbatch.autoscale.evaluator import PoolState
from batchforge.localbatch.autoscale.samples import SampleHistory
from batchforge.localbatch.entities import Pool

USABLE_NODE_STATES = ("idle", "running")
_RUNNING_TASK_STATES = ("preparing", "running")

# Per account, per pool incarnation (id and creation time): a pool deleted and created again starts afresh.
_histories: weakref.WeakKeyDictionary[Account, dict[tuple[str, str], SampleHistory]] = weakref.WeakKeyDictionary()


def history_of(account: Account, pool: Pool) -> SampleHistory:
    pools = _histories.setdefault(account, {})
    incarnation = (pool.key, str(pool.body.get("creationTime", "")))
    history = pools.get(incarnation)
    if history is None:
        live = {(p.key, str(p.body.get("creationTime", ""))) for p in account.pools.values()}
        for gone in [key for key in pools if key not in live]:
            del pools[gone]
        history = pools[incarnation] = SampleHistory()
    return history


def observe(account: Account, pool: Pool, now: datetime) -> None:
    """Take the pool's sample when one is due (the first at once)."""
    history_of(account, pool).record_due(now, lambda: pool_sample(account, pool))


def pool_sample(account: Account, pool: Pool) -> dict[str, float]:
    active = running = succeeded = failed = 0
    for job in account.jobs.values():
        if job.pool_key != pool.key:
            continue
        job_active = 0
        for task in job.tasks.values():
            state = task.body.get("state")
            if state == "active":
                job_active += 1
            elif state in _RUNNING_TASK_STATES:
                running += 1
            elif state == "completed":
                if (task.body.get("executionInfo") or {}).get("result") == "success":
                    succeeded += 1
                else:
                    failed += 1
        # Active tasks still waiting on their dependencies do not count, as on Batch.
        if job.state == "active":
            active += max(0, job_active - len(job.blocked))
    nodes = list(pool.nodes.values())
    return {
        "$ActiveTasks": float(active),
        "$RunningTasks": float(running),
        "$PendingTasks": float(active + running),
        "$SucceededTasks": float(succeeded),
        "$FailedTasks": float(failed),
        "$SampleNodeCount": float(len(nodes)),
        "$UsableNodeCount": float(sum(1 for node in nodes if node.state in USABLE_NODE_STATES)),
        "$PreemptedNodeCount": float(sum(1 for node in nodes if node.state == "preempted")),
    }


def pool_state(pool: Pool) -> PoolState:
    dedicated = sum(1 for node in pool.nodes.values() if node.body.get("isDedicated", True))
    return PoolState(
        current_dedicated=dedicated,
        current_low_priority=len(pool.nodes) - dedicated,
        target_dedicated=int(pool.body.get("targetDedicatedNodes") or 0),
        target_low_priority=int(pool.body.get("targetLowPriorityNodes") or 0),
        task_slots_per_node=pool.slots_per_node,
    )
