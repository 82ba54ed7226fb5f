"""An in-memory stand-in for the few BatchClient reads the CLI's rendering and waiting logic use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.batch import models as batch_models
from azure.core.exceptions import ResourceNotFoundError
from azure.core.paging import ItemPaged

T = TypeVar("T")


def job(job_id: str, state: str = "active", pool: str = "pool-a", workload: str | None = None) -> batch_models.BatchJob:
    data: dict[str, Any] = {"id": job_id, "state": state, "poolInfo": {"poolId": pool}}
    if workload:
        data["metadata"] = [{"name": "batchforge-workload", "value": workload}]
    return batch_models.BatchJob(data)


def counts(
    active: int = 0, running: int = 0, succeeded: int = 0, failed: int = 0
) -> batch_models.BatchTaskCountsResult:
    completed = succeeded + failed
    numbers = {"active": active, "running": running, "completed": completed, "succeeded": succeeded, "failed": failed}
    return batch_models.BatchTaskCountsResult({"taskCounts": numbers, "taskSlotCounts": numbers})


def task(
    task_id: str,
    state: str = "completed",
    exit_code: int | None = 0,
    start: str | None = "2026-01-01T10:00:00Z",
    end: str | None = "2026-01-01T10:00:02.500000Z",
    failure: dict[str, Any] | None = None,
    output_container: str | None = None,
) -> batch_models.BatchTask:
    data: dict[str, Any] = {"id": task_id, "state": state, "commandLine": "true"}
    if state == "completed":
        info: dict[str, Any] = {"retryCount": 0, "requeueCount": 0, "exitCode": exit_code}
        info["result"] = "success" if exit_code == 0 and failure is None else "failure"
        if start:
            info["startTime"] = start
        if end:
            info["endTime"] = end
        if failure:
            info["failureInfo"] = failure
        data["executionInfo"] = info
        data["nodeInfo"] = {"nodeId": "node-0"}
    if output_container:
        data["outputFiles"] = [
            {
                "filePattern": "out/*.txt",
                "destination": {"container": {"containerUrl": output_container, "path": f"{task_id}/out"}},
                "uploadOptions": {"uploadCondition": "tasksuccess"},
            }
        ]
    return batch_models.BatchTask(data)


def _not_found(code: str) -> ResourceNotFoundError:
    error = ResourceNotFoundError(message=f"{code}: not found")
    error.error = type("ODataError", (), {"code": code, "message": "The specified item does not exist."})()
    return error


def one_page(items: list[T]) -> ItemPaged[T]:
    """A listing the way the SDK returns one: a single page without a continuation token."""
    return ItemPaged(lambda token: None, lambda _: (None, iter(list(items))))


@dataclass
class FakeBatch:
    jobs: dict[str, batch_models.BatchJob] = field(default_factory=dict)
    job_counts: dict[str, list[batch_models.BatchTaskCountsResult]] = field(default_factory=dict)
    tasks: dict[str, list[batch_models.BatchTask]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], list[bytes]] = field(default_factory=dict)
    task_states: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    ranges: list[str | None] = field(default_factory=list)

    def get_job(self, job_id: str, **_: Any) -> batch_models.BatchJob:
        if job_id not in self.jobs:
            raise _not_found("JobNotFound")
        return self.jobs[job_id]

    def list_jobs(self, **_: Any) -> ItemPaged[batch_models.BatchJob]:
        return one_page(list(self.jobs.values()))

    def get_job_task_counts(self, job_id: str, **_: Any) -> batch_models.BatchTaskCountsResult:
        sequence = self.job_counts[job_id]
        # Each read moves one step along the scripted sequence and then stays at its last value.
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]

    def list_tasks(self, job_id: str, **_: Any) -> ItemPaged[batch_models.BatchTask]:
        return one_page(self.tasks.get(job_id, []))

    def get_task(self, job_id: str, task_id: str, **_: Any) -> batch_models.BatchTask:
        self.get_job(job_id)
        for item in self.tasks.get(job_id, []):
            if item.id == task_id:
                states = self.task_states.get((job_id, task_id))
                if states:
                    state = states.pop(0) if len(states) > 1 else states[0]
                    return batch_models.BatchTask({"id": task_id, "state": state, "commandLine": "true"})
                return item
        raise _not_found("TaskNotFound")

    def download_task_file(self, job_id: str, task_id: str, file_path: str, **options: Any) -> Iterator[bytes]:
        versions = self.files.get((job_id, task_id, file_path))
        if not versions:
            raise _not_found("FileNotFound")
        content = versions.pop(0) if len(versions) > 1 else versions[0]
        byte_range = options.get("ocp_range")
        self.ranges.append(byte_range)
        if byte_range:
            start = int(byte_range.removeprefix("bytes=").rstrip("-"))
            if start >= len(content):
                from azure.core.exceptions import HttpResponseError

                error = HttpResponseError(message="InvalidRange")
                error.status_code = 416
                raise error
            content = content[start:]
        return iter([content])
