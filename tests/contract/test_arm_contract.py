"""Every azure-native resource each stack declares, as the ARM PUT request azure-native sends, checked against
Azure's own model of that resource at the same API version (the ``azure-mgmt-*`` packages)."""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import inspect
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import azure.mgmt.resource.resources.v2022_09_01.models as resources_2022_09_01
import azure.mgmt.resource.resources.v2024_07_01.models as resources_2024_07_01
import pytest
from arm_bodies import ARM_TYPES, ArmRequest, build_request, check_request, model_schema

# The Azure-shaped mocks live with the component tests; reuse them rather than keep a second copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "components"))
from components_mocks import REPO_ROOT, Declared, committed_stack_run

STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))

# (stack, resource name) -> what ARM expects, for problems found in what the program declares. Marked
# xfail(strict=True), so the case fails as soon as the program is fixed and the entry must go.
KNOWN_PROBLEMS: dict[tuple[str, str], str] = {}


def _stack(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


@cache
def _declared(stack: str) -> tuple[Declared, ...]:
    run = committed_stack_run(stack)
    # Registration order follows the program's async outputs; xdist workers must collect the same list.
    return tuple(sorted((r for r in run.resources if r.typ.startswith("azure-native:")), key=lambda r: (r.typ, r.name)))


def _cases() -> list[Any]:
    cases = []
    for path in STACK_FILES:
        stack = _stack(path)
        for declared in _declared(stack):
            reason = KNOWN_PROBLEMS.get((stack, declared.name))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(stack, declared, id=f"{stack}:{declared.name}", marks=marks))
    return cases


def _report(stack: str, declared: Declared, problems: list[str]) -> str:
    return "\n".join(f"Pulumi.{stack}.yaml: {declared.name} ({declared.typ}): {problem}" for problem in problems)


@pytest.mark.parametrize(("stack", "declared"), _cases())
def test_declared_resource_is_a_valid_arm_request(stack: str, declared: Declared):
    assert declared.typ in ARM_TYPES, f"Pulumi.{stack}.yaml: {declared.name}: no ARM row for {declared.typ}"
    problems = check_request(build_request(declared.typ, declared.inputs))
    assert not problems, _report(stack, declared, problems)


def test_every_arm_row_is_exercised_by_some_stack():
    declared = {r.typ for path in STACK_FILES for r in _declared(_stack(path))}
    assert declared == set(ARM_TYPES), (
        f"declared only: {declared - set(ARM_TYPES)}, rows only: {set(ARM_TYPES) - declared}"
    )


@pytest.mark.parametrize("typ", sorted(ARM_TYPES))
def test_rows_use_the_api_version_azure_native_sends(typ: str):
    _, module, resource = typ.split(":")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()
    source = inspect.getsource(importlib.import_module(f"pulumi_azure_native.{module}.{snake}"))
    sent = set(re.findall(r"Uses Azure REST API version (\S+?)\.", source))
    assert sent == {ARM_TYPES[typ].api_version}, f"{typ}: azure-native uses {sent}"


# Single-API releases name no version in their module path; the pinned release is what carries it.
_SINGLE_API_RELEASES = {
    "azure.mgmt.batch.models": ("azure-mgmt-batch", "18.0.0", "2024-07-01"),
    "azure.mgmt.storage.models": ("azure-mgmt-storage", "23.0.0", "2024-01-01"),
    "azure.mgmt.network.models": ("azure-mgmt-network", "28.1.0", "2024-05-01"),
}


@pytest.mark.parametrize("typ", sorted(ARM_TYPES))
def test_models_are_of_that_api_version(typ: str):
    arm = ARM_TYPES[typ]
    package = arm.model.__module__.rsplit(".", 1)[0]
    expected = arm.model_api_version or arm.api_version
    versioned = re.search(r"\.v(\d{4})_(\d{2})_(\d{2})\.", package + ".")
    if versioned:
        assert "-".join(versioned.groups()) == expected
    else:
        distribution, release, api_version = _SINGLE_API_RELEASES[package]
        assert (importlib.metadata.version(distribution), api_version) == (release, expected)


