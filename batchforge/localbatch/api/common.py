"""What every route shares: the account and scheduler, JSON bodies, headers, lists and conditions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from batchforge.localbatch import odata
from batchforge.localbatch.api.validation import check_body, invalid_header, parse_json
from batchforge.localbatch.clock import parse_iso, parse_rfc1123, rfc1123
from batchforge.localbatch.entities import Entity, TaskTable
from batchforge.localbatch.errors import BatchApiError, invalid_body

if TYPE_CHECKING:
    from batchforge.localbatch.account import Account
    from batchforge.localbatch.scheduler import Scheduler

MAX_BODY_BYTES = 1024 * 1024
MAX_PAGE = 1000
JSON_TYPE = "application/json;odata=minimalmetadata"

Handler = Callable[[Request], Awaitable[Response]]


def account(request: Request) -> Account:
    return request.app.state.account  # type: ignore[no-any-return]


def scheduler(request: Request) -> Scheduler:
    return request.app.state.scheduler  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def endpoint(handler: Handler) -> Handler:
    """Persist every change a request made before its response leaves.

    A request that changed nothing (a read: a task-counts or list page while 100,000 tasks run) answers without
    writing the scheduler's pending changes, which the scheduler's own flush writes within 0.2 s."""

    async def wrapped(request: Request) -> Response:
        store = account(request).store
        before = store.changes
        try:
            return await handler(request)
        finally:
            if store.changes != before:
                store.flush()

    wrapped.__name__ = handler.__name__
    return wrapped


def _body_too_large() -> BatchApiError:
    return BatchApiError(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"MaxLimit": str(MAX_BODY_BYTES)},
    )


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object: at most 1 MiB (refused from Content-Length before it is read), nested at most
    `validation.MAX_JSON_DEPTH` deep, and checked against the schema of the route's operation."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise invalid_header("Content-Length", length, "The value is not a non-negative integer.")
        if int(length) > MAX_BODY_BYTES:
            raise _body_too_large()
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _body_too_large()
    body = parse_json(raw) if raw else {}
    if not isinstance(body, dict):
        raise invalid_body("The body must be a JSON object.")
    route = request.scope.get("route")
    check_body(request.method, str(getattr(route, "path", "")), body)
    return body


def entity_headers(entity: Entity, request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    if "eTag" in entity.body:
        headers["ETag"] = str(entity.body["eTag"])
    if "lastModified" in entity.body:
        headers["Last-Modified"] = rfc1123(parse_iso(entity.body["lastModified"]))
    public = entity.public(base_url(request))
    if "url" in public:
        headers["DataServiceId"] = public["url"]
    return headers


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type=JSON_TYPE,
    )


def entity_response(entity: Entity, request: Request, metadata: str) -> Response:
    body = entity.public(base_url(request))
    body = odata.apply_select(body, odata.parse_select(request.query_params.get("$select")))
    out = {"odata.metadata": f"{base_url(request)}/$metadata#{metadata}/@Element", **body}
    return json_response(out, headers=entity_headers(entity, request))


def done_response(request: Request, status: int, entity: Entity | None = None) -> Response:
    headers = entity_headers(entity, request) if entity is not None else {}
    if entity is not None and status == 201:
        headers["Location"] = headers.get("DataServiceId", "")
    return Response(status_code=status, headers=headers)


def list_response(
    request: Request,
    entities: Iterable[Entity],
    metadata: str,
    *,
    render: Callable[[Entity], dict[str, Any]] | None = None,
) -> Response:
    query = request.query_params
    token = query.get("$skiptoken")
    if token:
        after, filter_text, select_text = odata.decode_skiptoken(token)
    else:
        after, filter_text, select_text = -1, query.get("$filter"), query.get("$select")
    predicate = odata.parse_filter(filter_text)
    select = odata.parse_select(select_text)
    page_size = max_results(query.get("maxresults"))
    base = base_url(request)
    if render is None and predicate is None and not select and isinstance(entities, TaskTable):
        return _task_page(request, entities, metadata, after, page_size, base)
    items: list[dict[str, Any]] = []
    next_link = None
    last_seq = after
    for entity in _in_order_after(entities, after):
        body = render(entity) if render else entity.public(base)
        if predicate is not None and not predicate(body):
            continue
        if len(items) == page_size:
            next_link = _next_link(request, base, page_size, odata.encode_skiptoken(last_seq, filter_text, select_text))
            break
        items.append(odata.apply_select(body, select))
        last_seq = entity.seq
    out: dict[str, Any] = {"odata.metadata": f"{base}/$metadata#{metadata}", "value": items}
    if next_link:
        out["odata.nextLink"] = next_link
    return json_response(out)


def _next_link(request: Request, base: str, page_size: int, skiptoken: str) -> str:
    return f"{base}{quote(request.url.path)}?maxresults={page_size}&$skiptoken={skiptoken}"


def _task_page(request: Request, tasks: TaskTable, metadata: str, after: int, page_size: int, base: str) -> Response:
    """A page of whole tasks (no $filter or $select), each task's JSON from the wire cache when it has not
    changed since it was last served: the same bytes as encoding the page, at a fraction of the event loop's time."""
    cache = account(request).wire_cache
    texts: list[str] = []
    next_link = None
    last_seq = after
    for task in tasks.after(after):
        if len(texts) == page_size:
            next_link = _next_link(request, base, page_size, odata.encode_skiptoken(last_seq, None, None))
            break
        text = cache.get(task, base)
        if text is None:
            text = json.dumps(task.public(base), separators=(",", ":"))
            cache.put(task, base, text)
        texts.append(text)
        last_seq = task.seq
    head = json.dumps(f"{base}/$metadata#{metadata}")
    tail = "" if next_link is None else ',"odata.nextLink":' + json.dumps(next_link)
    return Response(
        '{"odata.metadata":' + head + ',"value":[' + ",".join(texts) + "]" + tail + "}", media_type=JSON_TYPE
    )


