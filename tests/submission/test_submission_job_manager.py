"""The job manager's own rules, without a service: the plan pointed at the job it runs in, and its credential."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from batchforge.submission.job_manager import credential_from_environment, planned_job_from, retarget

OUTPUTS = "https://acct.blob.core.windows.net/outputs"


def test_paths_below_the_planned_job_move_below_the_running_job():
    task = {
        "id": "t",
        "commandLine": "true",
        "outputFiles": [
            {"filePattern": "a", "destination": {"container": {"containerUrl": OUTPUTS, "path": "w-abc/t/a"}}},
            {"filePattern": "b", "destination": {"container": {"containerUrl": OUTPUTS, "path": "elsewhere/b"}}},
        ],
        "resourceFiles": [
            {"storageContainerUrl": OUTPUTS, "blobPrefix": "w-abc/stage1/"},
            {"storageContainerUrl": "https://acct.blob.core.windows.net/resources", "blobPrefix": "w-abc/x"},
        ],
    }
    moved = retarget(task, "w-abc", "w-sched:job-3", OUTPUTS)
    paths = [item["destination"]["container"]["path"] for item in moved["outputFiles"]]
    assert paths == ["w-sched:job-3/t/a", "elsewhere/b"]
    assert [item["blobPrefix"] for item in moved["resourceFiles"]] == ["w-sched:job-3/stage1/", "w-abc/x"]
    assert task["outputFiles"][0]["destination"]["container"]["path"] == "w-abc/t/a", "the plan is not changed"


def test_the_plan_becomes_a_job_the_engine_only_finds():
    document = {
        "format": 1,
        "workload": "w",
        "contentHash": "abc",
        "plannedJobId": "w-abc",
        "outputsContainerUrl": OUTPUTS,
        "allTasksCompleteMode": "terminatejob",
        "tasks": [{"id": "t", "commandLine": "true"}],
    }
    planned = planned_job_from(document, "w-s:job-1", "pool")
    assert planned.created_elsewhere and planned.job_id == "w-s:job-1" and planned.content_hash == "abc"
    assert [task.id for task in planned.tasks] == ["t"]
    with pytest.raises(RuntimeError, match="unknown plan format"):
        planned_job_from({**document, "format": 2}, "j", "p")


def test_the_credential_is_the_job_token_else_the_local_key():
    token = credential_from_environment({"AZ_BATCH_AUTHENTICATION_TOKEN": "tok"})
    assert token.get_token("https://batch.core.windows.net//.default").token == "tok"
    local = credential_from_environment({"BATCHFORGE_LOCAL_BATCH_KEY": "k", "AZ_BATCH_ACCOUNT_NAME": "acct"})
    assert isinstance(local, AzureNamedKeyCredential) and local.named_key.name == "acct"
    with pytest.raises(RuntimeError, match="AZ_BATCH_AUTHENTICATION_TOKEN"):
        credential_from_environment({})
