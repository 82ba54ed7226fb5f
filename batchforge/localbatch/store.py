"""SQLite persistence: every pool, node, job and task is one JSON row, written through on change.

The service keeps its working state in memory and marks what changed; `flush()` writes the changed
rows in one transaction before a response is sent or after a scheduling pass, so an answered request
survives a restart. A flush that fails keeps its changes pending and raises `FlushError`; nothing is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
log = logging.getLogger("batchforge.localbatch.store")


class FlushError(RuntimeError):
    """A flush failed; its changes are still pending and the next flush writes them."""


class Store:
    def __init__(self, path: Path) -> None:
        # Owner-only (0600) before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path.with_name(name), 0o600)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._dirty: dict[tuple[str, str], tuple[int, dict[str, Any]] | None] = {}
        self._counters: dict[str, int] = {}
        self.failed_flushes = 0  # since the last flush that succeeded
        self.changes = 0  # every put, delete and counter set so far: tells whether a request changed anything

    def load(self, kind: str) -> list[tuple[str, int, dict[str, Any]]]:
        rows = self._db.execute("SELECT key, seq, body FROM entities WHERE kind = ? ORDER BY seq", (kind,))
        return [(key, seq, json.loads(body)) for key, seq, body in rows]

    def counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        """Written with the next flush, like entities."""
        self._counters[name] = value
        self.changes += 1

    @property
    def dirty(self) -> bool:
        return bool(self._dirty or self._counters)

    def put(self, kind: str, key: str, seq: int, body: dict[str, Any]) -> None:
        self._dirty[(kind, key)] = (seq, body)
        self.changes += 1

    def delete(self, kind: str, key: str) -> None:
        self._dirty[(kind, key)] = None
        self.changes += 1

    def flush(self) -> None:
        if not self._dirty and not self._counters:
            return
        dirty, self._dirty = self._dirty, {}
        counters, self._counters = self._counters, {}
        try:
            self._write(dirty, counters)
        except Exception as err:
            # Changes made since the flush began are newer than the ones that failed: they win.
            self._dirty = {**dirty, **self._dirty}
            self._counters = {**counters, **self._counters}
            self.failed_flushes += 1
            log.error("writing %d changes to SQLite failed (attempt %d): %s", len(dirty), self.failed_flushes, err)
            raise FlushError(f"writing state to SQLite failed: {err}") from err
        self.failed_flushes = 0

    def _write(self, dirty: dict[tuple[str, str], tuple[int, dict[str, Any]] | None], counters: dict[str, int]) -> None:
        upserts = [
            (kind, key, value[0], json.dumps(value[1], separators=(",", ":")))
            for (kind, key), value in dirty.items()
            if value is not None
        ]
        deletes = [(kind, key) for (kind, key), value in dirty.items() if value is None]
        self._db.execute("BEGIN")
        try:
            if deletes:
                self._db.executemany("DELETE FROM entities WHERE kind = ? AND key = ?", deletes)
            if upserts:
                self._db.executemany(
                    "INSERT OR REPLACE INTO entities (kind, key, seq, body) VALUES (?, ?, ?, ?)", upserts
                )
            if counters:
                self._db.executemany(
                    "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", list(counters.items())
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.flush()
        self._db.close()
