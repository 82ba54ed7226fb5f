"""actionlint on the GitHub Actions workflows (the WebAssembly build from npm, installed by scripts/setup).

The linter starts slowly (a Go WebAssembly module), so one run lints the real workflows and the
deliberately broken samples together.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("actionlint_json.cjs")
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))

# Broken workflows and a message actionlint must report for each: proves the linter really checks.
BROKEN = {
    "unknown-input.yml": (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n",
        'input "no-such-input" is not defined',
    ),
    "missing-job.yml": (
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        'needs job "b" which does not exist',
    ),
    "bad-permission.yml": (
        "on: push\npermissions:\n  id-token: writ\n"
        "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        '"writ" is invalid for permission',
    ),
}


def run_actionlint(paths):
    node = shutil.which("node")
    assert node, "node is needed to run actionlint (scripts/setup installs it into node_modules)"
    assert (REPO / "node_modules" / "@tktco" / "node-actionlint").is_dir(), "actionlint missing: run scripts/setup"
    completed = subprocess.run(
        [node, str(RUNNER), *map(str, paths)], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def findings_by_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken-workflows")
    broken = []
    for name, (text, _) in BROKEN.items():
        (folder / name).write_text(text)
        broken.append(folder / name)
    by_file = {Path(path).name: [] for path in [*WORKFLOWS, *broken]}
    for finding in run_actionlint([*WORKFLOWS, *broken]):
        by_file[Path(finding["file"]).name].append(finding)
    return by_file


def test_there_are_workflows():
    assert {path.name for path in WORKFLOWS} >= {"pull-request.yml", "deploy.yml", "pulumi-up.yml"}


def test_workflows_pass_actionlint(findings_by_file):
    findings = [finding for path in WORKFLOWS for finding in findings_by_file[path.name]]
    report = "\n".join(
        f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )
    assert findings == [], report


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_actionlint_reports_broken_workflows(findings_by_file, name):
    expected = BROKEN[name][1]
    messages = [finding["message"] for finding in findings_by_file[name]]
    assert any(expected in message for message in messages), messages
