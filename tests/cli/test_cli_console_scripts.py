"""The installed console scripts, run the way a user runs them: from a directory outside the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import batchforge

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("script", "usage"),
    [("batchctl", "Usage: batchctl [OPTIONS] COMMAND"), ("localbatch", "usage: localbatch [-h]")],
)
def test_console_script_help_works_from_the_filesystem_root(script, usage):
    finished = subprocess.run(
        [str(BIN / script), "--help"], cwd="/", capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert usage in finished.stdout
    assert "Traceback" not in finished.stderr


def test_batchctl_version_is_the_installed_package_version():
    finished = subprocess.run(
        [str(BIN / "batchctl"), "--version"], cwd="/", capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"batchctl (batchforge) {batchforge.__version__}"
    assert batchforge.__version__ != "0.0.0+unknown", "the package is not installed into the environment"


def test_validate_from_outside_the_repository_finds_the_checkout_stacks(tmp_path):
    finished = subprocess.run(
        [str(BIN / "batchctl"), "validate"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Pulumi.prod.yaml" in finished.stdout
