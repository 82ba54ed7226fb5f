"""Reading workload files into :class:`Workload` models, reporting every problem of every file at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from batchforge.core import InvalidInput, Problem, problems_from_validation_error, read_yaml_file
from batchforge.workload.checks import graph_problems, static_problems, template_problems
from batchforge.workload.expansion import task_groups
from batchforge.workload.local_inputs import local_input_problems, per_file_local_inputs
from batchforge.workload.model import Workload
from batchforge.workload.service_rules import workload_rule_problems

WORKLOADS_DIR = "workloads"


def source_label(path: Path) -> str:
    """How problems name a file: relative to the working directory when inside it (``workloads/sweep.yaml``)."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def inferred_repo_root(path: Path) -> Path | None:
    """The repository holding ``<repo>/workloads/<file>``; None for a file elsewhere."""
    folder = path.resolve().parent
    return folder.parent if folder.name == WORKLOADS_DIR else None


def validate_workload_data(
    data: Any, source: str, repo_root: Path | None = None, *, check_tasks: bool = True
) -> Workload:
    """Validates parsed YAML; raises :class:`InvalidInput` with every problem.

    With ``repo_root``, local input files must exist in it and a per-file factory over a local folder
    is expanded so its task ids take part in the duplicate and dependency checks. Without
    ``check_tasks`` the checks that visit every task (ids, placeholders, dependencies) are left to
    ``plan_job``, which then runs them: the Pulumi program needs only the model.
    """
    if data is None:
        raise InvalidInput([Problem(source, "", "is empty; a workload needs at least id, pool and tasks")])
    if not isinstance(data, dict):
        raise InvalidInput([Problem(source, "", "must be a mapping with id, pool and tasks")])
    try:
        workload = Workload.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc, Workload, source)) from None
    workload._source = source
    problems = [*static_problems(workload, source), *workload_rule_problems(workload, source)]
    per_file_inputs = None
    all_known = workload.tasks.per_file is None
    if repo_root is not None:
        problems.extend(local_input_problems(workload, repo_root))
        local = per_file_local_inputs(workload, repo_root)
        if local is not None:
            per_file_inputs, found = local
            problems.extend(found)
            all_known = not found
    if check_tasks:
        groups = task_groups(workload, per_file_inputs)
        placeholder_found = template_problems(groups, source)
        problems.extend(placeholder_found)
        if not placeholder_found:
            problems.extend(graph_problems(groups, workload, source, all_tasks_known=all_known))
    if problems:
        raise InvalidInput(problems)
    workload._tasks_checked = all_known and check_tasks
    return workload


def load_workload(
    path: Path, *, repo_root: Path | None = None, source: str | None = None, check_tasks: bool = True
) -> Workload:
    """Reads one workload file; problems name ``source`` (default: the path as given, relative to cwd).

    ``repo_root`` defaults to the folder above ``workloads/`` when the file sits in one; ``check_tasks``:
    see :func:`validate_workload_data`.
    """
    label = source or source_label(path)
    data = read_yaml_file(path, label)
    root = repo_root if repo_root is not None else inferred_repo_root(path)
    return validate_workload_data(data, label, root, check_tasks=check_tasks)


def load_workloads(paths: Iterable[Path], *, repo_root: Path | None = None) -> list[Workload]:
    """Reads several workload files; one :class:`InvalidInput` lists the problems of all of them."""
    workloads: list[Workload] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            workload = load_workload(path, repo_root=repo_root)
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
            continue
        other = seen.get(workload.id.lower())
        if other is not None:
            problems.append(Problem(workload.source, "id", f"workload id '{workload.id}' is also used by {other}"))
        seen[workload.id.lower()] = workload.source
        workloads.append(workload)
    if problems:
        raise InvalidInput(problems)
    return workloads
