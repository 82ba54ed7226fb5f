"""The job schedule resource: for every key of a scheduled workload, whether changing it updates the live
schedule (Job Schedule - Patch: schedule, jobSpecification, metadata) or replaces it, checked on the provider's
own diff of the planned inputs, and against the fields the SDK's update operation accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.batch import models as batch_models

from batchforge.providers.job_schedule import JobScheduleProvider, schedule_diff, schedule_identity
from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import load_workload
from batchforge.workload.model import Workload
from batchforge.workload.scheduling import UPDATABLE_SCHEDULE_FIELDS, plan_schedule, schedule_effect

BASE: dict[str, Any] = {
    "id": "nightly",
    "pool": "cpu",
    "schedule": {"recurrenceInterval": "P1D"},
    "jobPreparationTask": {"commandLine": "true"},
    "tasks": {"list": [{"id": "a", "commandLine": "echo a"}]},
}
CHANGES: dict[str, Any] = {
    "id": "nightly2",
    "displayName": "renamed",
    "schedule": {"recurrenceInterval": "PT12H", "startWindow": "PT1H"},
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
    "containerSettings": {"imageName": "docker.io/library/python:3.12-slim"},
}
MODEL_KEYS = {field.alias or name for name, field in Workload.model_fields.items()}
# What the provider's inputs must show for each effect.
FINGERPRINT = {
    "schedule": "scheduleFingerprint",
    "job-specification": "jobSpecificationFingerprint",
    "metadata": "metadataFingerprint",
}


@pytest.fixture
def target() -> BatchTarget:
    return BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "bforge-dev-cpu", "gpu": "bforge-dev-gpu"},
        resources_container_url="https://acct.blob.core.windows.net/resources",
        outputs_container_url="https://acct.blob.core.windows.net/outputs",
        stack="dev",
    )


def _inputs(tmp_path: Path, target: BatchTarget, data: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "workloads").mkdir(exist_ok=True)
    path = tmp_path / "workloads" / "nightly.yaml"
    path.write_text(yaml.safe_dump(data))
    return schedule_identity(plan_schedule(load_workload(path), target, repo_root=tmp_path))


def test_the_table_names_every_workload_key():
    # Every key of the model that changes something has a row here (a new key fails until it has one).
    assert {key for key in MODEL_KEYS if schedule_effect(key) != "none"} <= set(CHANGES)


def test_the_update_operation_takes_the_parts_we_patch():
    patchable = {
        name
        for name, value in vars(batch_models.BatchJobScheduleUpdateOptions).items()
        if type(value).__name__ == "_RestField"
    }
    assert patchable == set(UPDATABLE_SCHEDULE_FIELDS)
    # Not in the update operation: what replaces a schedule.
    assert "display_name" not in patchable and "id" not in patchable


@pytest.mark.parametrize("key", sorted(set(CHANGES) & MODEL_KEYS))
def test_each_key_updates_or_replaces_as_the_table_says(key: str, tmp_path: Path, target: BatchTarget):
    before = _inputs(tmp_path, target, BASE)
    after = _inputs(tmp_path, target, {**BASE, key: CHANGES[key]})
    changed, replaces = schedule_diff(before, after)
    provider = JobScheduleProvider(str(tmp_path)).diff(before["scheduleId"], before, after)
    assert provider.changes is True
    effect = schedule_effect(key)
    if effect == "replace":
        assert replaces == ["scheduleId"] and provider.replaces == ["scheduleId"]
    else:
        assert replaces == [] and not provider.replaces
        assert FINGERPRINT[effect] in changed
    if key == "schedule":
        # The preview names the new recurrence, not only a fingerprint; the job specification is untouched.
        assert after["schedule"] == {"recurrenceInterval": "PT12H", "startWindow": "PT1H"}
        assert "jobSpecificationFingerprint" not in changed
    if key == "tasks":
        # A changed task is a new plan blob: the job specification is replaced, from the next job on.
        assert "planBlob" in changed and "scheduleFingerprint" not in changed


def test_an_unchanged_workload_is_no_change(tmp_path: Path, target: BatchTarget):
    before = _inputs(tmp_path, target, BASE)
    assert schedule_diff(before, _inputs(tmp_path, target, BASE)) == ([], [])
