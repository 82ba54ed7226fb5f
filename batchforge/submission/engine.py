"""The submission engine: puts a `PlannedJob` into a Batch account exactly once, fast, and resumably.

1. upload the job's local input files (skipping blobs with the same content hash);
2. create the job with its content hash in metadata (JobExists with the same hash is success);
3. on a job that already existed, list its task ids and keep only the missing tasks;
4. add them in chunks (<= 100 tasks, < 1 MiB) concurrently, each chunk with bounded retries, all within one
   deadline; a TaskExists answer counts as "already present" because task ids and content are deterministic
   for a content hash, so retrying an ambiguous request can never create a duplicate;
5. only when every task is on the service, set the job's onAllTasksComplete to the planned value.

Why not ``BatchClient.create_tasks``: it requeues chunks that fail with 5xx (and per-task server errors)
without any bound or backoff, has no deadline, and reports TaskExists only as a success it cannot tell apart
from a new task; we need bounded, deadline-aware retries and an exact account of what happened.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import AzureError, DecodeError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from batchforge.submission.blob_uploads import upload_inputs
from batchforge.submission.chunking import MAX_REQUEST_BYTES, MAX_TASKS_PER_REQUEST, chunk_tasks
from batchforge.submission.errors import JobConflictError, SubmissionError
from batchforge.submission.plan import PlannedJob
from batchforge.submission.result import SubmissionResult, TaskCounts, TaskFailure, UploadResult
from batchforge.submission.retrying import Deadline, FailureKind, Retrier, RetryPolicy, classify, error_code

# Job metadata entry that ties a job to the workload content it was built from.
CONTENT_HASH_METADATA_KEY = "batchforge-content-hash"
# The hash of the job's in-place settings; a job found with another one is patched (see settings_update).
SETTINGS_HASH_METADATA_KEY = "batchforge-settings-hash"
# Job states in which the job update operation is accepted.
_UPDATABLE_JOB_STATES = frozenset({"active", "disabling", "disabled", "enabling"})
DEFAULT_DEADLINE_S = 900.0
DEFAULT_CONCURRENCY = 16
# Job states in which the service refuses new tasks.
_CLOSED_JOB_STATES = frozenset({"completed", "terminating", "deleting"})
# A job in these states has ended (or is ending) on its own: what a completion mode of terminatejob asks for.
_ENDED_JOB_STATES = frozenset({"completed", "terminating"})
# What a patch of an ended job answers (the local service and Batch say JobNotActive for terminating).
_ENDED_CODES = frozenset({"JobCompleted", "JobNotActive", "JobBeingTerminated"})
_GONE_CODES = frozenset({"JobCompleted", "JobBeingDeleted", "JobBeingTerminated", "JobNotFound"})


class BatchSubmitClient(Protocol):
    """The part of ``azure.batch.BatchClient`` the engine uses (fakes implement just this)."""

    def create_job(self, job: batch_models.BatchJobCreateOptions, **kwargs: Any) -> None: ...

    def get_job(self, job_id: str, **kwargs: Any) -> batch_models.BatchJob: ...

    def update_job(self, job_id: str, job: batch_models.BatchJobUpdateOptions, **kwargs: Any) -> None: ...

    def list_tasks(self, job_id: str, **kwargs: Any) -> Any: ...

    def create_task_collection(
        self, job_id: str, task_collection: batch_models.BatchTaskGroup, **kwargs: Any
    ) -> batch_models.BatchCreateTaskCollectionResult: ...

    def get_job_task_counts(self, job_id: str, **kwargs: Any) -> batch_models.BatchTaskCountsResult: ...

    def begin_terminate_job(self, job_id: str, options: Any = None, **kwargs: Any) -> Any: ...

    def begin_delete_job(self, job_id: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class _JobOnService:
    created: bool
    state: str
    all_tasks_complete_mode: str | None
    settings_updated: bool = False


class _Tally:
    """Per-task outcomes, filled in by the chunk workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.added = 0
        self.already_present = 0
        self.pending = 0
        self.failed: list[TaskFailure] = []
        # Failed because the service refused them (a final 4xx), not because retries or time ran out.
        self.refused = 0

    def count(self, *, added: int = 0, already_present: int = 0, pending: int = 0) -> None:
        with self._lock:
            self.added += added
            self.already_present += already_present
            self.pending += pending

    def fail(
        self, tasks: Sequence[batch_models.BatchTaskCreateOptions], code: str, message: str, *, refused: bool = True
    ) -> None:
        with self._lock:
            self.failed.extend(TaskFailure(task_id(task), code, message) for task in tasks)
            if refused:
                self.refused += len(tasks)


