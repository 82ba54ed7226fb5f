"""Pulumi policy pack for batchforge: guardrails every preview and update runs (``--policy-pack policy``).

The checks are plain functions (:mod:`batchforge.policy.rules`) callable with (resource type, props, stack name);
:mod:`batchforge.policy.pack` registers them as ``ResourceValidationPolicy`` objects for the Pulumi engine.
"""

from batchforge.policy.guardrails import (
    DeclaredResource,
    Violation,
    load_policy_config,
    validate_resource,
    validate_resources,
)
from batchforge.policy.rules import RULES, Rule

__all__ = [
    "RULES",
    "DeclaredResource",
    "Rule",
    "Violation",
    "load_policy_config",
    "validate_resource",
    "validate_resources",
]
