"""Polls jobs until they finish, reporting each round so a progress view can follow along."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.blocked import BlockedWatch, JobsBlocked
from batchforge.jobs.status import JobReader, JobStatus, read_statuses

StatusListener = Callable[[Sequence[JobStatus]], None]
# `batchctl wait` gives up after this long unless told otherwise (--timeout 0: no limit).
DEFAULT_WAIT_TIMEOUT_S = 3600.0


def wait_for_jobs(
    client: JobReader,
    job_ids: Sequence[str],
    *,
    timeout: float | None,
    poll_interval: float = 1.0,
    on_update: StatusListener | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    blocked: BlockedWatch | None = None,
) -> list[JobStatus]:
    """Returns the final statuses once every job finished.

    Raises :class:`CliError` on timeout, and :class:`JobsBlocked` when ``blocked`` finds that the unfinished
    jobs' remaining tasks can never run.
    """
    if not job_ids:
        raise CliError("no jobs to wait for", ExitCode.INVALID_INPUT)
    deadline = None if not timeout else clock() + timeout
    while True:
        statuses = read_statuses(client, job_ids)
        if on_update is not None:
            on_update(statuses)
        if all(status.finished for status in statuses):
            return statuses
        if blocked is not None:
            stuck = blocked.check(statuses)
            stuck_ids = {job.job_id for job in stuck}
            if stuck and all(status.finished or status.job_id in stuck_ids for status in statuses):
                raise JobsBlocked(stuck)
        if deadline is not None and clock() >= deadline:
            pending = ", ".join(status.job_id for status in statuses if not status.finished)
            raise CliError(f"timed out after {timeout:g}s waiting for: {pending}", ExitCode.TIMED_OUT)
        sleep(poll_interval)
