"""The WorkloadSubmission provider's create/diff/update/delete against the local Batch service.

Real planning (workload_spec), real engine, real service; credentials only from the environment.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from pulumi.dynamic.dynamic import serialize_provider

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for


def workload_yaml(workload_id: str, command: str) -> str:
    return f"""\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 1, stop: 25}}
    task:
      id: "t{{i}}"
      commandLine: "{command} {{i}}"
"""


@pytest.fixture
def stack(local_batch: LocalBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A repo with one workload file and the target as the stack would pass it (keys only in the env)."""
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, local_batch.account_key)
    monkeypatch.setenv(hook.LOCAL_STORAGE_KEY_ENV, local_batch.storage_account_key)
    target = local_batch.target({"cpu": f"prov-idle-{uuid.uuid4().hex[:6]}"})
    workload_id = f"prov-{uuid.uuid4().hex[:8]}"
    (tmp_path / "workloads").mkdir()
    target_values = target.model_dump(mode="json")
    return {
        "root": tmp_path,
        "workload_id": workload_id,
        "target_props": hook.target_props(target_values),
        "client": local_batch.batch_client(),
        "local_batch": local_batch,
    }


def props_for(stack: dict[str, Any], command: str, deletion_mode: str = "terminate") -> dict[str, Any]:
    """Writes the workload and returns the inputs the program would declare for it."""
    path = stack["root"] / "workloads" / "work.yaml"
    path.write_text(workload_yaml(stack["workload_id"], command))
    identity = hook._workload_identity(path, _snake_target(stack["target_props"]), stack["root"])
    return {
        **identity,
        "workloadFile": "workloads/work.yaml",
        "deletionMode": deletion_mode,
        "deadlineSeconds": 120,
        **stack["target_props"],
    }


def _snake_target(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_endpoint": props["accountEndpoint"],
        "pool_ids": props["poolIds"],
        "resources_container_url": props["resourcesContainerUrl"],
        "outputs_container_url": props["outputsContainerUrl"],
        "identity_resource_id": props["identityResourceId"],
    }


def job_state(client: Any, job_id: str) -> str | None:
    try:
        state = client.get_job(job_id).state
    except ResourceNotFoundError:
        return None
    return str(getattr(state, "value", state)).lower()


def test_no_key_reaches_the_inputs_or_the_pickled_provider(stack):
    local_batch = stack["local_batch"]
    props = props_for(stack, "true")
    provider = hook.WorkloadSubmissionProvider(str(stack["root"]))

    pickled = base64.b64decode(serialize_provider(provider))

    for key in (local_batch.account_key, local_batch.storage_account_key):
        assert key not in repr(props) and key.encode() not in pickled
    assert props["authKind"] == "shared-key" and props["accountName"] == local_batch.account_name


def test_create_diff_update_replace_and_delete_against_the_local_service(stack):
    client = stack["client"]
    provider = hook.WorkloadSubmissionProvider(str(stack["root"]))
    first = props_for(stack, "true")

    created = provider.create(first)
    assert created.id == first["jobId"] and created.outs["tasksAdded"] == 25 and created.outs["tasksTotal"] == 25
    assert sum(created.outs["taskCounts"].values()) >= 25
    assert len(list(client.list_tasks(created.id, select=["id"]))) == 25

    # A second `up` with the same workload: no change, and running update anyway adds nothing.
    assert provider.diff(created.id, created.outs, props_for(stack, "true")).changes is False
    updated = provider.update(created.id, created.outs, first)
    assert (updated.outs["tasksAdded"], updated.outs["tasksAlreadyPresent"]) == (0, 25)

    # An edited workload: preview says replace; the replacement is a new job, then the old one is retired.
    edited = props_for(stack, "echo", deletion_mode="delete")
    diff = provider.diff(created.id, created.outs, edited)
    assert diff.changes and diff.replaces == ["jobId", "contentHash"]
    replacement = provider.create(edited)
    assert replacement.id != created.id and replacement.outs["jobCreated"]
    provider.delete(created.id, created.outs)  # deletionMode terminate (the old inputs)
    wait_for(lambda: job_state(client, created.id) == "completed", what="old job terminated")
    assert len(list(client.list_tasks(created.id, select=["id"]))) == 25, "terminate keeps the job's record"

    refreshed = provider.read(replacement.id, replacement.outs)
    assert refreshed.id == replacement.id and sum(refreshed.outs["taskCounts"].values()) == 25

    provider.delete(replacement.id, replacement.outs)  # deletionMode delete
    wait_for(lambda: job_state(client, replacement.id) in (None, "deleting"), what="job deleted")
    provider.delete(replacement.id, replacement.outs)  # deleting twice is fine
