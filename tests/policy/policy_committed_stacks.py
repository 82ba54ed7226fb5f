"""What each committed stack declares under mocks, run once per test process and shared by the policy tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from batchforge.policy.guardrails import DeclaredResource
from batchforge.policy.program_under_mocks import declared_by_program

REPO = Path(__file__).resolve().parents[2]


@cache
def _declared(stack: str) -> tuple[DeclaredResource, ...]:
    return tuple(declared_by_program(stack, REPO))


def committed_declared(stack: str) -> list[DeclaredResource]:
    """``declared_by_program(stack, REPO)`` for ``Pulumi.<stack>.yaml`` as committed (a new list; do not modify
    the resources in it)."""
    return list(_declared(stack))
