"""The Pulumi program under mocks, once per stack file in the repo: what it declares for each."""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import pulumi_azure_native
import pytest
import yaml
from components_mocks import (
    DEPLOYER_OBJECT_ID,
    REPO_ROOT,
    SUBSCRIPTION,
    ProgramRun,
    committed_stack_run,
    run_program,
)

from batchforge.config import StackConfig, load_stack_file, to_pulumi_config
from batchforge.submission.target import BatchTarget

STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))
READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def _stack(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


@cache
def _run(path: Path) -> tuple[StackConfig, ProgramRun]:
    return load_stack_file(path), committed_stack_run(_stack(path))


@pytest.fixture(params=STACK_FILES, ids=[p.name for p in STACK_FILES])
def stack_run(request: pytest.FixtureRequest) -> tuple[str, StackConfig, ProgramRun]:
    config, run = _run(request.param)
    return _stack(request.param), config, run


def test_the_repo_has_the_three_environment_stacks():
    assert {"dev", "staging", "prod"} <= {_stack(p) for p in STACK_FILES}


def test_storage_account_is_hardened(stack_run):
    _, _, run = stack_run
    inputs = run.one("azure-native:storage:StorageAccount").inputs
    assert inputs["enableHttpsTrafficOnly"] is True
    assert inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["allowSharedKeyAccess"] is False
    assert inputs["defaultToOAuthAuthentication"] is True
    assert inputs["kind"] == "StorageV2"
    for container in run.of_type("azure-native:storage:BlobContainer"):
        assert container.inputs["publicAccess"] == "None"


def test_batch_account_uses_entra_id_and_managed_identity_auto_storage(stack_run):
    _, config, run = stack_run
    inputs = run.one("azure-native:batch:BatchAccount").inputs
    storage_account = run.one("azure-native:storage:StorageAccount")
    account_identity = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-account-identity")
    node_identity = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-node-identity")
    assert inputs["allowedAuthenticationModes"] == config.batch_account.allowed_authentication_modes
    assert "SharedKey" not in inputs["allowedAuthenticationModes"]
    assert inputs["publicNetworkAccess"] == config.batch_account.public_network_access
    assert inputs["poolAllocationMode"] == "BatchService"
    assert inputs["autoStorage"] == {
        "storageAccountId": storage_account.id,
        "authenticationMode": "BatchAccountManagedIdentity",
        "nodeIdentityReference": {"resourceId": node_identity.id},
    }
    assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {account_identity.id: {}}}


def test_public_network_access_follows_the_stack(stack_run):
    stack, _, run = stack_run
    expected = {"dev": "Enabled", "staging": "Disabled", "prod": "Disabled"}
    if stack in expected:
        assert run.one("azure-native:batch:BatchAccount").inputs["publicNetworkAccess"] == expected[stack]


def test_a_private_account_gets_private_endpoints_for_clients_and_nodes(stack_run):
    _, config, run = stack_run
    endpoints = [
        e for e in run.of_type("azure-native:network:PrivateEndpoint") if "-batch-" in e.inputs["privateEndpointName"]
    ]
    settings = config.batch_account.private_endpoint
    if settings is None:
        assert endpoints == []
        return
    account = run.one("azure-native:batch:BatchAccount")
    groups = []
    for endpoint in endpoints:
        assert endpoint.inputs["subnet"]["id"] == settings.subnet_id
        (connection,) = endpoint.inputs["privateLinkServiceConnections"]
        assert connection["privateLinkServiceId"] == account.id
        groups.extend(connection["groupIds"])
    assert sorted(groups) == ["batchAccount", "nodeManagement"]
    zones = [z for z in run.of_type("azure-native:network:PrivateDnsZoneGroup") if not z.name.endswith("-blob-dns")]
    if settings.private_dns_zone_id:
        assert [z.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"] for z in zones] == [
            settings.private_dns_zone_id
        ] * 2


def _assignments(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.inputs for r in run.of_type("azure-native:authorization:RoleAssignment")]


