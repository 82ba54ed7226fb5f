"""The dynamic providers in the real provider host (``python -m pulumi.dynamic``), driven as the engine drives it.

The host runs from a directory outside the repository, with the virtualenv, environment and arguments the
engine gives it; the ``__provider`` it unpickles is the one the program produced under Pulumi mocks. The
workload submission runs against the local Batch service, the blob upload against its Azurite.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from azure.core.exceptions import ResourceNotFoundError
from provider_host import (
    PROVIDER_KEY,
    REPO_ROOT,
    NotYetCreated,
    ProviderHost,
    Registration,
    host_environment,
    is_unknown,
    register_under_mocks,
    without_unknowns,
)
from pulumi.runtime.proto import provider_pb2

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for
from batchforge.providers.blob_upload import ContentAddressedBlob

HOOK_TYPE = "pulumi-python:dynamic/batchforge:WorkloadSubmission"
BLOB_TYPE = "pulumi-python:dynamic/storage:ContentAddressedBlob"
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME
TASKS = 12


def workload_yaml(workload_id: str, command: str) -> str:
    return f"""\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 1, stop: {TASKS}}}
    task:
      id: "t{{i}}"
      commandLine: "{command} {{i}}"
"""


@pytest.fixture(scope="module")
def host(local_batch: LocalBatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderHost]:
    """One host for the module, as one ``pulumi up`` keeps one: keys only in its environment."""
    elsewhere = tmp_path_factory.mktemp("not-the-repository")
    assert not elsewhere.resolve().is_relative_to(REPO_ROOT)
    env = host_environment(
        {
            hook.LOCAL_BATCH_KEY_ENV: local_batch.account_key,
            hook.LOCAL_STORAGE_KEY_ENV: local_batch.storage_account_key,
        }
    )
    assert "PYTHONPATH" not in env, "the package must import from the virtualenv, not from a path we set"
    with ProviderHost(elsewhere, env, elsewhere / "host.log") as started:
        response = started.configure()
        # The engine strips secrets for a provider that does not accept them, and calls Create/Update in a
        # preview only for one that supports previews: the calls below are shaped on these two answers.
        assert (response.acceptSecrets, response.supportsPreview) == (False, False)
        yield started


@pytest.fixture
def stack(local_batch: LocalBatch, tmp_path: Path) -> dict[str, Any]:
    """A checkout with one workload file, and the stack's ``batchTarget`` for the local service."""
    repo = tmp_path / "repo"
    (repo / "workloads").mkdir(parents=True)
    target = local_batch.target({"cpu": f"host-idle-{uuid.uuid4().hex[:6]}"})
    return {"repo": repo, "workload_id": f"host-{uuid.uuid4().hex[:8]}", "target": target.model_dump(mode="json")}


def declare_workload(stack: dict[str, Any], command: str, deletion_mode: str, *, preview: bool = False) -> Registration:
    """Writes the workload and runs the program's declaration under mocks; returns what it registered."""
    (stack["repo"] / "workloads" / "work.yaml").write_text(workload_yaml(stack["workload_id"], command))

    def declare(platform: NotYetCreated) -> None:
        hook.declare_workload_submissions(
            ["work.yaml"], deletion_mode, platform.batchTarget, stack["repo"], [platform], deadline_s=120
        )

    (registration,) = register_under_mocks(declare, batch_target=stack["target"], preview=preview)
    assert registration.typ == HOOK_TYPE
    return registration


def job_state(local_batch: LocalBatch, job_id: str) -> str | None:
    try:
        state = local_batch.batch_client().get_job(job_id).state
    except ResourceNotFoundError:
        return None
    return str(getattr(state, "value", state)).lower()


def task_ids(local_batch: LocalBatch, job_id: str) -> set[str]:
    return {task.id for task in local_batch.batch_client().list_tasks(job_id, select=["id"])}


def jobs_of(local_batch: LocalBatch, workload_id: str) -> list[str]:
    return [job.id for job in local_batch.batch_client().list_jobs() if job.id.startswith(f"{workload_id}-")]


def test_the_host_does_no_handshake_so_the_engine_falls_back_to_configure(host):
    # Without Handshake, the protocol (no secrets, no previews) comes from Configure; were the host to start
    # answering Handshake, the engine would assume previews are supported and call Create in `pulumi preview`.
    with pytest.raises(grpc.RpcError) as raised:
        host.handshake()
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_pickled_providers_name_their_module_and_hold_no_credentials(local_batch, stack, tmp_path):
    workload = declare_workload(stack, "true", "terminate")
    blob = declare_blob(local_batch, tmp_path, b"echo hi\n")

    for registration, module, cls in (
        (workload, b"batchforge.providers.workload_submission", b"WorkloadSubmissionProvider"),
        (blob, b"batchforge.providers.blob_upload", b"_ContentAddressedBlobProvider"),
    ):
        pickled = base64.b64decode(registration.inputs[PROVIDER_KEY])
        assert len(pickled) < 512, f"{registration.name}: {len(pickled)} bytes pickled"
        assert module in pickled and cls in pickled, "pickled by reference to the installed module"
        assert b"__main__" not in pickled and b"_create_code" not in pickled, "no code pickled by value"
        for secret in (local_batch.account_key, local_batch.storage_account_key):
            assert secret.encode() not in pickled and secret not in repr(registration.inputs)
        assert b"account_key" not in pickled and "account_key" not in repr(registration.inputs)


