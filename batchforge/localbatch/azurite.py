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


def port_of(endpoint: str | None) -> int:
    """The port of a blob endpoint such as ``http://127.0.0.1:10000/account``; 0 when it names none."""
    try:
        return int((endpoint or "").rsplit(":", 1)[1].split("/", 1)[0])
    except (IndexError, ValueError):
        return 0


def _can_listen(port: int) -> bool:
    """Whether Azurite could listen on ``port`` now.

    Node listens with SO_REUSEADDR, so the probe does too: connections of the previous Azurite that the
    kernel still keeps (FIN-WAIT-2 behind a client's idle keep-alive, then TIME-WAIT, a minute or more)
    do not stand in its way, only a socket that really holds the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> str | None:
    """``pid N (command line)`` of the process listening on ``port``, when /proc tells (Linux)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {process.name} ({command[:200]})"
    return "a process this user cannot see"


class PortTaken(AzuriteError):
    """The port Azurite must keep is held by another process."""


def port_taken_message(port: int, endpoint: str) -> str:
    holder = port_holder(port)
    held_by = f"is held by {holder}" if holder else "is in use by another socket"
    stop = f"stop it (kill {holder.split()[1]})" if holder and holder.startswith("pid ") else "free it"
    return (
        f"Azurite must listen on port {port} again ({endpoint}, recorded in localbatch.json): the pools and "
        f"jobs of this data directory download their files from there, so storage cannot move. Port {port} "
        f"{held_by}; {stop} and retry, see `ss -ltnp 'sport = :{port}'`, or start afresh with a new --data-dir."
    )


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

    def check_port(self) -> None:
        """Raises PortTaken when the port this Azurite must keep is held by another process."""
        if self.port and not _can_listen(self.port):
            raise PortTaken(port_taken_message(self.port, self.blob_endpoint))

    def start(self) -> None:
        if self.running:
            return
        azurite_blob = node_bin("azurite-blob")
        if not azurite_blob.exists():
            raise AzuriteError(f"{azurite_blob} is missing: run scripts/setup to install Azurite")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.check_port()
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
