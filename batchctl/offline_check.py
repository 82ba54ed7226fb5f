"""``batchctl validate``: every stack config and every workload it references, checked without any service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from validation import InvalidInput, Problem

STACK_FILE_GLOB = "Pulumi.*.yaml"
WORKLOADS_DIR = "workloads"


@dataclass
class CheckReport:
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def is_stack_file(path: Path) -> bool:
    return path.name.startswith("Pulumi.") and path.suffix in (".yaml", ".yml") and path.name != "Pulumi.yaml"


def stack_files(repo_root: Path) -> list[Path]:
    return sorted(path for path in repo_root.glob(STACK_FILE_GLOB) if is_stack_file(path))


def _label(path: Path, repo_root: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo_root.resolve()))
    except ValueError:
        return str(path)


def _check_workload(path: Path, repo_root: Path, report: CheckReport) -> None:
    from workload_spec import load_workload

    report.checked.append(_label(path, repo_root))
    try:
        load_workload(path, repo_root=repo_root)
    except InvalidInput as invalid:
        report.problems.extend(invalid.problems)


def _check_stack(path: Path, repo_root: Path, report: CheckReport, seen_workloads: set[Path]) -> None:
    from stack_config import load_stack_file

    report.checked.append(_label(path, repo_root))
    try:
        config = load_stack_file(path)
    except InvalidInput as invalid:
        report.problems.extend(invalid.problems)
        return
    for index, name in enumerate(config.workloads):
        workload_path = repo_root / WORKLOADS_DIR / name
        if not workload_path.is_file():
            report.problems.append(
                Problem(path.name, f"workloads[{index}]", f"no such workload file: {WORKLOADS_DIR}/{name}")
            )
            continue
        if workload_path.resolve() not in seen_workloads:
            seen_workloads.add(workload_path.resolve())
            _check_workload(workload_path, repo_root, report)


def check(repo_root: Path, files: Sequence[Path] = ()) -> CheckReport:
    """Checks the given files, or every ``Pulumi.*.yaml`` in ``repo_root`` and the workloads they list."""
    report = CheckReport()
    seen_workloads: set[Path] = set()
    targets = list(files) if files else stack_files(repo_root)
    if not targets:
        report.problems.append(Problem(str(repo_root), "", f"no {STACK_FILE_GLOB} stack files found"))
        return report
    for path in targets:
        if is_stack_file(path):
            _check_stack(path, repo_root, report, seen_workloads)
        elif path.resolve() not in seen_workloads:
            seen_workloads.add(path.resolve())
            _check_workload(path, repo_root, report)
    return report
