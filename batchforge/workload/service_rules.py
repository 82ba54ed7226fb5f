"""What the Batch service would refuse, checked before anything is created: on the model and on the rendered tasks.

Templates are checked by the model; sweep values and per-file names are only known once tasks are rendered,
so the built ``BatchTaskCreateOptions`` (wire form) are checked too: request size, paths, display names and
NUL characters. The limits and their sources are listed in docs/workloads.md ("Service limits").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

from azure.batch import models as bm

from batchforge.core import Problem
from batchforge.submission.chunking import MAX_REQUEST_BYTES, serialized_size
from batchforge.submission.chunking import wire_json as _wire_json
from batchforge.workload.building import BuildContext, TaskBuilder
from batchforge.workload.expansion import TaskGroup
from batchforge.workload.model import Workload, task_templates

# The service refuses request bodies of 1 MiB or more; the engine packs chunks of at most MAX_REQUEST_BYTES.
SERVICE_REQUEST_LIMIT = 1024 * 1024
MAX_DISPLAY_NAME = 1024
MAX_BLOB_NAME = 1024
_ENVELOPE = len('{"value": []}')
_PER_PATH_LIMIT = 5


class _Found:
    """The first few problems per key path, then a count (a sweep can break a rule thousands of times)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, path: str, message: str) -> None:
        self._counts[path] += 1
        if self._counts[path] <= _PER_PATH_LIMIT:
            self.problems.append(Problem(self.source, path, message))

    def result(self) -> list[Problem]:
        extra = [
            Problem(self.source, path, f"... and {count - _PER_PATH_LIMIT} more tasks like these")
            for path, count in self._counts.items()
            if count > _PER_PATH_LIMIT
        ]
        return [*self.problems, *extra]


# ------------------------------------------------------------------------------------ rules on the model


def workload_rule_problems(workload: Workload, source: str) -> list[Problem]:
    """Rules of the job as a whole that the model's fields cannot express on their own."""
    problems: list[Problem] = []
    if workload.job_release_task is not None and workload.job_preparation_task is None:
        problems.append(
            Problem(
                source,
                "jobReleaseTask",
                "needs a jobPreparationTask too (the service refuses a job release task without one)",
            )
        )
    return problems


def slot_problems(workload: Workload, task_slots_per_node: int, pool: str) -> list[Problem]:
    """Tasks that need more scheduling slots than a node of their pool has: they could never run."""
    problems: list[Problem] = []
    for path, template in task_templates(workload):
        slots = template.required_slots
        if slots is not None and slots > task_slots_per_node:
            problems.append(
                Problem(
                    workload.source,
                    f"{path}.requiredSlots",
                    f"is {slots} but pool '{pool}' has taskSlotsPerNode {task_slots_per_node}; "
                    f"the task could never be scheduled (at most {task_slots_per_node})",
                )
            )
    return problems


# ------------------------------------------------------------------------------ rules on rendered tasks


def _escapes(path: str) -> bool:
    """True for a path Batch forbids for a resource file: absolute, or with a '..' segment."""
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return True
    return ".." in PurePosixPath(path.replace("\\", "/")).parts


def _blob_path_problem(path: str) -> str | None:
    parts = path.replace("\\", "/").split("/")
    if any(part in ("..", ".") for part in parts):
        return "must stay under the job's folder of the outputs container (no '.' or '..' segments)"
    if len(path) > MAX_BLOB_NAME:
        return f"makes a blob name of {len(path)} characters; the limit is {MAX_BLOB_NAME}"
    return None


def _rendered_strings(group: TaskGroup) -> Iterator[tuple[str, str, str]]:
    """(key path, kind, text) of the strings whose rendered values the service constrains."""
    template = group.template
    for index, spec in enumerate(template.resource_files):
        if spec.file_path is not None:
            yield f"resourceFiles[{index}].filePath", "node-path", spec.file_path
    if template.multi_instance is not None:
        for index, spec in enumerate(template.multi_instance.common_resource_files):
            if spec.file_path is not None:
                yield f"multiInstance.commonResourceFiles[{index}].filePath", "node-path", spec.file_path
    for index, output in enumerate(template.output_files):
        if output.destination is not None:
            yield f"outputFiles[{index}].destination", "blob-path", output.destination
    if template.display_name is not None:
        yield "displayName", "display-name", template.display_name


def _rendered_problem(kind: str, text: str, job_id: str) -> str | None:
    if kind == "node-path":
        if _escapes(text) or "\x00" in text:
            return "must be a path inside the task's working directory (relative, no '..')"
        return None
    if kind == "blob-path":
        if text.startswith(("/", "\\")):
            return "must be relative to the job's folder of the outputs container (no leading '/')"
        return _blob_path_problem(text) or _blob_path_problem(f"{job_id}/{text}")
    if len(text) > MAX_DISPLAY_NAME:
        return f"is {len(text)} characters long; at most {MAX_DISPLAY_NAME}"
    return None