def test_resource_group_model_is_the_same_on_both_sides_of_2024_03_01():
    # No azure-mgmt-resource release carries resources 2024-03-01 (what azure-native sends); the versions
    # before and after it agreeing means the model in between is that one too.
    assert model_schema(resources_2022_09_01.ResourceGroup) == model_schema(resources_2024_07_01.ResourceGroup)


def test_storage_renames_reach_the_arm_names():
    request = build_request(
        "azure-native:storage:StorageAccount",
        {
            "accountName": "bforgeteststorage",
            "resourceGroupName": "rg",
            "location": "westeurope",
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "enableHttpsTrafficOnly": True,
            "enableNfsV3": False,
            "networkRuleSet": {
                "defaultAction": "Deny",
                "ipRules": [{"iPAddressOrRange": "203.0.113.0/24", "action": "Allow"}],
                "virtualNetworkRules": [{"virtualNetworkResourceId": "/subscriptions/x/subnets/y"}],
            },
        },
    )
    assert check_request(request) == []
    properties = request.body["properties"]
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["isNfsV3Enabled"] is False
    assert properties["networkAcls"]["ipRules"] == [{"value": "203.0.113.0/24", "action": "Allow"}]
    assert properties["networkAcls"]["virtualNetworkRules"] == [{"id": "/subscriptions/x/subnets/y"}]


def test_mock_placeholders_become_values_of_azures_shape():
    # The mocks answer "principal-<name>" for a principal id; Azure answers a GUID.
    (assignment, *_) = (r for r in _declared("dev") if r.typ == "azure-native:authorization:RoleAssignment")
    principal = build_request(assignment.typ, {**assignment.inputs, "principalId": "principal-x"}).body
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", principal["properties"]["principalId"])


# ---- the checks fail on broken requests ---------------------------------------------------------------------


def _base(typ: str) -> ArmRequest:
    for path in reversed(STACK_FILES):
        for declared in _declared(_stack(path)):
            if declared.typ == typ:
                return build_request(typ, declared.inputs)
    raise AssertionError(f"no stack declares {typ}")


def _set(keys: str, value: Any) -> Callable[[ArmRequest], None]:
    def mutate(request: ArmRequest) -> None:
        target: Any = request.body
        *parents, last = keys.split(".")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        target[last] = value

    return mutate


def _delete(keys: str) -> Callable[[ArmRequest], None]:
    def mutate(request: ArmRequest) -> None:
        target: Any = request.body
        *parents, last = keys.split(".")
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def _unflatten_first(list_key: str, item_key: str) -> Callable[[ArmRequest], None]:
    """Moves a sub-resource's property out of its ``properties`` envelope, as a missing table row would."""

    def mutate(request: ArmRequest) -> None:
        item = request.body["properties"][list_key][0]
        item[item_key] = item["properties"].pop(item_key)

    return mutate


def _rename_back(arm_key: str, input_key: str) -> Callable[[ArmRequest], None]:
    def mutate(request: ArmRequest) -> None:
        properties = request.body["properties"]
        properties[input_key] = properties.pop(arm_key)

    return mutate


def _set_path(name: str, value: str) -> Callable[[ArmRequest], None]:
    def mutate(request: ArmRequest) -> None:
        request.path[name] = value

    return mutate


