"""``batchctl prune``: delete a stack's completed jobs and retire its superseded ones, touching nothing else.

Only jobs whose metadata names batchforge's workload and content hash (`submission.inventory`) and this stack
are considered, so a job someone else created is never listed, let alone changed. A job is superseded when it
is marked so, or when a newer job of the same workload exists; it is retired as its workload's ``supersede``
asks (drain, terminate, or keep: left running). A dry run lists the same plan and sends nothing but reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.submission.engine import delete_job
from batchforge.submission.inventory import ForgeJob, SupersedeMode, forge_jobs, retire

Action = Literal["delete", "retire", "keep"]
_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s``, or ``0`` for any age."""
    if text.strip() == "0":
        return timedelta(0)
    found = _AGE.match(text.strip())
    if not found:
        raise CliError(f"--older-than: {text!r} is not an age like 7d, 12h, 30m or 2w", ExitCode.INVALID_INPUT)
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@dataclass(frozen=True)
class PruneStep:
    job: ForgeJob
    action: Action
    why: str
    mode: SupersedeMode | None = None
    superseded_by: str | None = None
    outcome: str = ""

    def describe(self, *, dry_run: bool) -> str:
        verb = {"delete": "delete", "retire": f"retire ({self.mode})", "keep": "keep"}[self.action]
        done = f": {self.outcome}" if self.outcome and not dry_run else ""
        prefix = "would " if dry_run and self.action != "keep" else ""
        return f"{prefix}{verb} {self.job.id} (workload {self.job.workload}, {self.job.state}; {self.why}){done}"


def plan_prune(
    jobs: list[ForgeJob], *, older_than: timedelta, modes: Mapping[str, SupersedeMode], now: datetime
) -> list[PruneStep]:
    """What prune does to each of the stack's jobs (``jobs`` oldest first, as `forge_jobs` returns them)."""
    newest: dict[str, ForgeJob] = {}
    for job in jobs:
        newest[job.workload] = job
    steps: list[PruneStep] = []
    for job in jobs:
        age = now - job.creation_time if job.creation_time else timedelta.max
        if job.state == "completed":
            if age >= older_than:
                steps.append(PruneStep(job, "delete", "completed"))
            continue
        if not job.open:
            continue
        newer = newest[job.workload].id if newest[job.workload].id != job.id else None
        by = job.superseded_by or newer
        if by is None:
            continue
        mode = modes.get(job.workload, "drain")
        if mode == "keep":
            steps.append(PruneStep(job, "keep", f"superseded by {by}; the workload says supersede: keep", mode, by))
        else:
            steps.append(PruneStep(job, "retire", f"superseded by {by}", mode, by))
    return steps


def prune(
    client: Any,
    *,
    stack: str,
    older_than: timedelta,
    modes: Mapping[str, SupersedeMode],
    dry_run: bool,
    drain_timeout_s: float = 300.0,
    now: datetime | None = None,
) -> list[PruneStep]:
    jobs = forge_jobs(client, stack=stack)
    steps = plan_prune(jobs, older_than=older_than, modes=modes, now=now or datetime.now(UTC))
    if dry_run:
        return steps
    done: list[PruneStep] = []
    for step in steps:
        outcome = ""
        if step.action == "delete":
            outcome = "deleted" if delete_job(client, step.job.id) else "already gone"
        elif step.action == "retire" and step.mode is not None and step.superseded_by is not None:
            retired = retire(
                client, step.job, step.mode, superseded_by=step.superseded_by, drain_timeout_s=drain_timeout_s
            )
            outcome = retired.outcome
        done.append(PruneStep(step.job, step.action, step.why, step.mode, step.superseded_by, outcome))
    return done
