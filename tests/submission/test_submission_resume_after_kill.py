"""A submission killed part-way (the process gone after the job and some task chunks were added), then re-run
through the deploy hook, leaves exactly one job for the workload, with every task exactly once, complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from azure.batch import models as batch_models

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from batchforge.submission.engine import delete_job
from batchforge.submission.inventory import forge_jobs

TASKS = 400
STACK = "resume-stack"
# The submission the test kills: the engine as the hook runs it, one chunk at a time so the kill lands between.
SUBMITTER = """
import json, os, sys
from pathlib import Path
from batchforge.submission.client import make_batch_client
from batchforge.submission.engine import submit
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job

target = BatchTarget.model_validate(json.loads(os.environ["RESUME_TARGET"]))
root = Path(sys.argv[1])
planned = plan_job(load_workload(root / "workloads" / "resume.yaml"), target, repo_root=root)
submit(planned, make_batch_client(target), concurrency=1)
"""


def _workload(workload_id: str) -> str:
    return f"""\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 1, stop: {TASKS}}}
    task:
      id: "t{{i:04d}}"
      commandLine: "true"
"""


@pytest.fixture(scope="module")
def pool(local_batch: LocalBatch):
    pool_id = f"resume-{uuid.uuid4().hex[:6]}"
    client = local_batch.batch_client()
    client.create_pool(
        batch_models.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=8
        )
    )
    wait_for_idle_nodes(client, pool_id, 1)
    yield pool_id
    client.begin_delete_pool(pool_id, polling_interval=1)


def test_a_submission_killed_part_way_then_rerun_leaves_exactly_one_complete_job(
    local_batch: LocalBatch, pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, local_batch.account_key)
    monkeypatch.setenv(hook.LOCAL_STORAGE_KEY_ENV, local_batch.storage_account_key)
    client = local_batch.batch_client()
    workload_id = f"resume-{uuid.uuid4().hex[:8]}"
    (tmp_path / "workloads").mkdir()
    path = tmp_path / "workloads" / "resume.yaml"
    path.write_text(_workload(workload_id))
    target = local_batch.target({"cpu": pool}).model_copy(update={"stack": STACK})
    target_json = target.model_dump(mode="json")
    identity = hook._workload_identity(path, target_json, tmp_path, STACK)
    job_id = identity["jobId"]

    # Every chunk of tasks takes a while, so the process is killed with the job there and only part of its tasks.
    local_batch.set_faults(delay_rate=1.0, delay_seconds=0.4, path_pattern="addtaskcollection")
    secret_target = {
        **target_json,
        "auth": target.auth.model_dump(mode="json"),
        "blob_auth": target.blob_auth.model_dump(mode="json"),
    }
    for key in ("auth", "blob_auth"):
        secret_target[key]["account_key"] = getattr(target, key).account_key.get_secret_value()
    process = subprocess.Popen(
        [sys.executable, "-c", SUBMITTER, str(tmp_path)],
        env={**os.environ, "RESUME_TARGET": json.dumps(secret_target)},
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: (
                0 < len(list(client.list_tasks(job_id, select=["id"]))) < TASKS if _exists(client, job_id) else False
            ),
            timeout=60,
            interval=0.02,
            what="the job with some of its tasks",
        )
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
        local_batch.set_faults()
    added_before = len(list(client.list_tasks(job_id, select=["id"])))
    assert 0 < added_before < TASKS
    try:
        props = {
            **identity,
            "workloadFile": "workloads/resume.yaml",
            "stack": STACK,
            "deletionMode": "terminate",
            "deadlineSeconds": 120,
            **hook.target_props(target_json),
        }
        created = hook.WorkloadSubmissionProvider(str(tmp_path)).create(props)

        assert created.outs["jobCreated"] is False and created.outs["tasksAlreadyPresent"] >= added_before
        assert created.outs["tasksAdded"] + created.outs["tasksAlreadyPresent"] == TASKS
        jobs = forge_jobs(client, stack=STACK, workload=workload_id)
        assert [job.id for job in jobs] == [job_id]
        ids = Counter(task.id for task in client.list_tasks(job_id, select=["id"]))
        assert len(ids) == TASKS and set(ids.values()) == {1}
        wait_for(lambda: _state(client, job_id) == "completed", timeout=120, what="the resumed job to complete")
        counts = client.get_job_task_counts(job_id).task_counts
        assert (counts.succeeded, counts.failed) == (TASKS, 0)
    finally:
        delete_job(client, job_id)


def _exists(client, job_id: str) -> bool:
    return any(job.id == job_id for job in client.list_jobs(select=["id"]))


def _state(client, job_id: str) -> str:
    state = client.get_job(job_id).state
    return str(getattr(state, "value", state)).lower()
