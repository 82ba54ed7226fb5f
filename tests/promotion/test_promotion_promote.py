"""The ``promote`` readiness check: config valid, workloads exist and validate, policy pack passes under mocks."""

from pathlib import Path

from rich.console import Console

from batchforge.promotion import check_promotion

REPO = Path(__file__).resolve().parents[2]


def no_workloads(config):
    config["batchforge:workloads"] = []


def test_a_good_stack_without_workloads_is_ready(stack_repo):
    stack_repo.edit("prod", no_workloads)
    report = check_promotion("prod", stack_repo.root)
    assert report.ok, report.to_text()
    assert [check.name for check in report.checks] == ["config", "workloads", "policy"]
    assert report.check("policy").summary.endswith("declared resources pass the policy pack")


def test_invalid_target_config_fails_and_skips_the_rest(stack_repo):
    stack_repo.edit("staging", lambda config: config["batchforge:pools"][0].update(vmSize="huge"))
    report = check_promotion("staging", stack_repo.root)
    assert not report.ok
    config = report.check("config")
    assert not config.passed
    assert config.details == ("Pulumi.staging.yaml: pools[0].vmSize: must be an Azure VM size such as Standard_D2s_v3",)
    assert report.check("policy").summary == "not checked: the stack config is invalid"


def test_missing_workload_file_fails(stack_repo):
    stack_repo.edit("staging", lambda config: config.update({"batchforge:workloads": ["nowhere.yaml"]}))
    report = check_promotion("staging", stack_repo.root)
    workloads = report.check("workloads")
    assert not workloads.passed
    assert "Pulumi.staging.yaml: workloads[0]: no such workload file: workloads/nowhere.yaml" in workloads.details
    assert report.check("config").passed


def test_policy_violation_blocks_promotion(stack_repo):
    def spot_in_prod(config):
        no_workloads(config)
        config["batchforge:pools"][0]["scale"] = {"dedicated": 2, "spot": 2}

    stack_repo.edit("prod", spot_in_prod)
    report = check_promotion("prod", stack_repo.root)
    policy = report.check("policy")
    assert not policy.passed
    assert policy.summary == "1 policy violation(s)"
    assert policy.details[0].startswith("[pool-no-spot-in-prod] azure-native:batch:Pool 'pool-cpu-pool': Pool '")
    assert "uses spot/low-priority nodes (up to 2)" in policy.details[0]


def test_policy_limits_can_be_tightened(stack_repo):
    stack_repo.edit("prod", no_workloads)
    report = check_promotion(
        "prod", stack_repo.root, policy_config={"pool-max-nodes": {"maxNodesPerPool": {"prod": 3}}}
    )
    assert not report.check("policy").passed
    assert "stack 'prod' allows at most 3 nodes per pool" in report.check("policy").details[0]


def test_source_stack_adds_the_config_diff_and_renders(stack_repo):
    stack_repo.edit("prod", no_workloads)
    report = check_promotion("prod", stack_repo.root, source="staging")
    assert report.ok
    assert report.diff is not None
    assert report.diff.left_stack == "staging"
    assert any(row.path == "pools[cpu].vmSize" for row in report.diff.differences)
    text = report.to_text()
    assert text.splitlines()[0] == "promote staging -> prod: ready"
    console = Console(width=200, record=True)
    console.print(report.render())
    assert "promote staging -> prod: ready" in console.export_text()


def test_unknown_target_stack_fails_cleanly():
    report = check_promotion("qa", REPO)
    assert not report.ok
    assert report.check("config").details == ("Pulumi.qa.yaml: no such stack file (stack 'qa')",)


STACKS = sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in REPO.glob("Pulumi.*.yaml"))


def test_every_committed_stack_is_ready_to_promote():
    for stack in STACKS:
        report = check_promotion(stack, REPO)
        assert report.ok, report.to_text()
        assert [check.name for check in report.checks if check.passed] == ["config", "workloads", "policy"]


def test_invalid_workload_fails_with_its_problems(stack_repo):
    hello = stack_repo.root / "workloads" / "hello.yaml"
    hello.write_text(hello.read_text().replace("maxWallClockTime: PT10M", "maxWallClockTime: forever"))
    report = check_promotion("prod", stack_repo.root)
    workloads = report.check("workloads")
    assert not workloads.passed
    assert workloads.details == (
        "workloads/hello.yaml: constraints.maxWallClockTime: must be a duration such as PT15M (ISO 8601) or 00:15:00",
    )


def test_workload_for_a_pool_the_target_lacks_fails(stack_repo):
    hello = stack_repo.root / "workloads" / "hello.yaml"
    hello.write_text(hello.read_text().replace("pool: cpu", "pool: gpu"))
    report = check_promotion("prod", stack_repo.root)
    workloads = report.check("workloads")
    assert not workloads.passed
    assert workloads.details == ("workloads/hello.yaml: pool: unknown pool 'gpu'; the stack's pools are: cpu, mpi",)
