"""Rules that span keys or need the expanded tasks: placeholders, task ids, duplicates, dependencies.

Run on the typed model after pydantic's own checks. A rule broken by thousands of sweep tasks is
reported a few times per key path plus a count, not once per task.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from batchforge.core import Problem
from batchforge.workload.expansion import TaskGroup, collector_paused
from batchforge.workload.model import (
    MAX_SWEEP_TASKS,
    TASK_ID,
    TASK_ID_RULE,
    ContainerFiles,
    LocalOrUrlFile,
    ResourceFileSpec,
    TaskTemplate,
    Workload,
    task_templates,
)
from batchforge.workload.templates import compile_template, placeholder_problems

_PER_PATH_LIMIT = 5
# The service rejects a task whose dependsOn.taskIds add up to more (TaskDependencyListTooLong).
MAX_DEPENDENCY_ID_CHARS = 64_000
DEFAULT_PREPARATION_ID = "jobpreparation"
DEFAULT_RELEASE_ID = "jobrelease"
DEFAULT_MANAGER_ID = "jobmanager"
# The id of the job manager task batchforge adds to every job of a scheduled workload (it adds the tasks).
SCHEDULE_MANAGER_ID = "batchforge-job-manager"


class _Collector:
    """Keeps the first few problems per key path and counts the rest."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, path: str, message: str) -> None:
        self._counts[path] += 1
        if self._counts[path] <= _PER_PATH_LIMIT:
            self.problems.append(Problem(self.source, path, message))

    def result(self) -> list[Problem]:
        found = list(self.problems)
        for path, count in self._counts.items():
            if count > _PER_PATH_LIMIT:
                found.append(Problem(self.source, path, f"... and {count - _PER_PATH_LIMIT} more tasks like these"))
        return found


def _resource_file_strings(prefix: str, files: Sequence[ResourceFileSpec]) -> Iterator[tuple[str, str, bool]]:
    for index, item in enumerate(files):
        base = f"{prefix}[{index}]"
        if isinstance(item, LocalOrUrlFile):
            yield f"{base}.source", item.source, item.is_url
            if item.file_path is not None:
                yield f"{base}.filePath", item.file_path, True
        elif isinstance(item, ContainerFiles):
            for key, value in (
                ("storageContainerUrl", item.storage_container_url),
                ("blobPrefix", item.blob_prefix),
                ("filePath", item.file_path),
            ):
                if value is not None:
                    yield f"{base}.{key}", value, True


def template_strings(template: TaskTemplate) -> Iterator[tuple[str, str, bool]]:
    """(key path inside the task, text, whether placeholders are allowed) for every templated string."""
    if template.id is not None:
        yield "id", template.id, True
    if template.display_name is not None:
        yield "displayName", template.display_name, True
    yield "commandLine", template.command_line, True
    for name, value in template.environment.items():
        yield f"environment.{name}", value, True
    yield from _resource_file_strings("resourceFiles", template.resource_files)
    for index, output in enumerate(template.output_files):
        yield f"outputFiles[{index}].pattern", output.pattern, True
        if output.destination is not None:
            yield f"outputFiles[{index}].destination", output.destination, True
    if template.depends_on is not None:
        for index, dependency in enumerate(template.depends_on.ids):
            yield f"dependsOn.ids[{index}]", dependency, True
    if template.multi_instance is not None:
        yield "multiInstance.coordinationCommandLine", template.multi_instance.coordination_command_line, True
        yield from _resource_file_strings(
            "multiInstance.commonResourceFiles", template.multi_instance.common_resource_files
        )


def static_problems(workload: Workload, source: str) -> list[Problem]:
    """Rules between keys of the file that need no expansion."""
    problems: list[Problem] = []
    templates = list(task_templates(workload))
    if workload.tasks.sweep is not None:
        count = workload.tasks.sweep.count()
        if count > MAX_SWEEP_TASKS:
            problems.append(
                Problem(source, "tasks.sweep.parameters", f"expands to {count:,} tasks; at most {MAX_SWEEP_TASKS:,}")
            )
    if workload.on_task_failure == "noaction":
        for path, template in templates:
            conditions = template.exit_conditions
            if conditions is None:
                continue
            named = [
                *(f"exitCodes[{i}]" for i in range(len(conditions.exit_codes))),
                *(f"exitCodeRanges[{i}]" for i in range(len(conditions.exit_code_ranges))),
                *(k for k in ("preProcessingError", "fileUploadError", "default")),
            ]
            for key, action in zip(named, conditions.actions(), strict=False):
                if action.job_action is not None:
                    problems.append(
                        Problem(
                            source,
                            f"{path}.exitConditions.{key}.jobAction",
                            "needs onTaskFailure: performexitoptionsjobaction (the service rejects it otherwise)",
                        )
                    )
    preparation = workload.job_preparation_task
    release = workload.job_release_task
    if (
        preparation is not None
        and release is not None
        and (preparation.id or DEFAULT_PREPARATION_ID).lower() == (release.id or DEFAULT_RELEASE_ID).lower()
    ):
        problems.append(Problem(source, "jobReleaseTask.id", "must differ from the job preparation task's id"))
    problems.extend(_job_manager_problems(workload, source))
    return problems