def test_role_assignments_are_scoped_to_containers(stack_run):
    _, config, run = stack_run
    node = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-node-identity")
    containers = {c.inputs["containerName"]: c.id for c in run.of_type("azure-native:storage:BlobContainer")}
    role = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
    node_grants = {
        (a["roleDefinitionId"], a["scope"])
        for a in _assignments(run)
        if a["principalId"] == f"principal-{node.inputs['resourceName']}"
    }
    assert node_grants == {
        (role + READER, containers[config.storage.resources_container]),
        (role + CONTRIBUTOR, containers[config.storage.outputs_container]),
    }
    deployer = [a for a in _assignments(run) if a["principalId"] == DEPLOYER_OBJECT_ID]
    assert [(a["roleDefinitionId"], a["scope"]) for a in deployer] == [
        (role + CONTRIBUTOR, containers[config.storage.resources_container])
    ]
    account = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-account-identity")
    storage_id = run.one("azure-native:storage:StorageAccount").id
    for grant in _assignments(run):
        if "/containers/" not in grant["scope"]:
            # Only the Batch account's own identity is granted on the account: auto-storage requires it.
            assert grant["principalId"] == f"principal-{account.inputs['resourceName']}"
            assert grant["scope"] == storage_id


def _pool_inputs(run: ProgramRun, pool_name: str) -> dict[str, Any]:
    pools = [p for p in run.of_type("azure-native:batch:Pool") if p.inputs["poolName"] == pool_name]
    assert len(pools) == 1, pool_name
    return pools[0].inputs


def test_every_configured_pool_is_declared_with_its_shape(stack_run):
    _, config, run = stack_run
    assert set(run.outputs["poolIds"]) == {pool.id for pool in config.pools}
    assert len(run.of_type("azure-native:batch:Pool")) == len(config.pools)
    node = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-node-identity")
    for pool in config.pools:
        inputs = _pool_inputs(run, run.outputs["poolIds"][pool.id])
        assert inputs["vmSize"] == pool.vm_size
        assert inputs["taskSlotsPerNode"] == pool.task_slots_per_node
        vm = inputs["deploymentConfiguration"]["virtualMachineConfiguration"]
        assert vm["nodeAgentSkuId"] == pool.node_agent_sku_id
        assert vm["imageReference"]["sku"] == pool.image.sku
        assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {node.id: {}}}
        scale = inputs["scaleSettings"]
        if pool.scale.is_autoscale:
            assert set(scale) == {"autoScale"}
            assert scale["autoScale"]["formula"] == pool.scale.formula
        else:
            assert set(scale) == {"fixedScale"}
            assert scale["fixedScale"]["targetDedicatedNodes"] == (pool.scale.dedicated or 0)
            assert scale["fixedScale"]["targetLowPriorityNodes"] == (pool.scale.spot or 0)


def test_start_task_files_are_uploaded_blobs_read_with_the_node_identity(stack_run):
    _, config, run = stack_run
    node = run.one("azure-native:managedidentity:UserAssignedIdentity", "platform-node-identity")
    container_url = run.outputs["resourcesContainerUrl"]
    uploaded = {b.inputs["blob_name"] for b in run.of_type("pulumi-python:dynamic/storage:ContentAddressedBlob")}
    for pool in config.pools:
        if pool.start_task is None:
            continue
        task = _pool_inputs(run, run.outputs["poolIds"][pool.id])["startTask"]
        assert task["commandLine"] == pool.start_task.command_line
        assert task["waitForSuccess"] == pool.start_task.wait_for_success
        assert task["maxTaskRetryCount"] == pool.start_task.max_task_retry_count
        assert task["userIdentity"] == {
            "autoUser": {
                "scope": pool.start_task.auto_user_scope.capitalize(),
                "elevationLevel": "Admin" if pool.start_task.elevation == "admin" else "NonAdmin",
            }
        }
        assert {e["name"]: e["value"] for e in task.get("environmentSettings", [])} == pool.start_task.environment
        files = task.get("resourceFiles", [])
        assert files, "the stacks' start tasks ship files from the repo"
        for resource_file in files:
            url = resource_file["httpUrl"]
            assert "sig=" not in url and "?" not in url, "no SAS tokens"
            if url.startswith(container_url):
                assert resource_file["identityReference"] == {"resourceId": node.id}
                blob_name = url[len(container_url) + 1 :]
                assert blob_name in uploaded
                assert re.fullmatch(rf"start-tasks/{pool.id}/[0-9a-f]{{12}}/.+", blob_name)


