"""One job that makes the scheduler's pass fail must not stop the other jobs' tasks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from scheduler_harness import ScriptedExecutor, add_pool, idle_nodes, running_scheduler, wait_until


def test_a_failing_job_is_isolated_and_the_rest_of_the_pass_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_scheduler(tmp_path, ScriptedExecutor()) as (account, _):
            add_pool(account)
            await idle_nodes(account)
            broken = account.create_job(
                {"id": "broken", "poolInfo": {"poolId": "p"}, "constraints": {"maxWallClockTime": "PT1H"}}
            )
            # A stored value the job checks cannot parse: its step raises on every pass.
            broken.body["creationTime"] = "not a time"
            account.create_job({"id": "healthy", "poolInfo": {"poolId": "p"}})
            job = account.job("healthy")
            for index in range(3):
                account.add_task(job, {"id": f"t{index}", "commandLine": "true"})
            await wait_until(lambda: job.counts.completed == 3, what="the healthy job's tasks")

    with caplog.at_level(logging.ERROR, logger="batchforge.localbatch.scheduler"):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if "broken" in r.getMessage()]
    assert failures, "the failing job was not logged"
    assert len(failures) == 1, "a job that keeps failing is logged once, not on every pass"
