"""The real Pulumi program (``__main__.py``) under mocks, per stack file: one hook per listed workload."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from batchforge.config import load_stack_file
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job
from batchforge.workload.scheduling import plan_schedule

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Azure-shaped mocks live with the component tests; reuse them rather than keep a second copy.
sys.path.insert(0, str(REPO_ROOT / "tests" / "components"))
from components_mocks import committed_stack_run  # noqa: E402 - found through the sys.path entry above

HOOK_TYPE = "pulumi-python:dynamic/batchforge:WorkloadSubmission"
SCHEDULE_TYPE = "pulumi-python:dynamic/batchforge:JobSchedule"
STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[path.name for path in STACK_FILES])
def test_the_program_declares_one_submission_per_workload_of_the_stack(stack_file: Path):
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = load_stack_file(stack_file)
    run = committed_stack_run(stack)

    scheduled = [name for name in config.workloads if load_workload(REPO_ROOT / "workloads" / name).schedule]
    one_off = [name for name in config.workloads if name not in scheduled]
    hooks = {resource.name: resource.inputs for resource in run.of_type(HOOK_TYPE)}
    assert sorted(hooks) == sorted(f"workload-{Path(name).stem}" for name in one_off)
    target = BatchTarget.model_validate(run.outputs["batchTarget"]).model_copy(update={"stack": stack})
    schedules = {resource.name: resource.inputs for resource in run.of_type(SCHEDULE_TYPE)}
    assert sorted(schedules) == sorted(f"schedule-{Path(name).stem}" for name in scheduled)
    for name in scheduled:
        inputs = schedules[f"schedule-{Path(name).stem}"]
        planned = plan_schedule(load_workload(REPO_ROOT / "workloads" / name), target, repo_root=REPO_ROOT)
        assert (inputs["scheduleId"], inputs["planBlob"]) == (planned.schedule_id, planned.plan_blob_name)
        assert inputs["schedule"] == planned.schedule and inputs["deletionMode"] == config.workload_deletion
    target = target.model_copy(update={"stack": None})
    for name in one_off:
        inputs = hooks[f"workload-{Path(name).stem}"]
        planned = plan_job(load_workload(REPO_ROOT / "workloads" / name), target, repo_root=REPO_ROOT)
        assert (inputs["jobId"], inputs["contentHash"]) == (planned.job_id, planned.content_hash)
        assert inputs["deletionMode"] == config.workload_deletion
        assert inputs["accountEndpoint"] == target.account_endpoint and inputs["authKind"] == "entra-id"
    # (Mocks do not run providers, so the exported ids are the mocks' own; only the names can be checked.)
    assert set(run.outputs["workloadJobIds"]) == {Path(name).stem for name in one_off}
    assert set(run.outputs["workloadScheduleIds"]) == {Path(name).stem for name in scheduled}
