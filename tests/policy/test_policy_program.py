"""The policy pack on what the Pulumi program declares under mocks: every committed stack passes, and
deliberately broken stack configs fail with the policy's own message."""

from pathlib import Path

import pytest
import yaml
from policy_committed_stacks import committed_declared

from batchforge.config import validate_stack_data
from batchforge.policy import validate_resources
from batchforge.policy.program_under_mocks import declared_for_config
from batchforge.policy.rules import BATCH_ACCOUNT, POOL, STORAGE_ACCOUNT

REPO = Path(__file__).resolve().parents[2]
STACKS = sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in REPO.glob("Pulumi.*.yaml"))


def raw_config(stack):
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return {
        key.removeprefix("batchforge:"): value
        for key, value in document["config"].items()
        if key.startswith("batchforge:")
    }


def violations_for(stack, change):
    data = raw_config(stack)
    change(data)
    config = validate_stack_data(data, f"Pulumi.{stack}.yaml", REPO)
    return validate_resources(declared_for_config(config, stack, REPO), stack)


def test_there_are_committed_stacks():
    assert {"dev", "staging", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_passes_the_policy_pack(stack):
    declared = committed_declared(stack)
    types = {resource.resource_type for resource in declared}
    assert {BATCH_ACCOUNT, STORAGE_ACCOUNT, POOL} <= types
    assert validate_resources(declared, stack) == []


def set_prod_spot(data):
    data["pools"][0]["scale"] = {"dedicated": 2, "spot": 3}


def set_public_ips(data):
    data["pools"][0]["publicIps"] = True


def allow_shared_key(data):
    data["batchAccount"]["allowedAuthenticationModes"] = ["AAD", "SharedKey"]


def drop_cost_center(data):
    del data["tags"]["costCenter"]


def sas_in_start_task(data):
    data["pools"][0]["startTask"]["environment"]["INPUT_URL"] = "https://acct.blob.core.windows.net/in?sv=1&sig=abc"


def sas_resource_file(data):
    data["pools"][0]["startTask"]["resourceFiles"].append(
        {"source": "https://acct.blob.core.windows.net/tools/run.sh?se=2030&sig=abc", "filePath": "run.sh"}
    )


@pytest.mark.parametrize(
    ("change", "policy", "fragment"),
    [
        (set_prod_spot, "pool-no-spot-in-prod", "uses spot/low-priority nodes (up to 3)"),
        (set_public_ips, "pool-no-public-ips-in-prod", "must have no public IPs"),
        (allow_shared_key, "batch-entra-only-auth", "allows SharedKey authentication"),
        (drop_cost_center, "required-tags", "missing required tag(s): costCenter"),
        (sas_in_start_task, "no-sas-or-keys", "environment variable INPUT_URL holds a SAS token"),
        (sas_resource_file, "no-sas-or-keys", "holds a SAS token (sig=)"),
    ],
)
def test_broken_prod_configs_fail_with_the_policy_message(change, policy, fragment):
    found = violations_for("prod", change)
    assert found, "expected a violation"
    assert {violation.policy for violation in found} == {policy}, [str(v) for v in found]
    assert any(fragment in violation.message for violation in found), [str(v) for v in found]


def test_dev_pool_above_its_node_limit_fails():
    def too_big(data):
        data["pools"][0]["scale"] = {"formula": "$TargetLowPriorityNodes = min(40, $PendingTasks.GetSample(1));"}

    found = violations_for("dev", too_big)
    assert [violation.policy for violation in found] == ["pool-max-nodes"]
    assert "can grow to 40 nodes" in found[0].message
    assert "stack 'dev' allows at most 10 nodes per pool" in found[0].message


def test_spot_is_fine_outside_prod():
    def spot(data):
        data["pools"][0]["scale"] = {"dedicated": 1, "spot": 3}

    assert violations_for("staging", spot) == []
