"""What the GitOps flow promises, read off the workflow files: pinned actions, OIDC only, policy pack
in every preview and up, dev -> staging -> prod on one commit, one deployment per stack at a time."""

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
STACKS = sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in REPO.glob("Pulumi.*.yaml"))


def load(name):
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(job):
    return job.get("steps", [])


def step_using(job, action):
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(action + "@")]


def test_every_remote_action_is_pinned_to_an_exact_release():
    for path in WORKFLOWS.glob("*.yml"):
        for ref in re.findall(r"uses:\s*([^\s#]+)", path.read_text()):
            if ref.startswith("./"):
                continue
            version = ref.split("@", 1)[1]
            assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", version), f"{path.name}: {ref} is not pinned"


def test_no_client_secret_or_account_key_is_used():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "creds:" not in text, f"{path.name}: azure/login must use OIDC, not a creds JSON"
        secrets = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
        assert secrets <= {"GITHUB_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}, f"{path.name}: {secrets}"
        assert not re.search(r"CLIENT_SECRET|ACCOUNT_KEY|STORAGE_KEY|SAS", text), path.name


def test_pull_request_validates_tests_and_previews_every_stack_with_policy_and_comment():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    checks = workflow["jobs"]["checks"]
    commands = " ".join(str(step.get("run", "")) for step in steps(checks))
    assert "batchctl validate" in commands
    assert "scripts/test" in commands
    preview = workflow["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == STACKS
    assert preview["permissions"]["id-token"] == "write"
    assert preview["permissions"]["pull-requests"] == "write"
    [login] = step_using(preview, "azure/login")
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    [pulumi] = step_using(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True


def test_main_deploys_one_commit_dev_then_staging_then_prod():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["dev"]["needs"] == "commit"
    assert "dev" in jobs["staging"]["needs"]
    assert "staging" in jobs["prod"]["needs"]
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[stack]["with"]["stack"] == stack
        assert jobs[stack]["with"]["ref"] == "${{ needs.commit.outputs.sha }}"
        assert jobs[stack]["permissions"]["id-token"] == "write"


def test_each_stack_deploys_in_its_environment_one_at_a_time_with_the_policy_pack():
    workflow = load("pulumi-up.yml")
    assert "workflow_call" in workflow["on"]
    [job] = workflow["jobs"].values()
    assert job["environment"]["name"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-stack-${{ inputs.stack }}", "cancel-in-progress": False}
    [checkout] = step_using(job, "actions/checkout")
    assert checkout["with"]["ref"] == "${{ inputs.ref }}"
    [pulumi] = step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["policyPacks"] == "policy"
    commands = " ".join(str(step.get("run", "")) for step in steps(job))
    assert "batchctl promote" in commands
    step_names = [step.get("name", step.get("uses")) for step in steps(job)]
    assert step_names.index("Promotion check (config valid, workloads valid, policy pack passes under mocks)") < (
        step_names.index("pulumi up ${{ inputs.stack }} with the policy pack")
    )


def batchctl_invocations():
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "bin/batchctl" in line:
                yield shlex.split(line.split("bin/batchctl", 1)[1])


def test_workflows_call_batchctl_commands_and_options_that_exist():
    from typer.testing import CliRunner

    from batchforge.cli.app import app

    invocations = list(batchctl_invocations())
    assert len(invocations) >= 3
    for words in invocations:
        command = [word for word in words if not word.startswith(("-", "$"))]
        options = [word for word in words if word.startswith("--")]
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (words, result.output)
        for option in options:
            assert option in result.output, (words, option)


RUNNER_EXPRESSION = "${{{{ toJSON(fromJSON(vars.PULUMI_RUNNERS || '{{}}').{stack} || 'ubuntu-latest') }}}}"


def test_each_deploy_stage_takes_its_runner_from_the_repository_variable():
    jobs = load("deploy.yml")["jobs"]
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["with"]["runs-on"] == RUNNER_EXPRESSION.format(stack=stack), stack
    up = load("pulumi-up.yml")
    runner_input = up["on"]["workflow_call"]["inputs"]["runs-on"]
    assert runner_input["type"] == "string" and runner_input["default"] == '"ubuntu-latest"'
    [job] = up["jobs"].values()
    assert job["runs-on"] == "${{ fromJSON(inputs.runs-on) }}"


def test_pull_request_previews_stay_on_github_hosted_runners():
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert str(preview["runs-on"]).startswith("ubuntu-")
    assert "PULUMI_RUNNERS" not in (WORKFLOWS / "pull-request.yml").read_text()


def test_the_deploy_job_can_mint_oidc_tokens_for_the_whole_up():
    [job] = load("pulumi-up.yml")["jobs"].values()
    assert job["permissions"]["id-token"] == "write"
    assert job["env"]["AZURE_CLIENT_ID"] == "${{ vars.AZURE_CLIENT_ID }}"
    assert job["env"]["AZURE_TENANT_ID"] == "${{ vars.AZURE_TENANT_ID }}"
