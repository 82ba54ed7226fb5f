"""``batchctl submit`` beyond the account's active-jobs quota ends in one message: what is active per workload
and the `batchctl prune` command that frees it (local service with a quota of 1)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from batchforge.cli.app import app

runner = CliRunner()

_STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: cpu
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
  batchforge:workloads: [one.yaml, two.yaml]
"""


def _workload(workload_id: str) -> str:
    return f"id: {workload_id}\npool: cpu\ntasks:\n  list:\n    - id: a\n      commandLine: \"true\"\n"


def test_submit_beyond_the_active_job_quota_names_what_is_active_and_the_prune_command(
    local_batch_factory, tmp_path: Path
) -> None:
    batch = local_batch_factory()
    batch.set_active_job_quota(1)
    (tmp_path / "Pulumi.q.yaml").write_text(_STACK)
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "one.yaml").write_text(_workload("quota-one"))
    (tmp_path / "workloads" / "two.yaml").write_text(_workload("quota-two"))
    # No pool is created: the first job's task stays queued, so the job stays active and holds the quota.
    result = runner.invoke(
        app, ["submit", "--stack", "q", "--repo-root", str(tmp_path), "--local", "--data-dir", str(batch.data_dir)]
    )

    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert "workload quota-two" in result.stderr and "quota of active jobs and job schedules" in result.stderr
    assert "stack q, workload quota-one: 1 active: quota-one-" in result.stderr
    assert "batchctl prune --stack q" in result.stderr
