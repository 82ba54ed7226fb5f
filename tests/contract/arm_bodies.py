"""What azure-native sends to ARM for a declared resource, and Azure's own model of that request body.

``build_request`` turns a resource's Pulumi inputs into the ARM PUT request azure-native 3.29 makes: URL path
parameters apart, ``location``/``tags``/``identity``/``sku``/``kind`` at the top level, everything else under
``properties`` with azure-native's input names mapped back to ARM's (``ARM_TYPES``, one row per azure-native type).
``check_body`` validates a body against the ``azure-mgmt-*`` model of the same API version.
"""

from __future__ import annotations

import re
import sys
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import azure.mgmt.authorization.v2022_04_01.models as authorization_models
import azure.mgmt.batch.models as batch_models
import azure.mgmt.msi.v2023_01_31.models as msi_models
import azure.mgmt.network.models as network_models
import azure.mgmt.resource.resources.v2024_07_01.models as resources_models
import azure.mgmt.storage.models as storage_models
from azure.core.exceptions import DeserializationError
from pulumi.runtime.rpc import UNKNOWN


@dataclass(frozen=True)
class Shape:
    """How azure-native lays out one object: which inputs stay beside ``properties``, which are renamed.

    ``flatten=False`` means the object has no ``properties`` envelope (its inputs are its ARM keys).
    ``nested`` gives the shape of an input's value (of each item, for a list) when it is itself flattened
    or renamed; any other nested value is sent as it is.
    """

    top_level: frozenset[str] = frozenset()
    renames: Mapping[str, str] = field(default_factory=dict)
    nested: Mapping[str, Shape] = field(default_factory=dict)
    flatten: bool = True


@dataclass(frozen=True)
class PathParam:
    """A URL path parameter with the constraints the ARM spec puts on it (as the SDK's request builders state)."""

    name: str
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    # azure-native generates the value when the input is absent (role assignment names are GUIDs).
    autonamed: bool = False


@dataclass(frozen=True)
class ArmType:
    model: type[Any]
    api_version: str
    path: tuple[PathParam, ...]
    shape: Shape
    # The API version of ``model`` when no azure-mgmt release carries ``api_version`` itself.
    model_api_version: str | None = None


_RESOURCE_GROUP = PathParam("resourceGroupName", 1, 90, r"^[-\w\._\(\)]+$")
_STORAGE_ACCOUNT = PathParam("accountName", 3, 24, r"^[a-z0-9]+$")
_SUB_RESOURCE = Shape(top_level=frozenset({"id", "name"}))

