"""Where a job's input files are uploaded: a pool with its own node identity reads only its own resources container."""

from __future__ import annotations

from pydantic import SecretStr

from batchforge.submission.client import make_resources_container_client
from batchforge.submission.target import BatchTarget, EntraIdAuth, PoolAccess, SharedKeyAuth

BLOB = "https://acct.blob.core.windows.net"


def _target() -> BatchTarget:
    return BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "cpu-1a2b3c4d", "team_a": "team_a-5e6f7a8b"},
        resources_container_url=f"{BLOB}/resources",
        outputs_container_url=f"{BLOB}/outputs",
        identity_resource_id="/identities/node",
        blob_auth=SharedKeyAuth(account_name="acct", account_key=SecretStr("a2V5")),
        pool_access=[
            PoolAccess(
                pool="team_a",
                resources_container_url=f"{BLOB}/resources-team-a",
                outputs_container_url=f"{BLOB}/outputs-team-a",
                identity_resource_id="/identities/team_a",
            )
        ],
    )


def test_a_job_on_an_own_identity_pool_uploads_to_that_pools_resources_container():
    client = make_resources_container_client(_target(), "team_a-5e6f7a8b")
    assert client.container_name == "resources-team-a"


def test_a_job_on_a_shared_pool_or_no_pool_uploads_to_the_stacks_resources_container():
    assert make_resources_container_client(_target(), "cpu-1a2b3c4d").container_name == "resources"
    assert make_resources_container_client(_target()).container_name == "resources"
    assert make_resources_container_client(_target(), "not-a-pool-of-the-stack").container_name == "resources"


def test_a_job_planned_for_an_own_identity_pool_reads_and_writes_only_that_pools_containers():
    from pathlib import Path

    from batchforge.workload import load_workload
    from batchforge.workload.planning import job_identity, plan_job

    repo = Path(__file__).resolve().parents[2]
    workload = load_workload(repo / "workloads" / "hello.yaml")
    own = _target().model_copy(update={"pool_ids": {"cpu": "cpu-1a2b3c4d"}})
    own = own.model_copy(update={"pool_access": [own.pool_access[0].model_copy(update={"pool": "cpu"})]})
    planned = plan_job(workload, own, repo_root=repo)
    (task,) = planned.tasks
    wire = str(task.as_dict())
    assert f"{BLOB}/resources-team-a/" in wire and f"{BLOB}/outputs-team-a" in wire
    assert "/identities/team_a" in wire
    assert f"{BLOB}/resources/" not in wire and f"{BLOB}/outputs'" not in wire and "/identities/node" not in wire
    # The job id covers the containers and identity the tasks use: the same workload on the shared pool differs.
    shared = own.model_copy(update={"pool_access": []})
    assert job_identity(workload, own, repo_root=repo).job_id == planned.job_id
    assert job_identity(workload, shared, repo_root=repo).job_id != planned.job_id
