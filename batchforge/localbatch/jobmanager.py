"""Job manager tasks: the `jobManagerTask` of Job - Add, run as a task of the job with the id given.

Batch starts it when the job is created and schedules it before the job's other tasks (a retried or
requeued manager goes back to the front of its job's queue). `runExclusive` (default true) gives it a node
with nothing else running and keeps other tasks, of any job, off that node while it runs;
`allowLowPriorityNode` false keeps it on dedicated nodes; `killJobOnCompletion` (default true) terminates
the job, reason `JMComplete`, once the manager completes, whether it succeeded or failed after its
retries (`constraints.maxTaskRetryCount`, `maxWallClockTime`, as for any task).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from batchforge.localbatch.clock import check_duration_value
from batchforge.localbatch.errors import invalid_property, missing_property

if TYPE_CHECKING:
    from batchforge.localbatch.entities import Job, Node, Task

SPEC = "jobManagerTask"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a task id's rule
# On the manager's task body: the settings that are the manager's, not a task's.
MANAGER_KEY = "_jobManager"
FLAGS = {"killJobOnCompletion": True, "runExclusive": True, "allowLowPriorityNode": True}
TASK_FIELDS = (
    "id",
    "displayName",
    "commandLine",
    "containerSettings",
    "resourceFiles",
    "outputFiles",
    "environmentSettings",
    "constraints",
    "requiredSlots",
    "userIdentity",
    "applicationPackageReferences",
    "authenticationTokenSettings",
)


def checked_spec(spec: object) -> dict[str, Any]:
    """The job's `jobManagerTask` with Batch's defaults filled in; 400 for what Job - Add refuses."""
    if not isinstance(spec, dict):
        raise invalid_property(SPEC, spec, "Must be an object.")
    task_id = spec.get("id")
    if task_id is None:
        raise missing_property(f"{SPEC}.id")
    if not isinstance(task_id, str) or not ID_PATTERN.match(task_id):
        raise invalid_property(
            f"{SPEC}.id", task_id, "The id may contain letters, digits, hyphens and underscores, up to 64 characters."
        )
    if not spec.get("commandLine"):
        raise missing_property(f"{SPEC}.commandLine")
    slots = spec.get("requiredSlots", 1)
    if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
        raise invalid_property(f"{SPEC}.requiredSlots", slots, "Must be at least 1.")
    constraints = spec.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise invalid_property(f"{SPEC}.constraints", constraints, "Must be an object.")
    for name in ("maxWallClockTime", "retentionTime"):
        check_duration_value(f"{SPEC}.constraints.{name}", constraints.get(name))
    retries = constraints.get("maxTaskRetryCount", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < -1:
        raise invalid_property(f"{SPEC}.constraints.maxTaskRetryCount", retries, "Must be -1 or more.")
    for name in FLAGS:
        if name in spec and spec[name] is not None and not isinstance(spec[name], bool):
            raise invalid_property(f"{SPEC}.{name}", spec[name], "Must be true or false.")
    out = dict(spec)
    for name, default in FLAGS.items():
        if out.get(name) is None:
            out[name] = default
    return out


def task_body(spec: dict[str, Any]) -> dict[str, Any]:
    """The body of the job's task that is its manager (from a `checked_spec`)."""
    body = {name: spec[name] for name in TASK_FIELDS if spec.get(name) is not None}
    body[MANAGER_KEY] = {name: bool(spec[name]) for name in FLAGS}
    return body


def settings(task: Task) -> dict[str, bool] | None:
    """The manager settings of a job manager task; None for every other task."""
    value = task.body.get(MANAGER_KEY)
    return value if isinstance(value, dict) else None


def may_run_on(task: Task, node: Node) -> bool:
    """Whether the task may start on the node as far as job managers go (slots are checked elsewhere)."""
    if node.exclusive is not None:
        return False
    manager = settings(task)
    if manager is None:
        return True
    if manager.get("runExclusive", True) and node.running:
        return False
    return bool(manager.get("allowLowPriorityNode", True) or node.body.get("isDedicated", True))


def occupy(task: Task, nodes: list[Node]) -> None:
    """The task was just given the nodes: an exclusive manager keeps every other task off them."""
    manager = settings(task)
    if manager is not None and manager.get("runExclusive", True):
        for node in nodes:
            node.exclusive = task.key


def vacate(node: Node, task_key: str) -> None:
    if node.exclusive == task_key:
        node.exclusive = None


def to_front(job: Job, task: Task) -> None:
    """A ready manager goes before the job's other ready tasks (as when Batch restarts a manager first)."""
    if settings(task) is not None and task.key in job.ready and next(iter(job.ready)) != task.key:
        job.ready = {task.key: None, **job.ready}


def kills_job(task: Task) -> bool:
    manager = settings(task)
    return manager is not None and bool(manager.get("killJobOnCompletion", True))
