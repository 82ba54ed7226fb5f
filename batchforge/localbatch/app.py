"""The ASGI application: Batch REST routes behind Shared Key auth, request ids and fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch import auth
from batchforge.localbatch.account import Account
from batchforge.localbatch.api import files, jobs, pools, tasks
from batchforge.localbatch.api.common import base_url, json_response, read_json
from batchforge.localbatch.config import FaultSettings, ServiceConfig
from batchforge.localbatch.errors import BatchApiError
from batchforge.localbatch.faults import FaultInjector
from batchforge.localbatch.scheduler import Scheduler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_PREFIX = "/localbatch/"
log = logging.getLogger("batchforge.localbatch.app")


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


def build_app(config: ServiceConfig, account: Account, scheduler: Scheduler) -> BatchService:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        runner = asyncio.get_running_loop().create_task(scheduler.run())
        try:
            yield
        finally:
            await scheduler.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            account.store.flush()

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BatchApiError)
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

    async def empty_list(request: Request) -> Response:
        return json_response({"odata.metadata": f"{base_url(request)}/$metadata#applications", "value": []})

    routes = [
        Route("/applications", empty_list, methods=["GET"]),
        *pools.routes,
        *jobs.routes,
        *tasks.routes,
        *files.routes,
        Route(ADMIN_PREFIX + "faults", get_faults, methods=["GET"]),
        Route(ADMIN_PREFIX + "faults", put_faults, methods=["PUT"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={BatchApiError: on_error, HTTPException: on_http_error}
    )
    app.state.account = account
    app.state.scheduler = scheduler
    app.state.faults = FaultInjector(config.faults)
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return BatchService(app, config)


class BatchService:
    """Wraps the routes with what the service does to every request before and after routing."""

    def __init__(self, app: Starlette, config: ServiceConfig) -> None:
        self.app = app
        self.config = config

    @property
    def faults(self) -> FaultInjector:
        return self.app.state.faults  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            await send(message)

        method: str = scope["method"]
        path: str = scope["path"]
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
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                self.config.account_name,
                self.config.account_key,
            )
            if not path.startswith(ADMIN_PREFIX) and b"api-version=" not in scope.get("query_string", b""):
                raise BatchApiError(
                    400,
                    "MissingRequiredQueryParameter",
                    "A query parameter that's mandatory for this request is not specified.",
                    {"QueryParameterName": "api-version"},
                )
        except BatchApiError as err:
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
            return None

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        raise DroppedConnection("fault injection: connection dropped after the request was processed")
