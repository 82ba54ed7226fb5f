"""Runs the local Batch service: its storage (Azurite), state, scheduler and HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

import uvicorn

from batchforge.localbatch import clock
from batchforge.localbatch import config as config_module
from batchforge.localbatch.account import Account
from batchforge.localbatch.app import build_app
from batchforge.localbatch.azurite import LOG_FILE as AZURITE_LOG
from batchforge.localbatch.azurite import Azurite, port_of
from batchforge.localbatch.config import ServiceConfig, StorageSettings
from batchforge.localbatch.execution import StorageAccess, containers
from batchforge.localbatch.scheduler import Scheduler
from batchforge.localbatch.store import Store

log = logging.getLogger("batchforge.localbatch.service")


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it (Linux): uvicorn writes a response's head and body separately, and
    # Nagle would hold the body until the client's delayed ACK, ~40 ms on every small answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def start_storage(data_dir: Path, config: ServiceConfig) -> Azurite:
    """Start Azurite with the account's storage key (generated once, kept in the config)."""
    previous = config.storage
    azurite = Azurite(
        data_dir / "azurite",
        port=port_of(previous.blob_endpoint) if previous else 0,
        account_name=previous.account_name if previous else None,
        account_key=previous.account_key if previous else None,
    )
    config_module.private_dir(azurite.data_dir)
    # No fallback to another port: pools and tasks keep the storage URLs they were given (PortTaken says so).
    azurite.start()
    config_module.make_private(azurite.data_dir / AZURITE_LOG)
    config.storage = StorageSettings(
        account_name=azurite.account_name, account_key=azurite.account_key, blob_endpoint=azurite.blob_endpoint
    )
    config_module.save(data_dir, config)
    return azurite


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _exit_on_signal(signum: int, frame: object) -> None:
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down; exiting through SystemExit (rather than the
    # default action, which kills the process on the spot) lets `serve` stop Azurite on the way out.
    raise SystemExit(128 + signum)


def serve(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    with_azurite: bool = True,
    clock_speed: float = 1.0,
    test_clock: bool = False,
    container_runtime: str = "auto",
    run_containers_on_host: bool = False,
) -> None:
    """``clock_speed`` runs the service's clock that many times faster than real time; ``test_clock`` lets
    tests move it forward (`POST /localbatch/clock/advance`). With either, the clock goes on from where the
    last such run left it; without, it is the real time. ``container_runtime`` (auto, docker, podman or an
    executable's path) runs container tasks; ``run_containers_on_host`` runs them on the node where none is
    usable (see `execution.containers`)."""
    data_dir = data_dir.resolve()
    containers.configure(container_runtime, run_on_host=run_containers_on_host)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    config = config_module.load_or_create(data_dir)
    azurite = start_storage(data_dir, config) if with_azurite else None
    if config.storage is None:
        raise SystemExit("no storage configured: start with Azurite or set storage in " + str(data_dir))
    try:
        sock = _bind(host, port)
        endpoint = f"http://{host}:{sock.getsockname()[1]}"
        store = Store(data_dir / "state.sqlite")
        if clock_speed != 1.0 or test_clock:
            clock.configure(speed=clock_speed, lead=timedelta(milliseconds=store.counter(clock.LEAD_COUNTER)))
        else:
            store.set_counter(clock.LEAD_COUNTER, 0)
        account = Account(store, config.account_name)
        account.quota.limit = config.active_job_and_schedule_quota
        storage = StorageAccess(
            account_name=config.storage.account_name,
            account_key=config.storage.account_key,
            blob_endpoint=config.storage.blob_endpoint,
        )
        scheduler = Scheduler(account, data_dir, storage, endpoint)
        app = build_app(config, account, scheduler, test_clock=test_clock)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5)
        )

        async def main() -> None:
            account.load()
            serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if server.started:
                config_module.write_service_file(
                    data_dir,
                    {
                        "pid": os.getpid(),
                        "endpoint": endpoint,
                        "account_name": config.account_name,
                        "config_file": str(config_module.config_path(data_dir)),
                        "blob_endpoint": config.storage.blob_endpoint if config.storage else None,
                        # What container tasks run with (`batchctl local up` says so before it submits).
                        "container_runtime": os.path.abspath(container_runtime)
                        if "/" in container_runtime
                        else container_runtime,
                        "run_containers_on_host": run_containers_on_host,
                    },
                )
            await serving

        # uvicorn re-raises a captured SIGTERM once it has shut down; with the default handler that kills
        # the process before the `finally` below stops Azurite (a new process group, so it would be orphaned).
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        asyncio.run(main())
        store.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / config_module.SERVICE_FILE).unlink()
        if azurite is not None:
            azurite.stop()
