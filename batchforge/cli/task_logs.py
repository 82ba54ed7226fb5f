"""Reads a task's stdout.txt / stderr.txt through the Batch API: whole, the last N lines, or followed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import ResourceNotFoundError

from batchforge.cli.errors import CliError, ExitCode


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


def read_task_file(client: TaskFileReader, job_id: str, task_id: str, file_name: str) -> bytes | None:
    """The file's bytes, or None while the task has not produced it yet."""
    try:
        return b"".join(client.download_task_file(job_id, task_id, file_name))
    except ResourceNotFoundError:
        return None


def last_lines(data: bytes, count: int) -> bytes:
    if count <= 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


def _task_state(task: batch_models.BatchTask) -> str:
    return str(getattr(task.state, "value", task.state))


def read_log(client: TaskFileReader, job_id: str, task_id: str, *, stderr: bool, tail: int | None) -> bytes:
    task = get_task_or_fail(client, job_id, task_id)
    name = stream_file_name(stderr)
    data = read_task_file(client, job_id, task_id, name)
    if data is None:
        raise CliError(
            f"task '{task_id}' in job '{job_id}' has no {name} yet (task state: {_task_state(task)})",
            ExitCode.NOT_FOUND,
        )
    return data if tail is None else last_lines(data, tail)


def follow_log(
    client: TaskFileReader,
    job_id: str,
    task_id: str,
    *,
    stderr: bool,
    tail: int | None,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """Yields the log as it grows until the task completes (then yields what is left and stops)."""
    get_task_or_fail(client, job_id, task_id)
    name = stream_file_name(stderr)
    printed = 0
    first = True
    while True:
        # Read the state before the file: a task seen completed has nothing left to write after this read.
        completed = _task_state(client.get_task(job_id, task_id)) == "completed"
        data = read_task_file(client, job_id, task_id, name) or b""
        if first and tail is not None:
            skipped = len(data) - len(last_lines(data, tail))
            printed = max(printed, skipped)
        first = False
        if len(data) > printed:
            yield data[printed:]
            printed = len(data)
        if completed:
            return
        sleep(poll_interval)