def test_a_preview_checks_and_diffs_but_never_submits(host, local_batch, stack):
    # `pulumi preview` of a new stack: everything computed from the platform is unknown.
    previewed = declare_workload(stack, "true", "terminate", preview=True)
    assert is_unknown(previewed.inputs["jobId"]) and is_unknown(previewed.inputs["authKind"])
    assert not is_unknown(previewed.inputs[PROVIDER_KEY])

    checked = host.check(previewed, {}, previewed.inputs)

    assert checked.failures == [], "unknown values are not invalid values"
    assert is_unknown(checked.inputs["jobId"]) and checked.inputs["deletionMode"] == "terminate"

    # A preview of a deployed stack: Check, then Diff against the state; an unknown job id may be a new job.
    deployed = declare_workload(stack, "true", "terminate")
    state = {**deployed.inputs, "tasksTotal": TASKS}
    checked = host.check(previewed, deployed.inputs, previewed.inputs)
    diff = host.diff(previewed, deployed.inputs["jobId"], deployed.inputs, state, checked.inputs)
    assert diff.changes == DIFF_SOME and "jobId" in diff.replaces

    # An edited workload, all known: Check and Diff only (previews are not supported: no Create).
    edited = declare_workload(stack, "echo", "terminate")
    checked = host.check(edited, deployed.inputs, edited.inputs)
    diff = host.diff(edited, deployed.inputs["jobId"], deployed.inputs, state, checked.inputs)
    assert diff.changes == DIFF_SOME and list(diff.replaces) == ["jobId", "contentHash"]

    assert jobs_of(local_batch, stack["workload_id"]) == [], "nothing reached the Batch service"


def test_workload_submission_lifecycle_in_the_host(host, local_batch, stack):
    first = declare_workload(stack, "true", "terminate")
    checked = host.check(first, {}, first.inputs)
    assert checked.failures == []

    job_id, state = host.create(first, checked.inputs)

    assert job_id == first.inputs["jobId"] and job_id.startswith(f"{stack['workload_id']}-")
    assert task_ids(local_batch, job_id) == {f"t{i}" for i in range(1, TASKS + 1)}
    assert (state["tasksTotal"], state["tasksAdded"], state["tasksAlreadyPresent"]) == (TASKS, TASKS, 0)
    assert state["jobCreated"] is True and sum(state["taskCounts"].values()) >= TASKS
    assert state[PROVIDER_KEY] == first.inputs[PROVIDER_KEY]
    assert set(state) == {*checked.inputs, *hook.OUTPUT_KEYS}, "every input (None ones are not sent) and output"
    assert local_batch.account_key not in repr(state) and local_batch.storage_account_key not in repr(state)
    inputs = checked.inputs

    # The next `pulumi up` with nothing changed, twice: no change, and the program pickles the same provider.
    for _ in range(2):
        again = declare_workload(stack, "true", "terminate")
        assert again.inputs[PROVIDER_KEY] == first.inputs[PROVIDER_KEY]
        rechecked = host.check(again, inputs, again.inputs)
        diff = host.diff(again, job_id, inputs, state, rechecked.inputs)
        assert (diff.changes, list(diff.replaces)) == (DIFF_NONE, [])

    # `pulumi refresh`
    read_id, refreshed = host.read(first, job_id, state, inputs)
    assert read_id == job_id and sum(refreshed["taskCounts"].values()) == TASKS

    # An edited workload: a replacement. The new job is submitted, then the old one retired (terminate).
    edited = declare_workload(stack, "echo", "terminate")
    edited_inputs = host.check(edited, inputs, edited.inputs).inputs
    diff = host.diff(edited, job_id, inputs, state, edited_inputs)
    assert diff.changes == DIFF_SOME and list(diff.replaces) == ["jobId", "contentHash"]
    assert diff.deleteBeforeReplace is False
    new_id, new_state = host.create(edited, edited_inputs)
    assert new_id != job_id and new_state["jobCreated"] is True
    host.delete(first, job_id, state, inputs)
    wait_for(lambda: job_state(local_batch, job_id) == "completed", what="the old job terminated")
    assert len(task_ids(local_batch, job_id)) == TASKS, "terminate keeps the job and its task history"

    # workloadDeletion changed to delete: an update of the same job, which adds nothing.
    switched = declare_workload(stack, "echo", "delete")
    switched_inputs = host.check(switched, edited_inputs, switched.inputs).inputs
    diff = host.diff(switched, new_id, edited_inputs, new_state, switched_inputs)
    assert (diff.changes, list(diff.replaces)) == (DIFF_SOME, [])
    updated = host.update(switched, new_id, edited_inputs, new_state, switched_inputs)
    assert (updated["tasksAdded"], updated["tasksAlreadyPresent"], updated["deletionMode"]) == (0, TASKS, "delete")
    assert len(task_ids(local_batch, new_id)) == TASKS

    # Removed from the stack: deleted, per the state's deletion mode; a refresh then drops it from state.
    host.delete(switched, new_id, updated, switched_inputs)
    wait_for(lambda: job_state(local_batch, new_id) in (None, "deleting"), what="the job deleted")
    wait_for(lambda: job_state(local_batch, new_id) is None, what="the job gone")
    gone_id, _ = host.read(switched, new_id, updated, switched_inputs)
    assert gone_id == ""