def task_id(task: Mapping[str, Any]) -> str:
    """A task's id, read as the wire field: the SDK models are mappings over their JSON, and attribute access
    (``task.id``) runs the model's deserializer on every read, which costs more than sending the task."""
    return str(task["id"])


def _lower(value: object) -> str | None:
    """Service enum values compared case-insensitively (the SDK may hand back an Enum member or a plain str)."""
    if value is None:
        return None
    return str(value.value if isinstance(value, Enum) else value).lower()


def job_with_content_hash(planned: PlannedJob) -> batch_models.BatchJobCreateOptions:
    """The planned job (copied) with the content hash in its metadata and no onAllTasksComplete yet."""
    job = copy.deepcopy(planned.job)
    items = [item for item in (job.metadata or []) if item.name != CONTENT_HASH_METADATA_KEY]
    items.append(batch_models.BatchMetadataItem(name=CONTENT_HASH_METADATA_KEY, value=planned.content_hash))
    job.metadata = items
    # A half-submitted job must never complete early, whatever the plan says.
    job.all_tasks_complete_mode = None
    return job


def _metadata_value(job: batch_models.BatchJob, name: str) -> str | None:
    for item in job.metadata or []:
        if item.name == name:
            return item.value
    return None


def _content_hash_of(job: batch_models.BatchJob) -> str | None:
    return _metadata_value(job, CONTENT_HASH_METADATA_KEY)


def _ensure_job(planned: PlannedJob, client: BatchSubmitClient, retrier: Retrier) -> _JobOnService:
    if not planned.created_elsewhere:
        try:
            retrier.run(client.create_job, job_with_content_hash(planned))
            return _JobOnService(created=True, state="active", all_tasks_complete_mode=None)
        except HttpResponseError as error:
            if error_code(error) != "JobExists":
                raise
    existing = retrier.run(client.get_job, planned.job_id)
    found = _content_hash_of(existing)
    if found != planned.content_hash:
        raise JobConflictError(
            f"job {planned.job_id} already exists with content hash {found or '(none)'}, "
            f"not {planned.content_hash}: it was not created from this workload version"
        )
    state = _lower(existing.state) or "active"
    updated = False
    if planned.settings_hash and _metadata_value(existing, SETTINGS_HASH_METADATA_KEY) != planned.settings_hash:
        if state not in _UPDATABLE_JOB_STATES:
            raise SubmissionError(
                f"job {planned.job_id} is {state}: its settings (priority, maxParallelTasks, constraints, metadata) "
                "can no longer be updated; delete the job to submit this workload again"
            )
        retrier.run(client.update_job, planned.job_id, settings_update(planned))
        updated = True
    return _JobOnService(
        created=False,
        state=state,
        all_tasks_complete_mode=_lower(existing.all_tasks_complete_mode),
        settings_updated=updated,
    )


def settings_update(planned: PlannedJob) -> batch_models.BatchJobUpdateOptions:
    """The job update operation's body for the planned settings, every one of them explicit.

    An omitted property keeps the job's current value, so a setting removed from the workload is sent as the
    service's default (no limit, no constraints) rather than left out.
    """
    job = job_with_content_hash(planned)
    return batch_models.BatchJobUpdateOptions(
        priority=job.priority or 0,
        max_parallel_tasks=job.max_parallel_tasks if job.max_parallel_tasks is not None else -1,
        constraints=job.constraints or batch_models.BatchJobConstraints(),
        metadata=job.metadata,
    )


def existing_task_ids(client: BatchSubmitClient, job_id: str, retrier: Retrier) -> set[str]:
    """Ids of the job's tasks on the service (``$select=id``, so the listing stays small)."""

    # One request per page of 1000 ids, each with its own retries (a fault in page 9 does not restart page 1).
    return {task_id(task) for task in retrier.list_all(client.list_tasks, job_id, select=["id"], max_results=1000)}


