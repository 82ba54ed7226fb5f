"""The job schedule provider in the real provider host (``python -m pulumi.dynamic``), against the local Batch
service: created, unchanged is no change, a new recurrence or task is an update of the same schedule, a new
display name a replacement, delete terminates or deletes per workloadDeletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from provider_host import (
    PROVIDER_KEY,
    REPO_ROOT,
    NotYetCreated,
    ProviderHost,
    Registration,
    host_environment,
    register_under_mocks,
)
from pulumi.runtime.proto import provider_pb2

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for
from batchforge.providers.job_schedule import declare_job_schedules

SCHEDULE_TYPE = "pulumi-python:dynamic/batchforge:JobSchedule"
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


@pytest.fixture(scope="module")
def host(local_batch: LocalBatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderHost]:
    elsewhere = tmp_path_factory.mktemp("not-the-repository-schedules")
    assert not elsewhere.resolve().is_relative_to(REPO_ROOT)
    env = host_environment(
        {
            hook.LOCAL_BATCH_KEY_ENV: local_batch.account_key,
            hook.LOCAL_STORAGE_KEY_ENV: local_batch.storage_account_key,
        }
    )
    with ProviderHost(elsewhere, env, elsewhere / "host.log") as started:
        started.configure()
        yield started


def declare(stack: dict[str, Any], interval: str, command: str, deletion: str, name: str = "Nightly") -> Registration:
    (stack["repo"] / "workloads" / "nightly.yaml").write_text(
        f"id: {stack['workload_id']}\npool: cpu\ndisplayName: {name}\n"
        f"schedule: {{recurrenceInterval: {interval}, doNotRunUntil: '2030-01-01T00:00:00Z'}}\n"
        f"tasks:\n  list: [{{id: a, commandLine: '{command}'}}]\n"
    )

    def program(platform: NotYetCreated) -> None:
        declare_job_schedules(["nightly.yaml"], deletion, platform.batchTarget, stack["repo"], [platform])

    (registration,) = register_under_mocks(program, batch_target=stack["target"])
    assert registration.typ == SCHEDULE_TYPE
    return registration


@pytest.fixture
def stack(local_batch: LocalBatch, tmp_path: Path) -> dict[str, Any]:
    repo = tmp_path / "repo"
    (repo / "workloads").mkdir(parents=True)
    target = local_batch.target({"cpu": f"host-sched-{uuid.uuid4().hex[:6]}"})
    return {"repo": repo, "workload_id": f"sched-{uuid.uuid4().hex[:8]}", "target": target.model_dump(mode="json")}


def schedule_state(local_batch: LocalBatch, schedule_id: str) -> str | None:
    try:
        state = local_batch.batch_client().get_job_schedule(schedule_id).state
    except ResourceNotFoundError:
        return None
    return str(getattr(state, "value", state)).lower()


def test_job_schedule_lifecycle_in_the_host(host: ProviderHost, local_batch: LocalBatch, stack: dict[str, Any]):
    first = declare(stack, "P1D", "true", "terminate")
    inputs = host.check(first, {}, first.inputs).inputs
    schedule_id, state = host.create(first, inputs)
    assert schedule_id == first.inputs["scheduleId"] and state["outcome"] == "created"
    assert set(inputs) <= set(state) and {"outcome", "state"} <= set(state)
    assert local_batch.account_key not in repr(state) and local_batch.account_key not in repr(first.inputs)
    live = local_batch.batch_client().get_job_schedule(schedule_id)
    assert live.schedule.recurrence_interval.total_seconds() == 86_400

    again = declare(stack, "P1D", "true", "terminate")
    assert again.inputs[PROVIDER_KEY] == first.inputs[PROVIDER_KEY]
    diff = host.diff(again, schedule_id, inputs, state, host.check(again, inputs, again.inputs).inputs)
    assert (diff.changes, list(diff.replaces)) == (DIFF_NONE, [])

    # A new recurrence and a new task: one update of the same schedule (Job Schedule - Patch).
    edited = declare(stack, "PT6H", "echo", "terminate")
    edited_inputs = host.check(edited, inputs, edited.inputs).inputs
    diff = host.diff(edited, schedule_id, inputs, state, edited_inputs)
    assert (diff.changes, list(diff.replaces)) == (DIFF_SOME, [])
    updated = host.update(edited, schedule_id, inputs, state, edited_inputs)
    assert updated["outcome"] == "updated"
    live = local_batch.batch_client().get_job_schedule(schedule_id)
    assert live.schedule.recurrence_interval.total_seconds() == 6 * 3600
    manager = live.job_specification.job_manager_task
    assert manager.resource_files[0].http_url.endswith(edited_inputs["planBlob"])

    # A new display name is not a field of the update operation: a replacement, created before the old goes.
    renamed = declare(stack, "PT6H", "echo", "terminate", name="Renamed")
    renamed_inputs = host.check(renamed, edited_inputs, renamed.inputs).inputs
    diff = host.diff(renamed, schedule_id, edited_inputs, updated, renamed_inputs)
    assert list(diff.replaces) == ["scheduleId"] and diff.deleteBeforeReplace is False
    new_id, new_state = host.create(renamed, renamed_inputs)
    assert new_id != schedule_id
    host.delete(edited, schedule_id, updated, edited_inputs)
    wait_for(lambda: schedule_state(local_batch, schedule_id) == "completed", what="the old schedule terminated")

    # workloadDeletion: delete removes the schedule.
    host.delete(renamed, new_id, new_state | {"deletionMode": "delete"}, renamed_inputs)
    wait_for(lambda: schedule_state(local_batch, new_id) is None, timeout=30, what="the schedule deleted")
