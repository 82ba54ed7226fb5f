"""Per-pool node identities and registries pulled by identity, as the program declares them.

One variation of the dev stack: its ``cpu`` pool (every dev workload runs there) and two team pools with a node
identity of their own (``identity: own``), two shared pools listing one registry. Run under the engine contract
(preview and update), every azure-native resource is checked against Azure's model at azure-native's API version.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from arm_bodies import build_request, check_request

from batchforge.config import StackConfig, load_stack_file
from batchforge.submission.target import BatchTarget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "components"))
from components_mocks import DEPLOYER_OBJECT_ID, REPO_ROOT, SUBSCRIPTION, Declared, ProgramRun, run_build

from components.platform import ACR_PULL, role_assignment_name

READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
REGISTRY_A = "/subscriptions/aaaa/resourceGroups/team-a-rg/providers/Microsoft.ContainerRegistry/registries/teamaacr"
REGISTRY_B = "/subscriptions/bbbb/resourceGroups/team-b-rg/providers/Microsoft.ContainerRegistry/registries/teambacr"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"


def _pool(pool_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": pool_id,
        "vmSize": "Standard_D2s_v5",
        "image": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
        "nodeAgentSkuId": "batch.node.ubuntu 24.04",
        "scale": {"dedicated": 1},
        "startTask": {
            "commandLine": "/bin/sh -c 'sh common/prepare-node.sh'",
            "resourceFiles": [{"source": "start-tasks/common"}],
        },
        **extra,
    }


def _config() -> StackConfig:
    dev = load_stack_file(REPO_ROOT / "Pulumi.dev.yaml", REPO_ROOT)
    data = dev.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["pools"][0]["identity"] = "own"
    data["pools"] += [
        _pool(
            "team_a",
            identity="own",
            container={
                "type": "criCompatible",
                "images": ["teamaacr.azurecr.io/sim:1"],
                "registries": [{"resourceId": REGISTRY_A}],
            },
        ),
        _pool(
            "team-b",
            identity="own",
            container={
                "type": "dockerCompatible",
                "registries": [{"resourceId": REGISTRY_B, "server": "teambacr-abc123.azurecr.io"}],
            },
        ),
        _pool("shared1", container={"registries": [{"resourceId": REGISTRY_A}]}),
        _pool("shared2", container={"type": "criCompatible", "registries": [{"resourceId": REGISTRY_A}]}),
    ]
    return StackConfig.model_validate(data, context={"repo_root": REPO_ROOT})


@cache
def _run() -> tuple[StackConfig, ProgramRun]:
    config = _config()
    return config, run_build(config, "dev")


def _identity(run: ProgramRun, key: str) -> Declared:
    return run.one(IDENTITY, f"platform-{key}-identity")


def _principal(identity: Declared) -> str:
    return f"principal-{identity.inputs['resourceName']}"


def _grants(run: ProgramRun, principal: str) -> set[tuple[str, str]]:
    return {
        (a.inputs["roleDefinitionId"].removeprefix(ROLE), a.inputs["scope"])
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["principalId"] == principal
    }


def _containers(run: ProgramRun) -> dict[str, str]:
    return {c.inputs["containerName"]: c.id for c in run.of_type("azure-native:storage:BlobContainer")}


def _batch_pool(run: ProgramRun, pool_id: str) -> dict[str, Any]:
    (pool,) = [p for p in run.of_type("azure-native:batch:Pool") if p.name == f"pool-{pool_id}-pool"]
    return pool.inputs


def test_every_declared_resource_is_a_valid_arm_request():
    _, run = _run()
    problems = [
        f"{declared.name} ({declared.typ}): {problem}"
        for declared in run.resources
        if declared.typ.startswith("azure-native:")
        for problem in check_request(build_request(declared.typ, declared.inputs))
    ]
    assert not problems, "\n".join(problems)


def test_pools_with_their_own_identity_get_distinct_identities_and_grants_that_do_not_overlap():
    config, run = _run()
    containers = _containers(run)
    scopes: dict[str, set[str]] = {}
    for pool_id, registry in (("cpu", None), ("team_a", REGISTRY_A), ("team-b", REGISTRY_B)):
        identity = _identity(run, f"pool-{pool_id}")
        resources, outputs = config.pool_containers(config.pool(pool_id))
        expected = {(READER, containers[resources]), (CONTRIBUTOR, containers[outputs])}
        if registry is not None:
            expected.add((ACR_PULL, registry))
        assert _grants(run, _principal(identity)) == expected, pool_id
        scopes[pool_id] = {scope for _, scope in expected}
        # The pool runs as its own identity only.
        assert list(_batch_pool(run, pool_id)["identity"]["userAssignedIdentities"]) == [identity.id]
    assert len({_identity(run, f"pool-{p}").id for p in scopes}) == 3
    assert not scopes["cpu"] & scopes["team_a"]
    assert not scopes["cpu"] & scopes["team-b"]
    assert not scopes["team_a"] & scopes["team-b"]
    # Nothing of the shared containers is reachable by them.
    shared = {containers[config.storage.resources_container], containers[config.storage.outputs_container]}
    assert not shared & (scopes["cpu"] | scopes["team_a"] | scopes["team-b"])
    assert config.pool_containers(config.pool("team_a")) == ("resources-team-a", "outputs-team-a")


def test_the_shared_node_identity_pulls_from_the_shared_pools_registry_once():
    config, run = _run()
    node = _principal(_identity(run, "node"))
    containers = _containers(run)
    assert _grants(run, node) == {
        (READER, containers[config.storage.resources_container]),
        (CONTRIBUTOR, containers[config.storage.outputs_container]),
        (ACR_PULL, REGISTRY_A),
    }
    assert [
        a.name
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["scope"] == REGISTRY_A and a.inputs["principalId"] == node
    ] == ["platform-node-pulls-teamaacr"]


def test_the_deployer_may_upload_to_every_resources_container_and_nothing_else():
    config, run = _run()
    containers = _containers(run)
    expected = {(CONTRIBUTOR, containers[config.pool_containers(pool)[0]]) for pool in config.pools}
    assert _grants(run, DEPLOYER_OBJECT_ID) == expected
    assert len(expected) == 4  # the shared resources container and three of the pools' own


def test_new_role_assignments_have_deterministic_names_azure_accepts():
    _, run = _run()
    names = []
    for assignment in run.of_type(ROLE_ASSIGNMENT):
        inputs = assignment.inputs
        if "roleAssignmentName" not in inputs:
            # The four grants every stack had before: azure-native named them once; renaming would replace them.
            assert assignment.name.removeprefix("platform-") in {
                "node-reads-resources",
                "node-writes-outputs",
                "account-uses-storage",
                "deployer-uploads-resources",
            }
            continue
        expected = role_assignment_name(inputs["scope"], inputs["principalId"], inputs["roleDefinitionId"])
        assert inputs["roleAssignmentName"] == expected
        names.append(expected)
    assert len(names) == len(set(names)) == 12
    # Derived from scope, principal and role only: the same on another run, different when any one differs.
    again = {
        a.inputs.get("roleAssignmentName")
        for a in run_build(_config(), "dev", modes=("update",)).of_type(ROLE_ASSIGNMENT)
    }
    assert set(names) <= again
    base = role_assignment_name(REGISTRY_A, "p", ACR_PULL)
    assert base != role_assignment_name(REGISTRY_B, "p", ACR_PULL)
    assert base != role_assignment_name(REGISTRY_A, "q", ACR_PULL)
    assert base != role_assignment_name(REGISTRY_A, "p", READER)


@pytest.mark.parametrize(
    ("pool_id", "arm_type", "server", "registry"),
    [
        ("team_a", "CriCompatible", "teamaacr.azurecr.io", "pool-team_a"),
        ("team-b", "DockerCompatible", "teambacr-abc123.azurecr.io", "pool-team-b"),
        ("shared1", "DockerCompatible", "teamaacr.azurecr.io", "node"),
        ("shared2", "CriCompatible", "teamaacr.azurecr.io", "node"),
    ],
)
def test_container_pools_reference_their_registry_by_the_pools_identity(pool_id, arm_type, server, registry):
    _, run = _run()
    vm = _batch_pool(run, pool_id)["deploymentConfiguration"]["virtualMachineConfiguration"]
    container = vm["containerConfiguration"]
    assert container["type"] == arm_type
    (entry,) = container["containerRegistries"]
    assert entry == {"registryServer": server, "identityReference": {"resourceId": _identity(run, registry).id}}


def test_start_task_files_of_an_own_pool_come_from_its_container_with_its_identity():
    config, run = _run()
    identity = _identity(run, "pool-team_a").id
    files = _batch_pool(run, "team_a")["startTask"]["resourceFiles"]
    resources = config.pool_containers(config.pool("team_a"))[0]
    assert files and all(f"/{resources}/" in f["httpUrl"] for f in files)
    assert all(f["identityReference"] == {"resourceId": identity} for f in files)
    blobs = [r for r in run.resources if r.name.startswith("pool-team_a-") and r.typ.endswith(":ContentAddressedBlob")]
    assert blobs and {b.inputs["container_name"] for b in blobs} == {resources}


def test_workloads_on_an_own_pool_are_submitted_against_its_containers_and_identity():
    config, run = _run()
    target = BatchTarget.model_validate(run.outputs["batchTarget"])
    cpu = target.for_pool("cpu")
    resources, outputs = config.pool_containers(config.pool("cpu"))
    assert cpu.resources_container_url.endswith(f"/{resources}")
    assert cpu.outputs_container_url.endswith(f"/{outputs}")
    assert cpu.identity_resource_id == _identity(run, "pool-cpu").id
    # A shared pool sees the stack's containers and node identity.
    assert target.for_pool("shared1").identity_resource_id == _identity(run, "node").id
    submissions = [r for r in run.resources if r.typ.startswith("pulumi-python") and "workloadFile" in r.inputs]
    assert len(submissions) == len(config.workloads)
    for submission in submissions:
        assert submission.inputs["resourcesContainerUrl"] == cpu.resources_container_url
        assert submission.inputs["outputsContainerUrl"] == cpu.outputs_container_url
        assert submission.inputs["identityResourceId"] == cpu.identity_resource_id
