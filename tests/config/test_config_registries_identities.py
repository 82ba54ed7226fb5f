"""Container registries named by resource id and per-pool node identities in the stack config: what is
accepted, what each mistake says (file and key path), and what the prod stack's policy pack makes of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from batchforge.config import validate_stack_data
from batchforge.config.model import ContainerRegistryConfig, own_container_names
from batchforge.core import InvalidInput
from batchforge.policy import validate_resources
from batchforge.policy.program_under_mocks import declared_for_config
from batchforge.submission.target import BatchTarget, EntraIdAuth, PoolAccess

REPO = Path(__file__).resolve().parents[2]
ACR = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{}"


def _raw(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return {k.removeprefix("batchforge:"): v for k, v in document["config"].items() if k.startswith("batchforge:")}


def _problems(data: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        validate_stack_data(data, f"Pulumi.{stack}.yaml", REPO)
    return [str(problem) for problem in refused.value.problems]


def test_the_login_server_is_derived_from_the_resource_id_or_given():
    assert ContainerRegistryConfig(resource_id=ACR.format("myacr1")).server == "myacr1.azurecr.io"
    given = ContainerRegistryConfig(resource_id=ACR.format("MyAcr1"), server="myacr1-f4c3a2.azurecr.io")
    assert given.server == "myacr1-f4c3a2.azurecr.io"
    assert given.name == "MyAcr1"


def test_every_registry_mistake_is_reported_at_once_with_its_key_path():
    data = _raw("dev")
    data["pools"][0]["container"] = {
        "registries": [
            {"server": "myacr.azurecr.io"},
            {"resourceId": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"},
            {"resourceId": ACR.format("myacr1"), "server": "otheracr.azurecr.io"},
            {"resourceId": ACR.format("myacr2"), "server": "https://myacr2.azurecr.io"},
            {"resourceId": ACR.format("myacr3"), "username": "admin", "password": "hunter2"},
        ]
    }
    assert _problems(data) == [
        "Pulumi.dev.yaml: pools[0].container.registries[0].resourceId: is required",
        "Pulumi.dev.yaml: pools[0].container.registries[1].resourceId: must be a container registry resource id: "
        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name> "
        "(name: 5-50 letters and digits)",
        "Pulumi.dev.yaml: pools[0].container.registries[2]: server 'otheracr.azurecr.io' is not the login server "
        "of registry 'myacr1' (expected myacr1.azurecr.io or myacr1-<hash>.azurecr.io); leave server out to "
        "derive it",
        "Pulumi.dev.yaml: pools[0].container.registries[3].server: must be a registry login server host name "
        "such as myregistry.azurecr.io (no scheme)",
        # No passwords: the nodes pull with the pool's managed identity.
        "Pulumi.dev.yaml: pools[0].container.registries[4].username: unknown key; expected one of: resourceId, server",
        "Pulumi.dev.yaml: pools[0].container.registries[4].password: unknown key; expected one of: resourceId, server",
    ]


def test_a_registry_listed_twice_is_refused():
    data = _raw("dev")
    data["pools"][0]["container"] = {"registries": [{"resourceId": ACR.format("myacr1")}] * 2}
    assert _problems(data) == [
        "Pulumi.dev.yaml: pools[0].container.registries: lists a registry twice (the same resourceId or server)"
    ]


def test_identity_is_shared_or_own():
    data = _raw("dev")
    data["pools"][0]["identity"] = "team-a"
    (problem,) = _problems(data)
    assert problem.startswith("Pulumi.dev.yaml: pools[0].identity: ")
    assert "'shared'" in problem and "'own'" in problem


def test_own_containers_are_named_after_the_pool():
    assert own_container_names("resources", "outputs", "Team_A--1") == ("resources-team-a-1", "outputs-team-a-1")
    config = validate_stack_data({**_raw("dev"), "pools": [{**_raw("dev")["pools"][0], "identity": "own"}]}, "x", REPO)
    assert config.pool_containers(config.pools[0]) == ("resources-cpu", "outputs-cpu")


def test_own_containers_that_clash_or_are_too_long_are_refused_naming_the_pool():
    data = _raw("dev")
    pool = data["pools"][0]
    data["pools"] = [
        {**pool, "id": "Team_A", "identity": "own"},
        {**pool, "id": "team-a", "identity": "own"},
        {**pool, "id": "x" * 50, "identity": "own"},
    ]
    data["storage"] = {"resourcesContainer": "resources", "outputsContainer": "outputs-longer"}
    long = "x" * 50
    assert _problems(data) == [
        "Pulumi.dev.yaml: pools[0].identity: own needs containers of its own, and these would not be: "
        "resources-team-a (also pools[1]), outputs-longer-team-a (also pools[1]); choose pool ids (or storage "
        "container names) that differ after lowercasing and '_' -> '-'",
        "Pulumi.dev.yaml: pools[1].identity: own needs containers of its own, and these would not be: "
        "resources-team-a (also pools[0]), outputs-longer-team-a (also pools[0]); choose pool ids (or storage "
        "container names) that differ after lowercasing and '_' -> '-'",
        f"Pulumi.dev.yaml: pools[2].identity: own needs the containers resources-{long} and outputs-longer-{long}, "
        f"and outputs-longer-{long} is not a blob container name (3-63 lowercase letters, digits, single hyphens): "
        "shorten the pool id or the storage container names",
    ]


def test_an_own_container_may_not_be_the_stacks_shared_one():
    data = _raw("dev")
    data["pools"][0]["identity"] = "own"
    data["storage"] = {"resourcesContainer": "in", "outputsContainer": "in-cpu"}
    problems = _problems(data)
    assert problems[-1] == (
        "Pulumi.dev.yaml: pools[0].identity: own needs containers of its own, and these would not be: in-cpu "
        "(also storage); choose pool ids (or storage container names) that differ after lowercasing and '_' -> '-'"
    )


def test_prod_with_own_identities_and_registries_passes_the_policy_pack():
    data = _raw("prod")
    for pool in data["pools"]:
        pool["identity"] = "own"
    # The mpi pool runs no workload of the stack (a container pool needs workloads with containerSettings).
    data["pools"][1]["container"] = {"type": "criCompatible", "registries": [{"resourceId": ACR.format("prodacr1")}]}
    config = validate_stack_data(data, "Pulumi.prod.yaml", REPO)
    assert validate_resources(declared_for_config(config, "prod", REPO), "prod") == []


def test_for_pool_gives_a_pool_its_own_containers_and_identity_and_others_the_shared_ones():
    target = BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "cpu-1", "team": "team-2"},
        resources_container_url="https://s.blob.core.windows.net/resources",
        outputs_container_url="https://s.blob.core.windows.net/outputs",
        identity_resource_id="/node-id",
        pool_access=[
            PoolAccess(
                pool="team",
                resources_container_url="https://s.blob.core.windows.net/resources-team",
                outputs_container_url="https://s.blob.core.windows.net/outputs-team",
                identity_resource_id="/team-id",
            )
        ],
    )
    assert target.for_pool("cpu") is target
    team = target.for_pool("team")
    assert (team.resources_container_url, team.outputs_container_url, team.identity_resource_id) == (
        "https://s.blob.core.windows.net/resources-team",
        "https://s.blob.core.windows.net/outputs-team",
        "/team-id",
    )
    assert team.for_pool("team") == team
    # The target round-trips through the stack output JSON `batchctl --stack-outputs` reads.
    assert BatchTarget.model_validate_json(target.model_dump_json()).for_pool("team") == team
