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
