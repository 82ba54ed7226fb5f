"""actionlint on the GitHub Actions workflows (the WebAssembly build from npm, installed by scripts/setup)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("actionlint_json.cjs")
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def run_actionlint(paths):
    node = shutil.which("node")
    assert node, "node is needed to run actionlint (scripts/setup installs it into node_modules)"
    assert (REPO / "node_modules" / "@tktco" / "node-actionlint").is_dir(), "actionlint missing: run scripts/setup"
    completed = subprocess.run(
        [node, str(RUNNER), *map(str, paths)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_there_are_workflows():
    assert {path.name for path in WORKFLOWS} >= {"pull-request.yml", "deploy.yml", "pulumi-up.yml"}


def test_workflows_pass_actionlint():
    findings = run_actionlint(WORKFLOWS)
    report = "\n".join(
        f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )
    assert findings == [], report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n",
            'input "no-such-input" is not defined',
        ),
        (
            "on: push\njobs:\n  a:\n    needs: b\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            'needs job "b" which does not exist',
        ),
        (
            "on: push\npermissions:\n  id-token: writ\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: echo ${{ inputs.nothing }}\n",
            '"writ" is invalid for permission',
        ),
    ],
)
def test_actionlint_reports_broken_workflows(tmp_path, text, expected):
    broken = tmp_path / "broken.yml"
    broken.write_text(text)
    messages = [finding["message"] for finding in run_actionlint([broken])]
    assert any(expected in message for message in messages), messages