def _add_chunk(
    client: BatchSubmitClient,
    job_id: str,
    tasks: list[batch_models.BatchTaskCreateOptions],
    retrier: Retrier,
    tally: _Tally,
) -> None:
    """Adds one chunk, retrying only the tasks whose outcome is unknown or transiently failed."""
    pending = tasks
    attempt = 1
    while pending:
        if retrier.deadline.expired:
            tally.count(pending=len(pending))
            return
        retrier.count_request()
        try:
            results = client.create_task_collection(
                job_id,
                batch_models.BatchTaskGroup(task_values=pending),
                stream=True,
                cls=_raw_results,
                **retrier.call_options(),
            )
        except Exception as error:
            if not isinstance(error, AzureError):
                raise  # not a service or network failure: a bug or an interruption, let it stop the run
            kind = classify(error)
            if kind.code == "RequestBodyTooLarge" and len(pending) > 1:
                # The service's limit is lower than our budget assumed: halve and carry on.
                middle = len(pending) // 2
                _add_chunk(client, job_id, pending[:middle], retrier, tally)
                _add_chunk(client, job_id, pending[middle:], retrier, tally)
                return
            if not kind.retryable:
                tally.fail(pending, kind.code, kind.message)
                return
            retry, retry_kind = pending, kind
        else:
            retry, retry_kind = _record_results(pending, results, tally)
            if not retry:
                return
        decision = retrier.wait_before_retry(attempt, retry_kind)
        if decision == "out-of-time":
            tally.count(pending=len(retry))
            return
        if decision == "out-of-attempts":
            tally.fail(retry, retry_kind.code, f"gave up after {attempt} attempts: {retry_kind.message}", refused=False)
            return
        pending = retry
        attempt += 1


def _raw_results(pipeline_response: Any, _deserialized: Any, _headers: Any) -> list[dict[str, Any]]:
    """The per-task results as plain JSON.

    Used as the ``cls`` of a streamed ``create_task_collection``: the SDK's model deserialization of 100
    results costs more client CPU than the whole request, and the engine needs only status, id and error.
    """
    body = pipeline_response.http_response.read()
    try:
        return list(json.loads(body).get("value") or [])
    except ValueError as error:
        raise DecodeError(f"unreadable add-task-collection response: {error}") from error


def _record_results(
    sent: list[batch_models.BatchTaskCreateOptions],
    results: list[dict[str, Any]],
    tally: _Tally,
) -> tuple[list[batch_models.BatchTaskCreateOptions], FailureKind]:
    """Counts per-task results; returns the tasks to send again (server errors, missing results)."""
    by_id = {str(result.get("taskId")): result for result in results}
    retry: list[batch_models.BatchTaskCreateOptions] = []
    retry_kind = FailureKind(True, None, "ServerError", "the service did not add some tasks")
    added = present = 0
    for task in sent:
        result = by_id.get(task_id(task))
        if result is None:
            retry.append(task)
            continue
        status = str(result.get("status") or "").lower()
        error = result.get("error") or {}
        code = str(error.get("code") or "")
        if status == "success":
            added += 1
        elif code == "TaskExists":
            # Same job id = same content hash = the same task: added by an earlier (possibly ambiguous) attempt.
            present += 1
        elif status == "servererror":
            retry.append(task)
            retry_kind = FailureKind(True, None, code or "ServerError", _error_message(error))
        else:
            tally.fail([task], code or "ClientError", _error_message(error))
    tally.count(added=added, already_present=present)
    return retry, retry_kind


def _error_message(error: dict[str, Any]) -> str:
    message = (
        (error.get("message") or {}).get("value") if isinstance(error.get("message"), dict) else error.get("message")
    )
    details = "; ".join(f"{detail.get('key')}: {detail.get('value')}" for detail in error.get("values") or [])
    return " ".join(str(part) for part in (message, details) if part)


