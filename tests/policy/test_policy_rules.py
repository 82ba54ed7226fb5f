"""The guardrails on hand-built pulumi-azure-native 3.x input properties (camelCase, as the engine sends them)."""

from datetime import date

import pytest

from batchforge.policy import validate_resource
from batchforge.policy.rules import BATCH_ACCOUNT, POOL, STORAGE_ACCOUNT, retired_settings_findings

TAGS = {"environment": "prod", "costCenter": "research", "managedBy": "pulumi"}


def policies(resource_type, props, stack="prod"):
    return sorted({violation.policy for violation in validate_resource(resource_type, props, stack)})


def messages(resource_type, props, stack="prod"):
    return [violation.message for violation in validate_resource(resource_type, props, stack)]


def good_account(**overrides):
    return {"allowedAuthenticationModes": ["AAD"], "tags": dict(TAGS), **overrides}


def good_storage(**overrides):
    props = {
        "allowSharedKeyAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "enableHttpsTrafficOnly": True,
        "publicNetworkAccess": "Disabled",
        "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
        "tags": dict(TAGS),
    }
    props.update(overrides)
    return props


def good_pool(**overrides):
    props = {
        "poolName": "cpu",
        "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 4.0, "targetLowPriorityNodes": 0.0}},
        "networkConfiguration": {
            "subnetId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
            "publicIPAddressConfiguration": {"provision": "NoPublicIPAddresses"},
        },
        "startTask": {
            "commandLine": "/bin/sh -c 'sh prepare.sh'",
            "resourceFiles": [{"httpUrl": "https://acct.blob.core.windows.net/resources/prepare.sh"}],
            "environmentSettings": [{"name": "BATCHFORGE_ENV", "value": "prod"}],
        },
    }
    props.update(overrides)
    return props


def test_compliant_resources_pass_in_prod():
    assert validate_resource(BATCH_ACCOUNT, good_account(), "prod") == []
    assert validate_resource(STORAGE_ACCOUNT, good_storage(), "prod") == []
    assert validate_resource(POOL, good_pool(), "prod") == []


@pytest.mark.parametrize("modes", [None, [], ["AAD", "SharedKey"], ["SharedKey"]])
def test_batch_account_must_be_entra_only(modes):
    props = good_account(allowedAuthenticationModes=modes)
    assert policies(BATCH_ACCOUNT, props) == ["batch-entra-only-auth"]


def test_batch_account_task_tokens_are_retired_not_shared_keys():
    props = good_account(allowedAuthenticationModes=["AAD", "TaskAuthenticationToken"])
    assert messages(BATCH_ACCOUNT, props) == [
        "allowedAuthenticationModes: TaskAuthenticationToken was retired on 2024-09-30; use managed identities "
        "(the pools' user-assigned identity, Microsoft Entra ID) instead"
    ]
    assert policies(BATCH_ACCOUNT, props) == ["no-retired-batch-settings"]


TODAY = date(2026, 12, 2)
VM_CONFIG = {"imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"targetNodeCommunicationMode": "Classic"},
            "targetNodeCommunicationMode: Classic was retired on 2026-03-31; use Simplified",
        ),
        (
            {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 1.0, "nodeDeallocationOption": "RetainedData"}}},
            "scaleSettings.fixedScale.nodeDeallocationOption: RetainedData was removed in Batch API version "
            "2026-08-01; use one of Requeue, Terminate, TaskCompletion",
        ),
        (
            {
                "deploymentConfiguration": {
                    "virtualMachineConfiguration": {**VM_CONFIG, "nodeAgentSkuId": "batch.node.ubuntu 20.04"}
                }
            },
            "deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId: batch.node.ubuntu 20.04 reached end "
            "of support on 2025-04-23; use batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)",
        ),
    ],
)
def test_pools_with_retired_settings_fail_with_the_config_messages(override, message):
    assert retired_settings_findings(POOL, good_pool(**override), TODAY) == [message]


