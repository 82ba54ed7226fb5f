"""The identity-versus-settings table: for every workload key, whether changing it replaces the job (new id)
or updates it in place, checked against the fields the Batch job update operation accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.batch import models as batch_models

from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job
from batchforge.workload.identity import UPDATE_FIELDS, WORKLOAD_KEY_EFFECTS
from batchforge.workload.model import Workload

BASE: dict[str, Any] = {
    "id": "table",
    "pool": "cpu",
    "jobPreparationTask": {"commandLine": "true"},
    "tasks": {"list": [{"id": "a", "commandLine": "echo a"}]},
}

# One change per workload key (the "before" is BASE with the key at its default).
CHANGES: dict[str, Any] = {
    "id": "table2",
    "displayName": "renamed",
    "pool": "gpu",
    "priority": 7,
    "maxParallelTasks": 3,
    "constraints": {"maxWallClockTime": "PT1H"},
    "environment": {"A": "1"},
    "metadata": {"team": "x"},
    "jobPreparationTask": {"commandLine": "echo prepared"},
    "jobReleaseTask": {"commandLine": "true"},
    "onAllTasksComplete": "noaction",
    "onTaskFailure": "performexitoptionsjobaction",
    "uploadLogs": False,
    "tasks": {"list": [{"id": "a", "commandLine": "echo b"}]},
    "supersede": "keep",
    "jobManagerTask": {"commandLine": "true", "killJobOnCompletion": False},
    "schedule": {"recurrenceInterval": "PT1H"},
    "containerSettings": {"imageName": "docker.io/library/python:3.12-slim"},
}

# Fields of the job update operation (PATCH /jobs/{id}) as the SDK models its body.
PATCHABLE = {
    name for name, value in vars(batch_models.BatchJobUpdateOptions).items() if type(value).__name__ == "_RestField"
}
# Workload key -> the job create field it becomes, where there is one.
CREATE_FIELDS = {
    "displayName": "display_name",
    "pool": "pool_info",
    "environment": "common_environment_settings",
    "jobPreparationTask": "job_preparation_task",
    "jobReleaseTask": "job_release_task",
    "onTaskFailure": "task_failure_mode",
    "jobManagerTask": "job_manager_task",
    **UPDATE_FIELDS,
}


def _plan(repo: Path, target: BatchTarget, data: dict[str, Any]) -> Any:
    path = repo / "workloads" / "table.yaml"
    path.write_text(yaml.safe_dump(data))
    return plan_job(load_workload(path), target, repo_root=repo)


def test_the_table_names_every_workload_key():
    keys = {field.alias or name for name, field in Workload.model_fields.items()}
    assert set(WORKLOAD_KEY_EFFECTS) == keys == set(CHANGES)


@pytest.mark.parametrize("key", sorted(WORKLOAD_KEY_EFFECTS))
def test_every_row_of_the_identity_table_holds(key: str, repo: Path, target: BatchTarget):
    effect = WORKLOAD_KEY_EFFECTS[key]
    # "update" is only allowed for what the job update operation accepts; a key that is a job field the
    # operation does not accept must replace.
    if key in CREATE_FIELDS:
        assert (CREATE_FIELDS[key] in PATCHABLE and key != "pool") == (effect == "update"), key
    before = _plan(repo, target, BASE)
    after = _plan(repo, target, {**BASE, key: CHANGES[key]})
    if effect == "replace":
        assert after.job_id != before.job_id
    elif effect == "update":
        assert (after.job_id, after.content_hash) == (before.job_id, before.content_hash)
        assert after.settings_hash != before.settings_hash
    else:
        assert (after.job_id, after.settings_hash) == (before.job_id, before.settings_hash)


# Each row against the local Batch service's job update rules (the REST reference's Job - Patch): an "update" key's
# change is accepted on a live job and applied; a "replace" key that is a job property is refused in a patch.
WIRE_NAMES = {
    "displayName": "displayName",
    "pool": "poolInfo",
    "environment": "commonEnvironmentSettings",
    "jobPreparationTask": "jobPreparationTask",
    "jobReleaseTask": "jobReleaseTask",
    "onTaskFailure": "onTaskFailure",
    "jobManagerTask": "jobManagerTask",
}


@pytest.mark.parametrize("key", sorted(WORKLOAD_KEY_EFFECTS))
def test_every_row_holds_against_the_local_services_job_update_rules(key: str, repo: Path, local_batch: Any):
    import uuid

    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    from batchforge.submission.engine import job_with_content_hash, settings_update

    target = local_batch.target({"cpu": "table-cpu", "gpu": "table-gpu"})
    client = local_batch.batch_client()
    before = _plan(repo, target, BASE)
    after = _plan(repo, target, {**BASE, key: CHANGES[key]})
    job = job_with_content_hash(before)  # as the engine creates it: onAllTasksComplete not set yet
    job.id = f"table-{uuid.uuid4().hex[:10]}"
    client.create_job(job)
    try:
        effect = WORKLOAD_KEY_EFFECTS[key]
        if effect == "update":
            if key == "onAllTasksComplete":
                update = batch_models.BatchJobUpdateOptions(all_tasks_complete_mode=after.all_tasks_complete_mode)
            else:
                update = settings_update(after)
            client.update_job(job.id, update)
            live = client.get_job(job.id)
            field = UPDATE_FIELDS[key]
            if key == "metadata":
                assert {i.name: i.value for i in after.job.metadata} == {i.name: i.value for i in live.metadata}
            elif key == "constraints":
                assert live.constraints.max_wall_clock_time == after.job.constraints.max_wall_clock_time
            elif key == "onAllTasksComplete":
                assert str(live.all_tasks_complete_mode).lower().endswith(str(after.all_tasks_complete_mode).lower())
            else:
                assert getattr(live, field) == getattr(after.job, field)
        elif key in WIRE_NAMES:
            body = {WIRE_NAMES[key]: after.job.as_dict().get(WIRE_NAMES[key])}
            assert body[WIRE_NAMES[key]] is not None, key
            try:
                response = client.send_request(
                    HttpRequest("PATCH", f"/jobs/{job.id}?api-version=2024-07-01.20.0", json=body)
                )
            except HttpResponseError as error:
                response = error.response
            expected = "OperationInvalidForCurrentState" if key == "pool" else "UnsupportedProperty"
            assert response.status_code in (400, 409) and response.json()["code"] == expected, key
    finally:
        client.begin_delete_job(job.id, polling_interval=0.2)
