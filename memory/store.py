"""``open_store``: the one SQLite file behind all memory, opened with its schema up to date.

WAL lets many readers run beside one writer; within a process every write goes through
``Store.write()``, which holds a lock and an immediate transaction, so writers queue up
instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from memory.schema import apply_migrations

Clock = Callable[[], datetime]
DEFAULT_DB = "cyberops.db"
BUSY_TIMEOUT_MS = 5000


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_db_path(environ: dict[str, str] | None = None) -> str:
    """``CYBEROPS_DB`` when set, else ``./cyberops.db``."""
    env = os.environ if environ is None else environ
    return env.get("CYBEROPS_DB") or DEFAULT_DB


@dataclass
class Store:
    """The open database, the clock every timestamp comes from, and the process's write lock."""

    db: Database
    path: str
    clock: Clock = utc_now
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def now(self) -> str:
        """The clock's time as ISO 8601 UTC, seconds precision ("2026-12-04T17:00:00Z")."""
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One atomic write: the process lock plus ``BEGIN IMMEDIATE`` (the file's write lock)."""
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:  # nested write: join the outer transaction
                yield self.db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def applied_migrations(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def close(self) -> None:
        self.db.close()


def open_store(path: str | Path | None = None, *, clock: Clock = utc_now) -> Store:
    """Open (creating if needed) the memory database at ``path`` and bring its schema up to date.

    ``path`` defaults to ``default_db_path()``; ``":memory:"`` gives a private in-memory store.
    """
    path = str(path) if path is not None else default_db_path()
    # one connection shared by the process's threads; Store.write() serialises its writers
    db = Database(sqlite3.connect(path, check_same_thread=False))
    db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.conn.execute("PRAGMA foreign_keys = ON")
    if path != ":memory:":
        db.enable_wal()
    store = Store(db=db, path=path, clock=clock)
    with store._lock:
        apply_migrations(db, now=store.now())
    return store