ARM_TYPES: dict[str, ArmType] = {
    "azure-native:resources:ResourceGroup": ArmType(
        resources_models.ResourceGroup,
        "2024-03-01",
        (_RESOURCE_GROUP,),
        Shape(flatten=False),
        model_api_version="2024-07-01",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": ArmType(
        msi_models.Identity,
        "2023-01-31",
        (_RESOURCE_GROUP, PathParam("resourceName")),
        Shape(top_level=frozenset({"location", "tags"})),
    ),
    "azure-native:storage:StorageAccount": ArmType(
        storage_models.StorageAccountCreateParameters,
        "2024-01-01",
        (_RESOURCE_GROUP, _STORAGE_ACCOUNT),
        Shape(
            top_level=frozenset({"sku", "kind", "location", "extendedLocation", "tags", "identity"}),
            # The spec's x-ms-client-name renames: azure-native's input is the client name, ARM's key the original.
            renames={
                "enableHttpsTrafficOnly": "supportsHttpsTrafficOnly",
                "enableNfsV3": "isNfsV3Enabled",
                "networkRuleSet": "networkAcls",
            },
            nested={
                "networkRuleSet": Shape(
                    flatten=False,
                    nested={
                        "ipRules": Shape(flatten=False, renames={"iPAddressOrRange": "value"}),
                        "virtualNetworkRules": Shape(flatten=False, renames={"virtualNetworkResourceId": "id"}),
                    },
                ),
            },
        ),
    ),
    "azure-native:storage:BlobContainer": ArmType(
        storage_models.BlobContainer,
        "2024-01-01",
        (_RESOURCE_GROUP, _STORAGE_ACCOUNT, PathParam("containerName", 3, 63)),
        Shape(),
    ),
    "azure-native:authorization:RoleAssignment": ArmType(
        authorization_models.RoleAssignmentCreateParameters,
        "2022-04-01",
        (PathParam("scope"), PathParam("roleAssignmentName", autonamed=True)),
        Shape(),
    ),
    "azure-native:batch:BatchAccount": ArmType(
        batch_models.BatchAccountCreateParameters,
        "2024-07-01",
        (_RESOURCE_GROUP, PathParam("accountName", 3, 24, r"^[a-z0-9]+$")),
        Shape(top_level=frozenset({"location", "tags", "identity"})),
    ),
    "azure-native:batch:Pool": ArmType(
        batch_models.Pool,
        "2024-07-01",
        (
            _RESOURCE_GROUP,
            PathParam("accountName", 3, 24, r"^[a-zA-Z0-9]+$"),
            PathParam("poolName", 1, 64, r"^[a-zA-Z0-9_-]+$"),
        ),
        Shape(top_level=frozenset({"identity", "tags"})),
    ),
    "azure-native:network:PrivateEndpoint": ArmType(
        network_models.PrivateEndpoint,
        "2024-05-01",
        (_RESOURCE_GROUP, PathParam("privateEndpointName")),
        Shape(
            top_level=frozenset({"id", "location", "tags", "extendedLocation"}),
            # Network sub-resources carry their own ``properties`` envelope.
            nested={
                "subnet": Shape(top_level=frozenset({"id", "name", "type"})),
                "privateLinkServiceConnections": _SUB_RESOURCE,
                "manualPrivateLinkServiceConnections": _SUB_RESOURCE,
                "applicationSecurityGroups": Shape(top_level=frozenset({"id", "location", "tags"})),
                "ipConfigurations": Shape(top_level=frozenset({"name"})),
            },
        ),
    ),
    "azure-native:network:PrivateDnsZoneGroup": ArmType(
        network_models.PrivateDnsZoneGroup,
        "2024-05-01",
        (_RESOURCE_GROUP, PathParam("privateEndpointName"), PathParam("privateDnsZoneGroupName")),
        Shape(
            top_level=frozenset({"id", "name"}),
            nested={"privateDnsZoneConfigs": Shape(top_level=frozenset({"name"}))},
        ),
    ),
}


@dataclass(frozen=True)
class ArmRequest:
    typ: str
    path: dict[str, str]
    body: dict[str, Any]


# Identity ids that the mocks answer with readable placeholders ("principal-<name>") are GUIDs in Azure.
_GUID_KEYS = frozenset({"principalId", "clientId", "tenantId", "objectId"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_PLACEHOLDER_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/placeholder-rg"
    "/providers/Microsoft.Resources/placeholders/placeholder"
)


def _unknown_stand_in(key: str) -> str:
    """A value of the right shape for an input Pulumi does not know yet (a preview's unknown)."""
    if key in _GUID_KEYS:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, key))
    if key.endswith(("Id", "id")):
        return _PLACEHOLDER_ID
    if key.endswith(("Url", "url", "Uri", "uri")):
        return "https://placeholder.blob.core.windows.net/placeholder"
    return "placeholder"


