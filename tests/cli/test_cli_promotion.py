"""``config diff`` and ``promote``: thin CLI wrappers over promotion/ (exit codes, output modes)."""

from __future__ import annotations

import json

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
      vmSize: VM_SIZE
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
"""


def _stacks(tmp_path):
    (tmp_path / "Pulumi.a.yaml").write_text(_STACK.replace("VM_SIZE", "Standard_D2s_v5"))
    (tmp_path / "Pulumi.b.yaml").write_text(_STACK.replace("VM_SIZE", "Standard_D8s_v5"))
    return ["--repo-root", str(tmp_path)]


def test_config_diff_table_json_and_exit_code(tmp_path):
    root = _stacks(tmp_path)
    table = runner.invoke(app, ["config", "diff", "a", "b", *root])
    assert table.exit_code == 0, table.output
    assert "pools[cpu].vmSize" in table.stdout and "Standard_D8s_v5" in table.stdout
    as_json = runner.invoke(app, ["config", "diff", "a", "b", "--json", *root])
    assert json.loads(as_json.stdout)["differences"] == [
        {"path": "pools[cpu].vmSize", "kind": "changed", "left": "Standard_D2s_v5", "right": "Standard_D8s_v5"}
    ]
    assert runner.invoke(app, ["config", "diff", "a", "b", "--exit-code", *root]).exit_code == 1
    assert runner.invoke(app, ["config", "diff", "a", "a", "--exit-code", *root]).exit_code == 0


def test_config_diff_of_a_missing_or_invalid_stack_is_exit_2_with_the_message(tmp_path):
    root = _stacks(tmp_path)
    (tmp_path / "Pulumi.bad.yaml").write_text(_STACK.replace("VM_SIZE", "Standard_D2s_v5").replace("1}", "-1}"))
    bad = runner.invoke(app, ["config", "diff", "a", "bad", *root])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "Pulumi.bad.yaml: pools[0].scale.dedicated: must be >= 0"


def test_promote_reports_checks_and_fails_on_a_missing_workload(tmp_path):
    root = _stacks(tmp_path)
    (tmp_path / "Pulumi.c.yaml").write_text(
        _STACK.replace("VM_SIZE", "Standard_D2s_v5") + "  batchforge:workloads: [gone.yaml]\n"
    )
    result = runner.invoke(app, ["promote", "c", "--from", "a", "--text", *root])
    assert result.exit_code == 1, result.output
    assert "promote a -> c: NOT ready" in result.stdout
    assert "Pulumi.c.yaml: workloads[0]: no such workload file: workloads/gone.yaml" in result.stdout
