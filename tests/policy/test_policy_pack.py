"""The guardrails as the Pulumi engine sees them: ResourceValidationPolicy objects and the pack process."""

import subprocess
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from batchforge.policy.pack import build_policies, initial_config
from batchforge.policy.rules import POOL, RULES

REPO = Path(__file__).resolve().parents[2]


def run_policy(name, resource_type, props, config=None):
    [policy] = [candidate for candidate in build_policies() if candidate.name == name]
    reported = []
    args = ResourceValidationArgs(resource_type, props, "urn:pulumi:prod::batchforge::x", "x", None, None, config)
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_every_rule_is_a_mandatory_policy():
    policies = build_policies()
    assert [policy.name for policy in policies] == [rule.name for rule in RULES]
    assert {policy.enforcement_level for policy in policies} == {EnforcementLevel.MANDATORY}


def test_registered_policy_reports_with_the_stack_from_the_engine(monkeypatch):
    props = {"poolName": "cpu", "scaleSettings": {"fixedScale": {"targetLowPriorityNodes": 2.0}}}
    monkeypatch.setenv("PULUMI_STACK", "prod")
    assert run_policy("pool-no-spot-in-prod", POOL, props, {"productionStacks": ["prod"]}) == [
        "Pool 'cpu' in production stack 'prod' uses spot/low-priority nodes (up to 2); "
        "production pools must use dedicated nodes only"
    ]
    monkeypatch.setenv("PULUMI_STACK", "dev")
    assert run_policy("pool-no-spot-in-prod", POOL, props, {"productionStacks": ["prod"]}) == []


def test_registered_policy_uses_engine_config(monkeypatch):
    monkeypatch.setenv("PULUMI_STACK", "qa")
    props = {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 5.0}}}
    assert run_policy("pool-max-nodes", POOL, props, {"maxNodesPerPool": {"qa": 5}}) == []
    assert len(run_policy("pool-max-nodes", POOL, props, {"maxNodesPerPool": {"qa": 4}})) == 1


def test_initial_config_carries_enforcement_levels():
    config = initial_config()
    assert config["pool-max-nodes"]["enforcementLevel"] == EnforcementLevel.MANDATORY


def test_pack_process_starts_and_serves_from_the_policy_folder():
    process = subprocess.Popen(
        [sys.executable, str(REPO / "policy" / "__main__.py")],
        cwd=REPO / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
    finally:
        process.kill()
        process.wait(timeout=10)


def proxied(props):
    """Props as the engine hands them to a pack: read-only Mapping/Sequence proxies, not dicts and lists."""
    from pulumi_policy.proxy import unknown_checking_proxy

    return unknown_checking_proxy(props)


def test_policies_see_through_the_engine_property_proxies(monkeypatch):
    monkeypatch.setenv("PULUMI_STACK", "prod")
    props = {
        "poolName": "cpu",
        "startTask": {
            "resourceFiles": [{"httpUrl": "https://a.blob.core.windows.net/c/x.sh?sv=1&sig=abc"}],
            "environmentSettings": [{"name": "DB_PASSWORD", "value": "hunter2"}],
        },
    }
    reported = run_policy("no-sas-or-keys", POOL, proxied(props))
    assert reported == [
        "startTask.resourceFiles[0].httpUrl: holds a SAS token (sig=); "
        "resource files and URLs must use a managed identity",
        "startTask.environmentSettings: environment variable DB_PASSWORD carries a credential; use a managed identity",
    ]
    account = {"allowedAuthenticationModes": ["AAD", "SharedKey"]}
    assert len(run_policy("batch-entra-only-auth", "azure-native:batch:BatchAccount", proxied(account))) == 1


def test_unknown_values_surface_as_the_sdk_error_during_preview(monkeypatch):
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    monkeypatch.setenv("PULUMI_STACK", "prod")
    props = {"startTask": {"resourceFiles": [{"httpUrl": UNKNOWN_STRING_VALUE}]}}
    try:
        run_policy("no-sas-or-keys", POOL, proxied(props))
    except UnknownValueError as error:
        assert "resourceFiles.0.httpUrl" in error.message
    else:
        raise AssertionError("an unknown value must reach the policy SDK, which reports it as advisory")
