"""Storage network access in the stack config: a private account needs its private path, IP rules are public IPv4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from batchforge.config import load_stack_file
from batchforge.core import InvalidInput

REPO_ROOT = Path(__file__).resolve().parents[2]
BLOB_ZONE = (
    "/subscriptions/0/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"
)
SUBNET = "/subscriptions/0/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"


def _section(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def _load(tmp_path: Path, section: dict[str, Any], stack: str = "staging"):
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": section}, sort_keys=False))
    return load_stack_file(path, repo_root=REPO_ROOT)


def _problems(tmp_path: Path, section: dict[str, Any], stack: str = "staging") -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        _load(tmp_path, section, stack)
    return [str(problem) for problem in caught.value.problems]


def test_disabled_public_access_without_a_private_endpoint_is_refused(tmp_path):
    section = _section("staging")
    section["batchforge:storage"].pop("privateEndpoint")
    (problem,) = _problems(tmp_path, section)
    assert problem.startswith("Pulumi.staging.yaml: storage: publicNetworkAccess Disabled needs privateEndpoint")
    assert "privatelink.blob.core.windows.net" in problem


def test_disabled_public_access_without_a_pool_subnet_is_refused(tmp_path):
    section = _section("staging")
    section.pop("batchforge:network")
    for pool in section["batchforge:pools"]:
        pool["publicIps"] = True
    assert _problems(tmp_path, section) == [
        "Pulumi.staging.yaml: storage.publicNetworkAccess: Disabled needs network.subnetId: nodes outside a virtual "
        "network cannot reach the storage account's private endpoint"
    ]


def test_the_dns_zone_must_be_the_blob_privatelink_zone(tmp_path):
    section = _section("staging")
    section["batchforge:storage"]["privateEndpoint"]["privateDnsZoneId"] = BLOB_ZONE.replace("blob", "file")
    (problem,) = _problems(tmp_path, section)
    assert problem.startswith("Pulumi.staging.yaml: storage.privateEndpoint.privateDnsZoneId: must be the resource id")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.0.0/16", "must be a public IPv4 address or range"),
        ("2001:db8::/32", "must be a public IPv4 address or range"),
        ("198.51.100.7/32", "ranges up to /30"),
        ("not-an-address", "must be a public IPv4 address or CIDR range"),
        ("203.0.113.1/24", "must be a public IPv4 address or CIDR range"),  # host bits set
    ],
)
def test_ip_rules_are_public_ipv4(tmp_path, address, expected):
    section = _section("dev")
    section["batchforge:storage"]["allowedIpRanges"] = [address]
    (problem,) = _problems(tmp_path, section, "dev")
    assert problem.startswith("Pulumi.dev.yaml: storage.allowedIpRanges[0]: ") and expected in problem


def test_ip_rules_with_disabled_public_access_are_refused(tmp_path):
    section = _section("staging")
    section["batchforge:storage"]["allowedIpRanges"] = ["203.0.113.0/24"]
    (problem,) = _problems(tmp_path, section)
    assert problem.startswith("Pulumi.staging.yaml: storage: allowedIpRanges has no effect")


def test_default_network_action(tmp_path):
    dev = _section("dev")
    assert _load(tmp_path, dev, "dev").storage.default_network_action == "Allow"
    dev["batchforge:storage"]["allowedIpRanges"] = ["203.0.113.0/24", "198.51.100.7"]
    assert _load(tmp_path, dev, "dev").storage.default_network_action == "Deny"
    assert _load(tmp_path, _section("staging")).storage.default_network_action == "Deny"
