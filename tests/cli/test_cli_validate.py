"""``batchctl validate``: exit codes and the exact one-line-per-problem messages, no tracebacks."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from batchforge.cli.app import app

runner = CliRunner()

_GOOD_STACK = """\
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
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_valid_stack_passes(tmp_path):
    _write(tmp_path, "Pulumi.test.yaml", _GOOD_STACK)
    result = runner.invoke(app, ["validate", "--repo-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ok: 1 file(s) valid: Pulumi.test.yaml"


def test_every_problem_of_every_stack_is_one_line_and_exit_2(tmp_path):
    bad = _GOOD_STACK.replace("dedicated: 1", "dedicated: -1").replace("vmSize:", "vmSise:")
    _write(tmp_path, "Pulumi.bad.yaml", bad)
    _write(tmp_path, "Pulumi.test.yaml", _GOOD_STACK + "  batchforge:workloads: [missing.yaml]\n")
    result = runner.invoke(app, ["validate", "--repo-root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Pulumi.bad.yaml: pools[0].vmSize: is required",
        "Pulumi.bad.yaml: pools[0].scale.dedicated: must be >= 0",
        "Pulumi.bad.yaml: pools[0].vmSise: unknown key; did you mean 'vmSize'?",
        "Pulumi.test.yaml: workloads[0]: no such workload file: workloads/missing.yaml",
    ]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_given_files_only_and_yaml_syntax_errors(tmp_path):
    _write(tmp_path, "Pulumi.test.yaml", _GOOD_STACK)
    broken = _write(tmp_path, "Pulumi.broken.yaml", "config:\n  batchforge:pools: [\n")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Pulumi.broken.yaml: line 3, column 1: invalid YAML:")


def test_no_stack_files_is_an_error(tmp_path):
    result = runner.invoke(app, ["validate", "--repo-root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path}: no Pulumi.*.yaml stack files found"


def test_help_everywhere():
    for command in ([], ["validate"], ["submit"], ["status"], ["wait"], ["logs"], ["local"], ["local", "up"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.stdout
