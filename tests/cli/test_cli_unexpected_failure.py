"""An unexpected failure (a bug) is one line naming the command and what failed, the traceback in the log file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.core.outcomes import ExitCode


def test_an_unexpected_failure_names_what_failed_and_where_the_log_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_file = tmp_path / "state" / "batchctl.log"
    monkeypatch.setenv("BATCHFORGE_LOG_FILE", str(log_file))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("pools")

    monkeypatch.setattr("batchforge.cli.offline_check.check", broken)

    result = CliRunner().invoke(app, ["validate"], prog_name="batchctl")

    assert result.exit_code == ExitCode.INTERNAL_ERROR
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: batchctl")
    assert "failed unexpectedly: KeyError: 'pools' in broken (test_cli_unexpected_failure.py:" in lines[0]
    assert str(log_file) in lines[0]
    logged = log_file.read_text()
    assert "Traceback" in logged and "KeyError: 'pools'" in logged
