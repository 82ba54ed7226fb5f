"""The program's job identity: the one ``plan_job`` gives, computed without building or expanding any task."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchforge.core import InvalidInput
from batchforge.providers import workload_submission as hook
from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import expansion, load_workload, plan_job

CHECKOUT = Path(__file__).resolve().parents[2]

TARGET = BatchTarget(
    account_endpoint="https://acct.westeurope.batch.azure.com",
    auth=EntraIdAuth(),
    pool_ids={"cpu": "bforge-dev-cpu", "gpu": "bforge-dev-gpu", "highmem": "bforge-dev-highmem"},
    resources_container_url="https://st.blob.core.windows.net/resources",
    outputs_container_url="https://st.blob.core.windows.net/outputs",
    identity_resource_id="/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
)

MILLION = """\
id: million
pool: cpu
tasks:
  sweep:
    parameters:
      - {name: x, range: {start: 0, stop: 499999}}
      - {name: method, values: [midpoint, simpson]}
    task:
      id: "t-{x:06d}-{method}"
      commandLine: python3 integrate.py --x {x} --method {method}
      outputFiles: [{pattern: "r-*.json", destination: "results/{method}/{x}"}]
"""


@pytest.mark.parametrize("name", sorted(path.name for path in (CHECKOUT / "workloads").glob("*.yaml")))
def test_the_identity_of_every_committed_workload_is_the_planned_one(name: str):
    path = CHECKOUT / "workloads" / name
    planned = plan_job(load_workload(path), TARGET, repo_root=CHECKOUT)
    identity = hook.identify_workload_file(path, TARGET, CHECKOUT)
    assert (identity.workload_name, identity.job_id, identity.content_hash, identity.settings_hash) == (
        planned.workload_name,
        planned.job_id,
        planned.content_hash,
        planned.settings_hash,
    )


def test_a_million_task_sweep_is_identified_without_visiting_a_task(tmp_path: Path, monkeypatch):
    (tmp_path / "workloads").mkdir()
    path = tmp_path / "workloads" / "million.yaml"
    path.write_text(MILLION)

    def no_rows(self: expansion.TaskGroup) -> None:
        raise AssertionError("the program expanded the workload's tasks")

    monkeypatch.setattr(expansion.TaskGroup, "rows", no_rows)
    identity = hook.identify_workload_file(path, TARGET, tmp_path)
    hook.validate_workload_files(["million.yaml"], tmp_path)
    assert identity.job_id == f"million-{identity.content_hash}"
    changed = tmp_path / "workloads" / "changed.yaml"
    changed.write_text(MILLION.replace("stop: 499999", "stop: 499998"))
    assert hook.identify_workload_file(changed, TARGET, tmp_path).job_id != identity.job_id


def test_checks_over_every_task_are_left_to_the_provider_which_still_runs_them(tmp_path: Path):
    (tmp_path / "workloads").mkdir()
    path = tmp_path / "workloads" / "dupes.yaml"
    path.write_text(MILLION.replace('id: "t-{x:06d}-{method}"', 'id: "t-{method}"').replace("499999", "3"))
    assert hook.identify_workload_file(path, TARGET, tmp_path).job_id.startswith("million-")
    with pytest.raises(InvalidInput, match=r"tasks\.sweep"):
        load_workload(path)
    with pytest.raises(InvalidInput, match=r"tasks\.sweep"):
        plan_job(load_workload(path, check_tasks=False), TARGET, repo_root=tmp_path)
