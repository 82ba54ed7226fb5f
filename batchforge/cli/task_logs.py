"""Task logs for ``batchctl logs``; the reading lives in :mod:`batchforge.jobs.logs`."""

from __future__ import annotations

from batchforge.jobs.logs import (
    TaskFileReader,
    follow_log,
    get_task_or_fail,
    last_lines,
    read_log,
    read_task_file,
    stream_file_name,
)

__all__ = [
    "TaskFileReader",
    "follow_log",
    "get_task_or_fail",
    "last_lines",
    "read_log",
    "read_task_file",
    "stream_file_name",
]
