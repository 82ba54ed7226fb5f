"""Registers the guardrails as Pulumi ``ResourceValidationPolicy`` objects."""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from batchforge.policy.guardrails import load_policy_config, rule_settings
from batchforge.policy.rules import RULES, Rule

PACK_NAME = "batchforge-guardrails"


def current_stack() -> str:
    """The stack being previewed or updated; the engine passes it to the pack in PULUMI_STACK."""
    stack = os.environ.get("PULUMI_STACK")
    if stack:
        return stack
    return pulumi.get_stack()


def _validator(rule: Rule) -> Any:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        settings = rule_settings(rule, {rule.name: dict(args.get_config() or {})})
        for message in rule.check(args.resource_type, args.props, current_stack(), settings):
            report_violation(message, None)

    return validate


def build_policies() -> list[ResourceValidationPolicy]:
    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validator(rule),
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=PolicyConfigSchema(properties=dict(rule.config_schema)) if rule.config_schema else None,
            remediation_steps=rule.remediation or None,
        )
        for rule in RULES
    ]


def initial_config() -> dict[str, EnforcementLevel | dict[str, Any]]:
    """``policy/config.json`` as the pack's initial config; ``--policy-pack-config`` overrides it."""
    config: dict[str, EnforcementLevel | dict[str, Any]] = {}
    for name, settings in load_policy_config().items():
        converted: dict[str, Any] = dict(settings)
        if "enforcementLevel" in converted:
            converted["enforcementLevel"] = EnforcementLevel(converted["enforcementLevel"])
        config[name] = converted
    return config
