"""``batchctl submit`` against the local service: exactly once, --wait summary, failures, input errors."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.config import load_stack_file
from batchforge.config.naming import pool_ids
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes
from batchforge.localrun.provision import provision_pools
from batchforge.submission.blob_uploads import upload_inputs
from batchforge.submission.client import make_resources_container_client

runner = CliRunner()

_STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: POOL
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
      taskSlotsPerNode: 4
  batchforge:workloads: [ok.yaml, bad.yaml]
"""

_OK = """\
id: subok
pool: POOL
tasks:
  sweep:
    parameters:
      - name: n
        range: {start: 1, stop: 3}
    task:
      id: square-{n}
      commandLine: /bin/sh -c 'echo $(({n} * {n}))'
"""

_BAD = """\
id: subbad
pool: POOL
tasks:
  list:
    - id: boom
      commandLine: /bin/sh -c 'echo cannot continue >&2; exit 2'
"""


@pytest.fixture(scope="module")
def repo(local_batch: LocalBatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one stack whose pool already exists in the shared local service."""
    root = tmp_path_factory.mktemp("submit-repo")
    pool = f"sub{uuid.uuid4().hex[:8]}"
    (root / "Pulumi.t.yaml").write_text(_STACK.replace("POOL", pool))
    (root / "workloads").mkdir()
    (root / "workloads" / "ok.yaml").write_text(_OK.replace("POOL", pool))
    (root / "workloads" / "bad.yaml").write_text(_BAD.replace("POOL", pool))
    config = load_stack_file(root / "Pulumi.t.yaml", root)
    target = local_batch.target(pool_ids(config))
    client = local_batch.batch_client()
    container = make_resources_container_client(target)
    provision_pools(client, config, root, target.resources_container_url, lambda ups: upload_inputs(ups, container))
    wait_for_idle_nodes(client, pool_ids(config)[pool], 1)
    return root


def _submit(local_batch: LocalBatch, repo: Path, *extra: str):
    base = ["submit", "--stack", "t", "--repo-root", str(repo), "--local", "--data-dir", str(local_batch.data_dir)]
    return runner.invoke(app, [*base, *extra])


def test_submit_waits_summarizes_and_is_exactly_once(local_batch, repo):
    first = _submit(local_batch, repo, "--workload", "ok.yaml", "--wait", "--timeout", "60", "--verbose")
    assert first.exit_code == 0, first.output
    assert re.search(r"job subok-[0-9a-f]+ \(created\): 3 tasks added, 0 already present, 0 failed", first.stdout)
    assert "all tasks succeeded: 1 job(s), 3 task(s), 3 succeeded, 0 failed" in first.stdout
    folder = re.search(r"ok   square-3  exit 0  \S+  (\S+)/\{stdout,stderr\}\.txt", first.stdout).group(1)
    assert (Path(folder) / "stdout.txt").read_text() == "9\n"
    again = _submit(local_batch, repo, "--workload", "ok.yaml")
    assert again.exit_code == 0, again.output
    assert re.search(r"job subok-[0-9a-f]+ \(already existed\): 0 tasks added, 3 already present", again.stdout)


def test_submit_wait_fails_when_a_task_fails_and_names_its_stderr(local_batch, repo):
    result = _submit(local_batch, repo, "--workload", "bad.yaml", "--wait", "--timeout", "60")
    assert result.exit_code == 1, result.output
    stderr_path = re.search(r"stderr: (\S+/boom/stderr\.txt)", result.stdout).group(1)
    assert Path(stderr_path).read_text() == "cannot continue\n"


def test_submit_input_errors_are_one_message(local_batch, repo, tmp_path):
    unknown = _submit(local_batch, repo, "--workload", "nope.yaml")
    assert unknown.exit_code == 2
    assert (
        unknown.stderr.strip() == "--workload: 'nope.yaml' is not a workload of stack t (it lists: ok.yaml, bad.yaml)"
    )
    no_target = runner.invoke(app, ["submit", "--stack", "t", "--repo-root", str(repo)])
    assert no_target.exit_code == 2
    assert no_target.stderr.splitlines() == [
        "--endpoint: is required without --stack-outputs or --local",
        "--resources-url: is required without --stack-outputs or --local",
        "--outputs-url: is required without --stack-outputs or --local",
    ]
    both = runner.invoke(
        app,
        ["submit", "--stack", "t", "--repo-root", str(repo), "--local", "--stack-outputs", str(tmp_path / "o.json")],
    )
    assert both.exit_code == 2
    assert both.stderr.strip() == "options: choose one of --local or --stack-outputs"
