"""Files on nodes and in task directories: list, download, properties, delete.

Paths are confined to the task's (or node's) folder: `..` and symbolic links that lead outside it are
treated as absent, and a link whose target is gone is left out of listings rather than failing them.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from batchforge.localbatch import odata
from batchforge.localbatch.api.common import account, base_url, endpoint, json_response, max_results
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


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def _lexical(root: Path | None, relative: str) -> tuple[Path, Path]:
    """The root (resolved) and the requested path with `..` folded but links kept, refused if outside."""
    if root is None:
        raise _file_not_found()
    root_resolved = root.resolve()
    lexical = Path(os.path.normpath(root_resolved / relative))
    if not _inside(root_resolved, lexical):
        raise _file_not_found()
    return root_resolved, lexical


def _resolve(root: Path | None, relative: str) -> Path:
    root_resolved, lexical = _lexical(root, relative)
    target = lexical.resolve()
    if not _inside(root_resolved, target) or not target.exists():
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


def _listable(root: Path, path: Path) -> bool:
    """False for a link whose target is gone or lies outside the folder: it cannot be read through the API."""
    if not path.is_symlink():
        return True
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # dangling, or a loop of links
        return False
    return _inside(root.resolve(), target)


def _list(request: Request, root: Path | None, prefix: str) -> Response:
    query = request.query_params
    page = max_results(query.get("maxresults"))
    token = query.get("$skiptoken")
    if token:
        after, filter_text, _ = odata.decode_skiptoken(token)
    else:
        after, filter_text = -1, query.get("$filter")
    predicate = odata.parse_filter(filter_text)
    recursive = query.get("recursive", "false").lower() == "true"
    items: list[dict[str, Any]] = []
    next_link = None
    for index, path in enumerate(_entries(root, recursive) if root else []):
        if index <= after or root is None or not _listable(root, path):
            continue
        name = path.relative_to(root).as_posix()
        try:
            entry = {
                "name": name,
                "url": f"{prefix}/{quote(name)}",
                "isDirectory": path.is_dir(),
                "properties": _properties(path),
            }
        except FileNotFoundError:  # removed by its task while the folder was being listed
            continue
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


CHUNK_BYTES = 64 * 1024


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` as an inclusive (start, end) within the file."""
    spec = header.strip()
    if not spec.startswith("bytes=") or "," in spec:
        raise _invalid_range(header)
    start_text, dash, end_text = spec[6:].strip().partition("-")
    try:
        if not dash or (not start_text and not end_text):
            raise ValueError
        if not start_text:  # the last n bytes
            start, end = max(0, size - int(end_text)), size - 1
        else:
            start = int(start_text)
            end = min(int(end_text), size - 1) if end_text else size - 1
    except ValueError:
        raise _invalid_range(header) from None
    if start < 0 or start >= size or end < start:
        raise _invalid_range(header)
    return start, end


def _invalid_range(header: str) -> BatchApiError:
    return BatchApiError(
        416,
        "InvalidRange",
        "The range specified is invalid for the current size of the resource.",
        {"HeaderName": "ocp-range", "HeaderValue": header},
    )


def _chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(CHUNK_BYTES, length))
            if not data:
                return
            length -= len(data)
            yield data


def _delete(request: Request, root: Path | None, relative: str) -> Response:
    root_resolved, lexical = _lexical(root, relative)
    if lexical == root_resolved:
        # An empty (or `.`) path names the task's whole folder: Delete File removes files and directories
        # inside it, never the folder the task runs in.
        raise BatchApiError(
            400,
            "InvalidUri",
            "The file path must name a file or directory inside the folder, not the folder itself.",
            {"FilePath": relative},
        )
    if lexical.is_symlink():  # the link itself goes, never what it points at
        lexical.unlink()
        return Response(status_code=200)
    path = _resolve(root, relative)
    recursive = request.query_params.get("recursive", "false").lower() == "true"
    if path.is_dir():
        if any(path.iterdir()) and not recursive:
            raise BatchApiError(409, "DirectoryNotEmpty", "The specified directory is not empty.")
        shutil.rmtree(path)
    else:
        path.unlink()
    return Response(status_code=200)


def _file(request: Request, root: Path | None, prefix: str) -> Response:
    relative = request.path_params["file_path"]
    if request.method == "DELETE":
        return _delete(request, root, relative)
    path = _resolve(root, relative)
    info = path.stat()
    props = _properties(path)
    headers = {
        "ocp-creation-time": rfc1123(datetime.fromtimestamp(info.st_ctime, UTC)),
        "ocp-batch-file-isdirectory": str(path.is_dir()).lower(),
        "ocp-batch-file-url": f"{prefix}/{quote(relative)}",
        "ocp-batch-file-mode": props["fileMode"],
        "Last-Modified": rfc1123(datetime.fromtimestamp(info.st_mtime, UTC)),
        "Content-Type": props["contentType"],
    }
    since = request.headers.get("if-modified-since")
    if since and datetime.fromtimestamp(int(info.st_mtime), UTC) <= parse_rfc1123(since):
        return Response(status_code=304, headers=headers)
    if path.is_dir():
        headers["Content-Length"] = "0"
        return Response(status_code=200, headers=headers)
    size = info.st_size
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers)
    start, end = 0, size - 1
    byte_range = request.headers.get("ocp-range")
    if byte_range:
        start, end = _byte_range(byte_range, size)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    # Streamed from disk a chunk at a time: task output can be gigabytes, and a range is often its tail.
    return StreamingResponse(_chunks(path, start, length), status_code=200, headers=headers)


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
