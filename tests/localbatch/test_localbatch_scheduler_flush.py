"""A failed SQLite flush is reported and retried; its changes are never dropped."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from batchforge.localbatch.store import FlushError, Store

_POISON = """
CREATE TRIGGER refuse BEFORE INSERT ON entities WHEN NEW.key = 'poison'
BEGIN SELECT RAISE(ABORT, 'disk full'); END;
"""


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {key: seq for key, seq in db.execute("SELECT key, seq FROM entities")}


def test_failed_flush_keeps_its_changes_and_the_next_flush_writes_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = Store(path)
    with sqlite3.connect(path) as db:
        db.executescript(_POISON)
    store.put("task", "job/a", 1, {"id": "a", "state": "active"})
    store.put("task", "poison", 2, {"id": "poison"})
    store.set_counter("seq", 2)

    with caplog.at_level(logging.ERROR, logger="batchforge.localbatch.store"), pytest.raises(FlushError):
        store.flush()
    assert "disk full" in caplog.text
    assert store.dirty and store.failed_flushes == 1
    assert _rows(path) == {}, "a failed flush must write nothing (one transaction)"

    # Changed again while the write was failing: the newer body wins when it is retried.
    store.put("task", "job/a", 1, {"id": "a", "state": "completed"})
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER refuse")
    store.flush()
    assert not store.dirty and store.failed_flushes == 0
    assert _rows(path) == {"job/a": 1, "poison": 2}
    assert store.counter("seq") == 2
    assert store.load("task")[0][2]["state"] == "completed"
