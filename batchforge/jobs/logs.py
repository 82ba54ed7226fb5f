"""A task's stdout.txt / stderr.txt: from the node while the task runs, from storage once it completed.

Tasks upload their logs to ``<job id>/logs/<task id>/`` in the outputs container on completion (see
:mod:`batchforge.workload.task_logs`), so the logs of a finished task stay readable after its node is
gone. Following reads only the bytes added since the last read (ranged reads), never the whole file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.storage import BlobStore
from batchforge.workload.task_logs import LOG_FILES_PATTERN, log_blob_name


class TaskFileReader(Protocol):
    def get_task(self, job_id: str, task_id: str, **kwargs: Any) -> batch_models.BatchTask: ...

    def download_task_file(self, job_id: str, task_id: str, file_path: str, **kwargs: Any) -> Iterable[bytes]: ...


def stream_file_name(stderr: bool) -> str:
    return "stderr.txt" if stderr else "stdout.txt"


def get_task_or_fail(client: TaskFileReader, job_id: str, task_id: str) -> batch_models.BatchTask:
    try:
        return client.get_task(job_id, task_id)
    except ResourceNotFoundError as missing:
        code = getattr(getattr(missing, "error", None), "code", "") or ""
        if code == "JobNotFound":
            raise CliError(f"job '{job_id}' not found", ExitCode.NOT_FOUND) from None
        raise CliError(f"task '{task_id}' not found in job '{job_id}'", ExitCode.NOT_FOUND) from None


def _is_invalid_range(error: HttpResponseError) -> bool:
    return error.status_code == 416


def read_task_file(client: TaskFileReader, job_id: str, task_id: str, file_name: str, offset: int = 0) -> bytes | None:
    """The node's file from ``offset`` on (b"" when nothing is past it), or None while there is no such file.

    A node that is gone, or a task that never ran on one, answers not found, and so does a task whose
    node cannot serve files: all mean "not on the node".
    """
    options: dict[str, Any] = {"ocp_range": f"bytes={offset}-"} if offset else {}
    try:
        return b"".join(client.download_task_file(job_id, task_id, file_name, **options))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as error:
        if offset and _is_invalid_range(error):
            return b""
        if error.status_code in (404, 409):
            return None
        raise


def last_lines(data: bytes, count: int) -> bytes:
    if count <= 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


def task_state(task: batch_models.BatchTask) -> str:
    return str(getattr(task.state, "value", task.state))


def logs_container_url(task: batch_models.BatchTask) -> str | None:
    """The outputs container the task uploads its logs to, read from its own output files."""
    for output in task.output_files or []:
        container = output.destination.container if output.destination else None
        if output.file_pattern == LOG_FILES_PATTERN and container is not None:
            return str(container.container_url)
    return None


def _from_storage(
    store: BlobStore | None, task: batch_models.BatchTask, job_id: str, name: str, offset: int = 0
) -> bytes | None:
    url = logs_container_url(task)
    if store is None or url is None:
        return None
    return store.read(url, log_blob_name(job_id, str(task.id), name), offset)


def read_log(
    client: TaskFileReader,
    job_id: str,
    task_id: str,
    *,
    stderr: bool,
    tail: int | None,
    store: BlobStore | None = None,
) -> bytes:
    task = get_task_or_fail(client, job_id, task_id)
    name = stream_file_name(stderr)
    completed = task_state(task) == "completed"
    # A completed task's uploaded copy is whole and outlives the node; a running task's is only on the node.
    data = _from_storage(store, task, job_id, name) if completed else None
    if data is None:
        data = read_task_file(client, job_id, task_id, name)
    if data is None:
        raise CliError(_missing_message(task, job_id, name), ExitCode.NOT_FOUND)
    return data if tail is None else last_lines(data, tail)


def _missing_message(task: batch_models.BatchTask, job_id: str, name: str) -> str:
    state = task_state(task)
    if state == "completed":
        info = task.execution_info
        failure = info.failure_info if info is not None else None
        why = f"; it failed before running: {failure.code}" if failure is not None and failure.code else ""
        return (
            f"task '{task.id}' in job '{job_id}' has no {name}: not on its node any more and not uploaded{why} "
            "(task state: completed)"
        )
    return f"task '{task.id}' in job '{job_id}' has no {name} yet (task state: {state})"


def follow_log(
    client: TaskFileReader,
    job_id: str,
    task_id: str,
    *,
    stderr: bool,
    tail: int | None,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    store: BlobStore | None = None,
) -> Iterator[bytes]:
    """Yields the log as it grows until the task completes (then what is left), reading only new bytes."""
    get_task_or_fail(client, job_id, task_id)
    name = stream_file_name(stderr)
    printed = 0
    first = True
    while True:
        # Read the state before the file: a task seen completed has nothing left to write after this read.
        task = client.get_task(job_id, task_id)
        completed = task_state(task) == "completed"
        data = read_task_file(client, job_id, task_id, name, printed)
        if data is None and completed:
            data = _from_storage(store, task, job_id, name, printed)
        data = data or b""
        printed += len(data)
        if first and tail is not None:
            data = last_lines(data, tail)  # the first read starts at byte 0: show only its last lines
        first = False
        if data:
            yield data
        if completed:
            return
        sleep(poll_interval)