def _submit_within(
    planned: PlannedJob,
    client: BatchSubmitClient,
    deadline: Deadline,
    *,
    concurrency: int,
    retry_policy: RetryPolicy,
    upload_container: ContainerClient | None,
    max_request_bytes: int,
    rng: random.Random | None,
) -> SubmissionResult:
    started = time.monotonic()
    retrier = Retrier(retry_policy, deadline, rng)
    planned_ids = [task_id(task) for task in planned.tasks]
    if len(set(planned_ids)) != len(planned_ids):
        raise SubmissionError(f"job {planned.job_id}: the plan repeats task ids; every task id must be unique")

    uploads = UploadResult()
    if planned.uploads:
        if upload_container is None:
            raise SubmissionError(f"job {planned.job_id} needs {len(planned.uploads)} files uploaded: no container")
        uploads = upload_inputs(planned.uploads, upload_container)

    # Everything is checked before the job exists: a task too big for any request would leave a job that can
    # never be completed, so the submission stops here with nothing created.
    planned_chunks = chunk_tasks(planned.tasks, max_tasks=MAX_TASKS_PER_REQUEST, max_bytes=max_request_bytes)
    if planned_chunks.oversized:
        return _refused_before_creating(planned, planned_chunks, max_request_bytes, retrier, uploads, started)

    job = _ensure_job(planned, client, retrier)
    on_service = set() if job.created else existing_task_ids(client, planned.job_id, retrier)
    missing = [task for task, task_key in zip(planned.tasks, planned_ids, strict=True) if task_key not in on_service]
    if missing and job.state in _CLOSED_JOB_STATES:
        raise SubmissionError(
            f"job {planned.job_id} is {job.state} and cannot take its {len(missing)} missing tasks; "
            "delete the job to submit this workload again"
        )

    tally = _Tally()
    tally.count(already_present=len(planned.tasks) - len(missing))
    chunking = (
        planned_chunks
        if len(missing) == len(planned.tasks)
        else chunk_tasks(missing, max_tasks=MAX_TASKS_PER_REQUEST, max_bytes=max_request_bytes)
    )
    if chunking.chunks:
        _add_chunks_concurrently(client, planned.job_id, chunking.chunks, retrier, tally, concurrency)

    cleanup = ""
    if tally.refused:
        cleanup = _clean_up_refused(client, planned.job_id, job.created, retrier)
    complete = not tally.failed and tally.pending == 0
    completion_mode_set = False
    wanted_mode = _lower(planned.all_tasks_complete_mode)
    if complete and wanted_mode is not None:
        completion_mode_set = _set_completion_mode(planned, client, job, wanted_mode, retrier)

    return SubmissionResult(
        workload_name=planned.workload_name,
        job_id=planned.job_id,
        content_hash=planned.content_hash,
        job_created=job.created,
        settings_updated=job.settings_updated,
        tasks_total=len(planned.tasks),
        tasks_added=tally.added,
        tasks_already_present=tally.already_present,
        failed=tuple(tally.failed),
        tasks_pending=tally.pending,
        completion_mode_set=completion_mode_set,
        deadline_exceeded=tally.pending > 0,
        requests=retrier.requests,
        retries=retrier.retries,
        uploads=uploads,
        duration_s=time.monotonic() - started,
        job_exists=not (job.created and cleanup.startswith("job deleted")),
        cleanup=cleanup,
        refused_tasks=tally.refused,
    )


def _set_completion_mode(
    planned: PlannedJob, client: BatchSubmitClient, job: _JobOnService, wanted_mode: str, retrier: Retrier
) -> bool:
    """Patches onAllTasksComplete; True when the job has it or has already ended because of it.

    A job found completed or terminating with every task present has done what the mode asks for; and when
    the patch's answer was lost, the retry meets exactly that job (``JobCompleted``/``JobNotActive``), which
    is the success the first attempt already had, not a failure of the ``up``.
    """
    if job.all_tasks_complete_mode == wanted_mode:
        return True
    if job.all_tasks_complete_mode == "terminatejob" and wanted_mode == "noaction":
        # Batch never turns automatic termination off again (Job - Patch answers InvalidPropertyValue): the
        # live job keeps terminatejob, which ends it when its tasks are done, as before the change.
        return False
    if job.state in _ENDED_JOB_STATES:
        return True
    if job.state in _CLOSED_JOB_STATES:
        return False
    try:
        retrier.run(
            client.update_job,
            planned.job_id,
            batch_models.BatchJobUpdateOptions(all_tasks_complete_mode=planned.all_tasks_complete_mode),
        )
    except HttpResponseError as error:
        # Only a job that really has ended is success; a refusal for any other reason stays a failure.
        if error_code(error) not in _ENDED_CODES or not _job_has_ended(client, planned.job_id, retrier):
            raise
    return True


def _job_has_ended(client: BatchSubmitClient, job_id: str, retrier: Retrier) -> bool:
    return _lower(retrier.run(client.get_job, job_id).state) in _ENDED_JOB_STATES


def removal_command(job_id: str) -> str:
    """The command an operator runs to remove a job the engine could not delete."""
    return f"batchctl job delete {job_id}  (with the target flags: --local or --stack-outputs ...)"


