"""Runs the Pulumi program under mocks (no CLI, no Azure) and records every declared resource.

Every run goes through the engine-contract harness (``batchforge.contract.engine``), as a preview and
as an update: a program the real engine would refuse fails here with the harness's message.
"""

from __future__ import annotations

import runpy
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import yaml

from batchforge.config import StackConfig, to_pulumi_config
from batchforge.contract.engine import BOTH_MODES, Mode, run_under_engine_contract
from components.stack import build_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
DEPLOYER_OBJECT_ID = "99999999-8888-7777-6666-555555555555"


@dataclass
class Declared:
    typ: str
    name: str
    inputs: dict[str, Any]
    id: str


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like Azure would (ARM ids, names, endpoints) and keeps every resource's inputs."""

    def __init__(self) -> None:
        self.resources: list[Declared] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        state = dict(inputs)
        rg = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName', 'rg')}"
        typ = args.typ
        if typ == "azure-native:resources:ResourceGroup":
            state["name"] = inputs["resourceGroupName"]
            resource_id = rg
        elif typ == "azure-native:storage:StorageAccount":
            state["name"] = inputs["accountName"]
            state["primaryEndpoints"] = {"blob": f"https://{inputs['accountName']}.blob.core.windows.net/"}
            resource_id = f"{rg}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"
        elif typ == "azure-native:storage:BlobContainer":
            state["name"] = inputs["containerName"]
            resource_id = (
                f"{rg}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"
                f"/blobServices/default/containers/{inputs['containerName']}"
            )
        elif typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["name"] = inputs["resourceName"]
            state["clientId"] = f"client-{inputs['resourceName']}"
            state["principalId"] = f"principal-{inputs['resourceName']}"
            resource_id = f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{inputs['resourceName']}"
        elif typ == "azure-native:batch:BatchAccount":
            state["name"] = inputs["accountName"]
            state["accountEndpoint"] = f"{inputs['accountName']}.{inputs['location']}.batch.azure.com"
            resource_id = f"{rg}/providers/Microsoft.Batch/batchAccounts/{inputs['accountName']}"
        elif typ == "azure-native:batch:Pool":
            state["name"] = inputs["poolName"]
            resource_id = (
                f"{rg}/providers/Microsoft.Batch/batchAccounts/{inputs['accountName']}/pools/{inputs['poolName']}"
            )
        elif typ == "azure-native:network:PrivateEndpoint":
            state["name"] = inputs["privateEndpointName"]
            resource_id = f"{rg}/providers/Microsoft.Network/privateEndpoints/{inputs['privateEndpointName']}"
        else:
            resource_id = f"{args.name}-id"
        self.resources.append(Declared(typ, args.name, inputs, resource_id))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "deployer-client",
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION,
                "tenantId": "tenant",
            }, []
        raise AssertionError(f"unexpected invoke {args.token}")


@dataclass
class ProgramRun:
    resources: list[Declared]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Declared:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]


def run_program(stack: str, config: dict[str, str], modes: Sequence[Mode] = BOTH_MODES) -> ProgramRun:
    """Runs ``__main__.py`` as ``pulumi preview`` and ``pulumi up`` would, with ``config`` as the stack's config map.

    Returns the last run (the update's unless ``modes`` says otherwise).
    """

    def program() -> None:
        runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")

    result = run_under_engine_contract(RecordingMocks, program, stack=stack, config=config, modes=modes)
    return ProgramRun(result.mocks.resources, result.outputs)


@cache
def committed_stack_run(stack: str) -> ProgramRun:
    """``run_program`` with ``Pulumi.<stack>.yaml`` as committed, run once per test process and shared.

    For tests that only read what a committed stack declares (do not modify the result); a test about
    running the program itself (environment, determinism) calls ``run_program``.
    """
    section = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return run_program(stack, to_pulumi_config(section))


def run_build(
    config: StackConfig, stack: str, repo_root: Path = REPO_ROOT, modes: Sequence[Mode] = BOTH_MODES
) -> ProgramRun:
    """Runs ``build_stack`` directly with an already-built config (for variations of a stack)."""
    result = run_under_engine_contract(
        RecordingMocks, lambda: build_stack(config, stack, repo_root), stack=stack, modes=modes
    )
    return ProgramRun(result.mocks.resources, result.outputs)
