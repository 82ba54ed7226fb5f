"""Splitting a job's tasks into add-task-collection requests: at most 100 tasks and well under the body limit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.batch import models as batch_models

MAX_TASKS_PER_REQUEST = 100
# The service rejects add-task-collection bodies of 1 MiB or more (RequestBodyTooLarge); keep a margin for
# the envelope, encoding differences and headers.
MAX_REQUEST_BYTES = 900 * 1024
_ENVELOPE_BYTES = len('{"value": []}')
_SEPARATOR_BYTES = len(", ")


def _wire_mapping(value: Any) -> dict[str, Any]:
    # SDK models are mappings over their wire-form JSON (datetimes and enums already stored as strings),
    # so their items are the body; anything else is not JSON, as json.dumps would say.
    try:
        items = value.items
    except AttributeError:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable") from None
    return dict(items())


def wire_json(model: object) -> str:
    """A model's request body, as the SDK sends it (``json.dumps(model.as_dict())``, at a fraction of the cost)."""
    return json.dumps(model, default=_wire_mapping)


def serialized_size(task: batch_models.BatchTaskCreateOptions) -> int:
    """Bytes this task takes in a request body."""
    return len(wire_json(task).encode("utf-8"))


def body_size(tasks: Sequence[batch_models.BatchTaskCreateOptions]) -> int:
    """Bytes of the add-task-collection body for these tasks."""
    return len(wire_json(batch_models.BatchTaskGroup(task_values=list(tasks))).encode("utf-8"))


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
