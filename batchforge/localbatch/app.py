"""The ASGI application: Batch REST routes behind Shared Key auth, api-version checks, request ids,
fault injection and the request log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch import auth
from batchforge.localbatch.account import Account
from batchforge.localbatch.api import (
    accountinfo,
    certificates,
    clockadmin,
    files,
    jobs,
    jobschedules,
    nodeusers,
    pools,
    quotaadmin,
    tasks,
)
from batchforge.localbatch.api.common import base_url, json_response, read_json
from batchforge.localbatch.api.validation import check_headers, check_path
from batchforge.localbatch.api.versions import check_api_version
from batchforge.localbatch.config import FaultSettings, ServiceConfig
from batchforge.localbatch.errors import BatchApiError
from batchforge.localbatch.faults import FaultInjector
from batchforge.localbatch.scheduler import Scheduler
from batchforge.localbatch.schedules import ScheduleBook

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_PREFIX = "/localbatch/"
REQUEST_LOG = "requests.log"
REQUEST_LOG_FLUSH_SECONDS = 1.0
ERROR_CODE_KEY = "localbatch.error_code"
log = logging.getLogger("batchforge.localbatch.app")


class RequestLog:
    """One JSON line per request in the data directory, written through a buffer.

    The dispatch rate (about 1000 tasks/s) rules out a write or fsync per request: lines go to a 64 KiB
    buffer that a background task flushes every second and the service flushes on shutdown, so a crash loses
    at most the last second of log, never state.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # owner-only, like every file here
        os.fchmod(fd, 0o600)
        self._file: IO[str] = os.fdopen(fd, "a", buffering=64 * 1024, encoding="utf-8")

    def write(self, request_id: str, method: str, path: str, status: int, code: str | None, ms: float) -> None:
        if self._file.closed:  # a request still finishing after shutdown
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requestId": request_id,
            "method": method,
            "path": path,
            "status": status,
            "code": code,
            "ms": round(ms, 2),
        }
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(REQUEST_LOG_FLUSH_SECONDS)
            self.flush()


