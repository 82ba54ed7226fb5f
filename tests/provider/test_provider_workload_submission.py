"""The WorkloadSubmission dynamic provider driven directly (Pulumi mocks never run providers)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import dill
import pytest
from azure.batch import models as batch_models
from pulumi.dynamic.dynamic import serialize_provider

import batchforge.providers.workload_submission as hook
import batchforge.submission.client
from batchforge.submission.plan import PlannedJob
from batchforge.submission.target import BatchTarget

# The in-memory Batch client lives with the engine tests; share it rather than keep two fakes.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "submission"))
from submission_fakes import FakeBatchClient

SECRET_KEY = "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWJjZGVm"


def _planned(target: BatchTarget, content_hash: str, count: int = 30) -> PlannedJob:
    return PlannedJob(
        workload_name="sweep",
        content_hash=content_hash,
        job=batch_models.BatchJobCreateOptions(
            id=f"sweep-{content_hash}", pool_info=batch_models.BatchPoolInfo(pool_id=target.pool_ids["cpu"])
        ),
        tasks=[batch_models.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(count)],
        all_tasks_complete_mode=batch_models.BatchAllTasksCompleteMode.TERMINATE_JOB,
    )


@pytest.fixture
def fake_service(monkeypatch, tmp_path):
    """The provider wired to one in-memory Batch account; the 'workload file' content is its hash."""
    fake = FakeBatchClient()
    seen_targets: list[BatchTarget] = []

    def make_client(target: BatchTarget, **_: Any) -> FakeBatchClient:
        seen_targets.append(target)
        return fake

    def plan(path: Path, target: BatchTarget, repo_root: Path) -> PlannedJob:
        return _planned(target, path.read_text().strip())

    monkeypatch.setattr(batchforge.submission.client, "make_batch_client", make_client)
    monkeypatch.setattr(hook, "plan_workload_file", plan)
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, SECRET_KEY)
    (tmp_path / "workloads").mkdir()
    return fake, seen_targets, tmp_path


def _props(tmp_path: Path, content_hash: str, **overrides: Any) -> dict[str, Any]:
    (tmp_path / "workloads" / "sweep.yaml").write_text(content_hash)
    target = {
        "account_endpoint": "http://127.0.0.1:1/",
        "auth": {"kind": "shared-key", "account_name": "local", "account_key": SECRET_KEY},
        "pool_ids": {"cpu": "cpu-pool"},
        "resources_container_url": "http://127.0.0.1:2/local/resources",
        "outputs_container_url": "http://127.0.0.1:2/local/outputs",
    }
    props = {
        "workloadName": "sweep",
        "workloadFile": "workloads/sweep.yaml",
        "jobId": f"sweep-{content_hash}",
        "contentHash": content_hash,
        "deletionMode": "terminate",
        "deadlineSeconds": 60,
        **hook.target_props(target),
    }
    props.update(overrides)
    return props


def test_the_pickled_provider_and_the_inputs_hold_no_key_material(fake_service):
    _, _, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))
    props = _props(root, "aaaa1111")

    pickled = base64.b64decode(serialize_provider(provider))

    assert SECRET_KEY.encode() not in pickled and b"account_key" not in pickled
    assert SECRET_KEY not in repr(props) and "account_key" not in props
    restored = dill.loads(pickled)
    assert type(restored) is hook.WorkloadSubmissionProvider and restored.repo_root == str(root)


def test_diff_is_no_change_for_equal_inputs_and_replace_for_a_new_content_hash(fake_service):
    _, _, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))
    old = _props(root, "aaaa1111")

    same = provider.diff("sweep-aaaa1111", {**old, "tasksAdded": 30}, dict(old))
    changed = provider.diff("sweep-aaaa1111", old, _props(root, "bbbb2222"))
    mode_only = provider.diff("sweep-aaaa1111", old, {**old, "deletionMode": "delete"})

    assert (same.changes, same.replaces) == (False, [])
    assert changed.changes and changed.replaces == ["jobId", "contentHash"]
    assert changed.delete_before_replace is False
    assert (mode_only.changes, mode_only.replaces) == (True, [])


def test_a_settings_change_is_an_update_not_a_replacement(fake_service):
    _, _, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))
    old = {**_props(root, "aaaa1111"), "settingsHash": "1111111111"}

    settings = provider.diff("sweep-aaaa1111", old, {**old, "settingsHash": "2222222222"})

    assert (settings.changes, settings.replaces) == (True, [])


def test_create_update_delete_submit_once_and_terminate(fake_service):
    fake, seen_targets, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))
    props = _props(root, "aaaa1111")

    created = provider.create(props)

    assert created.id == "sweep-aaaa1111"
    assert created.outs["tasksAdded"] == 30 and created.outs["tasksTotal"] == 30 and created.outs["jobCreated"]
    assert created.outs["taskCounts"]["active"] == 30
    assert seen_targets[0].auth.account_key.get_secret_value() == SECRET_KEY, "key read from the environment"
    assert SECRET_KEY not in repr(created.outs)

    updated = provider.update(created.id, created.outs, {**props, "deletionMode": "delete"})
    assert (updated.outs["tasksAdded"], updated.outs["tasksAlreadyPresent"]) == (0, 30)
    assert len(fake.jobs["sweep-aaaa1111"].tasks) == 30

    provider.delete(created.id, created.outs)
    assert fake.jobs["sweep-aaaa1111"].state == "completed"
    provider.delete(created.id, updated.outs)
    assert "sweep-aaaa1111" not in fake.jobs


def test_create_refuses_when_the_workload_changed_since_the_plan(fake_service):
    _, _, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))
    props = _props(root, "aaaa1111")
    (root / "workloads" / "sweep.yaml").write_text("cccc3333")

    with pytest.raises(RuntimeError, match="changed after this deployment was planned"):
        provider.create(props)


def test_shared_key_without_the_environment_variable_is_a_clear_error(fake_service, monkeypatch):
    _, _, root = fake_service
    monkeypatch.delenv(hook.LOCAL_BATCH_KEY_ENV)

    with pytest.raises(RuntimeError, match="BATCHFORGE_LOCAL_BATCH_KEY"):
        hook.WorkloadSubmissionProvider(str(root)).create(_props(root, "aaaa1111"))


def test_check_reports_bad_inputs(fake_service):
    _, _, root = fake_service
    provider = hook.WorkloadSubmissionProvider(str(root))

    result = provider.check({}, {**_props(root, "aaaa1111"), "deletionMode": "archive", "authKind": "sas"})

    assert sorted((f.property, f.reason) for f in result.failures) == [
        ("authKind", "must be entra-id or shared-key"),
        ("deletionMode", "must be terminate or delete"),
    ]
    missing = provider.check(
        {}, {key: value for key, value in _props(root, "aaaa1111").items() if key != "workloadFile"}
    )
    assert [(f.property, f.reason) for f in missing.failures] == [("workloadFile", "is required")]


def test_check_accepts_unknown_values_during_a_preview(fake_service):
    # The provider host deserializes Check's inputs keeping unknowns, as `Unknown` objects.
    from pulumi.output import Unknown

    _, _, root = fake_service
    unknown = ("jobId", "accountEndpoint", "authKind", "blobAuthKind", "deletionMode")
    previewed = {**_props(root, "aaaa1111"), **{key: Unknown() for key in unknown}}

    assert hook.WorkloadSubmissionProvider(str(root)).check({}, previewed).failures == []


def test_a_403_right_after_role_assignment_is_waited_out_on_azure_only(monkeypatch):
    from submission_fakes import service_error

    monkeypatch.setattr(hook, "RBAC_RETRY_INTERVAL_S", 0.0)
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise service_error(403, "AuthorizationFailure", "not yet")
        return "submitted"

    assert hook._retry_while_rbac_propagates("entra-id", flaky) == "submitted" and len(attempts) == 3
    attempts.clear()
    with pytest.raises(Exception, match="AuthorizationFailure"):
        hook._retry_while_rbac_propagates("shared-key", flaky)
    assert len(attempts) == 1