def _job_manager_problems(workload: Workload, source: str) -> list[Problem]:
    problems: list[Problem] = []
    manager = workload.job_manager_task
    if workload.schedule is not None:
        if manager is not None:
            problems.append(
                Problem(
                    source,
                    "jobManagerTask",
                    "a scheduled workload cannot have one: its job manager is batchforge's own, which adds the "
                    "workload's tasks to every job the schedule creates",
                )
            )
        if "supersede" in workload.model_fields_set:
            problems.append(
                Problem(
                    source,
                    "supersede",
                    "is for one-off jobs: a schedule's running job always finishes with the job specification it "
                    "was created from (a change applies from the next job on)",
                )
            )
    if manager is not None:
        manager_id = (manager.id or DEFAULT_MANAGER_ID).lower()
        for key, other in _reserved_ids(workload, with_manager=False).items():
            if key == manager_id:
                problems.append(Problem(source, "jobManagerTask.id", f"must differ from {other}'s id"))
    return problems


def template_problems(groups: Sequence[TaskGroup], source: str) -> list[Problem]:
    """Unknown placeholders, format specs that fail, placeholders where they cannot be used."""
    problems: list[Problem] = []
    for group in groups:
        if not group.templated:
            continue
        samples = group.samples()
        for key, text, allowed in template_strings(group.template):
            template = compile_template(text)
            if not template.placeholders:
                continue
            path = f"{group.path}.{key}"
            if not allowed:
                problems.append(
                    Problem(
                        source,
                        path,
                        "placeholders cannot pick local files (they are uploaded before tasks exist); "
                        "use tasks.perFile for one task per file",
                    )
                )
                continue
            problems.extend(Problem(source, path, message) for message in placeholder_problems(template, samples))
    return problems


def _reserved_ids(workload: Workload, *, with_manager: bool = True) -> dict[str, str]:
    reserved: dict[str, str] = {}
    if with_manager and workload.job_manager_task is not None:
        reserved[(workload.job_manager_task.id or DEFAULT_MANAGER_ID).lower()] = "the job manager task"
    if with_manager and workload.schedule is not None:
        reserved[SCHEDULE_MANAGER_ID.lower()] = "batchforge's job manager task (scheduled workloads)"
    if workload.job_preparation_task is not None:
        reserved[(workload.job_preparation_task.id or DEFAULT_PREPARATION_ID).lower()] = "the job preparation task"
    if workload.job_release_task is not None:
        reserved[(workload.job_release_task.id or DEFAULT_RELEASE_ID).lower()] = "the job release task"
    return reserved


def _where(group: TaskGroup, index: int) -> str:
    if group.sweep is not None:
        return f"sweep task #{index}"
    if group.templated:
        return f"per-file task #{index}"
    return group.path


def graph_problems(
    groups: Sequence[TaskGroup], workload: Workload, source: str, *, all_tasks_known: bool = True
) -> list[Problem]:
    """Task ids (valid, unique ignoring case, not the preparation/release ids) and dependencies.

    ``all_tasks_known`` is false while a per-file factory's files are not listed yet: dependencies on ids
    that may come from it are not reported then.
    """
    if sum(group.count for group in groups) > MAX_SWEEP_TASKS:
        return []  # reported by static_problems; expanding it would take too long
    with collector_paused():
        return _graph_problems(groups, workload, source, all_tasks_known)