def _suspicious(kind: str, text: str) -> bool:
    """A cheap filter run on every task: only texts that may break a rule get the exact check."""
    if kind == "display-name":
        return len(text) > MAX_DISPLAY_NAME
    return ".." in text or text[:1] in ("/", "\\", ".") or "/." in text or len(text) > MAX_BLOB_NAME - 80


def _where(group: TaskGroup, index: int, task_id: str) -> str:
    if group.sweep is not None:
        return f" for sweep task #{index} ('{task_id}')"
    if group.templated:
        return f" for per-file task #{index} ('{task_id}')"
    return ""


def _rendered_value_problems(group: TaskGroup, job_id: str, found: _Found) -> None:
    names = group.names()
    format_id = group.id_template().row_formatter(names)
    checks = [(key, kind, group.compile(text).row_formatter(names)) for key, kind, text in _rendered_strings(group)]
    for key, kind, render in checks:
        for index, row in enumerate(group.rows()):
            text = render(*row)
            if not _suspicious(kind, text):
                continue
            message = _rendered_problem(kind, text, job_id)
            if message is not None:
                shown = text if len(text) <= 80 else f"{text[:77]}..."
                found.add(
                    f"{group.path}.{key}",
                    f"renders to '{shown}'{_where(group, index, format_id(*row))}: {message}",
                )
    for index, item in enumerate(group.files):
        # A per-file task downloads its file to the path inside the folder or after the blob prefix.
        if _escapes(item.relative_path):
            found.add(
                f"{group.path}.perFile",
                f"input '{item.blob_name}' would land at '{item.relative_path}' for per-file task #{index}: "
                "must be a path inside the task's working directory (relative, no '..')",
            )


def _widest_row(group: TaskGroup) -> tuple[object, ...] | None:
    """The row whose values render longest: with a cartesian product it is a real task, the biggest request."""
    if group.sweep is not None:
        values: list[object] = []
        for parameter in group.sweep.parameters:
            if parameter.range is not None:
                span = parameter.range.as_range()
                values.append(max((span[0], span[-1]), key=lambda value: len(str(value))))
            else:
                values.append(max(group.samples()[parameter.name], key=lambda value: len(json.dumps(str(value)))))
        return (*values, max(group.count - 1, 0))
    if group.templated:
        if not group.files:
            return None
        index, item = max(enumerate(group.files), key=lambda pair: len(json.dumps(pair[1].relative_path)))
        path = PurePosixPath(item.relative_path)
        return (index, item.relative_path, path.name, path.stem)
    return ()


def _size_problems(group: TaskGroup, context: BuildContext, found: _Found) -> None:
    row = _widest_row(group)
    if row is None:
        return
    task = TaskBuilder(group, context).build(row)
    size = serialized_size(task) + _ENVELOPE
    if size > MAX_REQUEST_BYTES:
        where = f"task '{task['id']}'" if not group.templated else f"a task such as '{task['id']}'"
        found.add(
            group.path,
            f"{where} renders to a request of {size:,} bytes; the service refuses requests of 1 MiB or more "
            f"and submission keeps a margin ({MAX_REQUEST_BYTES:,} bytes): shorten the command line, "
            "environment or file lists",
        )


def rendered_task_problems(groups: Sequence[TaskGroup], context: BuildContext, source: str) -> list[Problem]:
    """What the service would refuse in the rendered tasks: paths and names on every task's values, the request
    size on each group's widest task (the engine measures every task again before it creates the job)."""
    found = _Found(source)
    for group in groups:
        _rendered_value_problems(group, context.job_id, found)
        _size_problems(group, context, found)
    return found.result()


# --------------------------------------------------------------------------------------- the job request


def _section_sizes(job: bm.BatchJobCreateOptions) -> dict[str, int]:
    names = {
        "metadata": "metadata",
        "commonEnvironmentSettings": "environment",
        "jobPreparationTask": "jobPreparationTask",
        "jobReleaseTask": "jobReleaseTask",
    }
    sizes: dict[str, int] = {}
    for wire, key in names.items():
        value = job.get(wire)
        if value is not None:
            sizes[key] = len(_wire_json(value).encode("utf-8"))
    return sizes


def job_request_problems(job: bm.BatchJobCreateOptions, source: str) -> list[Problem]:
    """The create-job request must fit the service's request limit (metadata, environment, job tasks)."""
    problems: list[Problem] = []
    size = len(_wire_json(job).encode("utf-8"))
    if size > MAX_REQUEST_BYTES:
        sections = _section_sizes(job)
        biggest = max(sections, key=lambda key: sections[key]) if sections else ""
        problems.append(
            Problem(
                source,
                biggest,
                f"makes the job's create request {size:,} bytes; the service refuses requests of 1 MiB or more "
                f"(submission keeps them under {MAX_REQUEST_BYTES:,}): "
                + ", ".join(f"{key} {value:,} bytes" for key, value in sections.items()),
            )
        )
    for key in ("jobPreparationTask", "jobReleaseTask"):
        task = job.get(key)
        if task is not None and "\x00" in str(task.get("commandLine") or ""):
            problems.append(Problem(source, f"{key}.commandLine", "contains a NUL character; remove it"))
    return problems
