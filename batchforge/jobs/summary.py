"""What happened to each task of a finished run, and where its logs and outputs are, as typed values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from azure.batch import models as batch_models
from azure.core.paging import ItemPaged

from batchforge.jobs.reading import listed, read
from batchforge.workload.planning import WORKLOAD_METADATA_KEY
from batchforge.workload.task_logs import LOG_FILES_PATTERN


@dataclass(frozen=True)
class LogLocation:
    """Where a task's stdout and stderr can be read: a local path, a URL, or a command that prints it."""

    stdout: str
    stderr: str


@dataclass(frozen=True)
class TaskOutcome:
    task_id: str
    state: str
    result: str
    exit_code: int | None
    duration: timedelta | None
    node_id: str | None
    logs: LogLocation
    output_files: tuple[str, ...] = ()
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "completed" and self.result == "success"

    @property
    def failed(self) -> bool:
        return self.state == "completed" and self.result != "success"


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    state: str
    tasks: tuple[TaskOutcome, ...]
    workload: str | None = None
    wall_time: timedelta | None = None

    @property
    def succeeded(self) -> int:
        return sum(1 for task in self.tasks if task.succeeded)

    @property
    def failed(self) -> int:
        return sum(1 for task in self.tasks if task.failed)

    @property
    def unfinished(self) -> int:
        return sum(1 for task in self.tasks if task.state != "completed")

    @property
    def ok(self) -> bool:
        return bool(self.tasks) and self.succeeded == len(self.tasks)


@dataclass(frozen=True)
class RunSummary:
    jobs: tuple[JobSummary, ...]
    problems: tuple[str, ...] = field(default=())
    # Worth knowing but not a failure (e.g. one node of two failed its start task; the other ran the tasks).
    warnings: tuple[str, ...] = field(default=())
    # Job id -> the local folder its outputs were downloaded to (`local up`).
    downloads: dict[str, str] = field(default_factory=dict)

    # The run stopped at its timeout (exit code 5, not 1).
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.jobs) and all(job.ok for job in self.jobs)


class TaskLister(Protocol):
    def get_job(self, job_id: str, **kwargs: Any) -> batch_models.BatchJob: ...

    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]: ...


LogLocator = Callable[[str, batch_models.BatchTask], LogLocation]


def logs_command_locator(target_flags: str = "") -> LogLocator:
    """Where the logs are when the node's disk is not ours to read (Azure): the command that prints them.

    ``target_flags`` repeats how the running command chose its account, so the command works as printed.
    """
    suffix = f" {target_flags}" if target_flags else ""

    def locate(job_id: str, task: batch_models.BatchTask) -> LogLocation:
        return LogLocation(
            stdout=f"batchctl logs {job_id} {task.id}{suffix}",
            stderr=f"batchctl logs {job_id} {task.id}{suffix} --stderr",
        )

    return locate


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def _without_query(url: str) -> str:
    """A container URL as shown to people: any SAS query string is dropped so no token is ever printed."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def output_locations(task: batch_models.BatchTask) -> tuple[str, ...]:
    """Blob URLs (or URL prefixes, for patterns) that a task's output files upload to."""
    found: list[str] = []
    for output in task.output_files or []:
        if output.file_pattern == LOG_FILES_PATTERN:
            continue  # the task's own logs, reported as logs
        container = output.destination.container if output.destination else None
        if container is None:
            continue
        base = _without_query(container.container_url)
        path = (container.path or "").lstrip("/")
        found.append(f"{base}/{path}" if path else f"{base}/ ({output.file_pattern})")
    return tuple(found)


def _duration(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return end - start


def outcome_of(job_id: str, task: batch_models.BatchTask, locate_logs: LogLocator) -> TaskOutcome:
    info = task.execution_info
    failure = None
    if info is not None and info.failure_info is not None:
        failure = ": ".join(part for part in (info.failure_info.code, info.failure_info.message) if part)
    return TaskOutcome(
        task_id=task.id,
        state=_text(task.state),
        result=_text(info.result) if info is not None else "",
        exit_code=info.exit_code if info is not None else None,
        duration=_duration(info.start_time, info.end_time) if info is not None else None,
        node_id=task.node_info.node_id if task.node_info is not None else None,
        logs=locate_logs(job_id, task),
        output_files=output_locations(task),
        failure=failure,
    )


def summarize_job(client: TaskLister, job_id: str, locate_logs: LogLocator | None = None) -> JobSummary:
    job = read(client.get_job, job_id)
    tasks = sorted(listed(client.list_tasks, job_id), key=lambda task: task.id)
    locate = locate_logs or logs_command_locator()
    outcomes = tuple(outcome_of(job_id, task, locate) for task in tasks)
    starts = [t.execution_info.start_time for t in tasks if t.execution_info and t.execution_info.start_time]
    ends = [t.execution_info.end_time for t in tasks if t.execution_info and t.execution_info.end_time]
    wall_time = max(ends) - min(starts) if starts and ends else None
    workload = next((item.value for item in job.metadata or [] if item.name == WORKLOAD_METADATA_KEY), None)
    return JobSummary(job_id=job_id, state=_text(job.state), tasks=outcomes, workload=workload, wall_time=wall_time)
