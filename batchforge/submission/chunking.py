"""Splitting a job's tasks into add-task-collection requests: at most 100 tasks and well under the body limit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from azure.batch import models as batch_models

# The SDK's own encoder, so the measured size is the size that goes on the wire.
from azure.batch._utils.model_base import SdkJSONEncoder

MAX_TASKS_PER_REQUEST = 100
# The service rejects add-task-collection bodies of 1 MiB or more (RequestBodyTooLarge); keep a margin for
# the envelope, encoding differences and headers.
MAX_REQUEST_BYTES = 900 * 1024
_ENVELOPE_BYTES = len('{"value": []}')
_SEPARATOR_BYTES = len(", ")


def serialized_size(task: batch_models.BatchTaskCreateOptions) -> int:
    """Bytes this task takes in a request body, encoded exactly as the SDK encodes it."""
    return len(json.dumps(task, cls=SdkJSONEncoder, exclude_readonly=True).encode("utf-8"))


def body_size(tasks: Sequence[batch_models.BatchTaskCreateOptions]) -> int:
    """Bytes of the add-task-collection body for these tasks, as the SDK will send it."""
    group = batch_models.BatchTaskGroup(task_values=list(tasks))
    return len(json.dumps(group, cls=SdkJSONEncoder, exclude_readonly=True).encode("utf-8"))


@dataclass(frozen=True)
class Chunking:
    """Tasks grouped into request-sized chunks, plus any task too big to send on its own."""

    chunks: list[list[batch_models.BatchTaskCreateOptions]]
    oversized: list[tuple[batch_models.BatchTaskCreateOptions, int]]


def chunk_tasks(
    tasks: Sequence[batch_models.BatchTaskCreateOptions],
    *,
    max_tasks: int = MAX_TASKS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Chunking:
    """Order-preserving chunks of at most ``max_tasks`` tasks whose request body stays within ``max_bytes``.

    Fast path: a run of ``max_tasks`` tasks is measured as one body (one encoder pass per chunk). Only a run
    that is too big is measured task by task and packed greedily, and a task too big on its own is set aside.
    """
    chunks: list[list[batch_models.BatchTaskCreateOptions]] = []
    oversized: list[tuple[batch_models.BatchTaskCreateOptions, int]] = []
    for start in range(0, len(tasks), max_tasks):
        run = list(tasks[start : start + max_tasks])
        if body_size(run) <= max_bytes:
            chunks.append(run)
            continue
        current: list[batch_models.BatchTaskCreateOptions] = []
        current_bytes = _ENVELOPE_BYTES
        for task in run:
            size = serialized_size(task)
            if size + _ENVELOPE_BYTES > max_bytes:
                oversized.append((task, size))
                continue
            added_bytes = size + (_SEPARATOR_BYTES if current else 0)
            if current and current_bytes + added_bytes > max_bytes:
                chunks.append(current)
                current, current_bytes = [], _ENVELOPE_BYTES
                added_bytes = size
            current.append(task)
            current_bytes += added_bytes
        if current:
            chunks.append(current)
    return Chunking(chunks=chunks, oversized=oversized)
