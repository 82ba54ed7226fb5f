"""Secrets in a workload: every string of the file by its key path, then the planned job and tasks as rendered.

The file is scanned first, so a finding names the key the secret was written at
(``workloads/a.yaml: tasks.list[0].environment.TOKEN: holds ...``). The rendered job and tasks are scanned too
(command lines, environment, resource and output file URLs), which catches a credential assembled from a template
and its sweep values; those findings name the task (``tasks[id=render-3].commandLine``). Identical texts are
scanned once, and each key path is reported a few times at most.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from azure.batch import models as bm

from batchforge.core import Problem
from batchforge.core.secrets import SecretFinding, describe, find_secret, find_secret_in_variable
from batchforge.workload.model import Workload

_PER_PATH_LIMIT = 3
_ENVIRONMENT_KEYS = frozenset({"environment"})


def _walk(value: Any, path: str) -> Iterator[tuple[str, str, str | None]]:
    """(key path, text, variable name when the text is an environment value) for every string."""
    if isinstance(value, str):
        yield path, value, None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if path.rsplit(".", 1)[-1] in _ENVIRONMENT_KEYS and isinstance(item, str):
                yield child, item, str(key)
            else:
                yield from _walk(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _find(text: str, variable: str | None) -> SecretFinding | None:
    return find_secret(text) if variable is None else find_secret_in_variable(variable, text)


def workload_secret_problems(workload: Workload) -> list[Problem]:
    """Every credential written in the workload file, by key path."""
    data = workload.model_dump(mode="json", by_alias=True, exclude_none=True)
    problems: list[Problem] = []
    for path, text, variable in _walk(data, ""):
        finding = _find(text, variable)
        if finding is not None:
            problems.append(Problem(workload.source, path, describe(finding)))
    return problems


class _Scanner:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._seen: set[tuple[str | None, str]] = set()
        self._counts: dict[str, int] = defaultdict(int)

    def text(self, path: str, text: str | None, variable: str | None = None) -> None:
        if not text or (variable, text) in self._seen:
            return
        self._seen.add((variable, text))
        finding = _find(text, variable)
        if finding is None:
            return
        kind = path.split("].", 1)[-1]
        self._counts[kind] += 1
        if self._counts[kind] <= _PER_PATH_LIMIT:
            self.problems.append(Problem(self.source, path, describe(finding)))

    def environment(self, path: str, settings: Iterable[bm.EnvironmentSetting] | None) -> None:
        for setting in settings or ():
            self.text(f"{path}.{setting.name}", setting.value, setting.name)

    def resource_files(self, path: str, files: Iterable[bm.ResourceFile] | None) -> None:
        for index, item in enumerate(files or ()):
            self.text(f"{path}[{index}].httpUrl", item.http_url)
            self.text(f"{path}[{index}].storageContainerUrl", item.storage_container_url)

    def result(self) -> list[Problem]:
        found = list(self.problems)
        for kind, count in self._counts.items():
            if count > _PER_PATH_LIMIT:
                found.append(Problem(self.source, f"tasks[*].{kind}", f"... and {count - _PER_PATH_LIMIT} more"))
        return found


def planned_secret_problems(
    job: bm.BatchJobCreateOptions, tasks: Iterable[bm.BatchTaskCreateOptions], source: str
) -> list[Problem]:
    """Credentials in the rendered job and tasks: command lines, environment, resource and output file URLs."""
    scan = _Scanner(source)
    scan.environment("job.commonEnvironmentSettings", job.common_environment_settings)
    named_tasks = (
        ("jobPreparationTask", job.job_preparation_task),
        ("jobReleaseTask", job.job_release_task),
        ("jobManagerTask", job.job_manager_task),
    )
    for name, task in named_tasks:
        if task is not None:
            scan.text(f"{name}.commandLine", task.command_line)
            scan.environment(f"{name}.environment", task.environment_settings)
            scan.resource_files(f"{name}.resourceFiles", task.resource_files)
    for task in tasks:
        where = f"tasks[id={task.id}]"
        scan.text(f"{where}.commandLine", task.command_line)
        scan.environment(f"{where}.environment", task.environment_settings)
        scan.resource_files(f"{where}.resourceFiles", task.resource_files)
        for index, output in enumerate(task.output_files or ()):
            container = output.destination.container if output.destination is not None else None
            if container is not None:
                scan.text(f"{where}.outputFiles[{index}].containerUrl", container.container_url)
        settings = task.multi_instance_settings
        if settings is not None:
            scan.text(f"{where}.multiInstance.coordinationCommandLine", settings.coordination_command_line)
            scan.resource_files(f"{where}.multiInstance.commonResourceFiles", settings.common_resource_files)
    return scan.result()
