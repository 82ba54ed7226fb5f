"""Tasks that can never run: a dependency failed (or is itself blocked), or no node of the pool can hold them.

Batch leaves such tasks active forever, so a waiter would only stop at its timeout. Checked only when a
job has active tasks and none running (the cheap case, and the only one where nothing can change any
more); reported once the same tasks are found blocked on two checks in a row, so a task that was
about to be scheduled between two reads is not mistaken for a stuck one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import AzureError
from azure.core.paging import ItemPaged

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.reading import listed
from batchforge.jobs.status import JobStatus

_FAILED = "executionInfo/result eq 'failure'"
_ACTIVE = "state eq 'active'"


@dataclass(frozen=True)
class BlockedTask:
    task_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.task_id}: {self.reason}"


@dataclass(frozen=True)
class BlockedJob:
    job_id: str
    tasks: tuple[BlockedTask, ...]


class BlockedReader(Protocol):
    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]: ...

    def get_pool(self, pool_id: str, **kwargs: Any) -> batch_models.BatchPool: ...


def _depends_on(task: batch_models.BatchTask) -> tuple[list[str], list[tuple[int, int]]]:
    dependencies = task.depends_on
    if dependencies is None:
        return [], []
    ranges = [(span.start, span.end) for span in dependencies.task_id_ranges or []]
    return list(dependencies.task_ids or []), ranges


def _in_ranges(task_id: str, ranges: Sequence[tuple[int, int]]) -> bool:
    return task_id.isdigit() and any(start <= int(task_id) <= end for start, end in ranges)


def _satisfies_dependents(task: batch_models.BatchTask) -> bool:
    """A failed task whose exit conditions say ``dependencyAction: satisfy`` lets its dependents run."""
    conditions = task.exit_conditions
    info = task.execution_info
    if conditions is None or info is None:
        return False
    code = info.exit_code
    action: batch_models.ExitOptions | None = None
    if code is not None:
        action = next((item.exit_options for item in conditions.exit_codes or [] if item.code == code), None)
        if action is None:
            action = next(
                (item.exit_options for item in conditions.exit_code_ranges or [] if item.start <= code <= item.end),
                None,
            )
    elif info.failure_info is not None:
        action = conditions.pre_processing_error
    action = action or conditions.default
    return action is not None and str(getattr(action.dependency_action, "value", action.dependency_action)) == "satisfy"


def _slots_per_node(client: BlockedReader, pool_id: str) -> int | None:
    try:
        pool = client.get_pool(pool_id, select=["id", "taskSlotsPerNode"])
    except AzureError:  # a pool we cannot read only means this check is skipped
        return None
    return pool.task_slots_per_node


def blocked_tasks(client: BlockedReader, status: JobStatus) -> tuple[BlockedTask, ...]:
    """Every active task of the job that can never run, with what blocks it; empty when any task may still run."""
    active = list(listed(client.list_tasks, status.job_id, filter=_ACTIVE, select=["id", "dependsOn", "requiredSlots"]))
    if not active:
        return ()
    slots = _slots_per_node(client, status.pool_id) if status.pool_id else None
    failed = {
        task.id
        for task in listed(
            client.list_tasks, status.job_id, filter=_FAILED, select=["id", "exitConditions", "executionInfo"]
        )
        if not _satisfies_dependents(task)
    }
    reasons: dict[str, str] = {}
    for task in active:
        if slots is not None and (task.required_slots or 1) > slots:
            reasons[task.id] = f"needs {task.required_slots} slots but the nodes of pool {status.pool_id} have {slots}"
    # Blocked tasks never complete, so whatever depends on them is blocked too: repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        for task in active:
            if task.id in reasons:
                continue
            ids, ranges = _depends_on(task)
            blockers = [dep for dep in ids if dep in failed or dep in reasons]
            if ranges:
                blockers += [dep for dep in (*failed, *reasons) if _in_ranges(dep, ranges) and dep not in blockers]
            if blockers:
                kinds = ["failed" if dep in failed else "blocked" for dep in blockers]
                named = ", ".join(f"{dep} ({kind})" for dep, kind in zip(blockers, kinds, strict=True))
                reasons[task.id] = f"waits for {named}"
                changed = True
    if len(reasons) < len(active):
        return ()
    return tuple(BlockedTask(task.id, reasons[task.id]) for task in sorted(active, key=lambda t: t.id))


@dataclass
class BlockedWatch:
    """Reports a job as blocked once two checks in a row found the same tasks blocked."""

    client: BlockedReader
    _last: dict[str, tuple[BlockedTask, ...]] = field(default_factory=dict)

    def check(self, statuses: Sequence[JobStatus]) -> list[BlockedJob]:
        confirmed: list[BlockedJob] = []
        for status in statuses:
            counts = status.counts
            if status.finished or counts.running > 0 or counts.active == 0:
                self._last.pop(status.job_id, None)
                continue
            found = blocked_tasks(self.client, status)
            if found and self._last.get(status.job_id) == found:
                confirmed.append(BlockedJob(status.job_id, found))
            if found:
                self._last[status.job_id] = found
            else:
                self._last.pop(status.job_id, None)
        return confirmed


def blocked_message(job: BlockedJob, limit: int = 20) -> list[str]:
    """Lines naming each blocked task (at most ``limit``) and what blocks it."""
    lines = [f"{job.job_id}: {len(job.tasks)} task(s) can never run:"]
    lines.extend(f"  {task}" for task in job.tasks[:limit])
    if len(job.tasks) > limit:
        lines.append(f"  ... and {len(job.tasks) - limit} more")
    return lines


class JobsBlocked(CliError):
    """The jobs cannot finish: their remaining tasks can never run (exit code: tasks failed)."""

    def __init__(self, jobs: Sequence[BlockedJob]) -> None:
        lines = [line for job in jobs for line in blocked_message(job)]
        super().__init__(
            "\n".join(["stopped waiting: the remaining tasks can never run", *lines]), ExitCode.TASKS_FAILED
        )
        self.jobs = tuple(jobs)