def plausible(value: Any, key: str = "") -> Any:
    """``value`` with mock placeholders replaced by values of the shape Azure would have sent back."""
    if isinstance(value, dict):
        return {k: plausible(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plausible(item, key) for item in value]
    if value == UNKNOWN:
        return _unknown_stand_in(key)
    if key in _GUID_KEYS and isinstance(value, str) and not _GUID.match(value):
        return str(uuid.uuid5(uuid.NAMESPACE_OID, value))
    # Pulumi's wire format has only floats; azure-native sends integer-typed properties as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def shape_object(inputs: Mapping[str, Any], shape: Shape) -> dict[str, Any]:
    body: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in inputs.items():
        nested = shape.nested.get(key)
        if nested is not None and isinstance(value, list):
            value = [shape_object(item, nested) if isinstance(item, Mapping) else item for item in value]
        elif nested is not None and isinstance(value, Mapping):
            value = shape_object(value, nested)
        target = body if not shape.flatten or key in shape.top_level else properties
        target[shape.renames.get(key, key)] = value
    if properties:
        body["properties"] = properties
    return body


def build_request(typ: str, inputs: Mapping[str, Any]) -> ArmRequest:
    arm = ARM_TYPES[typ]
    values = plausible(dict(inputs))
    names = {param.name for param in arm.path}
    path = {name: values[name] for name in names if name in values}
    body = shape_object({k: v for k, v in values.items() if k not in names}, arm.shape)
    return ArmRequest(typ, path, body)


# ---- checking a request against the azure-mgmt model -------------------------------------------------------

_FLATTEN = re.compile(r"(?<!\\)\.")
_CONSTRAINTS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "min_length": (lambda v, n: len(v) < n, "is shorter than {} characters"),
    "max_length": (lambda v, n: len(v) > n, "is longer than {} characters"),
    "minimum": (lambda v, n: v < n, "is below the minimum {}"),
    "maximum": (lambda v, n: v > n, "is above the maximum {}"),
    "minimum_ex": (lambda v, n: v <= n, "is not above {}"),
    "maximum_ex": (lambda v, n: v >= n, "is not below {}"),
    "min_items": (lambda v, n: len(v) < n, "has fewer than {} items"),
    "max_items": (lambda v, n: len(v) > n, "has more than {} items"),
    "pattern": (lambda v, n: re.match(n, v) is None, "does not match the pattern {!r}"),
    "unique": (lambda v, n: n and len(v) != len({repr(item) for item in v}), "has duplicate items"),
    "multiple": (lambda v, n: v % n != 0, "is not a multiple of {}"),
}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_model(value: Any) -> bool:
    return callable(getattr(type(value), "from_dict", None)) and callable(getattr(value, "as_dict", None))


@dataclass(frozen=True)
class _Wire:
    keys: tuple[str, ...]
    type: str


@cache
def _wire_keys(cls: type[Any]) -> dict[str, _Wire]:
    """Attribute name -> ARM key path and msrest type, as the serializer reports them to a ``key_transformer``."""
    found: dict[str, _Wire] = {}

    def record(attr: str, desc: dict[str, Any], value: Any) -> tuple[str, Any]:
        found[attr] = _Wire(tuple(part.replace("\\.", ".") for part in _FLATTEN.split(desc["key"])), desc["type"])
        return attr, value

    # An empty instance: the serializer visits every attribute once without descending into any.
    cls.from_dict({}).as_dict(keep_readonly=True, key_transformer=record)
    return found


def _enums_in(hint: Any) -> Iterator[type[Enum]]:
    if isinstance(hint, type) and issubclass(hint, Enum):
        yield hint
    for arg in typing.get_args(hint):
        yield from _enums_in(arg)


@cache
def _enum_of(cls: type[Any]) -> dict[str, type[Enum]]:
    """Attribute name -> its enum class, from the model's constructor annotations (``Union[str, _models.X]``)."""
    models = sys.modules[cls.__module__.rsplit(".", 1)[0]]
    hints = typing.get_type_hints(cls.__init__, globalns={**vars(sys.modules[cls.__module__]), "_models": models})
    found: dict[str, type[Enum]] = {}
    for name, hint in hints.items():
        enums = list(_enums_in(hint))
        if enums:
            found[name] = enums[0]
    return found


def _rules_of(cls: type[Any]) -> Mapping[str, Mapping[str, Any]]:
    # The generated models declare required/readonly/length/pattern/range rules here; these SDK releases have
    # no public validate() that would apply them.
    return typing.cast(Mapping[str, Mapping[str, Any]], cls._validation)


def _same(sent: Any, back: Any) -> bool:
    # Integers and floats are one JSON number; a bool is never one.
    if isinstance(sent, bool) or isinstance(back, bool):
        return type(sent) is type(back) and sent == back
    if isinstance(sent, int | float) and isinstance(back, int | float):
        return sent == back
    return type(sent) is type(back) and sent == back


def _round_trip_problems(sent: Any, back: Any, path: str) -> Iterator[str]:
    if isinstance(sent, dict) and isinstance(back, dict):
        for key, value in sent.items():
            if key not in back:
                yield f"{_join(path, key)}: unknown property (the model drops it)"
            else:
                yield from _round_trip_problems(value, back[key], _join(path, key))
        for key in back.keys() - sent.keys():
            yield f"{_join(path, key)}: the model reads a key sent elsewhere into this place (misplaced key)"
    elif isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        for index, (item, item_back) in enumerate(zip(sent, back, strict=True)):
            yield from _round_trip_problems(item, item_back, f"{path}[{index}]")
    elif not _same(sent, back):
        yield f"{path}: {sent!r} comes back as {back!r} (not of the model's type)"


