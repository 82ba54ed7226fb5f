"""Output files of different tasks (or of one task) that would write the same blob, found on the rendered tasks.

A pattern without a wildcard uploads one file and its destination is the blob's name, so a sweep with
``pattern: result-{index}.json`` and ``destination: results`` writes every task's file to the one blob
``<job id>/results``, each upload overwriting the last. Checked after factories are expanded: placeholders
decide whether two tasks' blobs differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from azure.batch import models as bm

from batchforge.core import Problem
from batchforge.workload.expansion import TaskGroup

_WILDCARD = re.compile(r"[*?\[]")
_EXAMPLES = 3
# Enough to show a pattern; a workload with hundreds of colliding outputs is one mistake repeated.
_MAX_REPORTED = 5


@dataclass(frozen=True)
class _Writer:
    group: TaskGroup
    output_index: int
    task_id: str


def _fix(group: TaskGroup, output_index: int, writers: Sequence[_Writer]) -> str:
    spec = group.template.output_files[output_index]
    pattern_name = spec.pattern.rsplit("/", 1)[-1]
    if spec.destination is None:
        return (
            f"give each of these output files its own destination (a pattern without a wildcard uploads one file "
            f"and destination is that blob's name, default: the task id), e.g. destination: "
            f"'{group.template.id or '{index}'}/{pattern_name}'"
        )
    if len({writer.task_id for writer in writers}) > 1:
        return (
            "a pattern without a wildcard uploads one file and destination is that blob's name: make it differ "
            f"per task, e.g. destination: '{spec.destination.rstrip('/')}/{pattern_name}', or upload to a folder "
            f"with a wildcard pattern, e.g. pattern: '{_wildcard_example(pattern_name)}'"
        )
    return "give each output file of the task its own destination (the blob name for a pattern without a wildcard)"


def _wildcard_example(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return f"*.{extension}" if dot and stem else "*"


def _describe(blob: str, job_id: str, writers: Sequence[_Writer], source: str) -> Problem:
    first = writers[0]
    spec = first.group.template.output_files[first.output_index]
    task_ids = list(dict.fromkeys(writer.task_id for writer in writers))
    shown = ", ".join(f"'{task_id}'" for task_id in task_ids[:_EXAMPLES])
    more = f" and {len(task_ids) - _EXAMPLES} more" if len(task_ids) > _EXAMPLES else ""
    others = sorted({f"{w.group.path}.outputFiles[{w.output_index}]" for w in writers[1:]} - {_key(first)})
    also = f" (also {', '.join(others)})" if others else ""
    relative = blob.removeprefix(f"{job_id}/")
    who = f"tasks {shown}{more}" if len(task_ids) > 1 else f"task {shown}"
    message = (
        f"{who} all upload pattern '{spec.pattern}' to the same blob '<job id>/{relative}'{also}, "
        f"each upload overwriting the last; {_fix(first.group, first.output_index, writers)}"
    )
    return Problem(source, _key(first), message)


def _key(writer: _Writer) -> str:
    return f"{writer.group.path}.outputFiles[{writer.output_index}]"


def output_collision_problems(
    built: Sequence[tuple[TaskGroup, Sequence[bm.BatchTaskCreateOptions]]], job_id: str, source: str
) -> list[Problem]:
    """One problem per blob that more than one output file (of any tasks) would write."""
    writers: dict[str, list[_Writer]] = {}
    for group, tasks in built:
        declared = len(group.template.output_files)
        for task in tasks:
            for index, output in enumerate((task.output_files or [])[:declared]):
                if _WILDCARD.search(output.file_pattern):
                    continue  # a folder: what lands in it depends on the files the task writes
                container = output.destination.container if output.destination else None
                if container is None or not container.path:
                    continue
                writers.setdefault(container.path.strip("/"), []).append(_Writer(group, index, str(task.id)))
    problems: list[Problem] = []
    for blob, found in writers.items():
        if len(found) > 1:
            problems.append(_describe(blob, job_id, found, source))
    if len(problems) > _MAX_REPORTED:
        extra = len(problems) - _MAX_REPORTED
        problems = [*problems[:_MAX_REPORTED], Problem(source, "tasks", f"... and {extra} more blobs like these")]
    return problems
