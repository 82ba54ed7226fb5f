"""``batchctl validate``: every stack config and every workload it references, checked without any service.

A stack's workloads are also planned against a placeholder target built from the stack's own pools, so a
workload naming a pool the stack does not define fails here, in the pull request, not at deploy time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from batchforge.core import InvalidInput, Problem

STACK_FILE_GLOB = "Pulumi.*.yaml"


@dataclass
class CheckReport:
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Valid today, due for a change soon (a node agent near its end of support): printed, never failing.
    warnings: list[Problem] = field(default_factory=list)

    def add(self, problems: Sequence[Problem]) -> None:
        for problem in problems:
            if problem not in self.problems:
                self.problems.append(problem)


def is_stack_file(path: Path) -> bool:
    return path.name.startswith("Pulumi.") and path.suffix in (".yaml", ".yml") and path.name != "Pulumi.yaml"


def stack_files(repo_root: Path) -> list[Path]:
    return sorted(path for path in repo_root.glob(STACK_FILE_GLOB) if is_stack_file(path))


def _check_workload_file(path: Path, repo_root: Path, report: CheckReport) -> None:
    from batchforge.workload import load_workload

    report.checked.append(path.name)
    try:
        load_workload(path, repo_root=repo_root)
    except InvalidInput as invalid:
        report.add(invalid.problems)


def _check_stack(path: Path, repo_root: Path, report: CheckReport, today: date | None) -> None:
    from batchforge.config import check_stack_file
    from batchforge.workload.stack_inputs import load_stack_inputs, placeholder_target

    stack = path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
    report.checked.append(path.name)
    # The stack inputs loader reports errors only; the warnings need this loading of the file of its own.
    try:
        loaded = check_stack_file(path, repo_root, today=today)
    except InvalidInput as invalid:
        report.add(invalid.problems)
        return
    report.warnings.extend(warning for warning in loaded.warnings if warning not in report.warnings)
    try:
        inputs = load_stack_inputs(path.parent, stack, allow_empty=True)
    except InvalidInput as invalid:
        report.add(invalid.problems)
        return
    report.checked.extend(f"workloads/{name}" for name in inputs.config.workloads)
    report.warnings.extend(warning for warning in inputs.container_warnings() if warning not in report.warnings)
    try:
        inputs.plan(placeholder_target(inputs.config))
    except InvalidInput as invalid:
        report.add(invalid.problems)


def check(repo_root: Path, files: Sequence[Path] = (), *, today: date | None = None) -> CheckReport:
    """Checks the given files, or every ``Pulumi.*.yaml`` in ``repo_root`` and the workloads they list.

    ``today`` is the day retirements and end-of-support dates are compared with (default: the real date).
    """
    report = CheckReport()
    targets = list(files) if files else stack_files(repo_root)
    if not targets:
        report.add([Problem(str(repo_root), "", f"no {STACK_FILE_GLOB} stack files found")])
        return report
    for path in targets:
        if is_stack_file(path):
            _check_stack(path, repo_root, report, today)
        else:
            _check_workload_file(path, repo_root, report)
    report.checked = list(dict.fromkeys(report.checked))
    return report
