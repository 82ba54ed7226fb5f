"""Tasks run as task-scoped auto-users unless the workload asks for the shared pool-scoped one and says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.batch import models as bm

from batchforge.core import InvalidInput
from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import load_workload, plan_job

TARGET = BatchTarget(
    account_endpoint="https://acct.westeurope.batch.azure.com",
    auth=EntraIdAuth(),
    pool_ids={"cpu": "cpu-1a2b3c4d"},
    resources_container_url="https://acct.blob.core.windows.net/resources",
    outputs_container_url="https://acct.blob.core.windows.net/outputs",
)


def _load(tmp_path: Path, task: dict[str, Any]):
    path = tmp_path / "workloads" / "w.yaml"
    path.parent.mkdir(exist_ok=True)
    document = {"id": "w", "pool": "cpu", "tasks": {"list": [{"id": "t", "commandLine": "true", **task}]}}
    path.write_text(yaml.safe_dump(document))
    return load_workload(path, repo_root=tmp_path, source="workloads/w.yaml")


def _scope(task: bm.BatchTaskCreateOptions) -> tuple[str, str]:
    auto = task.user_identity.auto_user
    return auto.scope, auto.elevation_level


def test_a_task_without_a_user_identity_gets_its_own_auto_user(tmp_path):
    (task,) = plan_job(_load(tmp_path, {}), TARGET, repo_root=tmp_path).tasks
    # Batch would default to the pool-scoped user every task on the node shares; it is never left to it.
    assert _scope(task) == ("task", "nonadmin")


def test_an_elevated_task_keeps_task_scope(tmp_path):
    workload = _load(tmp_path, {"userIdentity": {"autoUser": {"elevationLevel": "admin"}}})
    (task,) = plan_job(workload, TARGET, repo_root=tmp_path).tasks
    assert _scope(task) == ("task", "admin")


def test_pool_scope_needs_a_reason(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        _load(tmp_path, {"userIdentity": {"autoUser": {"scope": "pool"}}})
    assert [str(p) for p in caught.value.problems] == [
        "workloads/w.yaml: tasks.list[0].userIdentity.autoUser: scope pool runs the task as the user every task on "
        "the node shares (it can read and change other tasks' and jobs' files there); set reason to say why this "
        "workload needs it, or use scope task"
    ]
    reason = "reads the model cache the start task fills in the shared folder"
    workload = _load(tmp_path, {"userIdentity": {"autoUser": {"scope": "pool", "reason": reason}}})
    (task,) = plan_job(workload, TARGET, repo_root=tmp_path).tasks
    assert _scope(task) == ("pool", "nonadmin")
    # The reason documents the file; it is not sent to Batch.
    assert "reason" not in str(task.as_dict())


def test_a_reason_without_pool_scope_is_refused(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        _load(tmp_path, {"userIdentity": {"autoUser": {"reason": "habit"}}})
    assert [str(p) for p in caught.value.problems] == [
        "workloads/w.yaml: tasks.list[0].userIdentity.autoUser: reason is for scope pool only (task scope is the "
        "default and needs none)"
    ]
