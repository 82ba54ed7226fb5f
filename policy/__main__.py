"""Entry point the Pulumi CLI runs for ``--policy-pack policy``: serves the guardrails to the engine."""

import sys
from pathlib import Path

# The engine runs this file with policy/ as the working directory; the rules import as ``policy.*``.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import PACK_NAME, build_policies, initial_config

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    initial_config=initial_config(),
    description="batchforge guardrails: Entra-only auth, locked-down storage, bounded pools, no keys in config",
)