def _in_order_after(entities: Iterable[Entity], after: int) -> Iterable[Entity]:
    """The entities with a greater `seq`, in `seq` order: a job's tasks from where the page token says, the
    (few) others sorted."""
    if isinstance(entities, TaskTable):
        return entities.after(after)
    return (entity for entity in sorted(entities, key=lambda e: e.seq) if entity.seq > after)


def max_results(text: str | None) -> int:
    """`maxresults`: 1 to 1000 on every list operation, 1000 when absent."""
    if text is None:
        return MAX_PAGE
    try:
        value = int(text)
    except ValueError:
        raise BatchApiError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": "maxresults", "QueryParameterValue": str(text)},
        ) from None
    if value < 1 or value > MAX_PAGE:
        raise BatchApiError(
            400,
            "OutOfRangeQueryParameterValue",
            "A query parameter specified in the request URI is outside the permissible range.",
            {
                "QueryParameterName": "maxresults",
                "QueryParameterValue": str(text),
                "Reason": f"maxresults must be between 1 and {MAX_PAGE}.",
            },
        )
    return value


def check_conditions(request: Request, entity: Entity) -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since against the entity's ETag and lastModified."""
    etag = str(entity.body.get("eTag", ""))
    if_match = request.headers.get("if-match")
    if if_match and if_match != "*" and if_match.strip('"') != etag:
        raise _condition_not_met()
    if_none = request.headers.get("if-none-match")
    if if_none and (if_none == "*" or if_none.strip('"') == etag):
        raise _condition_not_met()
    modified = entity.body.get("lastModified")
    if modified:
        last = parse_iso(modified).replace(microsecond=0)
        since = request.headers.get("if-modified-since")
        if since and last <= parse_rfc1123(since):
            raise _condition_not_met()
        unmodified = request.headers.get("if-unmodified-since")
        if unmodified and last > parse_rfc1123(unmodified):
            raise _condition_not_met()


def _condition_not_met() -> BatchApiError:
    return BatchApiError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
