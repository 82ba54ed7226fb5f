"""Start the local Batch service (with its Azurite) for tests and hand out ready-made clients.

    with LocalBatch.start(tmp_path) as batch:
        client = batch.batch_client()          # azure.batch.BatchClient, Shared Key
        batch.set_faults(server_busy_rate=0.5)  # misbehave for retry tests
        batch.restart()                         # same data dir, state kept

    with LocalBatch.start(tmp_path, test_clock=True) as batch:
        batch.advance_clock(3600)               # an hour passes for job schedules, timestamps, time limits

The service runs in its own process (`localbatch serve`), exactly as a developer runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from batchforge.localbatch import config as config_module
from batchforge.localbatch.azurite import LOG_FILE as AZURITE_LOG
from batchforge.localbatch.azurite import Azurite, PortTaken, free_port, port_of
from batchforge.localbatch.command import clock_arguments, container_arguments

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import BlobServiceClient

    from batchforge.submission.target import BatchTarget

STARTUP_TIMEOUT_SECONDS = 60.0
RESOURCES_CONTAINER = "resources"
OUTPUTS_CONTAINER = "outputs"


class LocalBatchError(RuntimeError):
    pass


class LocalBatch:
    """A running local Batch service and its storage; use `LocalBatch.start(data_dir)`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock_speed: float = 1.0,
        test_clock: bool = False,
        container_runtime: str = "auto",
        run_containers_on_host: bool = False,
    ) -> None:
        """``clock_speed`` and ``test_clock``: `localbatch serve --clock-speed N --test-clock`;
        ``container_runtime`` and ``run_containers_on_host``: `--container-runtime X --run-containers-on-host`."""
        self.data_dir = Path(data_dir).resolve()
        self.clock_speed = clock_speed
        self.test_clock = test_clock
        # The service runs in the data dir: a runtime named by its path is resolved here.
        named_by_path = "/" in container_runtime
        self.container_runtime = str(Path(container_runtime).resolve()) if named_by_path else container_runtime
        self.run_containers_on_host = run_containers_on_host
        self._process: subprocess.Popen[bytes] | None = None
        self._info: dict[str, Any] = {}
        self._config: config_module.ServiceConfig | None = None
        self._azurite: Azurite | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        data_dir: Path,
        *,
        clock_speed: float = 1.0,
        test_clock: bool = False,
        container_runtime: str = "auto",
        run_containers_on_host: bool = False,
    ) -> Iterator[LocalBatch]:
        batch = cls(
            data_dir,
            clock_speed=clock_speed,
            test_clock=test_clock,
            container_runtime=container_runtime,
            run_containers_on_host=run_containers_on_host,
        )
        batch.launch()
        try:
            yield batch
        finally:
            batch.shutdown()

    def launch(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        config_module.private_dir(self.data_dir)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / config_module.SERVICE_FILE).unlink()
        # Azurite is started here, not by the service, so that restarting the service keeps it running;
        # both start at the same time.
        starting_storage = None
        if self._azurite is None:
            config = config_module.load_or_create(self.data_dir)
            previous = config.storage
            self._azurite = Azurite(
                self.data_dir / "azurite",
                port=port_of(previous.blob_endpoint if previous else None) or free_port(),
                account_name=previous.account_name if previous else None,
                account_key=previous.account_key if previous else None,
            )
            try:
                self._azurite.check_port()
            except PortTaken as taken:
                self._azurite = None
                raise LocalBatchError(str(taken)) from None
            config.storage = config_module.StorageSettings(
                account_name=self._azurite.account_name,
                account_key=self._azurite.account_key,
                blob_endpoint=self._azurite.blob_endpoint,
            )
            config_module.save(self.data_dir, config)
            config_module.private_dir(self._azurite.data_dir)
            starting_storage = threading.Thread(target=self._azurite.start, daemon=True)
            starting_storage.start()
        command = [
            sys.executable,
            "-m",
            "batchforge.localbatch",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            "0",
            "--external-storage",
            *clock_arguments(self.clock_speed, self.test_clock),
            *container_arguments(self.container_runtime, self.run_containers_on_host),
        ]
        log = config_module.open_private_log(self.data_dir / "service.log")
        try:
            self._process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            info = config_module.read_service_file(self.data_dir)
            if info and info.get("pid") == self._process.pid:
                self._info = info
                self._config = config_module.load_or_create(self.data_dir)
                if starting_storage is not None:
                    starting_storage.join(STARTUP_TIMEOUT_SECONDS)
                    if not self._azurite or not self._azurite.running:
                        self.shutdown()
                        raise LocalBatchError(f"Azurite did not start; see {self.data_dir / 'azurite'}")
                    config_module.make_private(self._azurite.data_dir / AZURITE_LOG)
                return
            if self._process.poll() is not None:
                raise LocalBatchError(f"local Batch service exited during startup:\n{self.log_tail()}")
            time.sleep(0.05)
        self.shutdown()
        raise LocalBatchError(f"local Batch service did not start in time:\n{self.log_tail()}")

    def shutdown(self) -> None:
        """Stop the service and its Azurite."""
        self.stop_service()
        azurite, self._azurite = self._azurite, None
        if azurite is not None:
            azurite.stop()

    def stop_service(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self) -> None:
        """Stop and start the service on the same data dir (storage keeps running); the endpoint changes."""
        self.stop_service()
        self.launch()

    def log_tail(self, chars: int = 4000) -> str:
        path = self.data_dir / "service.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def __enter__(self) -> LocalBatch:
        self.launch()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    # ---- what clients need -------------------------------------------------------------------
    @property
    def config(self) -> config_module.ServiceConfig:
        if self._config is None:
            raise LocalBatchError("the local Batch service is not running")
        return self._config

    @property
    def endpoint(self) -> str:
        return str(self._info["endpoint"])

    @property
    def account_name(self) -> str:
        return self.config.account_name

    @property
    def account_key(self) -> str:
        return self.config.account_key

    @property
    def blob_endpoint(self) -> str:
        assert self.config.storage is not None
        return self.config.storage.blob_endpoint

    @property
    def storage_account_name(self) -> str:
        assert self.config.storage is not None
        return self.config.storage.account_name

    @property
    def storage_account_key(self) -> str:
        assert self.config.storage is not None
        return self.config.storage.account_key

    @property
    def storage_connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.storage_account_name};"
            f"AccountKey={self.storage_account_key};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def nodes_dir(self) -> Path:
        return self.data_dir / "nodes"

    def batch_client(self, **kwargs: Any) -> BatchClient:
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        return BatchClient(self.endpoint, AzureNamedKeyCredential(self.account_name, self.account_key), **kwargs)

    def blob_service_client(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.storage_connection_string)

    def container_url(self, container: str, *, create: bool = True) -> str:
        """A container URL in the local storage account (created if missing)."""
        if create:
            with contextlib.suppress(Exception):
                self.blob_service_client().create_container(container)
        return f"{self.blob_endpoint}/{container}"

    def target(
        self,
        pool_ids: dict[str, str] | None = None,
        *,
        resources_container: str = RESOURCES_CONTAINER,
        outputs_container: str = OUTPUTS_CONTAINER,
    ) -> BatchTarget:
        """A `BatchTarget` for this service: Shared Key for Batch and for blob uploads."""
        from batchforge.submission.target import BatchTarget, SharedKeyAuth

        return BatchTarget(
            account_endpoint=self.endpoint,
            auth=SharedKeyAuth(account_name=self.account_name, account_key=self.account_key),
            pool_ids=dict(pool_ids or {}),
            resources_container_url=self.container_url(resources_container),
            outputs_container_url=self.container_url(outputs_container),
            blob_auth=SharedKeyAuth(account_name=self.storage_account_name, account_key=self.storage_account_key),
        )

    # ---- fault injection ---------------------------------------------------------------------
    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (see `batchforge.localbatch.config.FaultSettings`); no arguments clears them."""
        return self._admin("PUT", "/localbatch/faults", settings)

    def fault_counts(self) -> dict[str, int]:
        return dict(self._admin("GET", "/localbatch/faults", None)["injected"])

    # ---- the account's quota of active jobs and job schedules ----------------------------------------
    def set_active_job_quota(self, limit: int) -> dict[str, Any]:
        """Set the quota on the running service (`localbatch serve --active-job-quota N` sets it at start)."""
        return self._admin("PUT", "/localbatch/quotas", {"activeJobAndJobScheduleQuota": limit})

    def active_job_quota(self) -> dict[str, Any]:
        """``{"activeJobAndJobScheduleQuota": <limit>, "activeJobsAndJobSchedules": <in use>}``."""
        return self._admin("GET", "/localbatch/quotas", None)

    # ---- the service's clock -------------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        """``{"now": <service time, ISO 8601>, "speed": ..., "leadSeconds": ..., "testClock": ...}``."""
        return self._admin("GET", "/localbatch/clock", None)

    def advance_clock(self, seconds: float) -> datetime:
        """Move the service's clock forward (needs ``test_clock=True``); returns the service's new time."""
        answer = self._admin("POST", "/localbatch/clock/advance", {"seconds": seconds})
        return datetime.fromisoformat(str(answer["now"]).replace("Z", "+00:00"))

    def _admin(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        from azure.core.rest import HttpRequest

        client = self.batch_client()
        request = HttpRequest(method, f"{self.endpoint}{path}", json=body)
        response = client.send_request(request)
        if response.status_code != 200:
            raise LocalBatchError(f"{method} {path}: {response.status_code} {response.text()}")
        return dict(response.json())


def wait_for(condition: Any, *, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll `condition()` until it returns something truthy; return that, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_idle_nodes(client: BatchClient, pool_id: str, count: int, *, timeout: float = 30.0) -> list[Any]:
    """Wait until the pool has `count` nodes, all idle (or running tasks); returns the nodes."""

    def ready() -> list[Any] | None:
        nodes = list(client.list_nodes(pool_id))
        if len(nodes) == count and all(n.state in ("idle", "running") for n in nodes):
            return nodes
        return None

    return list(wait_for(ready, timeout=timeout, what=f"{count} idle nodes in pool {pool_id}"))


def wait_for_tasks_completed(client: BatchClient, job_id: str, *, timeout: float = 60.0) -> Any:
    """Wait until no task of the job is active or running; returns the job's task counts."""

    def done() -> Any:
        counts = client.get_job_task_counts(job_id).task_counts
        return counts if counts.active == 0 and counts.running == 0 else None

    return wait_for(done, timeout=timeout, what=f"tasks of job {job_id} to complete")
