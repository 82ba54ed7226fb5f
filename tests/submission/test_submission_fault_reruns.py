"""Re-runs of a complete 10,000-task job under injected faults: every page of the task listing retries on its own.

The listing of existing task ids is 10 pages; retried as one unit, one fault anywhere restarted it and six
attempts ran out about once in ten re-runs. Each re-run also goes through create job (JobExists) and get job.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest

from batchforge.localbatch.testing import LocalBatch
from batchforge.submission.client import make_batch_client
from batchforge.submission.engine import delete_job, submit
from batchforge.submission.retrying import RetryPolicy
from batchforge.workload import load_workload, plan_job

TASKS = 10_000
RERUNS = 20
FAULTS = {"server_busy_rate": 0.04, "throttle_rate": 0.03, "drop_rate": 0.03}  # 10% of requests
QUICK = RetryPolicy(base_delay_s=0.01, max_delay_s=0.1)  # the default six attempts, short sleeps


def _sweep(tmp_path: Path, workload_id: str) -> Path:
    folder = tmp_path / "workloads"
    folder.mkdir()
    path = folder / "big.yaml"
    path.write_text(
        f"id: {workload_id}\npool: cpu\ntasks:\n  sweep:\n    parameters:\n      - name: i\n"
        f"        range: {{start: 0, stop: {TASKS - 1}}}\n    task:\n      id: 't-{{i:05d}}'\n"
        "      commandLine: 'true {i}'\n"
    )
    return path


def test_twenty_reruns_of_a_complete_10000_task_job_under_10_percent_faults_all_complete(
    tmp_path: Path, local_batch: LocalBatch, capfd: pytest.CaptureFixture[str]
) -> None:
    target = local_batch.target({"cpu": f"idle-{uuid.uuid4().hex[:6]}"})
    client = make_batch_client(target)
    planned = plan_job(load_workload(_sweep(tmp_path, f"rerun-{uuid.uuid4().hex[:6]}")), target, repo_root=tmp_path)
    first = submit(planned, client, retry_policy=QUICK)
    assert first.complete and first.tasks_added == TASKS, first.summary()
    capfd.readouterr()

    outcomes = []
    started = time.monotonic()
    local_batch.set_faults(**FAULTS, retry_after_seconds=0, seed=16, path_pattern="^/jobs")
    try:
        for _ in range(RERUNS):
            outcomes.append(submit(planned, client, retry_policy=QUICK, deadline_s=120))
        injected = local_batch.fault_counts()
    finally:
        local_batch.set_faults()
        delete_job(client, planned.job_id)
    elapsed = time.monotonic() - started

    assert [result.complete for result in outcomes] == [True] * RERUNS, [r.summary() for r in outcomes]
    assert all(r.tasks_already_present == TASKS and r.tasks_added == 0 for r in outcomes)
    assert sum(injected.values()) >= RERUNS, f"too few faults were injected to mean anything: {injected}"
    assert sum(r.retries for r in outcomes) >= RERUNS // 2
    assert elapsed < 60, f"20 re-runs took {elapsed:.0f} s"
    # Quiet success: the SDK's warnings about the faults ("Incomplete download.") stay off the terminal.
    assert logging.getLogger("azure").propagate is False
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
