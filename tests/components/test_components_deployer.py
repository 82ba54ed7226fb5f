"""Who may upload the start-task files: the configured deployer, or else the signed-in user."""

from __future__ import annotations

import components_mocks
from components_mocks import REPO_ROOT, ProgramRun, run_build

from batchforge.config import load_stack_file
from batchforge.config.model import DeployerConfig

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PIPELINE = "5f0c3e1a-8b2d-4c6e-9f10-2a3b4c5d6e7f"


def _staging(deployer: DeployerConfig | None = None):
    # Without workloads: only the platform matters here, and planning workloads costs time.
    config = load_stack_file(REPO_ROOT / "Pulumi.staging.yaml")
    return config.model_copy(update={"workloads": [], "deployer": deployer})


def _upload_grant(run: ProgramRun) -> tuple[str, str]:
    inputs = run.one(ROLE_ASSIGNMENT, "platform-deployer-uploads-resources").inputs
    return inputs["principalId"], inputs["principalType"]


def test_without_a_deployer_the_signed_in_client_is_granted_as_a_user():
    run = run_build(_staging(), "staging")
    assert _upload_grant(run) == (components_mocks.DEPLOYER_OBJECT_ID, "User")


def test_a_configured_deployer_is_granted_exactly_as_configured():
    run = run_build(_staging(DeployerConfig(principal_id=PIPELINE, principal_type="ServicePrincipal")), "staging")
    assert _upload_grant(run) == (PIPELINE, "ServicePrincipal")
    granted = {grant.inputs["principalId"] for grant in run.of_type(ROLE_ASSIGNMENT)}
    assert components_mocks.DEPLOYER_OBJECT_ID not in granted


def test_with_a_deployer_whoever_runs_up_declares_the_same_assignment(monkeypatch):
    config = _staging(DeployerConfig(principal_id=PIPELINE, principal_type="ServicePrincipal"))
    from_the_pipeline = run_build(config, "staging").one(ROLE_ASSIGNMENT, "platform-deployer-uploads-resources")
    monkeypatch.setattr(components_mocks, "DEPLOYER_OBJECT_ID", "0badc0de-0000-4000-8000-00000000face")
    from_a_laptop = run_build(config, "staging").one(ROLE_ASSIGNMENT, "platform-deployer-uploads-resources")
    assert from_a_laptop.inputs == from_the_pipeline.inputs
