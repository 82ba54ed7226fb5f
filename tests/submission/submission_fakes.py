"""An in-memory stand-in for the parts of ``azure.batch.BatchClient`` the engine calls, with scripted faults.

Used until (and alongside) the local Batch service: it keeps jobs and tasks in dicts, raises the same azure-core
exceptions the SDK raises, and can apply a request and then "drop" the response, like a lost connection.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from azure.batch import models as batch_models
from azure.core.exceptions import (
    HttpResponseError,
    ODataV4Format,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.core.paging import ItemPaged


class BatchErrorFormat(ODataV4Format):
    """The Batch error body as the SDK reads it: ``message`` is ``{"lang", "value"}``, not a string."""

    def __init__(self, odata_error: dict[str, Any]) -> None:
        super().__init__(odata_error)
        message = odata_error.get("message")
        if isinstance(message, dict):
            self.message = str(message.get("value", ""))


class _FakeResponse:
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.reason = code
        self.headers = headers or {}
        self.content_type = "application/json"
        self._body = json.dumps({"code": code, "message": {"lang": "en-US", "value": message}})

    def text(self, encoding: str | None = None) -> str:
        return self._body


def service_error(
    status: int, code: str, message: str = "", headers: dict[str, str] | None = None, *, cls: type = HttpResponseError
) -> HttpResponseError:
    return cls(response=_FakeResponse(status, code, message or code, headers), error_format=BatchErrorFormat)


@dataclass
class FakeJob:
    options: batch_models.BatchJobCreateOptions
    state: str = "active"
    all_tasks_complete_mode: str | None = None
    tasks: dict[str, batch_models.BatchTaskCreateOptions] = field(default_factory=dict)


# A fault decides what happens to one add-task-collection request: "ok", "503", "429", "500", "drop"
# (apply, then lose the response), "task-server-error" (apply half, serverError for the rest), "crash".
Fault = str


class FakeBatchClient:
    def __init__(self, faults: list[Fault] | None = None, *, crash_after_calls: int | None = None) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self._lock = threading.Lock()
        self._faults = list(faults or [])
        self.crash_after_calls = crash_after_calls
        self.collection_calls = 0
        self.collection_sizes: list[int] = []
        self.task_create_attempts: Counter[str] = Counter()
        self.calls: list[str] = []
        self.on_collection: Callable[[int], None] | None = None
        self.list_pages = 0

    # --- jobs
    def create_job(self, job: batch_models.BatchJobCreateOptions, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append("create_job")
            if job.id in self.jobs:
                raise service_error(409, "JobExists", "The specified job already exists.", cls=ResourceExistsError)
            self.jobs[str(job.id)] = FakeJob(options=job, all_tasks_complete_mode=job.all_tasks_complete_mode)

    def _job(self, job_id: str) -> FakeJob:
        if job_id not in self.jobs:
            raise service_error(404, "JobNotFound", cls=ResourceNotFoundError)
        return self.jobs[job_id]

    def get_job(self, job_id: str, **kwargs: Any) -> batch_models.BatchJob:
        self.calls.append("get_job")
        job = self._job(job_id)
        return batch_models.BatchJob(
            {
                "id": job_id,
                "state": job.state,
                "metadata": [{"name": m.name, "value": m.value} for m in job.options.metadata or []],
                "onAllTasksComplete": job.all_tasks_complete_mode,
            }
        )

    def list_jobs(self, **kwargs: Any) -> list[batch_models.BatchJob]:
        self.calls.append("list_jobs")
        return [self.get_job(job_id) for job_id in list(self.jobs)]

    def update_job(self, job_id: str, job: batch_models.BatchJobUpdateOptions, **kwargs: Any) -> None:
        self.calls.append("update_job")
        target = self._job(job_id)
        if job.all_tasks_complete_mode is not None:
            target.all_tasks_complete_mode = str(
                getattr(job.all_tasks_complete_mode, "value", job.all_tasks_complete_mode)
            )

    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]:
        """Pages of ``max_results`` ids as the service pages them; the continuation token is the next offset."""
        self.calls.append("list_tasks")
        page_size = int(kwargs.get("max_results") or 1000)
        ids = list(self._job(job_id).tasks)

        def get_next(token: str | None) -> int:
            self.list_pages += 1
            return int(token or 0)

        def extract(offset: int) -> tuple[str | None, Iterator[batch_models.BatchTask]]:
            page = [batch_models.BatchTask({"id": task_id}) for task_id in ids[offset : offset + page_size]]
            following = offset + page_size
            return (str(following) if following < len(ids) else None), iter(page)

        return ItemPaged(get_next, extract)

    def get_job_task_counts(self, job_id: str, **kwargs: Any) -> batch_models.BatchTaskCountsResult:
        count = len(self._job(job_id).tasks)
        return batch_models.BatchTaskCountsResult(
            {
                "taskCounts": {"active": count, "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
                "taskSlotCounts": {"active": count, "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
            }
        )

    def begin_terminate_job(self, job_id: str, options: Any = None, **kwargs: Any) -> None:
        job = self._job(job_id)
        if job.state == "completed":
            raise service_error(409, "JobCompleted", cls=ResourceExistsError)
        job.state = "completed"

    def begin_delete_job(self, job_id: str, **kwargs: Any) -> None:
        self._job(job_id)
        del self.jobs[job_id]

    # --- tasks
    def create_task_collection(
        self, job_id: str, task_collection: batch_models.BatchTaskGroup, **kwargs: Any
    ) -> batch_models.BatchCreateTaskCollectionResult:
        with self._lock:
            self.collection_calls += 1
            call_number = self.collection_calls
            fault = self._faults.pop(0) if self._faults else "ok"
            self.collection_sizes.append(len(task_collection.task_values))
        assert kwargs.get("retry_total") == 0, "the engine must switch off azure-core retries"
        if self.crash_after_calls is not None and call_number > self.crash_after_calls:
            raise RuntimeError("simulated crash of the submitting process")
        if fault == "503":
            raise service_error(503, "ServerBusy", "The server is busy.")
        if fault == "429":
            raise service_error(429, "TooManyRequests", "Slow down.", {"Retry-After": "0"})
        if fault == "500":
            raise service_error(500, "InternalError", "Oops.")
        job = self._job(job_id)
        tasks = list(task_collection.task_values)
        results: list[dict[str, Any]] = []
        for index, task in enumerate(tasks):
            with self._lock:
                self.task_create_attempts[str(task.id)] += 1
                if fault == "task-server-error" and index % 2 == 1:
                    results.append(_result(task.id, "serverError", "ServerError"))
                elif task.id in job.tasks:
                    results.append(_result(task.id, "clientError", "TaskExists"))
                elif not task.command_line:
                    results.append(_result(task.id, "clientError", "InvalidPropertyValue"))
                else:
                    job.tasks[str(task.id)] = task
                    results.append({"status": "success", "taskId": task.id})
        if fault == "drop":
            raise ServiceResponseError("Connection aborted: RemoteDisconnected")
        if kwargs.get("cls") is not None:
            # What the SDK does with stream=True and a cls callback: hand over the undecoded response.
            return kwargs["cls"](_StreamedPipelineResponse(json.dumps({"value": results}).encode()), None, {})
        return batch_models.BatchCreateTaskCollectionResult({"value": results})


class _StreamedHttpResponse:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def read(self) -> bytes:
        return self._body


class _StreamedPipelineResponse:
    def __init__(self, body: bytes) -> None:
        self.http_response = _StreamedHttpResponse(body)


def _result(task_id: str | None, status: str, code: str) -> dict[str, Any]:
    return {"status": status, "taskId": task_id, "error": {"code": code, "message": {"lang": "en", "value": code}}}


def planned_sweep(
    count: int,
    *,
    workload: str = "sweep",
    content_hash: str = "c0ffee12",
    complete_mode: str | None = "terminatejob",
    pool_id: str = "pool-a",
    env_bytes: int = 0,
) -> Any:
    """A PlannedJob with ``count`` small deterministic tasks, shaped like what workload_spec produces."""
    from batchforge.submission.plan import PlannedJob

    job = batch_models.BatchJobCreateOptions(
        id=f"{workload}-{content_hash}",
        pool_info=batch_models.BatchPoolInfo(pool_id=pool_id),
        metadata=[batch_models.BatchMetadataItem(name="batchforge-workload", value=workload)],
    )
    padding = [batch_models.EnvironmentSetting(name="PAD", value="x" * env_bytes)] if env_bytes else None
    tasks = [
        batch_models.BatchTaskCreateOptions(
            id=f"task-{index:05d}", command_line=f"echo {index}", environment_settings=padding
        )
        for index in range(count)
    ]
    return PlannedJob(
        workload_name=workload,
        content_hash=content_hash,
        job=job,
        tasks=tasks,
        all_tasks_complete_mode=complete_mode,  # type: ignore[arg-type]
    )
