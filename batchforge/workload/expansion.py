"""Task factories: the groups of tasks a workload declares and, lazily, the placeholder values of each task.

A group is one part of ``tasks``: a listed task (no placeholders), the sweep (one task per combination of
parameter values, in ``itertools.product`` order, first parameter outermost) or the per-file factory (one
task per input file, in path order). Nothing here holds all tasks at once: ``rows()`` streams them.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from batchforge.workload.model import PER_FILE_PLACEHOLDERS, SWEEP_BUILTINS, Sweep, TaskTemplate, Workload
from batchforge.workload.templates import Template, compile_template, literal_template

DEFAULT_FACTORY_TASK_ID = "{index}"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a large expansion allocates many small acyclic objects.

    Otherwise every few thousand allocations trigger a collection that walks the growing heap, which
    makes expanding 100,000 tasks several times slower; reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class PerFileInput:
    """One input file of the per-file factory: where it sits in the resources container and in the folder."""

    relative_path: str
    blob_name: str
    local_path: Path | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class TaskGroup:
    path: str
    template: TaskTemplate
    templated: bool
    count: int
    sweep: Sweep | None = None
    files: Sequence[PerFileInput] = field(default_factory=tuple)

    def names(self) -> tuple[str, ...]:
        if self.sweep is not None:
            return (*(p.name for p in self.sweep.parameters), *SWEEP_BUILTINS)
        if self.templated:
            return PER_FILE_PLACEHOLDERS
        return ()

    def compile(self, text: str) -> Template:
        """The template for one of this group's strings (listed tasks take every string literally)."""
        if self.templated:
            return compile_template(text)
        return literal_template(text)

    def id_template(self) -> Template:
        if self.template.id is not None:
            return self.compile(self.template.id)
        return compile_template(DEFAULT_FACTORY_TASK_ID)

    def rows(self) -> Iterator[tuple[object, ...]]:
        """Placeholder values for each task of the group, in order, one tuple aligned with ``names()``."""
        if self.sweep is not None:
            sequences = [_normalized(p.sequence()) for p in self.sweep.parameters]
            for index, combination in enumerate(itertools.product(*sequences)):
                yield (*combination, index)
        elif self.templated:
            for index, item in enumerate(self.files):
                path = PurePosixPath(item.relative_path)
                yield (index, item.relative_path, path.name, path.stem)
        else:
            yield ()

    def variables(self) -> Iterator[dict[str, object]]:
        """The same values as :meth:`rows`, by name."""
        names = self.names()
        for row in self.rows():
            yield dict(zip(names, row, strict=True))

    def samples(self) -> dict[str, list[object]]:
        """A few values per placeholder, enough to check format specs without expanding the group."""
        if self.sweep is not None:
            found: dict[str, list[object]] = {"index": [0, max(self.count - 1, 0)]}
            for parameter in self.sweep.parameters:
                sequence = _normalized(parameter.sequence())
                found[parameter.name] = [sequence[0], sequence[-1]] if isinstance(sequence, range) else list(sequence)
            return found
        if self.templated:
            return {"index": [0], "filePath": ["a/b.txt"], "fileName": ["b.txt"], "fileStem": ["b"]}
        return {}


def _normalized(sequence: range | list[str | int | float | bool]) -> range | list[object]:
    if isinstance(sequence, range):
        return sequence
    # YAML true/false read back as they were written, not as Python's True/False.
    return [("true" if value else "false") if isinstance(value, bool) else value for value in sequence]


def task_groups(workload: Workload, per_file_inputs: Sequence[PerFileInput] | None) -> list[TaskGroup]:
    """Every group of ``workload``; the per-file group only when its inputs are known (``per_file_inputs``)."""
    groups = [
        TaskGroup(path=f"tasks.list[{index}]", template=task, templated=False, count=1)
        for index, task in enumerate(workload.tasks.listed)
    ]
    sweep = workload.tasks.sweep
    if sweep is not None:
        groups.append(
            TaskGroup(path="tasks.sweep.task", template=sweep.task, templated=True, count=sweep.count(), sweep=sweep)
        )
    per_file = workload.tasks.per_file
    if per_file is not None and per_file_inputs is not None:
        groups.append(
            TaskGroup(
                path="tasks.perFile.task",
                template=per_file.task,
                templated=True,
                count=len(per_file_inputs),
                files=tuple(per_file_inputs),
            )
        )
    return groups
