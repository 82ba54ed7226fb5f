"""docs/gitops.md lists exactly the policies the pack enforces."""

from __future__ import annotations

import re
from pathlib import Path

from batchforge.policy.rules import RULES

GITOPS_DOC = Path(__file__).resolve().parents[2] / "docs" / "gitops.md"


def test_the_policy_table_names_every_rule_and_no_other():
    section = GITOPS_DOC.read_text(encoding="utf-8").split("### The policy pack", 1)[1].split("\n#", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M))
    assert documented == {rule.name for rule in RULES}