def _read_only_problems(full: Any, writable: Any, path: str) -> Iterator[str]:
    if isinstance(full, dict) and isinstance(writable, dict):
        for key, value in full.items():
            if key in writable:
                yield from _read_only_problems(value, writable[key], _join(path, key))
            elif isinstance(value, dict) and value:
                # An envelope left with read-only keys only (``properties``): name the keys, not the envelope.
                yield from _read_only_problems(value, {}, _join(path, key))
            else:
                yield f"{_join(path, key)}: read-only property set"
    elif isinstance(full, list) and isinstance(writable, list):
        for index, (item, item_writable) in enumerate(zip(full, writable, strict=False)):
            yield from _read_only_problems(item, item_writable, f"{path}[{index}]")


def _value_problems(value: Any, path: str, rules: Mapping[str, Any], enum: type[Enum] | None) -> Iterator[str]:
    for rule, limit in rules.items():
        if rule in _CONSTRAINTS:
            violated, message = _CONSTRAINTS[rule]
            if violated(value, limit):
                yield f"{path}: {value!r} {message.format(limit)}"
    items = value if isinstance(value, list) else [value]
    if enum is not None:
        allowed = [member.value for member in enum]
        for index, item in enumerate(items):
            if isinstance(item, str) and item not in allowed:
                where = f"{path}[{index}]" if isinstance(value, list) else path
                yield f"{where}: {item!r} is not a {enum.__name__} value (one of {allowed})"


def _model_problems(obj: Any, path: str) -> Iterator[str]:
    cls = type(obj)
    rules, enums = _rules_of(cls), _enum_of(cls)
    for attr, wire in _wire_keys(cls).items():
        attr_rules = rules.get(attr, {})
        if attr_rules.get("readonly"):
            continue
        where = ".".join([path, *wire.keys]) if path else ".".join(wire.keys)
        value = getattr(obj, attr, None)
        if value is None:
            if attr_rules.get("required"):
                yield f"{where}: required property missing"
            continue
        yield from _value_problems(value, where, attr_rules, enums.get(attr))
        yield from _nested_problems(value, where)


def _nested_problems(value: Any, path: str) -> Iterator[str]:
    if _is_model(value):
        yield from _model_problems(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nested_problems(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nested_problems(item, f"{path}[{key!r}]")


def check_body(model: type[Any], body: dict[str, Any]) -> list[str]:
    """Every way ``body`` departs from ``model``: unknown or read-only keys, missing required, enums, constraints."""
    try:
        obj = model.deserialize(body)
    except DeserializationError as err:
        return [f"(body): {model.__name__} cannot read it: {err}"]
    full = obj.serialize(keep_readonly=True)
    return [
        *_round_trip_problems(body, full, ""),
        *_read_only_problems(full, obj.serialize(keep_readonly=False), ""),
        *_model_problems(obj, ""),
    ]


def check_path(arm: ArmType, path: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for param in arm.path:
        value = path.get(param.name)
        if value is None:
            if not param.autonamed:
                problems.append(f"(path) {param.name}: required path parameter missing")
            continue
        rules = {"min_length": param.min_length, "max_length": param.max_length, "pattern": param.pattern}
        given = {rule: limit for rule, limit in rules.items() if limit is not None}
        problems.extend(_value_problems(value, f"(path) {param.name}", given, None))
    return problems


def check_request(request: ArmRequest) -> list[str]:
    arm = ARM_TYPES[request.typ]
    return [*check_path(arm, request.path), *check_body(arm.model, request.body)]


def model_schema(cls: type[Any]) -> dict[str, Any]:
    """A model's ARM keys, types, read-only flags and rules, nested models included (to compare API versions)."""
    models = sys.modules[cls.__module__.rsplit(".", 1)[0]]
    rules = _rules_of(cls)
    schema: dict[str, Any] = {}
    for attr, wire in _wire_keys(cls).items():
        nested = getattr(models, wire.type.strip("[]{}"), None)
        entry: dict[str, Any] = {"type": wire.type, "rules": dict(rules.get(attr, {})), "enum": None}
        if isinstance(nested, type) and callable(getattr(nested, "from_dict", None)):
            entry["model"] = model_schema(nested)
        if attr in _enum_of(cls):
            entry["enum"] = sorted(member.value for member in _enum_of(cls)[attr])
        schema[".".join(wire.keys)] = entry
    return schema