def test_pools_without_public_ips_join_the_configured_subnet(stack_run):
    _, config, run = stack_run
    for pool in config.pools:
        network = _pool_inputs(run, run.outputs["poolIds"][pool.id]).get("networkConfiguration")
        if pool.public_ips:
            assert network is None or network["publicIPAddressConfiguration"]["provision"] == "BatchManaged"
        else:
            assert network["subnetId"] == config.network.subnet_id
            assert network["publicIPAddressConfiguration"] == {"provision": "NoPublicIPAddresses"}


def test_prod_pools_have_no_public_ips_and_dedicated_nodes():
    config, run = _run(REPO_ROOT / "Pulumi.prod.yaml")
    assert config.network.subnet_id
    assert run.of_type("azure-native:resources:ResourceGroup") == [], "prod uses the existing resource group"
    assert run.outputs["resourceGroupName"] == config.resource_group.name
    for pool in run.of_type("azure-native:batch:Pool"):
        assert pool.inputs["networkConfiguration"]["publicIPAddressConfiguration"]["provision"] == "NoPublicIPAddresses"
        assert pool.inputs["scaleSettings"]["fixedScale"]["targetLowPriorityNodes"] == 0
        assert pool.inputs["scaleSettings"]["fixedScale"]["targetDedicatedNodes"] > 0


def test_dev_pool_is_spot_only_and_autoscales_to_zero():
    config, run = _run(REPO_ROOT / "Pulumi.dev.yaml")
    assert config.batch_account.public_network_access == "Enabled"
    for pool in run.of_type("azure-native:batch:Pool"):
        formula = pool.inputs["scaleSettings"]["autoScale"]["formula"]
        assert "$TargetDedicatedNodes = 0;" in formula
        assert "$TargetLowPriorityNodes" in formula


def test_names_follow_azure_rules_and_are_deterministic(stack_run):
    stack, config, run = stack_run
    storage_name = run.outputs["storageAccountName"]
    batch_name = run.outputs["batchAccountName"]
    for name in (storage_name, batch_name):
        assert re.fullmatch(r"[a-z0-9]{3,24}", name), name
        assert name.startswith(config.name_prefix)
    assert storage_name != batch_name
    section = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    again = run_program(stack, to_pulumi_config(section))
    assert again.outputs["storageAccountName"] == storage_name
    assert again.outputs["poolIds"] == run.outputs["poolIds"]
    for pool_name in run.outputs["poolIds"].values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", pool_name)


def test_stacks_get_distinct_global_names():
    names = [_run(path)[1].outputs["storageAccountName"] for path in STACK_FILES]
    assert len(set(names)) == len(names)


def _args_class(typ: str) -> type | None:
    parts = typ.split(":")
    if parts[0] != "azure-native":
        return None
    module = getattr(pulumi_azure_native, parts[1])
    return getattr(module, f"{parts[2]}Args")


def test_every_taggable_resource_carries_the_stack_tags(stack_run):
    stack, config, run = stack_run
    checked = 0
    for resource in run.resources:
        args = _args_class(resource.typ)
        if args is None or "tags" not in inspect.signature(args.__init__).parameters:
            continue
        checked += 1
        tags = resource.inputs.get("tags") or {}
        assert {**config.tags, "batchforge-stack": stack}.items() <= tags.items(), resource.name
    assert checked >= 5


def test_outputs_build_a_batch_target(stack_run):
    _, config, run = stack_run
    target = BatchTarget.model_validate(run.outputs["batchTarget"])
    assert target.pool_ids == run.outputs["poolIds"]
    assert target.account_endpoint.startswith("https://") and target.account_endpoint.endswith(".batch.azure.com")
    assert target.resources_container_url.endswith("/" + config.storage.resources_container)
    assert target.outputs_container_url.endswith("/" + config.storage.outputs_container)
    assert target.identity_resource_id == run.outputs["nodeIdentityId"]
    assert target.auth.kind == "entra-id"
    assert run.outputs["workloads"] == config.workloads
    # A scheduled workload is a job schedule, every other one a job.
    assert set(run.outputs["workloadJobIds"]) | set(run.outputs["workloadScheduleIds"]) == {
        Path(name).stem for name in config.workloads
    }
    assert not set(run.outputs["workloadJobIds"]) & set(run.outputs["workloadScheduleIds"])


def test_config_passed_through_the_environment_is_read_too(monkeypatch):
    import json

    section = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(to_pulumi_config(section)))
    run = run_program("dev", {})
    assert run.outputs["poolIds"] == _run(REPO_ROOT / "Pulumi.dev.yaml")[1].outputs["poolIds"]