def test_retired_settings_are_judged_on_the_given_day():
    classic = good_pool(targetNodeCommunicationMode="Classic")
    assert retired_settings_findings(POOL, classic, date(2026, 3, 30)) == []
    # Near its end of support is a warning in batchctl validate, not a policy violation.
    near_end = good_pool(
        deploymentConfiguration={
            "virtualMachineConfiguration": {**VM_CONFIG, "nodeAgentSkuId": "batch.node.ubuntu 22.04"}
        }
    )
    assert retired_settings_findings(POOL, near_end, TODAY) == []
    assert retired_settings_findings(POOL, near_end, date(2027, 7, 1)) != []


@pytest.mark.parametrize(
    ("override", "policy"),
    [
        ({"allowSharedKeyAccess": True}, "storage-no-shared-key"),
        ({"allowSharedKeyAccess": None}, "storage-no-shared-key"),
        ({"minimumTlsVersion": "TLS1_0"}, "storage-min-tls-1-2"),
        ({"minimumTlsVersion": None}, "storage-min-tls-1-2"),
        ({"allowBlobPublicAccess": True}, "storage-no-public-blob-access"),
        ({"enableHttpsTrafficOnly": False}, "storage-https-only"),
    ],
)
def test_storage_account_lockdown(override, policy):
    assert policies(STORAGE_ACCOUNT, good_storage(**override)) == [policy]


def test_storage_accepts_tls_1_3_and_default_https():
    props = good_storage(minimumTlsVersion="TLS1_3")
    del props["enableHttpsTrafficOnly"]
    assert validate_resource(STORAGE_ACCOUNT, props, "prod") == []


def test_prod_pool_without_no_public_ip_setting_fails_but_dev_passes():
    props = good_pool(networkConfiguration={})
    assert policies(POOL, props, "prod") == ["pool-no-public-ips-in-prod"]
    assert "unset (BatchManaged)" in messages(POOL, props, "prod")[0]
    assert validate_resource(POOL, props, "dev") == []


def test_spot_nodes_only_outside_prod():
    props = good_pool(scaleSettings={"fixedScale": {"targetDedicatedNodes": 1.0, "targetLowPriorityNodes": 3.0}})
    assert policies(POOL, props, "prod") == ["pool-no-spot-in-prod"]
    assert validate_resource(POOL, props, "staging") == []


def test_autoscale_spot_in_prod_fails():
    formula = "$TargetDedicatedNodes = 1; $TargetLowPriorityNodes = min(4, $PendingTasks.GetSample(1));"
    props = good_pool(scaleSettings={"autoScale": {"formula": formula}})
    assert policies(POOL, props, "prod") == ["pool-no-spot-in-prod"]
    assert "up to 4" in messages(POOL, props, "prod")[0]


def test_max_nodes_per_pool_per_stack():
    props = good_pool(scaleSettings={"fixedScale": {"targetDedicatedNodes": 11.0}})
    assert policies(POOL, props, "dev") == ["pool-max-nodes"]
    assert messages(POOL, props, "dev") == [
        "Pool 'cpu' can grow to 11 nodes (11 dedicated + 0 spot/low-priority); "
        "stack 'dev' allows at most 10 nodes per pool"
    ]
    assert validate_resource(POOL, props, "staging") == []


def test_max_nodes_counts_spot_and_dedicated_together():
    props = good_pool(scaleSettings={"fixedScale": {"targetDedicatedNodes": 6.0, "targetLowPriorityNodes": 6.0}})
    assert policies(POOL, props, "dev") == ["pool-max-nodes"]


def test_uncapped_autoscale_formula_fails_the_node_limit():
    props = good_pool(scaleSettings={"autoScale": {"formula": "$TargetDedicatedNodes = $PendingTasks.GetSample(1);"}})
    [message] = messages(POOL, props, "prod")
    assert "does not cap $TargetDedicatedNodes" in message


