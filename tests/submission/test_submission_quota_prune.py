"""The active-jobs quota and `batchctl prune` end to end against the local Batch service (quota set to 2):
the third workload fails with one clear message naming what is active per workload and the command that frees
it; `prune --dry-run` lists and changes nothing; `prune` retires the superseded job, and the third goes in."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models as batch_models
from typer.testing import CliRunner

import batchforge.providers.workload_submission as hook
from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch, wait_for
from batchforge.submission.engine import submit
from batchforge.submission.quota import QuotaReached
from batchforge.workload import load_workload, plan_job

runner = CliRunner()
STACK = "quota-stack"
# No such pool on the account: Batch takes the jobs and their tasks stay queued, so the jobs stay active.
IDLE_POOL = "no-nodes"


def _write(root: Path, name: str, workload_id: str, command: str) -> Path:
    path = root / "workloads" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"id: {workload_id}\npool: cpu\nonAllTasksComplete: terminatejob\n"
        f'tasks:\n  list:\n    - id: only\n      commandLine: "{command}"\n'
    )
    return path


def _state(client: Any, job_id: str) -> str:
    state = client.get_job(job_id).state
    return str(getattr(state, "value", state)).lower()


def _metadata(client: Any, job_id: str) -> dict[str, str]:
    return {item.name: item.value for item in client.get_job(job_id).metadata or []}


@pytest.fixture
def quota_of_two(local_batch_factory) -> LocalBatch:
    batch = local_batch_factory()
    batch.set_active_job_quota(2)
    return batch


def test_with_a_quota_of_two_the_third_workload_fails_clearly_and_prune_frees_it(
    quota_of_two: LocalBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = quota_of_two
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, batch.account_key)
    monkeypatch.setenv(hook.LOCAL_STORAGE_KEY_ENV, batch.storage_account_key)
    client = batch.batch_client()
    target = batch.target({"cpu": IDLE_POOL}).model_copy(update={"stack": STACK})
    name_a, name_b = f"qa-{uuid.uuid4().hex[:6]}", f"qb-{uuid.uuid4().hex[:6]}"
    # A job batchforge did not create: never touched, and it does not count here (it is completed).
    client.create_job(batch_models.BatchJobCreateOptions(id="foreign-job", pool_info={"poolId": IDLE_POOL}))
    client.begin_terminate_job("foreign-job", {"terminateReason": "test"}, polling_interval=0.1).result()
    # Workload A twice (its command changed), submitted outside the hook, so nothing retired the first job.
    old_a = plan_job(load_workload(_write(tmp_path, "a", name_a, "echo 1")), target, repo_root=tmp_path)
    assert submit(old_a, client).complete
    new_a = plan_job(load_workload(_write(tmp_path, "a", name_a, "echo 2")), target, repo_root=tmp_path)
    assert submit(new_a, client).complete and new_a.job_id != old_a.job_id

    # The third: workload B through the deploy hook.
    path_b = _write(tmp_path, "b", name_b, "echo b")
    target_json = batch.target({"cpu": IDLE_POOL}).model_dump(mode="json")
    props = {
        **hook._workload_identity(path_b, target_json, tmp_path, STACK),
        "workloadFile": "workloads/b.yaml",
        "stack": STACK,
        "deletionMode": "terminate",
        "deadlineSeconds": 60,
        **hook.target_props(target_json),
    }
    provider = hook.WorkloadSubmissionProvider(str(tmp_path))
    with pytest.raises(QuotaReached) as refused:
        provider.create(props)
    message = str(refused.value)
    assert "quota of active jobs and job schedules" in message and "ActiveJobAndScheduleQuotaReached" in message
    assert f"workload {name_a}: 2 active" in message and old_a.job_id in message and new_a.job_id in message
    assert f"batchctl prune --stack {STACK}" in message
    assert "Traceback" not in message

    flags = ["--stack", STACK, "--local", "--data-dir", str(batch.data_dir), "--repo-root", str(tmp_path)]
    listed = runner.invoke(app, ["prune", *flags, "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert f"would retire (drain) {old_a.job_id}" in listed.output and "nothing was changed" in listed.output
    assert new_a.job_id not in listed.output.replace(f"superseded by {new_a.job_id}", "")
    assert "foreign-job" not in listed.output
    # The dry run changed nothing: the old job is active and carries no superseded mark.
    assert _state(client, old_a.job_id) == "active"
    assert "batchforge-superseded-by" not in _metadata(client, old_a.job_id)

    pruned = runner.invoke(app, ["prune", *flags])
    assert pruned.exit_code == 0, pruned.output
    assert f"retire (drain) {old_a.job_id}" in pruned.output
    wait_for(lambda: _state(client, old_a.job_id) == "completed", what="the superseded job to end")
    assert _state(client, new_a.job_id) == "active" and _state(client, "foreign-job") == "completed"

    created = provider.create(props)
    assert created.outs["jobCreated"] and _state(client, props["jobId"]) == "active"

    # Completed jobs are deleted next time (only this stack's, only batchforge's).
    again = runner.invoke(app, ["prune", *flags])
    assert f"delete {old_a.job_id}" in again.output and "foreign-job" not in again.output
    wait_for(lambda: all(job.id != old_a.job_id for job in client.list_jobs()), what="the completed job deleted")
    assert any(job.id == "foreign-job" for job in client.list_jobs())