def _clean_up_refused(client: BatchSubmitClient, job_id: str, created: bool, retrier: Retrier) -> str:
    """The service refused tasks for good: delete the job this run created, or say how to remove it.

    A job whose tasks cannot all be added never completes (its onAllTasksComplete is set only after the last
    task); left behind, it would also make the next submission of a fixed workload find a stale job.
    """
    if not created:
        return f"job {job_id} existed before this run and was left as it is; remove it with `{removal_command(job_id)}`"
    try:
        retrier.run(client.begin_delete_job, job_id, polling_interval=1)
    except (AzureError, SubmissionError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"job {job_id} could not be deleted ({reason}); remove it with `{removal_command(job_id)}`"
    return f"job deleted: {job_id} was created by this run and is removed again, since the service refused tasks"


def _refused_before_creating(
    planned: PlannedJob,
    chunking: Any,
    max_request_bytes: int,
    retrier: Retrier,
    uploads: UploadResult,
    started: float,
) -> SubmissionResult:
    failed = tuple(
        TaskFailure(
            task_id(task),
            "RequestBodyTooLarge",
            f"the task alone is {size} bytes; a request may hold {max_request_bytes}",
        )
        for task, size in chunking.oversized
    )
    return SubmissionResult(
        workload_name=planned.workload_name,
        job_id=planned.job_id,
        content_hash=planned.content_hash,
        job_created=False,
        tasks_total=len(planned.tasks),
        tasks_added=0,
        tasks_already_present=0,
        failed=failed,
        requests=retrier.requests,
        uploads=uploads,
        duration_s=time.monotonic() - started,
        job_exists=False,
        cleanup="nothing was created: the service would refuse these tasks",
        refused_tasks=len(failed),
    )


def _add_chunks_concurrently(
    client: BatchSubmitClient,
    job_id: str,
    chunks: list[list[batch_models.BatchTaskCreateOptions]],
    retrier: Retrier,
    tally: _Tally,
    concurrency: int,
) -> None:
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(chunks))), thread_name_prefix="add-tasks")
    try:
        futures = [pool.submit(_add_chunk, client, job_id, chunk, retrier, tally) for chunk in chunks]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # re-raises the first unexpected exception; chunks not started are cancelled below
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def submit(
    planned: PlannedJob,
    client: BatchSubmitClient,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry_policy: RetryPolicy | None = None,
    upload_container: ContainerClient | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    rng: random.Random | None = None,
) -> SubmissionResult:
    """Submits one planned job exactly once; safe to call again (it adds only what is missing).

    Raises `JobConflictError` when the job id exists with another content hash, `SubmissionError` when the
    job cannot take its missing tasks, and the SDK's ``HttpResponseError`` when job creation is refused.
    Task-level refusals and deadline expiry are reported in the result, not raised.
    """
    return _submit_within(
        planned,
        client,
        Deadline(deadline_s),
        concurrency=concurrency,
        retry_policy=retry_policy or RetryPolicy(),
        upload_container=upload_container,
        max_request_bytes=max_request_bytes,
        rng=rng,
    )


def submit_many(
    planned_jobs: Sequence[PlannedJob],
    client: BatchSubmitClient,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry_policy: RetryPolicy | None = None,
    upload_container: ContainerClient | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    rng: random.Random | None = None,
) -> list[SubmissionResult]:
    """Submits several jobs one after another (each one concurrently inside) under one overall deadline."""
    deadline = Deadline(deadline_s)
    return [
        _submit_within(
            planned,
            client,
            deadline,
            concurrency=concurrency,
            retry_policy=retry_policy or RetryPolicy(),
            upload_container=upload_container,
            max_request_bytes=max_request_bytes,
            rng=rng,
        )
        for planned in planned_jobs
    ]


def terminate_job(
    client: BatchSubmitClient,
    job_id: str,
    *,
    reason: str = "batchforge: workload removed",
    wait: bool = False,
    timeout_s: float = 300.0,
) -> bool:
    """Terminates the job (running tasks are stopped, the job's record stays); False when nothing was left to do."""
    try:
        # azure.batch.models does not export BatchJobTerminateOptions (15.1.0); the SDK sends whatever
        # mapping it gets as the JSON body, so the body itself is passed.
        poller = client.begin_terminate_job(job_id, {"terminateReason": reason[:64]}, polling_interval=1)
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        if error_code(error) in _GONE_CODES:
            return False
        raise
    if wait:
        poller.result(timeout=timeout_s)
    return True


def delete_job(client: BatchSubmitClient, job_id: str, *, wait: bool = False, timeout_s: float = 300.0) -> bool:
    """Deletes the job and its tasks; False when it was already gone or being deleted."""
    try:
        poller = client.begin_delete_job(job_id, polling_interval=1)
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        if error_code(error) in _GONE_CODES - {"JobCompleted"}:
            return False
        raise
    if wait:
        poller.result(timeout=timeout_s)
    return True


def job_task_counts(client: BatchSubmitClient, job_id: str) -> TaskCounts:
    """The job's task counts by state (the service's counts may lag a few seconds behind)."""
    return TaskCounts.from_service(client.get_job_task_counts(job_id).task_counts)
