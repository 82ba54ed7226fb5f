"""Quiet success: SDK log records (warnings with tracebacks on retried requests) never reach the terminal.

Run in a fresh interpreter: with no logging configured, Python prints warnings on stderr, which is what an
operator saw under faults. pytest's own log capture would hide that in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import logging
from pydantic import SecretStr
from batchforge.submission.client import make_batch_client
from batchforge.submission.target import BatchTarget, SharedKeyAuth

make_batch_client(BatchTarget(
    account_endpoint="http://127.0.0.1:9", auth=SharedKeyAuth(account_name="a", account_key=SecretStr("a2V5")),
    pool_ids={}, resources_container_url="http://127.0.0.1:9/r", outputs_container_url="http://127.0.0.1:9/o",
))
logging.getLogger("azure.core.pipeline.transport._requests_basic").warning("Incomplete download.")
try:
    raise ValueError("bad body")
except ValueError:
    logging.getLogger("azure.batch._utils.model_base").warning(
        "Ran into a deserialization error. Ignoring since this is failsafe deserialization", exc_info=True
    )
print("done")
"""


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "BATCHFORGE_LOG_FILE"} | env_extra
    return subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=60)


def test_sdk_warnings_and_tracebacks_do_not_reach_stderr() -> None:
    done = _run({})

    assert done.returncode == 0 and done.stdout == "done\n"
    assert done.stderr == "", done.stderr


def test_sdk_warnings_go_to_the_log_file_when_one_is_named(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "batchctl.log"

    done = _run({"BATCHFORGE_LOG_FILE": str(log_file)})

    assert done.stderr == ""
    text = log_file.read_text()
    assert "Incomplete download." in text and "Traceback" in text and "ValueError: bad body" in text
