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


class Store:
    """The memory database, the clock every timestamp comes from, and the process's write lock.

    Each thread gets its own connection to the file (``db``): SQLite connections don't mix
    well across threads, and with WAL each reader keeps a consistent snapshot while one
    writer at a time commits.  (A private ``:memory:`` database has one shared connection.)
    """

    def __init__(self, path: str, *, clock: Clock = utc_now) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[Database] = []
        self._shared = _connect(path) if path == ":memory:" else None

    @property
    def db(self) -> Database:
        """This thread's connection."""
        if self._shared is not None:
            return self._shared
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _connect(self.path)
            with self._lock:
                self._connections.append(db)
        return db

    def now(self) -> str:
        """The clock's time as ISO 8601 UTC, seconds precision ("2026-12-04T17:00:00Z")."""
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One atomic write: the process lock plus ``BEGIN IMMEDIATE`` (the file's write lock)."""
        with self._lock:
            db = self.db
            conn = db.conn
            if conn.in_transaction:  # nested write: join the outer transaction
                yield db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def applied_migrations(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def close(self) -> None:
        with self._lock:
            for db in [self._shared, *self._connections]:
                if db is not None:
                    db.close()
            self._connections.clear()
            self._local = threading.local()


def _connect(path: str) -> Database:
    db = Database(sqlite3.connect(path, check_same_thread=False))
    db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.conn.execute("PRAGMA foreign_keys = ON")
    return db


def open_store(path: str | Path | None = None, *, clock: Clock = utc_now) -> Store:
    """Open (creating if needed) the memory database at ``path`` and bring its schema up to date.

    ``path`` defaults to ``default_db_path()``; ``":memory:"`` gives a private in-memory store.
    """
    path = str(path) if path is not None else default_db_path()
    store = Store(path, clock=clock)
    if path != ":memory:":
        store.db.enable_wal()
    with store._lock:
        apply_migrations(store.db, now=store.now())
    return store