class DroppedConnection(Exception):
    """Raised after a response has started so the server closes the connection mid-answer."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


async def get_faults(request: Request) -> Response:
    injector: FaultInjector = request.app.state.faults
    return json_response({"settings": injector.settings.model_dump(), "injected": dict(injector.counts)})


async def put_faults(request: Request) -> Response:
    try:
        settings = FaultSettings.model_validate(await read_json(request))
    except ValueError as err:
        raise BatchApiError(400, "InvalidRequestBody", f"Invalid fault settings: {err}") from None
    request.app.state.faults.configure(settings)
    return json_response({"settings": settings.model_dump(), "injected": {}})


def build_app(
    config: ServiceConfig,
    account: Account,
    scheduler: Scheduler,
    *,
    request_log: Path | None = None,
    test_clock: bool = False,
) -> BatchService:
    """``request_log`` defaults to `requests.log` in the data directory (the parent of the nodes' folder);
    ``test_clock`` lets `POST /localbatch/clock/advance` move the service's clock."""
    requests_log = RequestLog(request_log or Path(scheduler.nodes_dir).parent / REQUEST_LOG)
    schedules = ScheduleBook(account)
    account.quota.count_also(lambda: sum(1 for s in schedules.schedules.values() if s.state != "completed"))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        runner = loop.create_task(scheduler.run())
        flusher = loop.create_task(requests_log.flush_periodically())
        schedules.load()  # after the account's own state: the schedules refer to its jobs
        timer = loop.create_task(schedules.run())
        try:
            yield
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await scheduler.stop()
            for task in (runner, flusher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            account.store.flush()
            requests_log.close()

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BatchApiError)
        request.scope[ERROR_CODE_KEY] = exc.code
        body = exc.body(base_url(request), request.scope.get("localbatch.request_id", ""))
        return Response(
            json.dumps(body),
            status_code=exc.status,
            headers=exc.headers,
            media_type="application/json;odata=minimalmetadata",
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error = BatchApiError(405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
        else:
            error = BatchApiError(exc.status_code, "InvalidUri", "The requested URI does not represent any resource.")
        return await on_error(request, error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        # Batch answers an internal failure with its error body too; Starlette re-raises afterwards, so the
        # traceback still reaches the service log.
        error = BatchApiError(
            500, "InternalError", "The server encountered an internal error. Please retry the request."
        )
        return await on_error(request, error)

    async def empty_list(request: Request) -> Response:
        return json_response({"odata.metadata": f"{base_url(request)}/$metadata#applications", "value": []})

    routes = [
        Route("/applications", empty_list, methods=["GET"]),
        *pools.routes,
        *jobs.routes,
        *tasks.routes,
        *files.routes,
        *nodeusers.routes,
        *accountinfo.routes,
        *certificates.routes,
        *jobschedules.routes,
        *clockadmin.routes,
        *quotaadmin.routes,
        Route(ADMIN_PREFIX + "faults", get_faults, methods=["GET"]),
        Route(ADMIN_PREFIX + "faults", put_faults, methods=["PUT"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={BatchApiError: on_error, HTTPException: on_http_error, Exception: on_crash},
    )
    app.state.account = account
    app.state.scheduler = scheduler
    app.state.schedules = schedules
    app.state.test_clock = test_clock
    app.state.faults = FaultInjector(config.faults)
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return BatchService(app, config, requests_log)


class BatchService:
    """Wraps the routes with what the service does to every request before and after routing."""

    def __init__(self, app: Starlette, config: ServiceConfig, requests_log: RequestLog) -> None:
        self.app = app
        self.config = config
        self.requests_log = requests_log

    @property
    def faults(self) -> FaultInjector:
        return self.app.state.faults  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        statuses: list[int] = []
        try:
            await self._handle(scope, receive, send, statuses.append)
        finally:
            self.requests_log.write(
                scope.get("localbatch.request_id", ""),
                scope["method"],
                scope["path"],
                statuses[-1] if statuses else 0,
                scope.get(ERROR_CODE_KEY),
                (time.perf_counter() - started) * 1000,
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send, seen: Callable[[int], None]) -> None:
        request_id = str(uuid.uuid4())
        scope["localbatch.request_id"] = request_id
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        by_name = {k.lower(): v for k, v in headers}
        extra = [(b"request-id", request_id.encode()), (b"dataserviceversion", b"3.0")]
        if "client-request-id" in by_name:
            extra.append((b"client-request-id", by_name["client-request-id"].encode("latin-1")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
                seen(int(message["status"]))
            await send(message)

        method: str = scope["method"]
        path: str = scope["path"]
        query: str = scope.get("query_string", b"").decode("latin-1")
        fault = None if path.startswith(ADMIN_PREFIX) else self.faults.draw(method, path)
        try:
            if fault == "server_busy":
                raise BatchApiError(503, "ServerBusy", "The server is currently unable to receive requests.")
            if fault == "throttle":
                seconds = self.faults.settings.retry_after_seconds
                raise BatchApiError(
                    429, "TooManyRequests", "The request rate is too high.", headers={"Retry-After": str(seconds)}
                )
            if fault == "delay":
                await asyncio.sleep(self.faults.settings.delay_seconds)
            raw_path = scope.get("raw_path") or path.encode()
            auth.verify(
                method,
                raw_path.decode("latin-1").split("?", 1)[0],
                query,
                headers,
                self.config.account_name,
                self.config.account_key,
            )
            if not path.startswith(ADMIN_PREFIX):
                check_api_version(query)
            check_path(path)
            check_headers(by_name)
        except BatchApiError as err:
            scope[ERROR_CODE_KEY] = err.code
            request = Request(scope)
            response = Response(
                json.dumps(err.body(base_url(request), request_id)),
                status_code=err.status,
                headers=err.headers,
                media_type="application/json;odata=minimalmetadata",
            )
            await response(scope, receive, send_with_headers)
            return
        if fault != "drop":
            await self.app(scope, receive, send_with_headers)
            return

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen(int(message["status"]))

        await self.app(scope, receive, swallow)
        scope[ERROR_CODE_KEY] = "ConnectionDropped"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        raise DroppedConnection("fault injection: connection dropped after the request was processed")
