"""``promote``: is a commit ready for a stack? Checked offline, before ``pulumi up`` runs in the pipeline.

1. config    - the target stack's config file validates;
2. workloads - every workload the stack lists exists under workloads/, validates, and plans against
               the stack's own pools;
3. policy    - the Pulumi program, run under mocks for the target stack, declares nothing the
               policy pack rejects.

With a source stack (where the commit was proven), the report also carries the config diff from the
source to the target so a reviewer sees what changes between environments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from batchforge.config import StackConfig
from batchforge.core import InvalidInput
from batchforge.policy.guardrails import validate_resources
from batchforge.promotion.config_diff import ConfigDiff, diff_configs
from batchforge.promotion.stack_files import load_stack, stack_file, stack_name

WORKLOADS_DIR = "workloads"
_OFFLINE_HOST = "https://offline.invalid"


@dataclass(frozen=True)
class CheckResult:
    """One promotion check: its name, whether it passed, and the lines explaining a failure."""

    name: str
    passed: bool
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromotionReport:
    target: str
    source: str | None
    checks: tuple[CheckResult, ...]
    diff: ConfigDiff | None = None

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def render(self) -> RenderableType:
        """A rich table of the checks, then the source -> target config differences (if a source was given)."""
        verdict = "ready" if self.ok else "NOT ready"
        title = f"promote {self.source + ' -> ' if self.source else ''}{self.target}: {verdict}"
        table = Table(title=title, title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("details", overflow="fold")
        for result in self.checks:
            table.add_row(
                result.name,
                Text("pass", style="green") if result.passed else Text("FAIL", style="bold red"),
                "\n".join([result.summary, *result.details]),
            )
        parts: list[RenderableType] = [table]
        if self.diff is not None:
            parts.append(self.diff.render(only_differences=True))
        return Group(*parts)

    def to_text(self) -> str:
        verdict = "ready" if self.ok else "NOT ready"
        lines = [f"promote {self.source + ' -> ' if self.source else ''}{self.target}: {verdict}"]
        for result in self.checks:
            lines.append(f"{'PASS' if result.passed else 'FAIL'} {result.name}: {result.summary}")
            lines.extend(f"    {detail}" for detail in result.details)
        if self.diff is not None:
            lines.append(self.diff.to_text())
        return "\n".join(lines)


def _check_config(target: str, repo_root: Path) -> tuple[CheckResult, StackConfig | None]:
    try:
        config = load_stack(target, repo_root)
    except InvalidInput as invalid:
        return CheckResult("config", False, "stack config is invalid", tuple(map(str, invalid.problems))), None
    return CheckResult("config", True, f"{stack_file(target, repo_root).name} is valid"), config


def _check_workloads(target: str, config: StackConfig, repo_root: Path) -> CheckResult:
    if not config.workloads:
        return CheckResult("workloads", True, "the stack lists no workloads")
    from batchforge.config.naming import pool_ids
    from batchforge.submission.target import BatchTarget, EntraIdAuth
    from batchforge.workload.stack_inputs import load_stack_inputs

    try:
        inputs = load_stack_inputs(repo_root, stack_name(target), allow_empty=True)
        # Planning against a placeholder account checks what only the stack knows (its pool ids).
        inputs.plan(
            BatchTarget(
                account_endpoint=_OFFLINE_HOST,
                auth=EntraIdAuth(),
                pool_ids=pool_ids(config),
                resources_container_url=f"{_OFFLINE_HOST}/{config.storage.resources_container}",
                outputs_container_url=f"{_OFFLINE_HOST}/{config.storage.outputs_container}",
            )
        )
    except InvalidInput as invalid:
        return CheckResult("workloads", False, "workloads missing or invalid", tuple(map(str, invalid.problems)))
    names = ", ".join(f"{WORKLOADS_DIR}/{name}" for name in config.workloads)
    return CheckResult("workloads", True, f"{len(config.workloads)} valid: {names}")


def _check_policy(
    target: str, config: StackConfig, repo_root: Path, policy_config: Mapping[str, Mapping[str, Any]] | None
) -> CheckResult:
    from batchforge.contract.engine import EngineContractViolation
    from batchforge.policy.program_under_mocks import declared_for_config

    stack = stack_name(target)
    try:
        declared = declared_for_config(config, stack, repo_root)
    except InvalidInput as invalid:
        return CheckResult(
            "policy", False, "not checked: the program rejected its input", tuple(map(str, invalid.problems))
        )
    except EngineContractViolation as refused:
        return CheckResult(
            "policy", False, f"the Pulumi engine would refuse the program ({refused.mode})", refused.problems
        )
    except Exception as error:  # any failure of the program is a failed check, not a traceback
        return CheckResult("policy", False, "the program failed under mocks", (f"{type(error).__name__}: {error}",))
    violations = validate_resources(declared, stack, policy_config)
    if violations:
        return CheckResult(
            "policy", False, f"{len(violations)} policy violation(s)", tuple(str(violation) for violation in violations)
        )
    return CheckResult("policy", True, f"{len(declared)} declared resources pass the policy pack")


def check_promotion(
    target: str,
    repo_root: Path,
    source: str | None = None,
    policy_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> PromotionReport:
    """Runs every promotion check for ``target`` (a stack name or stack file) and never raises on bad input.

    ``source`` adds the config diff from that stack; ``policy_config`` defaults to ``policy/config.json``.
    """
    config_result, config = _check_config(target, repo_root)
    checks = [config_result]
    if config is None:
        skipped = "not checked: the stack config is invalid"
        checks += [CheckResult("workloads", False, skipped), CheckResult("policy", False, skipped)]
    else:
        checks.append(_check_workloads(target, config, repo_root))
        checks.append(_check_policy(target, config, repo_root, policy_config))
    diff: ConfigDiff | None = None
    if source is not None and config is not None:
        try:
            diff = diff_configs(load_stack(source, repo_root), config, stack_name(source), stack_name(target))
        except InvalidInput as invalid:
            checks.append(
                CheckResult(
                    "source", False, f"source stack {stack_name(source)} is invalid", tuple(map(str, invalid.problems))
                )
            )
    return PromotionReport(stack_name(target), stack_name(source) if source else None, tuple(checks), diff)