# ---------------------------------------------------------------- the start-task upload, against Azurite


def declare_blob(local_batch: LocalBatch, tmp_path: Path, content: bytes, *, preview: bool = False) -> Registration:
    digest = hashlib.sha256(content).hexdigest()
    script = tmp_path / "repo" / "start-tasks" / "setup.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(content)
    endpoint = local_batch.container_url("resources").rsplit("/", 1)[0]

    def declare(platform: NotYetCreated) -> None:
        ContentAddressedBlob(
            f"cpu:start-tasks/cpu/{digest[:12]}/setup.sh",
            account_url=platform.batchTarget.apply(lambda target: target["blob_endpoint"]),
            container_name="resources",
            blob_name=f"start-tasks/cpu/{digest[:12]}/setup.sh",
            local_path=str(script),
            sha256=digest,
            blob_auth_kind="shared-key",
            storage_account_name=local_batch.storage_account_name,
        )

    (registration,) = register_under_mocks(declare, batch_target={"blob_endpoint": endpoint}, preview=preview)
    assert registration.typ == BLOB_TYPE
    return registration


def blob_of(local_batch: LocalBatch, name: str) -> tuple[bytes, dict[str, str]] | None:
    client = local_batch.blob_service_client().get_blob_client("resources", name)
    try:
        return client.download_blob().readall(), dict(client.get_blob_properties().metadata)
    except ResourceNotFoundError:
        return None


def test_blob_upload_lifecycle_in_the_host(host, local_batch, tmp_path):
    first = declare_blob(local_batch, tmp_path, f"echo {uuid.uuid4().hex}\n".encode())
    name = first.inputs["blob_name"]
    assert first.inputs["blobAuthKind"] == "shared-key"

    previewed = declare_blob(local_batch, tmp_path, (tmp_path / "repo/start-tasks/setup.sh").read_bytes(), preview=True)
    assert is_unknown(previewed.inputs["account_url"])
    assert host.check(previewed, {}, previewed.inputs).failures == []
    assert blob_of(local_batch, name) is None, "a preview uploads nothing"

    inputs = host.check(first, {}, first.inputs).inputs
    blob_id, state = host.create(first, inputs)

    content = (tmp_path / "repo/start-tasks/setup.sh").read_bytes()
    assert blob_of(local_batch, name) == (content, {"sha256": first.inputs["sha256"]})
    assert blob_id == state["url"] and state["url"].endswith(f"/resources/{name}")
    assert local_batch.storage_account_key not in repr(state)

    for _ in range(2):
        again = declare_blob(local_batch, tmp_path, content)
        diff = host.diff(again, blob_id, inputs, state, host.check(again, inputs, again.inputs).inputs)
        assert (diff.changes, list(diff.replaces)) == (DIFF_NONE, [])
    moved = {**inputs, "local_path": "/another/checkout/start-tasks/setup.sh"}
    assert host.diff(first, blob_id, inputs, state, moved).changes == DIFF_NONE
    assert host.read(first, blob_id, state, inputs)[0] == blob_id

    # New content: a new blob name, so a replacement; the old blob goes once the new one is up.
    edited = declare_blob(local_batch, tmp_path, content + b"echo more\n")
    edited_inputs = host.check(edited, inputs, edited.inputs).inputs
    diff = host.diff(edited, blob_id, inputs, state, edited_inputs)
    assert diff.changes == DIFF_SOME and set(diff.replaces) == {"blob_name", "sha256"}
    new_id, _ = host.create(edited, edited_inputs)
    assert new_id != blob_id
    host.delete(first, blob_id, state, inputs)

    assert blob_of(local_batch, name) is None
    assert blob_of(local_batch, edited.inputs["blob_name"]) is not None
    host.delete(first, blob_id, state, inputs)  # already gone is fine


def test_shared_key_upload_without_the_key_in_the_environment_fails_clearly(local_batch, tmp_path):
    blob = declare_blob(local_batch, tmp_path, b"echo no key\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with ProviderHost(elsewhere, host_environment({}), tmp_path / "host.log") as keyless:
        keyless.configure()
        with pytest.raises(grpc.RpcError) as raised:
            keyless.create(blob, without_unknowns(blob.inputs))
    assert "BATCHFORGE_LOCAL_STORAGE_KEY" in str(raised.value.details())
    assert blob_of(local_batch, blob.inputs["blob_name"]) is None
