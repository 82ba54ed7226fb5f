"""Local input files of a workload: which ones it names, whether they exist, and the blobs they become."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from batchforge.assets import LocalAsset, expand_source, source_escape
from batchforge.core import Problem
from batchforge.workload.expansion import PerFileInput
from batchforge.workload.model import LocalFolderSource, LocalOrUrlFile, ResourceFileSpec, TaskTemplate, Workload
from batchforge.workload.templates import compile_template


def task_input_prefix(workload: Workload) -> str:
    """Where a workload's local input files live in the resources container (content-addressed below)."""
    return f"workloads/{workload.id}"


def _files(prefix: str, specs: Sequence[ResourceFileSpec]) -> Iterator[tuple[str, LocalOrUrlFile]]:
    for index, spec in enumerate(specs):
        if isinstance(spec, LocalOrUrlFile) and not spec.is_url:
            yield f"{prefix}[{index}].source", spec


def _template_files(prefix: str, template: TaskTemplate) -> Iterator[tuple[str, LocalOrUrlFile]]:
    yield from _files(f"{prefix}.resourceFiles", template.resource_files)
    if template.multi_instance is not None:
        yield from _files(f"{prefix}.multiInstance.commonResourceFiles", template.multi_instance.common_resource_files)


def local_files(workload: Workload) -> list[tuple[str, LocalOrUrlFile]]:
    """(key path, spec) of every resource file that is a repository path."""
    found: list[tuple[str, LocalOrUrlFile]] = []
    for index, task in enumerate(workload.tasks.listed):
        found.extend(_template_files(f"tasks.list[{index}]", task))
    if workload.tasks.sweep is not None:
        found.extend(_template_files("tasks.sweep.task", workload.tasks.sweep.task))
    if workload.tasks.per_file is not None:
        found.extend(_template_files("tasks.perFile.task", workload.tasks.per_file.task))
    if workload.job_preparation_task is not None:
        found.extend(_files("jobPreparationTask.resourceFiles", workload.job_preparation_task.resource_files))
    if workload.job_release_task is not None:
        found.extend(_files("jobReleaseTask.resourceFiles", workload.job_release_task.resource_files))
    if workload.job_manager_task is not None:
        found.extend(_files("jobManagerTask.resourceFiles", workload.job_manager_task.resource_files))
    return found


def local_input_problems(workload: Workload, repo_root: Path) -> list[Problem]:
    """Missing local files, and files that resolve outside the repository (symlinks followed); a path with
    placeholders is reported as such by the template checks instead."""
    problems: list[Problem] = []
    for path, spec in local_files(workload):
        if compile_template(spec.source).placeholders:
            continue
        if not (repo_root / spec.source).exists():
            problems.append(Problem(workload.source, path, f"no such file or folder in the repository: {spec.source}"))
        elif (escape := source_escape(repo_root, spec.source)) is not None:
            problems.append(Problem(workload.source, path, escape))
    return problems


def local_assets(workload: Workload, repo_root: Path) -> tuple[dict[str, list[LocalAsset]], frozenset[str]]:
    """Repo-relative source -> its content-addressed blobs, and which sources are folders."""
    assets: dict[str, list[LocalAsset]] = {}
    folders: set[str] = set()
    prefix = task_input_prefix(workload)
    for _, spec in local_files(workload):
        if spec.source not in assets:
            assets[spec.source] = expand_source(repo_root, spec.source, prefix)
            if (repo_root / spec.source).is_dir():
                folders.add(spec.source)
    return assets, frozenset(folders)


def per_file_local_inputs(workload: Workload, repo_root: Path) -> tuple[list[PerFileInput], list[Problem]] | None:
    """The per-file factory's inputs when it reads a local folder (None when there is no such factory)."""
    per_file = workload.tasks.per_file
    if per_file is None or not isinstance(per_file.source, LocalFolderSource):
        return None
    source = per_file.source
    folder = repo_root / source.local_folder
    path = "tasks.perFile.source.localFolder"
    if not folder.is_dir():
        return [], [Problem(workload.source, path, f"no such folder in the repository: {source.local_folder}")]
    escape = source_escape(repo_root, source.local_folder)
    if escape is not None:
        return [], [Problem(workload.source, path, escape)]
    inputs: list[PerFileInput] = []
    for asset in expand_source(repo_root, source.local_folder, task_input_prefix(workload)):
        relative = asset.node_path.split("/", 1)[1]
        if fnmatchcase(relative, source.pattern):
            inputs.append(PerFileInput(relative, asset.blob_name, asset.local_path, asset.sha256))
    if not inputs:
        return [], [
            Problem(
                workload.source,
                "tasks.perFile.source.pattern",
                f"matches no file in {source.local_folder} (pattern '{source.pattern}')",
            )
        ]
    return inputs, []
