"""Storage closed to the internet on production stacks: what staging and prod declare (the Checkov checks
CKV_AZURE_59, CKV_AZURE_35 and CKV_AZURE_36, asserted on the declared inputs), and the policy that refuses the
opposite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_committed_stacks import committed_declared

from batchforge.config import validate_stack_data
from batchforge.policy import validate_resource, validate_resources
from batchforge.policy.guardrails import DeclaredResource
from batchforge.policy.program_under_mocks import declared_for_config
from batchforge.policy.rules import STORAGE_ACCOUNT

REPO = Path(__file__).resolve().parents[2]
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
TAGS = {"environment": "prod", "costCenter": "research", "managedBy": "pulumi"}


def _raw(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return {k.removeprefix("batchforge:"): v for k, v in document["config"].items() if k.startswith("batchforge:")}


def _of_type(declared: list[DeclaredResource], typ: str) -> list[DeclaredResource]:
    return [resource for resource in declared if resource.resource_type == typ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_production_stacks_declare_no_storage_reachable_from_the_internet(stack):
    declared = committed_declared(stack)
    (account,) = _of_type(declared, STORAGE_ACCOUNT)
    props = account.props
    # CKV_AZURE_59: public network access disabled.
    assert props["publicNetworkAccess"] == "Disabled"
    # CKV_AZURE_35: the default network rule denies.
    assert props["networkRuleSet"]["defaultAction"] == "Deny"
    # CKV_AZURE_36: trusted Microsoft services may pass.
    assert "AzureServices" in props["networkRuleSet"]["bypass"].split(",")
    assert not props["networkRuleSet"].get("ipRules")
    config = _raw(stack)["storage"]["privateEndpoint"]
    (blob,) = [e for e in _of_type(declared, PRIVATE_ENDPOINT) if "-storage-" in e.props["privateEndpointName"]]
    assert blob.props["subnet"]["id"] == config["subnetId"]
    (connection,) = blob.props["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["blob"]
    (zone_group,) = [z for z in _of_type(declared, DNS_ZONE_GROUP) if z.name.endswith("-blob-dns")]
    # The endpoint's name output (under the mocks, its logical name).
    assert zone_group.props["privateEndpointName"] in (blob.name, blob.props["privateEndpointName"])
    (zone,) = zone_group.props["privateDnsZoneConfigs"]
    assert zone["privateDnsZoneId"] == config["privateDnsZoneId"]
    assert zone["privateDnsZoneId"].endswith("/privatelink.blob.core.windows.net")


def test_dev_keeps_public_storage_with_configurable_ip_rules():
    declared = committed_declared("dev")
    (account,) = _of_type(declared, STORAGE_ACCOUNT)
    assert account.props["publicNetworkAccess"] == "Enabled"
    assert account.props["networkRuleSet"]["defaultAction"] == "Allow"
    assert not [e for e in _of_type(declared, PRIVATE_ENDPOINT) if "-storage-" in e.props["privateEndpointName"]]

    data = _raw("dev")
    data["storage"]["allowedIpRanges"] = ["203.0.113.0/24", "198.51.100.7"]
    config = validate_stack_data(data, "Pulumi.dev.yaml", REPO)
    (account,) = _of_type(declared_for_config(config, "dev", REPO), STORAGE_ACCOUNT)
    assert account.props["networkRuleSet"] == {
        "defaultAction": "Deny",
        "bypass": "AzureServices",
        "ipRules": [
            {"iPAddressOrRange": "203.0.113.0/24", "action": "Allow"},
            {"iPAddressOrRange": "198.51.100.7", "action": "Allow"},
        ],
    }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_policy_refuses_a_production_stack_with_public_storage(stack):
    data = _raw(stack)
    data["storage"] = {"sku": "Standard_ZRS"}  # public, the model's default
    config = validate_stack_data(data, f"Pulumi.{stack}.yaml", REPO)
    violations = [v for v in validate_resources(declared_for_config(config, stack, REPO), stack)]
    assert {v.policy for v in violations} == {"storage-private-in-prod"}
    assert [v.message for v in violations] == [
        f"Storage account in production stack '{stack}' must set publicNetworkAccess to Disabled (reached through "
        "its blob private endpoint), got Enabled",
        f"Storage account in production stack '{stack}' must set networkRuleSet.defaultAction to Deny, got Allow",
    ]


def _storage(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "allowSharedKeyAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "enableHttpsTrafficOnly": True,
        "publicNetworkAccess": "Disabled",
        "networkRuleSet": {"defaultAction": "Deny", "bypass": "Logging, AzureServices"},
        "tags": dict(TAGS),
    }
    props.update(overrides)
    return props


def _messages(props: dict[str, Any], stack: str = "prod") -> list[str]:
    return [
        v.message for v in validate_resource(STORAGE_ACCOUNT, props, stack) if v.policy == "storage-private-in-prod"
    ]


def test_the_rule_checks_each_of_the_three_settings():
    assert _messages(_storage()) == []
    assert _messages(_storage(publicNetworkAccess=None)) == [
        "Storage account in production stack 'prod' must set publicNetworkAccess to Disabled (reached through its "
        "blob private endpoint), got unset (Enabled)"
    ]
    assert _messages(_storage(networkRuleSet=None)) == [
        "Storage account in production stack 'prod' must set networkRuleSet.defaultAction to Deny, got unset (Allow)",
        "Storage account in production stack 'prod' must let trusted Azure services through: networkRuleSet.bypass "
        "must include AzureServices, got unset",
    ]
    assert _messages(_storage(networkRuleSet={"defaultAction": "Deny", "bypass": "None"}))[0].endswith("got None")


def test_the_rule_leaves_stacks_that_are_not_production_alone():
    assert _messages(_storage(publicNetworkAccess="Enabled", networkRuleSet=None), stack="dev") == []
