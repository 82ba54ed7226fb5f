"""The guardrails, as plain functions over (resource type, input properties, stack name, policy config).

Property names are those the engine hands a policy pack for pulumi-azure-native 3.x resources: the
camelCase input names (``allowedAuthenticationModes``, ``networkConfiguration``...). The same
functions run inside the Pulumi policy pack (see :mod:`batchforge.policy.pack`) and directly from tests and
the ``promote`` check, so a message seen in CI is the message a test asserts on.

The functions never catch exceptions from reading properties: during a preview the policy SDK
raises its own error for values not known yet, and reports that policy as advisory itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from batchforge.config.lifecycle import RETIREMENTS, node_agent_note
from batchforge.policy.autoscale_bounds import DEDICATED, LOW_PRIORITY, target_bounds

BATCH_ACCOUNT = "azure-native:batch:BatchAccount"
POOL = "azure-native:batch:Pool"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"

# Resources that carry ARM tags in what this project declares; required tags are checked on these.
TAGGED_TYPES = frozenset(
    {
        "azure-native:resources:ResourceGroup",
        STORAGE_ACCOUNT,
        BATCH_ACCOUNT,
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:network:VirtualNetwork",
        "azure-native:keyvault:Vault",
    }
)

Check = Callable[[str, Mapping[str, Any], str, Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class Rule:
    """One guardrail: a name (the policy's name in the pack), what it enforces, and its check."""

    name: str
    description: str
    resource_types: frozenset[str] | None  # None: every resource type
    check: Check
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remediation: str = ""

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_types is None or resource_type in self.resource_types


def _get(props: Mapping[str, Any] | None, *path: str) -> Any:
    current: Any = props
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def _is_production(stack: str, config: Mapping[str, Any]) -> bool:
    return stack in set(config.get("productionStacks") or ["prod"])


# --- Batch account -------------------------------------------------------------------------------


def check_batch_entra_only(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    modes = props.get("allowedAuthenticationModes")
    if not modes:
        return [
            "Batch account must set allowedAuthenticationModes to ['AAD'] (Microsoft Entra ID only); "
            "left unset, Azure also accepts SharedKey"
        ]
    if "SharedKey" in list(modes):
        return [
            f"Batch account allows SharedKey authentication (allowedAuthenticationModes={list(modes)}); "
            "allow only AAD (Microsoft Entra ID)"
        ]
    return []


# --- Retired settings ----------------------------------------------------------------------------

# Where each retired stack-config value lands in the ARM properties of the resource.
_RETIRED_PROPERTY_PATHS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "allowedAuthenticationModes": (BATCH_ACCOUNT, ("allowedAuthenticationModes",)),
    "nodeCommunicationMode": (POOL, ("targetNodeCommunicationMode",)),
    "nodeDeallocationOption": (POOL, ("scaleSettings", "fixedScale", "nodeDeallocationOption")),
}


def retired_settings_findings(resource_type: str, props: Mapping[str, Any], today: date) -> list[str]:
    """The stack config's retirement and end-of-support errors, for resources declared by any means.

    Same dates and wording as :mod:`batchforge.config.lifecycle`; only what is already past on ``today``.
    """
    findings: list[str] = []
    for retirement in RETIREMENTS:
        target_type, path = _RETIRED_PROPERTY_PATHS[retirement.key]
        if resource_type != target_type or today < retirement.effective:
            continue
        value = _get(props, *path)
        values = list(value) if _is_list(value) else [value]
        # ARM compares enum values without regard to case.
        if any(isinstance(item, str) and item.lower() == retirement.value.lower() for item in values):
            findings.append(f"{'.'.join(path)}: {retirement.message(today)}")
    if resource_type == POOL:
        sku = _get(props, "deploymentConfiguration", "virtualMachineConfiguration", "nodeAgentSkuId")
        note = node_agent_note(sku, today) if isinstance(sku, str) else None
        if note is not None and note[1]:
            findings.append(f"deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId: {note[0]}")
    return findings


def check_no_retired_settings(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    return retired_settings_findings(resource_type, props, date.today())


# --- Storage account -----------------------------------------------------------------------------


def check_storage_no_shared_key(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    if props.get("allowSharedKeyAccess") is not False:
        return ["Storage account must set allowSharedKeyAccess to false (Microsoft Entra ID only, no account keys)"]
    return []


_TLS_ORDER = {"TLS1_0": 0, "TLS1_1": 1, "TLS1_2": 2, "TLS1_3": 3}


def check_storage_min_tls(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    version = props.get("minimumTlsVersion")
    if _TLS_ORDER.get(str(version), -1) < _TLS_ORDER["TLS1_2"]:
        return [f"Storage account minimumTlsVersion must be TLS1_2 or newer, got {version!r}"]
    return []


def check_storage_no_public_blobs(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    if props.get("allowBlobPublicAccess") is not False:
        return ["Storage account must set allowBlobPublicAccess to false (no anonymous blob access)"]
    return []


def check_storage_https_only(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    # Unset means the service default, HTTPS only.
    if props.get("enableHttpsTrafficOnly") is False:
        return ["Storage account must not set enableHttpsTrafficOnly to false (HTTPS only)"]
    return []


def check_storage_private_in_prod(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    """A production stack's storage is unreachable from the internet (Checkov CKV_AZURE_59, _35 and _36)."""
    if not _is_production(stack, config):
        return []
    findings: list[str] = []
    where = f"Storage account in production stack '{stack}'"
    access = props.get("publicNetworkAccess")
    if access != "Disabled":
        shown = access if access is not None else "unset (Enabled)"
        findings.append(
            f"{where} must set publicNetworkAccess to Disabled (reached through its blob private endpoint), got {shown}"
        )
    rules = props.get("networkRuleSet")
    default_action = _get(rules, "defaultAction")
    if default_action != "Deny":
        shown = default_action if default_action is not None else "unset (Allow)"
        findings.append(f"{where} must set networkRuleSet.defaultAction to Deny, got {shown}")
    bypass = _get(rules, "bypass")
    granted = {part.strip() for part in bypass.split(",")} if isinstance(bypass, str) else set()
    if "AzureServices" not in granted:
        findings.append(
            f"{where} must let trusted Azure services through: networkRuleSet.bypass must include AzureServices, "
            f"got {bypass if bypass is not None else 'unset'}"
        )
    return findings


# --- Pools ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolNodeCeiling:
    """At most how many nodes a pool can get: dedicated, spot/low-priority, and whether both are capped."""

    dedicated: float
    low_priority: float
    autoscale: bool

    @property
    def total(self) -> float:
        return self.dedicated + self.low_priority


def pool_node_ceiling(props: Mapping[str, Any]) -> PoolNodeCeiling:
    fixed = _get(props, "scaleSettings", "fixedScale")
    formula = _get(props, "scaleSettings", "autoScale", "formula")
    if isinstance(formula, str):
        bounds = target_bounds(formula)
        return PoolNodeCeiling(bounds[DEDICATED].max_nodes, bounds[LOW_PRIORITY].max_nodes, autoscale=True)
    if isinstance(fixed, Mapping):
        return PoolNodeCeiling(
            float(fixed.get("targetDedicatedNodes") or 0), float(fixed.get("targetLowPriorityNodes") or 0), False
        )
    # No scale settings: ARM creates the pool with zero dedicated nodes.
    return PoolNodeCeiling(0, 0, autoscale=False)


def _pool_label(props: Mapping[str, Any]) -> str:
    name = props.get("poolName") or props.get("displayName")
    return f"Pool '{name}'" if name else "Pool"


def _count(value: float) -> str:
    return "unbounded" if value == float("inf") else str(int(value))


def check_pool_max_nodes(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    limits = config.get("maxNodesPerPool") or {}
    limit = int(limits.get(stack, config.get("defaultMaxNodesPerPool", 10)))
    ceiling = pool_node_ceiling(props)
    if ceiling.total <= limit:
        return []
    if ceiling.autoscale and ceiling.total == float("inf"):
        return [
            f"{_pool_label(props)}: the autoscale formula does not cap {DEDICATED} / {LOW_PRIORITY} "
            f"(use min(<expression>, N)); stack '{stack}' allows at most {limit} nodes per pool"
        ]
    return [
        f"{_pool_label(props)} can grow to {_count(ceiling.total)} nodes "
        f"({_count(ceiling.dedicated)} dedicated + {_count(ceiling.low_priority)} spot/low-priority); "
        f"stack '{stack}' allows at most {limit} nodes per pool"
    ]


def check_pool_no_public_ips_in_prod(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    if not _is_production(stack, config):
        return []
    provision = _get(props, "networkConfiguration", "publicIPAddressConfiguration", "provision")
    if provision != "NoPublicIPAddresses":
        shown = provision if provision is not None else "unset (BatchManaged)"
        return [
            f"{_pool_label(props)} in production stack '{stack}' must have no public IPs: "
            f"networkConfiguration.publicIPAddressConfiguration.provision must be NoPublicIPAddresses, got {shown}"
        ]
    return []


def check_pool_no_spot_in_prod(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    if not _is_production(stack, config):
        return []
    ceiling = pool_node_ceiling(props)
    if ceiling.low_priority > 0:
        return [
            f"{_pool_label(props)} in production stack '{stack}' uses spot/low-priority nodes "
            f"(up to {_count(ceiling.low_priority)}); production pools must use dedicated nodes only"
        ]
    return []


# --- Tags ----------------------------------------------------------------------------------------


def check_required_tags(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    if resource_type not in TAGGED_TYPES and "tags" not in props:
        return []
    tags = props.get("tags") or {}
    required: Sequence[str] = config.get("requiredTags") or ["environment", "costCenter", "managedBy"]
    missing = [tag for tag in required if not str(tags.get(tag) or "").strip()]
    messages: list[str] = []
    if missing:
        messages.append(f"{resource_type.rsplit(':', 1)[-1]} is missing required tag(s): {', '.join(missing)}")
    environment_tag = config.get("environmentTag")
    if environment_tag and tags.get(environment_tag) and tags[environment_tag] != stack:
        messages.append(
            f"{resource_type.rsplit(':', 1)[-1]} tag {environment_tag}={tags[environment_tag]!r} "
            f"does not match the stack '{stack}'"
        )
    return messages


# --- Secrets in pools and workloads --------------------------------------------------------------

_SAS_SIGNATURE = re.compile(r"[?&]sig=", re.IGNORECASE)
_CONNECTION_STRING_SECRET = re.compile(r"(AccountKey|SharedAccessSignature|SharedAccessKey)\s*=", re.IGNORECASE)
_STORAGE_KEY_SHAPE = re.compile(r"^[A-Za-z0-9+/]{86}==$")
_SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|SECRET|ACCOUNT_?KEY|ACCESS_?KEY|SAS_?TOKEN|(^|_)SAS($|_)|CONNECTION_?STRING)", re.IGNORECASE
)
# Fields of pool inputs that hold a credential; any value there is a stored key.
_CREDENTIAL_FIELDS = frozenset({"accountKey", "sasKey", "password"})


def _secret_in_text(text: str) -> str | None:
    if _SAS_SIGNATURE.search(text):
        return "a SAS token (sig=)"
    if _CONNECTION_STRING_SECRET.search(text):
        return "an account key or SAS in a connection string"
    if _STORAGE_KEY_SHAPE.match(text.strip()):
        return "what looks like a storage account key"
    return None


_ENVIRONMENT_KEYS = frozenset({"environmentSettings", "environment"})


def _is_list(value: Any) -> bool:
    """Lists as plain data or as the policy SDK's read-only sequence proxies (not strings)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every (key path, value) pair; environment blocks are yielded whole, not entered."""
    yield path, value
    if path.rsplit(".", 1)[-1] in _ENVIRONMENT_KEYS:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif _is_list(value):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _environment_findings(path: str, value: Any) -> list[str]:
    """``environmentSettings`` lists ({name, value}) and plain ``environment`` mappings."""
    findings: list[str] = []
    entries: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        entries = [(str(name), item) for name, item in value.items()]
    elif _is_list(value):
        entries = [(str(item.get("name")), item.get("value")) for item in value if isinstance(item, Mapping)]
    for name, item in entries:
        if item in (None, ""):
            continue
        if _SECRET_ENV_NAME.search(name):
            findings.append(f"{path}: environment variable {name} carries a credential; use a managed identity")
        elif isinstance(item, str) and (kind := _secret_in_text(item)):
            findings.append(f"{path}: environment variable {name} holds {kind}; use a managed identity")
    return findings


def check_no_sas_or_keys(
    resource_type: str, props: Mapping[str, Any], stack: str, config: Mapping[str, Any]
) -> list[str]:
    findings: list[str] = []
    for path, value in _walk(props, ""):
        leaf = path.rsplit(".", 1)[-1]
        if leaf in _ENVIRONMENT_KEYS and (isinstance(value, Mapping) or _is_list(value)):
            findings.extend(_environment_findings(path, value))
        elif resource_type == POOL and leaf in _CREDENTIAL_FIELDS and value not in (None, ""):
            # Batch requires a password for pool user accounts; those are not storage credentials.
            if not path.startswith("userAccounts"):
                findings.append(f"{path}: pools must not carry keys or passwords; use the pool's managed identity")
        elif isinstance(value, str) and (kind := _secret_in_text(value)):
            findings.append(f"{path}: holds {kind}; resource files and URLs must use a managed identity")
    return list(dict.fromkeys(findings))


_PRODUCTION_STACKS_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["prod"],
    "description": "Stacks treated as production",
}

RULES: tuple[Rule, ...] = (
    Rule(
        "batch-entra-only-auth",
        "Batch accounts accept Microsoft Entra ID authentication only (no SharedKey).",
        frozenset({BATCH_ACCOUNT}),
        check_batch_entra_only,
        remediation="Set batchAccount.allowedAuthenticationModes to [AAD] in the stack config.",
    ),
    Rule(
        "no-retired-batch-settings",
        "Batch accounts and pools use no retired setting and no node agent past its end of support.",
        frozenset({BATCH_ACCOUNT, POOL}),
        check_no_retired_settings,
        remediation="Use the replacement the message names in the stack config; see docs/deploy-azure.md.",
    ),
    Rule(
        "storage-no-shared-key",
        "Storage accounts disable shared key (account key) authorization.",
        frozenset({STORAGE_ACCOUNT}),
        check_storage_no_shared_key,
    ),
    Rule(
        "storage-min-tls-1-2",
        "Storage accounts require TLS 1.2 or newer.",
        frozenset({STORAGE_ACCOUNT}),
        check_storage_min_tls,
    ),
    Rule(
        "storage-no-public-blob-access",
        "Storage accounts do not allow anonymous public blob access.",
        frozenset({STORAGE_ACCOUNT}),
        check_storage_no_public_blobs,
    ),
    Rule(
        "storage-https-only",
        "Storage accounts accept HTTPS traffic only.",
        frozenset({STORAGE_ACCOUNT}),
        check_storage_https_only,
    ),
    Rule(
        "storage-private-in-prod",
        "Storage accounts in production stacks are closed to the internet: public network access disabled, "
        "network rules denying by default, trusted Azure services let through.",
        frozenset({STORAGE_ACCOUNT}),
        check_storage_private_in_prod,
        config_schema={"productionStacks": _PRODUCTION_STACKS_SCHEMA},
        remediation="Set storage.publicNetworkAccess: Disabled and storage.privateEndpoint in the stack config.",
    ),
    Rule(
        "pool-no-public-ips-in-prod",
        "Pools in production stacks give their nodes no public IP addresses.",
        frozenset({POOL}),
        check_pool_no_public_ips_in_prod,
        config_schema={"productionStacks": _PRODUCTION_STACKS_SCHEMA},
        remediation="Set publicIps: false and network.subnetId for the pool in the production stack config.",
    ),
    Rule(
        "pool-max-nodes",
        "A pool can grow to at most the node count allowed for its stack.",
        frozenset({POOL}),
        check_pool_max_nodes,
        config_schema={
            "maxNodesPerPool": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "Per stack: the most nodes (dedicated + spot) one pool may reach",
            },
            "defaultMaxNodesPerPool": {"type": "integer", "minimum": 0, "default": 10},
        },
    ),
    Rule(
        "pool-no-spot-in-prod",
        "Spot/low-priority nodes are used only outside production stacks.",
        frozenset({POOL}),
        check_pool_no_spot_in_prod,
        config_schema={"productionStacks": _PRODUCTION_STACKS_SCHEMA},
    ),
    Rule(
        "required-tags",
        "Tagged Azure resources carry the required tags, and the environment tag names the stack.",
        None,
        check_required_tags,
        config_schema={
            "requiredTags": {"type": "array", "items": {"type": "string"}},
            "environmentTag": {"type": "string"},
        },
    ),
    Rule(
        "no-sas-or-keys",
        "No SAS tokens or keys in resource file URLs, mounts, registries or task environments.",
        None,
        check_no_sas_or_keys,
    ),
)


def rule(name: str) -> Rule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