def _graph_problems(
    groups: Sequence[TaskGroup], workload: Workload, source: str, all_tasks_known: bool
) -> list[Problem]:
    collector = _Collector(source)
    reserved = _reserved_ids(workload)
    first_seen: dict[str, str] = {}
    integer_ids: set[int] = set()
    for group in groups:
        format_id = group.id_template().row_formatter(group.names())
        path = f"{group.path}.id"
        for index, row in enumerate(group.rows()):
            task_id = format_id(*row)
            if group.templated and not TASK_ID.match(task_id):
                collector.add(path, f"renders to '{task_id}' for {_where(group, index)}: {TASK_ID_RULE}")
                continue
            folded = task_id.lower()
            if folded in reserved:
                collector.add(path, f"task id '{task_id}' is already used by {reserved[folded]}")
                continue
            other = first_seen.get(folded)
            if other is not None:
                also = "" if other == group.path else f" (also {other})"
                collector.add(path, f"duplicate task id '{task_id}'{also}; Batch task ids ignore case")
                continue
            first_seen[folded] = group.path
            if task_id.isdigit() and (task_id == "0" or not task_id.startswith("0")):
                integer_ids.add(int(task_id))
    missing_in_range: dict[tuple[int, int], int | None] = {}
    edges: dict[str, tuple[list[str], list[tuple[int, int]]]] = {}
    for group in groups:
        dependencies = group.template.depends_on
        if dependencies is None:
            continue
        for range_index, span in enumerate(dependencies.ranges):
            key = (span.start, span.end)
            if key not in missing_in_range:
                missing_in_range[key] = _first_missing(span.start, span.end, integer_ids)
            missing = missing_in_range[key]
            if missing is not None and all_tasks_known:
                collector.add(
                    f"{group.path}.dependsOn.ranges[{range_index}]",
                    f"no task with id '{missing}' in this workload (the range {span.start}..{span.end} "
                    "must cover existing tasks only)",
                )
        if not dependencies.ids and not dependencies.ranges:
            continue
        names = group.names()
        format_id = group.id_template().row_formatter(names)
        formatters = [group.compile(text).row_formatter(names) for text in dependencies.ids]
        spans = [(span.start, span.end) for span in dependencies.ranges]
        for index, row in enumerate(group.rows()):
            task_id = format_id(*row)
            folded = task_id.lower()
            targets: list[str] = []
            edges[folded] = (targets, spans)
            for dep_index, format_target in enumerate(formatters):
                target = format_target(*row)
                targets.append(target.lower())
                dep_path = f"{group.path}.dependsOn.ids[{dep_index}]"
                if target.lower() == folded:
                    collector.add(dep_path, f"task '{task_id}' depends on itself")
                elif target.lower() not in first_seen and all_tasks_known:
                    where = "" if not group.templated else f" (renders to '{target}' for {_where(group, index)})"
                    collector.add(dep_path, f"no task with id '{target}' in this workload{where}")
            listed_chars = sum(map(len, targets))
            if listed_chars > MAX_DEPENDENCY_ID_CHARS:
                collector.add(
                    f"{group.path}.dependsOn.ids",
                    f"task '{task_id}' lists {listed_chars:,} characters of task ids; the service allows "
                    f"{MAX_DEPENDENCY_ID_CHARS:,} (use ranges of integer ids instead)",
                )
            if spans and task_id.isdigit():
                number = int(task_id)
                for range_index, (start, end) in enumerate(spans):
                    if start <= number <= end:
                        collector.add(
                            f"{group.path}.dependsOn.ranges[{range_index}]", f"task '{task_id}' depends on itself"
                        )
    if not collector.problems and all_tasks_known:
        cycle = _find_cycle(edges, first_seen)
        if cycle:
            collector.add(
                f"{first_seen[cycle[0]]}.dependsOn",
                f"dependency cycle: {' -> '.join(cycle)} (these tasks would wait for each other forever)",
            )
    return collector.result()


_CYCLE_CHECK_EDGE_BUDGET = 2_000_000


def _find_cycle(edges: dict[str, tuple[list[str], list[tuple[int, int]]]], known: dict[str, str]) -> list[str] | None:
    """One dependency cycle (task ids, first repeated at the end), or None.

    Ranges are expanded into edges; a workload whose ranges add up to more than the budget is not
    checked for cycles through them (its ranges are usually map -> reduce fan-ins).
    """
    budget = _CYCLE_CHECK_EDGE_BUDGET

    def neighbours(node: str) -> list[str]:
        nonlocal budget
        ids, spans = edges.get(node, ([], []))
        found = [target for target in ids if target in edges]
        for start, end in spans:
            budget -= end - start + 1
            if budget < 0:
                return found
            found.extend(str(number) for number in range(start, end + 1) if str(number) in edges)
        return found

    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in edges:
        if root in state:
            continue
        path = [root]
        state[root] = 1
        stack = [iter(neighbours(root))]
        while stack:
            advanced = False
            for target in stack[-1]:
                if state.get(target) == 1:
                    return [*path[path.index(target) :], target]
                if target not in state and target in known:
                    state[target] = 1
                    path.append(target)
                    stack.append(iter(neighbours(target)))
                    advanced = True
                    break
            if not advanced:
                state[path.pop()] = 2
                stack.pop()
    return None


def _first_missing(start: int, end: int, known: set[int]) -> int | None:
    """The first integer in start..end that is not a task id (at most len(known) steps before one is found)."""
    for candidate in range(start, end + 1):
        if candidate not in known:
            return candidate
    return None