GUID = "0b9ae6a4-3e2c-4d5a-9c1f-2f7a8a6b0c11"
BROKEN: list[tuple[str, str, Callable[[ArmRequest], None], str]] = [
    ("azure-native:resources:ResourceGroup", "missing", _delete("location"), "location: required property missing"),
    (
        "azure-native:managedidentity:UserAssignedIdentity",
        "read-only",
        _set("properties.principalId", GUID),
        "properties.principalId: read-only property set",
    ),
    (
        "azure-native:storage:StorageAccount",
        "unknown",
        _rename_back("supportsHttpsTrafficOnly", "enableHttpsTrafficOnly"),
        "properties.enableHttpsTrafficOnly: unknown property",
    ),
    (
        "azure-native:storage:StorageAccount",
        "constraint",
        _set("properties.immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays", 0),
        "immutabilityPeriodSinceCreationInDays: 0 is below the minimum 1",
    ),
    (
        "azure-native:storage:StorageAccount",
        "constraint",
        _set_path("accountName", "BforgeProdStorage"),
        "(path) accountName: 'BforgeProdStorage' does not match the pattern",
    ),
    # The storage firewall of the private stacks (networkAcls): a wrong default action, an IP rule without its value.
    (
        "azure-native:storage:StorageAccount",
        "enum",
        _set("properties.networkAcls.defaultAction", "Block"),
        "properties.networkAcls.defaultAction: 'Block' is not a DefaultAction value",
    ),
    (
        "azure-native:storage:StorageAccount",
        "missing",
        _set("properties.networkAcls.ipRules", [{"action": "Allow"}]),
        "properties.networkAcls.ipRules[0].value: required property missing",
    ),
    (
        "azure-native:storage:BlobContainer",
        "enum",
        _set("properties.publicAccess", "Private"),
        "properties.publicAccess: 'Private' is not a PublicAccess value",
    ),
    (
        "azure-native:authorization:RoleAssignment",
        "missing",
        _delete("properties.principalId"),
        "properties.principalId: required property missing",
    ),
    (
        "azure-native:batch:BatchAccount",
        "enum",
        _set("properties.allowedAuthenticationModes", ["AAD", "Certificate"]),
        "properties.allowedAuthenticationModes[1]: 'Certificate' is not a AuthenticationMode value",
    ),
    (
        "azure-native:batch:Pool",
        "read-only",
        _set("properties.provisioningState", "Succeeded"),
        "properties.provisioningState: read-only property set",
    ),
    (
        "azure-native:batch:Pool",
        "constraint",
        _set("properties.upgradePolicy", {"mode": "rolling", "rollingUpgradePolicy": {"maxBatchInstancePercent": 200}}),
        "properties.upgradePolicy.rollingUpgradePolicy.maxBatchInstancePercent: 200 is above the maximum 100",
    ),
    (
        "azure-native:batch:Pool",
        "constraint",
        _set_path("poolName", "cpu pool"),
        "(path) poolName: 'cpu pool' does not match the pattern",
    ),
    (
        "azure-native:network:PrivateEndpoint",
        "unknown",
        _unflatten_first("privateLinkServiceConnections", "groupIds"),
        "properties.privateLinkServiceConnections[0].groupIds: unknown property",
    ),
    (
        "azure-native:network:PrivateEndpoint",
        "read-only",
        _set("properties.networkInterfaces", [{"id": "/subscriptions/x/networkInterfaces/nic"}]),
        "properties.networkInterfaces: read-only property set",
    ),
    (
        "azure-native:network:PrivateDnsZoneGroup",
        "unknown",
        _unflatten_first("privateDnsZoneConfigs", "privateDnsZoneId"),
        "properties.privateDnsZoneConfigs[0].privateDnsZoneId: unknown property",
    ),
]


def test_broken_cases_cover_every_type_and_every_kind():
    assert {typ for typ, *_ in BROKEN} == set(ARM_TYPES)
    assert {kind for _, kind, *_ in BROKEN} == {"unknown", "read-only", "missing", "enum", "constraint"}


@pytest.mark.parametrize(
    ("typ", "mutate", "expected"),
    [pytest.param(typ, mutate, expected, id=f"{typ.split(':')[-1]}-{kind}") for typ, kind, mutate, expected in BROKEN],
)
def test_broken_request_is_caught(typ: str, mutate: Callable[[ArmRequest], None], expected: str):
    request = copy.deepcopy(_base(typ))
    assert check_request(request) == [], "the unbroken request must pass for the broken one to prove anything"
    mutate(request)
    problems = check_request(request)
    assert any(expected in problem for problem in problems), problems
