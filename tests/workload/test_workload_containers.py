"""Container settings in workloads: job-level default, per task, job preparation/release, multi-instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from batchforge.core import InvalidInput
from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import load_workload, plan_job

IDENTITY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pools"
TARGET = BatchTarget(
    account_endpoint="https://acct.westeurope.batch.azure.com",
    auth=EntraIdAuth(),
    pool_ids={"cpu": "cpu-1a2b3c4d"},
    resources_container_url="https://acct.blob.core.windows.net/resources",
    outputs_container_url="https://acct.blob.core.windows.net/outputs",
    identity_resource_id=IDENTITY,
)
JOB_IMAGE = {"imageName": "docker.io/library/python:3.12-slim"}


def _load(tmp_path: Path, **document: Any):
    path = tmp_path / "workloads" / "w.yaml"
    path.parent.mkdir(exist_ok=True)
    body = {"id": "w", "pool": "cpu", "tasks": {"list": [{"id": "t", "commandLine": "true"}]}, **document}
    path.write_text(yaml.safe_dump(body))
    return load_workload(path, repo_root=tmp_path, source="workloads/w.yaml")


def _wire(model: Any) -> dict[str, Any]:
    return model.as_dict()


def test_job_level_settings_reach_every_task_and_the_preparation_and_release_tasks(tmp_path):
    workload = _load(
        tmp_path,
        containerSettings=JOB_IMAGE,
        jobPreparationTask={"commandLine": "true"},
        jobReleaseTask={"commandLine": "true"},
        tasks={"list": [{"id": "a", "commandLine": "true"}, {"id": "b", "commandLine": "true"}]},
    )
    planned = plan_job(workload, TARGET, repo_root=tmp_path)
    assert [_wire(task)["containerSettings"] for task in planned.tasks] == [JOB_IMAGE, JOB_IMAGE]
    job = _wire(planned.job)
    assert job["jobPreparationTask"]["containerSettings"] == JOB_IMAGE
    assert job["jobReleaseTask"]["containerSettings"] == JOB_IMAGE


def test_a_task_and_a_preparation_task_override_the_job_default_with_every_key(tmp_path):
    own = {
        "imageName": "myacr.azurecr.io/tools/sim:2",
        "registry": {"registryServer": "myacr.azurecr.io"},
        "containerRunOptions": "--rm --shm-size 1g",
        "workingDirectory": "containerImageDefault",
        "containerHostBatchBindMounts": [
            {"source": "Task", "isReadOnly": False},
            {"source": "Shared", "isReadOnly": True},
        ],
    }
    workload = _load(
        tmp_path,
        containerSettings=JOB_IMAGE,
        jobPreparationTask={"commandLine": "true", "containerSettings": own},
        tasks={"list": [{"id": "a", "commandLine": "true", "containerSettings": own}]},
    )
    planned = plan_job(workload, TARGET, repo_root=tmp_path)
    expected = {
        **own,
        "registry": {"registryServer": "myacr.azurecr.io", "identityReference": {"resourceId": IDENTITY}},
    }
    assert _wire(planned.tasks[0])["containerSettings"] == expected
    assert _wire(planned.job)["jobPreparationTask"]["containerSettings"] == expected


def test_sweep_and_multi_instance_tasks_carry_the_settings(tmp_path):
    workload = _load(
        tmp_path,
        containerSettings=JOB_IMAGE,
        tasks={
            "sweep": {
                "parameters": [{"name": "n", "values": [1, 2]}],
                "task": {"id": "s-{n}", "commandLine": "echo {n}"},
            },
            "list": [
                {
                    "id": "mpi",
                    "commandLine": "true",
                    "multiInstance": {"numberOfInstances": 2, "coordinationCommandLine": "true"},
                }
            ],
        },
    )
    planned = plan_job(workload, TARGET, repo_root=tmp_path)
    assert {task.id: _wire(task)["containerSettings"] for task in planned.tasks} == {
        "mpi": JOB_IMAGE,
        "s-1": JOB_IMAGE,
        "s-2": JOB_IMAGE,
    }


def test_without_settings_no_task_has_a_container(tmp_path):
    (task,) = plan_job(_load(tmp_path), TARGET, repo_root=tmp_path).tasks
    assert "containerSettings" not in _wire(task)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"imageName": "a", "registry": {"registryServer": "r.azurecr.io", "password": "x"}},
            "workloads/w.yaml: containerSettings.registry.password: unknown key",
        ),
        (
            {"imageName": "a", "workingDirectory": "home"},
            "workloads/w.yaml: containerSettings.workingDirectory: must be one of",
        ),
        (
            {"imageName": "a", "containerHostBatchBindMounts": [{"source": "Root"}]},
            "workloads/w.yaml: containerSettings.containerHostBatchBindMounts[0].source: must be one of",
        ),
    ],
)
def test_settings_batch_would_refuse_are_refused_with_their_key_path(tmp_path, settings, expected):
    with pytest.raises(InvalidInput) as caught:
        _load(tmp_path, containerSettings=settings)
    assert any(str(problem).startswith(expected) for problem in caught.value.problems), caught.value.problems
