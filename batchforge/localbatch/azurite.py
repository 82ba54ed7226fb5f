"""Azurite, the Azure Storage emulator, as the local Batch account's linked storage account.

Runs the pinned ``node_modules/.bin/azurite-blob`` (installed by scripts/setup) on 127.0.0.1 with a
custom account whose key is generated per data directory run unless one is given: the well-known
emulator account is disabled whenever custom accounts are set, so no published key works here.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from batchforge.project import node_bin

DEFAULT_ACCOUNT_NAME = "localbatchstorage"
_STARTUP_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 5.0
LOG_FILE = "azurite.log"


class AzuriteError(RuntimeError):
    """Azurite is not installed, or did not start."""


def generate_account_key() -> str:
    """A storage account key of the shape Azure uses: base64 of 64 random bytes."""
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reusable_port(endpoint: str | None) -> int:
    """The port of a previous run's blob endpoint when it is free again, else any free port.

    Pools keep the storage URLs of their start-task files, so a restart on a new port would leave every
    node unable to download them (``Connection refused``).
    """
    try:
        port = int((endpoint or "").rsplit(":", 1)[1].split("/", 1)[0])
    except (IndexError, ValueError):
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Azurite:
    """One Azurite blob service process; a context manager that starts and stops it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        account_name: str | None = None,
        account_key: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.account_name = account_name or DEFAULT_ACCOUNT_NAME
        self.account_key = account_key or generate_account_key()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def pid(self) -> int | None:
        """The Azurite process id while it runs (its process group has the same id)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        azurite_blob = node_bin("azurite-blob")
        if not azurite_blob.exists():
            raise AzuriteError(f"{azurite_blob} is missing: run scripts/setup to install Azurite")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        environment = dict(os.environ, AZURITE_ACCOUNTS=f"{self.account_name}:{self.account_key}")
        command = [
            str(azurite_blob),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            str(self.data_dir),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
        ]
        with open(self.data_dir / LOG_FILE, "ab") as log:
            self._process = subprocess.Popen(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                log_tail = (self.data_dir / LOG_FILE).read_text(errors="replace")[-2000:]
                raise AzuriteError(f"Azurite exited during startup on port {self.port}:\n{log_tail}")
            if _accepts_connections(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise AzuriteError(f"Azurite did not accept connections on port {self.port} within {_STARTUP_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
