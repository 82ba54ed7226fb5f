"""Runs the Pulumi program under Pulumi's mocks (no CLI, no Azure) and returns what it declares.

This is how the guardrails are checked before a deployment: the resources a stack would declare,
with the same camelCase input properties the engine would hand the policy pack. The program runs
under the engine-contract harness, as a preview and as an update, so a program the engine would
refuse raises ``EngineContractViolation`` here too.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from batchforge.contract.engine import run_under_engine_contract
from batchforge.policy.guardrails import DeclaredResource

PROJECT = "batchforge"
# Stand-ins for what Azure would answer; only their shape matters to the program.
_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"
_DEPLOYER_OBJECT_ID = "00000000-0000-0000-0000-0000000000de"


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[DeclaredResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.resources.append(DeclaredResource(args.typ, args.name, inputs))
        group = f"/subscriptions/{_SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName', 'rg')}"
        name = next(
            (str(inputs[key]) for key in ("accountName", "resourceName", "poolName", "containerName") if key in inputs),
            args.name,
        )
        state = dict(inputs)
        state.setdefault("name", inputs.get("resourceGroupName", name) if args.typ.endswith("ResourceGroup") else name)
        state.setdefault("primaryEndpoints", {"blob": f"https://{name}.blob.core.windows.net/"})
        state.setdefault("accountEndpoint", f"{name}.{inputs.get('location', 'region')}.batch.azure.com")
        state.setdefault("clientId", f"client-{name}")
        state.setdefault("principalId", f"principal-{name}")
        return f"{group}/providers/{args.typ}/{name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "deployer",
                "objectId": _DEPLOYER_OBJECT_ID,
                "subscriptionId": _SUBSCRIPTION,
                "tenantId": "tenant",
            }, []
        return {}, []


def stack_config_map(stack_file: Path) -> dict[str, str]:
    """A stack file's ``config:`` section as Pulumi hands it to a program: structured values as JSON text."""
    from batchforge.core import read_yaml_file

    document = read_yaml_file(stack_file, stack_file.name)
    config = (document.get("config") or {}) if isinstance(document, Mapping) else {}
    return {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
        if not (isinstance(value, Mapping) and "secure" in value)
    }


def _run(
    stack: str, config: Mapping[str, str], program: Callable[[], Mapping[str, Any] | None]
) -> list[DeclaredResource]:
    result = run_under_engine_contract(_RecordingMocks, program, project=PROJECT, stack=stack, config=config)
    return result.mocks.resources


def declared_by_program(stack: str, repo_root: Path) -> list[DeclaredResource]:
    """Runs ``__main__.py`` as ``pulumi preview`` would, with ``Pulumi.<stack>.yaml`` as its config."""
    config = stack_config_map(repo_root / f"Pulumi.{stack}.yaml")

    def program() -> None:
        runpy.run_path(str(repo_root / "__main__.py"), run_name="__main__")

    return _run(stack, config, program)


def declared_for_config(config: Any, stack: str, repo_root: Path) -> list[DeclaredResource]:
    """Declares a stack from an already-validated ``StackConfig`` (e.g. a modified copy in a test)."""
    from components.stack import build_stack

    return _run(stack, {}, lambda: build_stack(config, stack, repo_root))
