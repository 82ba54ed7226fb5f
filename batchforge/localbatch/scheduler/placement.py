"""Which nodes of a pool a ready task can go to, and whether it can go to any node of the pool at all."""

from __future__ import annotations

from batchforge.localbatch import jobmanager
from batchforge.localbatch.entities import Job, Node, Pool, Task

SCHEDULABLE_NODE_STATES = ("idle", "running")


def schedulable(node: Node) -> bool:
    return (
        node.state in SCHEDULABLE_NODE_STATES
        and node.body.get("schedulingState", "enabled") == "enabled"
        and not node.body.get("_remove")
    )


def needs(task: Task) -> tuple[int, int]:
    """(slots per instance, instances)."""
    body = task.body
    multi = body.get("multiInstanceSettings")
    return int(body.get("requiredSlots", 1)), int(multi.get("numberOfInstances", 1)) if multi else 1


def fits_pool(task: Task, shape: tuple[int, int]) -> bool:
    """Whether the pool, as it is (schedulable nodes, slots per node), could ever hold the task."""
    need, instances = needs(task)
    nodes, slots = shape
    return need <= slots and instances <= nodes


def prep_failed(job: Job, node: Node) -> bool:
    """The job's preparation task failed on the node, and tasks must wait for its success: not there."""
    prep = job.body.get("jobPreparationTask")
    if not prep or not prep.get("waitForSuccess", True):
        return False
    status = (node.body.get("_jobPrep") or {}).get(job.key)
    return status is not None and status.get("state") == "completed" and status.get("result") != "success"


def choose_nodes(pool: Pool, job: Job, task: Task, nodes: list[Node]) -> list[Node] | None:
    """The nodes to run the task on now, or None when not enough of them have room for it."""
    need, instances = needs(task)
    slots = pool.slots_per_node
    usable = [
        n for n in nodes if slots - n.used_slots >= need and not prep_failed(job, n) and jobmanager.may_run_on(task, n)
    ]
    if len(usable) < instances:
        return None
    if (pool.body.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "pack":
        usable.sort(key=lambda n: -n.used_slots)
    else:
        usable.sort(key=lambda n: n.used_slots)
    return usable[:instances]
