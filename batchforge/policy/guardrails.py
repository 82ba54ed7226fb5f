"""Running the guardrails on declared resources: policy config, violations, one call per resource."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchforge.policy.rules import RULES, Rule

CONFIG_FILE = Path(__file__).with_name("config.json")


@dataclass(frozen=True)
class Violation:
    """One policy violation on one declared resource."""

    policy: str
    resource_type: str
    resource_name: str
    message: str

    def __str__(self) -> str:
        where = f"{self.resource_type} '{self.resource_name}'" if self.resource_name else self.resource_type
        return f"[{self.policy}] {where}: {self.message}"


@dataclass(frozen=True)
class DeclaredResource:
    """A resource as the program declares it: type token, logical name, camelCase input properties."""

    resource_type: str
    name: str
    props: Mapping[str, Any]


def load_policy_config(path: Path = CONFIG_FILE) -> dict[str, dict[str, Any]]:
    """The pack's policy config (``policy/config.json``): per policy, its settings and enforcement level."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
        raise ValueError(f"{path}: must map policy names to objects")
    unknown = sorted(set(data) - {candidate.name for candidate in RULES})
    if unknown:
        raise ValueError(f"{path}: unknown policy name(s): {', '.join(unknown)}")
    return data


def rule_settings(rule: Rule, config: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """One rule's settings: schema defaults, then the pack config (without its enforcement level)."""
    settings = {key: schema["default"] for key, schema in rule.config_schema.items() if "default" in schema}
    settings.update(
        {key: value for key, value in (config or {}).get(rule.name, {}).items() if key != "enforcementLevel"}
    )
    return settings


def validate_resource(
    resource_type: str,
    props: Mapping[str, Any],
    stack: str,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    name: str = "",
) -> list[Violation]:
    """Every guardrail violation of one resource in ``stack``; ``config`` defaults to ``policy/config.json``."""
    pack_config = load_policy_config() if config is None else config
    violations: list[Violation] = []
    for rule in RULES:
        if pack_config.get(rule.name, {}).get("enforcementLevel") == "disabled" or not rule.applies_to(resource_type):
            continue
        for message in rule.check(resource_type, props, stack, rule_settings(rule, pack_config)):
            violations.append(Violation(rule.name, resource_type, name, message))
    return violations


def validate_resources(
    resources: Iterable[DeclaredResource], stack: str, config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    """Every violation across a stack's declared resources, in declaration order."""
    pack_config = load_policy_config() if config is None else config
    found: list[Violation] = []
    for resource in resources:
        found.extend(validate_resource(resource.resource_type, resource.props, stack, pack_config, resource.name))
    return found
