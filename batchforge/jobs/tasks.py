"""A job's tasks as plain rows (id, state, exit code, duration, node, failure), optionally of one state.

Filtered and trimmed by the service (``$filter``, ``$select``): a job may hold 100,000 tasks, and the
listing is paged by the service anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.paging import ItemPaged

from batchforge.core import InvalidInput, Problem
from batchforge.jobs.reading import listed

# Task states as the service names them, plus the two results of a completed task.
STATE_FILTERS: dict[str, str] = {
    "active": "state eq 'active'",
    "preparing": "state eq 'preparing'",
    "running": "state eq 'running'",
    "completed": "state eq 'completed'",
    "succeeded": "executionInfo/result eq 'success'",
    "failed": "executionInfo/result eq 'failure'",
}
_SELECT = ["id", "state", "executionInfo", "nodeInfo"]


@dataclass(frozen=True)
class TaskRow:
    task_id: str
    state: str
    result: str | None
    exit_code: int | None
    duration: timedelta | None
    node_id: str | None
    failure: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.task_id,
            "state": self.state,
            "result": self.result,
            "exit_code": self.exit_code,
            "duration_s": None if self.duration is None else round(self.duration.total_seconds(), 3),
            "node_id": self.node_id,
            "failure": self.failure,
        }


class TaskLister(Protocol):
    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]: ...


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def state_filter(state: str | None) -> str | None:
    if state is None:
        return None
    if state not in STATE_FILTERS:
        known = ", ".join(STATE_FILTERS)
        raise InvalidInput([Problem("--state", "", f"'{state}' is not a task state; choose one of: {known}")])
    return STATE_FILTERS[state]


def row_of(task: batch_models.BatchTask) -> TaskRow:
    info = task.execution_info
    duration = None
    failure = None
    if info is not None:
        if info.start_time is not None and info.end_time is not None:
            duration = info.end_time - info.start_time
        if info.failure_info is not None:
            failure = info.failure_info.code
    return TaskRow(
        task_id=str(task.id),
        state=_text(task.state),
        result=_text(info.result) or None if info is not None else None,
        exit_code=info.exit_code if info is not None else None,
        duration=duration,
        node_id=task.node_info.node_id if task.node_info is not None else None,
        failure=failure,
    )


def task_rows(client: TaskLister, job_id: str, state: str | None = None) -> Iterator[TaskRow]:
    """Every task of the job (of ``state`` only, when given), in the service's order."""
    options: dict[str, Any] = {"select": _SELECT}
    condition = state_filter(state)
    if condition is not None:
        options["filter"] = condition
    for task in listed(client.list_tasks, job_id, **options):
        yield row_of(task)
