"""Quota refusals in operator terms: what is active, per workload, and the command that frees it.

Batch's data plane answers Job - Add beyond the account's quota of active jobs and job schedules with 409
``ActiveJobAndScheduleQuotaReached`` (completed jobs do not count). The message lists the account's open jobs
by workload (from batchforge's metadata, `inventory`), the jobs batchforge did not create as one count, and
``batchctl prune``, which deletes a stack's completed jobs and retires superseded ones.

Pools and cores are the management plane's and the pool's: a pool add beyond the pools quota, or a resize
beyond the cores quota (a pool resize error), carry the codes in ``QUOTA_CODES``; `quota_hint` gives the
same kind of message for them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from azure.core.exceptions import HttpResponseError

from batchforge.submission.errors import SubmissionError
from batchforge.submission.inventory import OPEN_STATES, forge_jobs
from batchforge.submission.retrying import error_code

ACTIVE_JOB_QUOTA_CODE = "ActiveJobAndScheduleQuotaReached"
# Batch error codes of quotas, and what frees each one.
QUOTA_CODES: dict[str, str] = {
    ACTIVE_JOB_QUOTA_CODE: "the account's quota of active jobs and job schedules",
    "PoolQuotaReached": "the account's quota of pools",
    "AccountCoreQuotaReached": "the account's dedicated core quota",
    "AccountLowPriorityCoreQuotaReached": "the account's Spot/low-priority core quota",
    "AccountSpotCoreQuotaReached": "the account's Spot core quota",
}
MAX_IDS_SHOWN = 5


class QuotaReached(SubmissionError):
    """The account refused new work because one of its quotas is used up; the message says how to free it."""


def is_active_job_quota(error: BaseException) -> bool:
    return isinstance(error, HttpResponseError) and error_code(error) == ACTIVE_JOB_QUOTA_CODE


def prune_command(stack: str | None) -> str:
    return "batchctl prune" + (f" --stack {stack}" if stack else "") + "  (add --dry-run to see what it would do)"


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    return shown + (f", and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else "")


def active_jobs_report(client: Any, stack: str | None) -> list[str]:
    """One line per workload with open jobs (superseded ones marked), and one for jobs batchforge did not create."""
    ours = forge_jobs(client, all_stacks=True)
    by_workload: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    superseded = 0
    for job in ours:
        if not job.open:
            continue
        label = job.id + (" (superseded)" if job.superseded_by else "")
        superseded += bool(job.superseded_by)
        by_workload[(job.stack, job.workload)].append(label)
    ours_ids = {job.id for job in ours}
    foreign = [
        str(job.id)
        for job in client.list_jobs(select=["id", "state"])
        if str(getattr(job.state, "value", job.state)).lower() in OPEN_STATES and str(job.id) not in ours_ids
    ]
    lines = [
        f"  stack {owner or '(none)'}, workload {workload}: {len(ids)} active: {_ids(ids)}"
        for (owner, workload), ids in sorted(by_workload.items(), key=lambda item: (str(item[0][0]), item[0][1]))
    ]
    if foreign:
        lines.append(f"  not created by batchforge (prune never touches them): {len(foreign)}: {_ids(foreign)}")
    return lines


def quota_reached(
    client: Any, error: HttpResponseError, *, workload: str, job_id: str, stack: str | None
) -> QuotaReached:
    """The one message for an active-jobs quota refusal of ``job_id``."""
    try:
        report = active_jobs_report(client, stack)
    except HttpResponseError:
        report = ["  (the account's jobs could not be listed)"]
    lines = [
        f"workload {workload}: job {job_id} was not created: the Batch account has reached "
        f"{QUOTA_CODES[ACTIVE_JOB_QUOTA_CODE]} ({error_code(error)}; completed jobs do not count). Active now:",
        *report,
        f"Free it with: {prune_command(stack)}, which deletes this stack's completed jobs and retires superseded ones;"
        " or end jobs you no longer need (batchctl job terminate <id>), or ask Azure for a higher quota.",
    ]
    return QuotaReached("\n".join(lines))


def quota_hint(code: str | None) -> str | None:
    """A one-line hint for a quota error code (pools, cores, active jobs), or None for any other code."""
    if code not in QUOTA_CODES:
        return None
    if code == ACTIVE_JOB_QUOTA_CODE:
        return f"{QUOTA_CODES[code]} is used up: free it with `{prune_command(None)}`"
    frees = (
        "delete pools you no longer need or ask Azure for a higher pool quota"
        if code == "PoolQuotaReached"
        else "scale other pools down, lower this pool's target nodes, or ask Azure for a higher core quota "
        "(a replaced pool needs the cores of both pools until the old one is deleted)"
    )
    return f"{QUOTA_CODES[code]} is used up ({code}): {frees}"
