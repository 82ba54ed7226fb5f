"""A job's state and task counts, read from the Batch service into plain typed values the renderers use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import ResourceNotFoundError
from azure.core.paging import ItemPaged

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.reading import listed, read
from batchforge.submission.result import TaskCounts
from batchforge.workload.planning import WORKLOAD_METADATA_KEY

_FINISHED_JOB_STATES = frozenset({"completed", "deleting"})


@dataclass(frozen=True)
class JobStatus:
    """What an operator wants to know about one job at a glance."""

    job_id: str
    state: str
    pool_id: str
    counts: TaskCounts
    workload: str | None = None

    @property
    def finished(self) -> bool:
        """Done: the service completed the job, or it has tasks and every one of them has completed.

        The second case covers jobs left open on purpose (onAllTasksComplete: noAction); wait on a
        job only after its submission returned, as ``submit`` and ``local up`` do.
        """
        if self.state in _FINISHED_JOB_STATES:
            return True
        return self.counts.total > 0 and self.counts.active == 0 and self.counts.running == 0

    @property
    def has_failures(self) -> bool:
        return self.counts.failed > 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"]["total"] = self.counts.total
        data["finished"] = self.finished
        return data


class JobReader(Protocol):
    """The part of ``azure.batch.BatchClient`` this module reads through (a fake in unit tests)."""

    def get_job(self, job_id: str, **kwargs: Any) -> batch_models.BatchJob: ...

    def list_jobs(self, **kwargs: Any) -> ItemPaged[batch_models.BatchJob]: ...

    def get_job_task_counts(self, job_id: str, **kwargs: Any) -> batch_models.BatchTaskCountsResult: ...


def _enum_text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def _metadata_value(job: batch_models.BatchJob, name: str) -> str | None:
    for item in job.metadata or []:
        if item.name == name:
            return item.value
    return None


def _pool_id(job: batch_models.BatchJob) -> str:
    """The pool the job runs on; an auto pool's id is only in executionInfo (poolInfo holds its spec)."""
    named = job.pool_info.pool_id if job.pool_info else None
    running = job.execution_info.pool_id if job.execution_info else None
    return str(named or running or "")


def status_of(client: JobReader, job: batch_models.BatchJob) -> JobStatus:
    counts = read(client.get_job_task_counts, job.id).task_counts
    return JobStatus(
        job_id=job.id,
        state=_enum_text(job.state),
        pool_id=_pool_id(job),
        counts=TaskCounts.from_service(counts),
        workload=_metadata_value(job, WORKLOAD_METADATA_KEY),
    )


def get_job_or_fail(client: JobReader, job_id: str) -> batch_models.BatchJob:
    try:
        return read(client.get_job, job_id)
    except ResourceNotFoundError:
        raise CliError(f"job '{job_id}' not found", ExitCode.NOT_FOUND) from None


def read_statuses(client: JobReader, job_ids: Sequence[str] = ()) -> list[JobStatus]:
    """Statuses of the named jobs (an unknown id is an error), or of every job in the account."""
    jobs = [get_job_or_fail(client, job_id) for job_id in job_ids] if job_ids else list(listed(client.list_jobs))
    return [status_of(client, job) for job in jobs]


class FailedTaskLister(Protocol):
    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]: ...


def failed_task_ids(client: FailedTaskLister, job_id: str, limit: int = 5) -> list[str]:
    """Ids of some of the job's failed tasks, filtered by the service (a job may hold 100,000 tasks)."""
    found: list[str] = []
    for task in listed(client.list_tasks, job_id, filter="executionInfo/result eq 'failure'", select=["id"]):
        found.append(task.id)
        if len(found) >= limit:
            break
    return found
