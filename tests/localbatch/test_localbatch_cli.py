"""`localbatch serve --background`, `info` and `stop`, as a developer runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

REPO_ROOT = Path(__file__).resolve().parents[2]


def localbatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("localbatch")), *args], cwd="/", capture_output=True, text=True, timeout=120
    )


def test_serve_in_background_then_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "lb"
    started = localbatch("serve", "--background", "--data-dir", str(data_dir), "--port", "0")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        lines = dict(line.split(":", 1) for line in started.stdout.splitlines() if ":" in line)
        endpoint = lines["endpoint"].strip()
        assert endpoint.startswith("http://127.0.0.1:")
        assert str(data_dir / "localbatch.json") in lines["account key"]
        config = json.loads((data_dir / "localbatch.json").read_text())
        assert (data_dir / "localbatch.json").stat().st_mode & 0o077 == 0
        client = BatchClient(endpoint, AzureNamedKeyCredential(config["account_name"], config["account_key"]))
        assert list(client.list_pools()) == []
        assert localbatch("info", "--data-dir", str(data_dir)).returncode == 0
    finally:
        stopped = localbatch("stop", "--data-dir", str(data_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert localbatch("info", "--data-dir", str(data_dir)).returncode == 1
