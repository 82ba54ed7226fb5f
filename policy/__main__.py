"""Entry point the Pulumi CLI runs for ``--policy-pack policy``: serves the guardrails to the engine.

The rules live in the installed ``batchforge`` package (``batchforge.policy``), shared with ``batchctl promote``.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from batchforge.policy.pack import PACK_NAME, build_policies, initial_config

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    initial_config=initial_config(),
    description="batchforge guardrails: Entra-only auth, locked-down storage, bounded pools, no keys in config",
)
