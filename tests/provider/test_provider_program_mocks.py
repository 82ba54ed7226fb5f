"""Under Pulumi mocks held to the engine's contract: the helper declares one WorkloadSubmission per workload,
after what it depends on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from azure.batch import models as batch_models

import batchforge.providers.workload_submission as hook
from batchforge.contract.engine import run_under_engine_contract
from batchforge.submission.plan import PlannedJob
from batchforge.submission.target import BatchTarget
from batchforge.workload.planning import JobIdentity

HOOK_TYPE = "pulumi-python:dynamic/batchforge:WorkloadSubmission"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append((args.typ, args.name, dict(args.inputs)))
        resource_id = args.inputs.get("jobId") or f"{args.name}-id"
        return resource_id, dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"unexpected invoke {args.token}")


class StandIn(pulumi.CustomResource):
    """Plays a pool or a role assignment: something the submissions must wait for."""

    def __init__(self, name: str) -> None:
        super().__init__("test:index:StandIn", name, {})


def _fake_plan(path: Path, target: BatchTarget, repo_root: Path) -> PlannedJob:
    digest = f"{abs(hash(path.name)) % 10**8:08d}"
    return PlannedJob(
        workload_name=path.stem,
        content_hash=digest,
        job=batch_models.BatchJobCreateOptions(
            id=f"{path.stem}-{digest}", pool_info=batch_models.BatchPoolInfo(pool_id=target.pool_ids["cpu"])
        ),
        tasks=[],
    )


def _fake_identity(path: Path, target: BatchTarget, repo_root: Path) -> JobIdentity:
    planned = _fake_plan(path, target, repo_root)
    return JobIdentity(planned.workload_name, planned.job_id, planned.content_hash, planned.settings_hash)


def test_one_submission_per_workload_with_target_inputs_and_dependencies(monkeypatch, tmp_path):
    monkeypatch.setattr(hook, "plan_workload_file", _fake_plan)
    monkeypatch.setattr(hook, "identify_workload_file", _fake_identity)
    options_seen: list[pulumi.ResourceOptions] = []
    original_init = hook.WorkloadSubmission.__init__

    def recording_init(self, name, inputs, repo_root, opts=None):
        options_seen.append(opts)
        original_init(self, name, inputs, repo_root, opts)

    monkeypatch.setattr(hook.WorkloadSubmission, "__init__", recording_init)
    declared: dict[str, hook.WorkloadSubmission] = {}
    dependencies: list[pulumi.Resource] = []

    def program() -> dict[str, Any]:
        # The harness runs a preview, then an update: only the last run's resources are checked.
        options_seen.clear()
        declared.clear()
        dependencies[:] = [StandIn("pool-cpu"), StandIn("role-batch-contributor")]
        target = pulumi.Output.from_input(
            {
                "account_endpoint": "https://acct.westeurope.batch.azure.com",
                "auth": {"kind": "entra-id"},
                "pool_ids": {"cpu": "cpu-1a2b"},
                "resources_container_url": "https://st.blob.core.windows.net/resources",
                "outputs_container_url": "https://st.blob.core.windows.net/outputs",
                "identity_resource_id": "/subscriptions/s/rg/identity",
            }
        )
        declared.update(
            hook.declare_workload_submissions(
                ["hello.yaml", "sweep.yaml"], "delete", target, tmp_path, dependencies, validate=False
            )
        )
        return {"jobIds": pulumi.Output.all(*(r.jobId for r in declared.values()))}

    result = run_under_engine_contract(Recorder, program, stack="dev")
    mocks = result.mocks

    hooks = [(name, inputs) for typ, name, inputs in mocks.resources if typ == HOOK_TYPE]
    assert sorted(name for name, _ in hooks) == ["workload-hello", "workload-sweep"]
    for name, inputs in hooks:
        stem = name.removeprefix("workload-")
        assert inputs["workloadFile"] == f"workloads/{stem}.yaml"
        assert inputs["jobId"] == f"{stem}-{inputs['contentHash']}"
        assert inputs["deletionMode"] == "delete"
        assert inputs["accountEndpoint"] == "https://acct.westeurope.batch.azure.com"
        assert inputs["poolIds"] == {"cpu": "cpu-1a2b"}
        assert inputs["authKind"] == "entra-id" and inputs.get("accountName") is None
        assert "__provider" in inputs
    assert set(declared) == {"hello", "sweep"}
    job_ids = result.outputs["jobIds"]
    assert sorted(job_ids) == sorted(inputs["jobId"] for _, inputs in hooks)
    assert options_seen and all(list(opts.depends_on) == dependencies for opts in options_seen)


REPO_ROOT = Path(__file__).resolve().parents[2]
AZURE_TARGET = {
    "account_endpoint": "https://acct.westeurope.batch.azure.com",
    "auth": {"kind": "entra-id"},
    "pool_ids": {"cpu": "cpu-1a2b"},
    "resources_container_url": "https://st.blob.core.windows.net/resources",
    "outputs_container_url": "https://st.blob.core.windows.net/outputs",
    "identity_resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/x/nodes",
}


def _run_under_mocks(declare: Any) -> Recorder:
    def program() -> None:
        declare()

    return run_under_engine_contract(Recorder, program, stack="dev").mocks


def test_the_repo_workloads_plan_at_program_time_into_job_ids_with_their_hash():
    from batchforge.workload import load_workload, plan_job

    files = sorted(path.name for path in (REPO_ROOT / "workloads").glob("*.yaml"))
    mocks = _run_under_mocks(lambda: hook.declare_workload_submissions(files, "terminate", AZURE_TARGET, REPO_ROOT, []))

    declared = {name: inputs for typ, name, inputs in mocks.resources if typ == HOOK_TYPE}
    assert sorted(declared) == [f"workload-{Path(file).stem}" for file in files]
    for file in files:
        expected = plan_job(
            load_workload(REPO_ROOT / "workloads" / file), BatchTarget.model_validate(AZURE_TARGET), repo_root=REPO_ROOT
        )
        inputs = declared[f"workload-{Path(file).stem}"]
        assert (inputs["jobId"], inputs["contentHash"]) == (expected.job_id, expected.content_hash)


def test_an_invalid_workload_stops_the_program_before_anything_is_declared(tmp_path):
    from batchforge.core import InvalidInput

    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "good.yaml").write_text(
        "id: good\npool: cpu\ntasks:\n  list:\n    - id: a\n      commandLine: 'true'\n"
    )
    (tmp_path / "workloads" / "bad.yaml").write_text("id: bad\npool: cpu\ntasks: {}\nbogus: 1\n")
    created: list[Recorder] = []

    def new_mocks() -> Recorder:
        created.append(Recorder())
        return created[-1]

    def program() -> None:
        hook.declare_workload_submissions(["good.yaml", "bad.yaml"], "terminate", AZURE_TARGET, tmp_path, [])

    with pytest.raises(InvalidInput) as raised:
        run_under_engine_contract(new_mocks, program, stack="dev")

    assert any("bad.yaml" in str(problem) for problem in raised.value.problems)
    assert created and all(mocks.resources == [] for mocks in created)
