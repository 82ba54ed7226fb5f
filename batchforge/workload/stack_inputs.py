"""A stack's config and the workloads it lists, loaded and validated together before anything runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchforge.config import StackConfig, load_stack_file, stack_file_name
from batchforge.core import InvalidInput, Problem
from batchforge.submission.plan import PlannedJob
from batchforge.submission.target import BatchTarget

WORKLOADS_DIR = "workloads"
_OFFLINE_HOST = "https://offline.invalid"


@dataclass(frozen=True)
class StackInputs:
    stack_file: Path
    config: StackConfig
    workloads: tuple[Any, ...]
    repo_root: Path

    def plan(self, target: BatchTarget) -> list[PlannedJob]:
        """Every workload's job for ``target``; all problems of all workloads are reported at once."""
        from batchforge.workload.container_checks import container_problems
        from batchforge.workload.service_rules import slot_problems

        planned: list[PlannedJob] = []
        problems: list[Problem] = []
        slots = {pool.id: pool.task_slots_per_node for pool in self.config.pools}
        containers = {pool.id: pool.container for pool in self.config.pools}
        for workload in self.workloads:
            from batchforge.workload import plan_job

            if workload.pool in containers:
                problems.extend(container_problems(workload, workload.pool, containers[workload.pool]))
            if workload.pool in slots:
                found = slot_problems(workload, slots[workload.pool], workload.pool)
                if found:
                    problems.extend(found)
                    continue
            try:
                planned.append(plan_job(workload, target, repo_root=self.repo_root))
            except InvalidInput as invalid:
                problems.extend(invalid.problems)
        if problems:
            raise InvalidInput(problems)
        return planned

    def container_warnings(self) -> list[Problem]:
        """Valid but slow: images a workload runs that its pool does not prefetch (never failing)."""
        from batchforge.workload.container_checks import container_warnings

        containers = {pool.id: pool.container for pool in self.config.pools}
        return [
            warning
            for workload in self.workloads
            if workload.pool in containers
            for warning in container_warnings(workload, workload.pool, containers[workload.pool])
        ]


def placeholder_target(config: StackConfig) -> BatchTarget:
    """A target with the stack's pool ids and container names but no real account, for planning offline.

    Planning against it checks everything only the stack knows (e.g. that a workload's pool exists)
    before any service is contacted.
    """
    from batchforge.config.naming import pool_ids
    from batchforge.submission.target import EntraIdAuth

    return BatchTarget(
        account_endpoint=_OFFLINE_HOST,
        auth=EntraIdAuth(),
        pool_ids=pool_ids(config),
        resources_container_url=f"{_OFFLINE_HOST}/{config.storage.resources_container}",
        outputs_container_url=f"{_OFFLINE_HOST}/{config.storage.outputs_container}",
    )


def load_stack_inputs(
    repo_root: Path, stack: str, only: Sequence[str] = (), *, allow_empty: bool = False
) -> StackInputs:
    """Reads ``Pulumi.<stack>.yaml`` and each workload it lists; raises one :class:`InvalidInput` for all.

    ``only`` narrows the run to some of the stack's workloads (file names as the stack lists them).
    """
    stack_file = repo_root / stack_file_name(stack)
    if not stack_file.is_file():
        known = sorted(path.name for path in repo_root.glob("Pulumi.*.yaml"))
        hint = f"; stack files here: {', '.join(known)}" if known else ""
        raise InvalidInput([Problem(stack_file.name, "", f"no such stack file in {repo_root}{hint}")])
    config = load_stack_file(stack_file, repo_root)
    unknown = [name for name in only if name not in config.workloads]
    if unknown:
        listed = ", ".join(config.workloads) or "none"
        raise InvalidInput(
            [
                Problem("--workload", "", f"'{name}' is not a workload of stack {stack} (it lists: {listed})")
                for name in unknown
            ]
        )
    workloads: list[Any] = []
    problems: list[Problem] = []
    for index, name in enumerate(config.workloads):
        if only and name not in only:
            continue
        path = repo_root / WORKLOADS_DIR / name
        if not path.is_file():
            problems.append(
                Problem(stack_file.name, f"workloads[{index}]", f"no such workload file: {WORKLOADS_DIR}/{name}")
            )
            continue
        from batchforge.workload import load_workload

        try:
            workloads.append(load_workload(path, repo_root=repo_root, source=f"{WORKLOADS_DIR}/{name}"))
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise InvalidInput(problems)
    if not workloads and not allow_empty:
        raise InvalidInput(
            [Problem(stack_file.name, "workloads", "lists no workloads, so a local run has nothing to do")]
        )
    return StackInputs(stack_file=stack_file, config=config, workloads=tuple(workloads), repo_root=repo_root)
