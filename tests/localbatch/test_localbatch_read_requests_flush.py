"""A request flushes SQLite before it answers only when it changed something: a read (task counts, a list page) made
while the scheduler has changes pending answers without writing them, and the scheduler's own flush does."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.responses import Response

from batchforge.localbatch.api.common import endpoint
from batchforge.localbatch.store import Store


def _keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {key for (key,) in db.execute("SELECT key FROM entities")}


def _request(store: Store) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(account=SimpleNamespace(store=store))))


def test_a_read_leaves_pending_changes_to_the_scheduler_and_a_change_flushes_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = Store(path)
    store.put("task", "job/running", 1, {"id": "running", "state": "running"})  # the scheduler's, not yet flushed

    @endpoint
    async def read(request: Any) -> Response:
        return Response(status_code=200)

    @endpoint
    async def change(request: Any) -> Response:
        request.app.state.account.store.put("task", "job/added", 2, {"id": "added"})
        return Response(status_code=201)

    @endpoint
    async def change_then_fail(request: Any) -> Response:
        request.app.state.account.store.delete("task", "job/added")
        raise RuntimeError("the handler failed after its change")

    assert asyncio.run(read(_request(store))).status_code == 200
    assert store.dirty and _keys(path) == set()
    assert asyncio.run(change(_request(store))).status_code == 201
    assert not store.dirty and _keys(path) == {"job/running", "job/added"}
    with pytest.raises(RuntimeError):
        asyncio.run(change_then_fail(_request(store)))
    assert not store.dirty and _keys(path) == {"job/running"}, "a change is written even when the handler fails"
    store.set_counter("seq", 3)
    assert asyncio.run(change(_request(store))).status_code == 201 and store.counter("seq") == 3