def test_node_limits_come_from_policy_config():
    config = {"pool-max-nodes": {"maxNodesPerPool": {"dev": 2}, "defaultMaxNodesPerPool": 1}}
    props = good_pool(scaleSettings={"fixedScale": {"targetDedicatedNodes": 3.0}})
    assert [v.policy for v in validate_resource(POOL, props, "dev", config)] == ["pool-max-nodes"]
    assert [v.policy for v in validate_resource(POOL, props, "qa", config)] == ["pool-max-nodes"]
    props = good_pool(scaleSettings={"fixedScale": {"targetDedicatedNodes": 2.0}})
    assert validate_resource(POOL, props, "dev", config) == []


def test_disabled_policy_does_not_run():
    config = {"batch-entra-only-auth": {"enforcementLevel": "disabled"}}
    assert validate_resource(BATCH_ACCOUNT, good_account(allowedAuthenticationModes=["SharedKey"]), "dev", config) == []


def test_required_tags_and_environment_tag_must_match_stack():
    props = good_account(tags={"environment": "dev", "costCenter": "x"})
    assert messages(BATCH_ACCOUNT, props, "prod") == [
        "BatchAccount is missing required tag(s): managedBy",
        "BatchAccount tag environment='dev' does not match the stack 'prod'",
    ]


def test_required_tags_apply_to_any_resource_with_tags():
    assert policies("azure-native:network:PrivateEndpoint", {"tags": {}}) == ["required-tags"]
    assert validate_resource("azure-native:authorization:RoleAssignment", {"principalId": "x"}, "prod") == []


@pytest.mark.parametrize(
    ("start_task", "fragment"),
    [
        (
            {"resourceFiles": [{"httpUrl": "https://a.blob.core.windows.net/c/f.sh?sv=2022-11-02&sig=abc%3D"}]},
            "startTask.resourceFiles[0].httpUrl: holds a SAS token",
        ),
        (
            {"resourceFiles": [{"storageContainerUrl": "https://a.blob.core.windows.net/c?se=1&sig=x"}]},
            "startTask.resourceFiles[0].storageContainerUrl: holds a SAS token",
        ),
        (
            {"environmentSettings": [{"name": "STORAGE_ACCOUNT_KEY", "value": "abc"}]},
            "environment variable STORAGE_ACCOUNT_KEY carries a credential",
        ),
        (
            {"environmentSettings": [{"name": "CONN", "value": "DefaultEndpointsProtocol=https;AccountKey=abc"}]},
            "environment variable CONN holds an account key or SAS",
        ),
        (
            {"environmentSettings": [{"name": "DATA_URL", "value": "https://a.blob.core.windows.net/c?sig=x"}]},
            "environment variable DATA_URL holds a SAS token",
        ),
    ],
)
def test_no_sas_or_keys_in_start_task(start_task, fragment):
    props = good_pool(startTask={"commandLine": "x", **start_task})
    found = messages(POOL, props)
    assert len(found) == 1
    assert fragment in found[0]


def test_no_keys_in_mounts_or_registries():
    props = good_pool(
        mountConfiguration=[{"azureBlobFileSystemConfiguration": {"accountName": "a", "accountKey": "k"}}],
        deploymentConfiguration={
            "virtualMachineConfiguration": {
                "containerConfiguration": {"containerRegistries": [{"registryServer": "r", "password": "p"}]}
            }
        },
    )
    found = messages(POOL, props)
    assert any(m.startswith("mountConfiguration[0].azureBlobFileSystemConfiguration.accountKey") for m in found)
    assert any("containerRegistries[0].password" in m for m in found)


def test_task_environments_of_any_resource_are_scanned():
    props = {"jobs": [{"tasks": [{"environment": {"SAS_TOKEN": "sv=1&sig=2"}}]}]}
    found = messages("pulumi-python:dynamic:Resource", props)
    assert found == [
        "jobs[0].tasks[0].environment: environment variable SAS_TOKEN carries a credential; use a managed identity"
    ]


def test_harmless_environment_passes():
    props = good_pool(startTask={"commandLine": "x", "environmentSettings": [{"name": "SORT_ORDER", "value": "asc"}]})
    assert validate_resource(POOL, props, "prod") == []
