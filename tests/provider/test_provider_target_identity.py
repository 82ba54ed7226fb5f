"""What the tasks refer to is part of the job's identity: a storage URL or node identity change makes a new job
id (a replacement in the hook's Diff) and, submitted to the local Batch service, a second job that supersedes
the first, instead of new task bodies mixed into the old job."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for
from batchforge.submission.engine import delete_job
from batchforge.submission.inventory import forge_jobs

STACK = "target-identity"


def _props(root: Path, target: dict[str, Any]) -> dict[str, Any]:
    return {
        **hook._workload_identity(root / "workloads" / "w.yaml", target, root, STACK),
        "workloadFile": "workloads/w.yaml",
        "stack": STACK,
        "deletionMode": "terminate",
        "deadlineSeconds": 60,
        **hook.target_props(target),
    }


def test_a_storage_url_or_identity_change_makes_a_new_job_id(
    local_batch: LocalBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, local_batch.account_key)
    monkeypatch.setenv(hook.LOCAL_STORAGE_KEY_ENV, local_batch.storage_account_key)
    workload_id = f"tid-{uuid.uuid4().hex[:8]}"
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "w.yaml").write_text(
        f'id: {workload_id}\npool: cpu\ntasks:\n  list:\n    - id: a\n      commandLine: "true"\n'
    )
    pools = {"cpu": "tid-no-nodes"}
    first = local_batch.target(pools).model_dump(mode="json")
    moved = local_batch.target(pools, outputs_container="outputs-moved").model_dump(mode="json")
    with_identity = {
        **first,
        "identity_resource_id": "/subscriptions/0/resourceGroups/rg/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/nodes",
    }
    old, new, other = _props(tmp_path, first), _props(tmp_path, moved), _props(tmp_path, with_identity)
    assert len({old["jobId"], new["jobId"], other["jobId"]}) == 3
    provider = hook.WorkloadSubmissionProvider(str(tmp_path))
    for changed in (new, other):
        diff = provider.diff(old["jobId"], old, changed)
        assert "jobId" in diff.replaces and "contentHash" in diff.replaces

    client = local_batch.batch_client()
    try:
        provider.create(old)
        created = provider.create(new)
        assert created.outs["jobCreated"] and created.outs["retired"]
        jobs = {job.id: job for job in forge_jobs(client, stack=STACK, workload=workload_id)}
        assert set(jobs) == {old["jobId"], new["jobId"]}
        wait_for(
            lambda: (
                not next(j for j in forge_jobs(client, stack=STACK, workload=workload_id) if j.id == old["jobId"]).open
            ),
            what="the old job retired",
        )
        # The new job's tasks write to the moved container; the old job's bodies were never touched.
        task = client.get_task(new["jobId"], "a")
        assert any("outputs-moved" in str(f.destination.container.container_url) for f in task.output_files or [])
    finally:
        for props in (old, new):
            delete_job(client, props["jobId"])
