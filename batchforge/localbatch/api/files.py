"""Files on nodes and in task directories: list, download, properties, delete."""

from __future__ import annotations

import mimetypes
import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch import odata
from batchforge.localbatch.api.common import MAX_PAGE, account, base_url, endpoint, json_response
from batchforge.localbatch.clock import iso, parse_rfc1123, rfc1123
from batchforge.localbatch.errors import BatchApiError


def _file_not_found() -> BatchApiError:
    return BatchApiError(404, "FileNotFound", "The specified file does not exist.")


def _task_root(request: Request) -> tuple[Path | None, str]:
    acct = account(request)
    job, task = acct.task(request.path_params["job_id"], request.path_params["task_id"])
    prefix = f"{base_url(request)}/jobs/{quote(job.id, safe='')}/tasks/{quote(task.id, safe='')}/files"
    node_info = task.body.get("nodeInfo")
    if not node_info or not task.body.get("_nodeRoot"):
        return None, prefix
    return Path(task.body["_nodeRoot"]) / node_info["taskRootDirectory"], prefix


def _node_root(request: Request) -> tuple[Path | None, str]:
    pool, node = account(request).node(request.path_params["pool_id"], request.path_params["node_id"])
    prefix = f"{base_url(request)}/pools/{quote(pool.id, safe='')}/nodes/{quote(node.id, safe='')}/files"
    return Path(node.body["_root"]), prefix


def _resolve(root: Path | None, relative: str) -> Path:
    if root is None:
        raise _file_not_found()
    target = (root / relative).resolve()
    root_resolved = root.resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise _file_not_found()
    if not target.exists():
        raise _file_not_found()
    return target


def _properties(path: Path) -> dict[str, Any]:
    info = path.stat()
    return {
        "creationTime": iso(datetime.fromtimestamp(info.st_ctime, UTC)),
        "lastModified": iso(datetime.fromtimestamp(info.st_mtime, UTC)),
        "contentLength": 0 if path.is_dir() else info.st_size,
        "contentType": "application/octet-stream" if path.is_dir() else _content_type(path),
        "fileMode": f"{stat.S_IMODE(info.st_mode) | (stat.S_IFMT(info.st_mode)):o}",
    }


def _content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _entries(root: Path, recursive: bool) -> list[Path]:
    if not root.exists():
        return []
    if not recursive:
        return sorted(root.iterdir())
    out: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(folder)
        out.extend(base / d for d in dirs)
        out.extend(base / f for f in sorted(files))
    return out


def _list(request: Request, root: Path | None, prefix: str) -> Response:
    query = request.query_params
    token = query.get("$skiptoken")
    if token:
        after, filter_text, _ = odata.decode_skiptoken(token)
    else:
        after, filter_text = -1, query.get("$filter")
    predicate = odata.parse_filter(filter_text)
    recursive = query.get("recursive", "false").lower() == "true"
    page = int(query.get("maxresults", MAX_PAGE))
    items: list[dict[str, Any]] = []
    next_link = None
    for index, path in enumerate(_entries(root, recursive) if root else []):
        if index <= after:
            continue
        name = path.relative_to(root).as_posix() if root else path.name
        entry = {
            "name": name,
            "url": f"{prefix}/{quote(name)}",
            "isDirectory": path.is_dir(),
            "properties": _properties(path),
        }
        if predicate is not None and not predicate(entry):
            continue
        if len(items) == page:
            next_token = odata.encode_skiptoken(index - 1, filter_text, None)
            next_link = f"{quote(request.url.path)}?maxresults={page}&recursive={str(recursive).lower()}"
            next_link = f"{base_url(request)}{next_link}&$skiptoken={next_token}"
            break
        items.append(entry)
    out: dict[str, Any] = {"odata.metadata": f"{base_url(request)}/$metadata#files", "value": items}
    if next_link:
        out["odata.nextLink"] = next_link
    return json_response(out)


def _file(request: Request, root: Path | None, prefix: str) -> Response:
    relative = request.path_params["file_path"]
    path = _resolve(root, relative)
    props = _properties(path)
    headers = {
        "ocp-creation-time": rfc1123(datetime.fromtimestamp(path.stat().st_ctime, UTC)),
        "ocp-batch-file-isdirectory": str(path.is_dir()).lower(),
        "ocp-batch-file-url": f"{prefix}/{quote(relative)}",
        "ocp-batch-file-mode": props["fileMode"],
        "Last-Modified": rfc1123(datetime.fromtimestamp(path.stat().st_mtime, UTC)),
        "Content-Type": props["contentType"],
    }
    since = request.headers.get("if-modified-since")
    if since and datetime.fromtimestamp(int(path.stat().st_mtime), UTC) <= parse_rfc1123(since):
        return Response(status_code=304, headers=headers)
    if request.method == "DELETE":
        recursive = request.query_params.get("recursive", "false").lower() == "true"
        if path.is_dir():
            if any(path.iterdir()) and not recursive:
                raise BatchApiError(409, "DirectoryNotEmpty", "The specified directory is not empty.")
            shutil.rmtree(path)
        else:
            path.unlink()
        return Response(status_code=200)
    if path.is_dir():
        headers["Content-Length"] = "0"
        return Response(status_code=200, headers=headers)
    data = path.read_bytes() if request.method == "GET" else b""
    size = path.stat().st_size
    byte_range = request.headers.get("ocp-range")
    if request.method == "GET" and byte_range and byte_range.startswith("bytes="):
        start_text, _, end_text = byte_range[6:].partition("-")
        start = int(start_text or 0)
        end = int(end_text) if end_text else size - 1
        data = data[start : end + 1]
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers)
    return Response(data, status_code=200, headers=headers)


@endpoint
async def list_task_files(request: Request) -> Response:
    return _list(request, *_task_root(request))


@endpoint
async def task_file(request: Request) -> Response:
    return _file(request, *_task_root(request))


@endpoint
async def list_node_files(request: Request) -> Response:
    return _list(request, *_node_root(request))


@endpoint
async def node_file(request: Request) -> Response:
    return _file(request, *_node_root(request))


routes = [
    Route("/jobs/{job_id}/tasks/{task_id}/files", list_task_files, methods=["GET"]),
    Route("/jobs/{job_id}/tasks/{task_id}/files/{file_path:path}", task_file, methods=["GET", "HEAD", "DELETE"]),
    Route("/pools/{pool_id}/nodes/{node_id}/files", list_node_files, methods=["GET"]),
    Route("/pools/{pool_id}/nodes/{node_id}/files/{file_path:path}", node_file, methods=["GET", "HEAD", "DELETE"]),
]
