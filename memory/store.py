"""``open_store``: the one SQLite file behind all memory, opened with its schema up to date.

WAL lets many readers run beside one writer; within a process every write goes through
``Store.write()``, which holds a lock and an immediate transaction, so writers queue up
instead of failing with "database is locked".  When the file can't take a write (another
process holds its lock past the busy timeout, it is read-only, the disk is full) the write
rolls back whole and raises :class:`MemoryUnavailable`, which names the file and the cause.
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


#: SQLite's primary result codes that mean "the file can't be used now", with how to say so
_FAULTS = {
    "SQLITE_BUSY": "memory is busy: another process is writing to it",
    "SQLITE_LOCKED": "memory is busy: another process is writing to it",
    "SQLITE_READONLY": "the memory database is read-only",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "a disk I/O error on the memory database",
    "SQLITE_CANTOPEN": "the memory database can't be opened",
    "SQLITE_NOTADB": "not a CyberOps memory database",
    "SQLITE_CORRUPT": "the memory database file is damaged",
}
_FAULT_WORDS = {"locked": "SQLITE_BUSY", "readonly": "SQLITE_READONLY", "disk is full": "SQLITE_FULL",
                "disk i/o error": "SQLITE_IOERR", "unable to open": "SQLITE_CANTOPEN",
                "not a database": "SQLITE_NOTADB", "malformed": "SQLITE_CORRUPT"}


class MemoryUnavailable(Exception):
    """The memory database can't take a write (or be opened): ``path``, a plain ``reason``, the sqlite ``cause``.

    Raised in place of SQLite's own error so every caller can say clearly what happened; the
    failed write has been rolled back whole.
    """

    def __init__(self, path: str, cause: sqlite3.Error, reason: str) -> None:
        self.path, self.cause, self.reason = path, cause, reason
        super().__init__(f"{path}: {reason} ({cause})")

    @classmethod
    def of(cls, path: str, exc: BaseException) -> MemoryUnavailable | None:
        """The fault ``exc`` stands for, or None when it is no fault of the file (a bug, a constraint)."""
        if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
            return None
        name = (getattr(exc, "sqlite_errorname", None) or "").split("_")
        code = "_".join(name[:2])
        if code not in _FAULTS:  # an error made in Python (no code), or SQLite's message only
            text = str(exc).lower()
            code = next((c for word, c in _FAULT_WORDS.items() if word in text), "")
        return cls(path, exc, _FAULTS[code]) if code in _FAULTS else None


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

    def __init__(self, path: str, *, clock: Clock = utc_now, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.clock = clock
        self.busy_timeout_ms = busy_timeout_ms  # how long a write waits for another process's lock
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[Database] = []
        self._shared = _connect(path, busy_timeout_ms) if path == ":memory:" else None

    @property
    def db(self) -> Database:
        """This thread's connection."""
        if self._shared is not None:
            return self._shared
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _connect(self.path, self.busy_timeout_ms)
            with self._lock:
                self._connections.append(db)
        return db

    def now(self) -> str:
        """The clock's time as ISO 8601 UTC, seconds precision ("2026-12-04T17:00:00Z")."""
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One atomic write: the process lock plus ``BEGIN IMMEDIATE`` (the file's write lock).

        All or nothing: on any error it rolls back; a locked, read-only or full file raises
        :class:`MemoryUnavailable`.
        """
        with self._lock:
            db = self.db
            conn = db.conn
            if conn.in_transaction:  # nested write: join the outer transaction
                yield db
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    conn.commit()  # a failed commit (disk full) must roll back too, or the next write joins it
                except BaseException:
                    conn.rollback()
                    raise
            except sqlite3.DatabaseError as exc:
                fault = MemoryUnavailable.of(self.path, exc)
                if fault is None:
                    raise
                raise fault from exc

    def applied_migrations(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def close(self) -> None:
        with self._lock:
            for db in [self._shared, *self._connections]:
                if db is not None:
                    db.close()
            self._connections.clear()
            self._local = threading.local()


def _connect(path: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    db = Database(sqlite3.connect(path, check_same_thread=False))
    db.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    db.conn.execute("PRAGMA foreign_keys = ON")
    # with WAL, NORMAL never corrupts and loses nothing when the process dies; only a power cut can
    # undo the last commits (FULL would fsync on every one of the loop's many small commits)
    db.conn.execute("PRAGMA synchronous = NORMAL")
    return db


def open_store(path: str | Path | None = None, *, clock: Clock = utc_now,
               busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Store:
    """Open (creating if needed) the memory database at ``path`` and bring its schema up to date.

    ``path`` defaults to ``default_db_path()``; ``":memory:"`` gives a private in-memory store.
    A file that is no SQLite database, or can't be opened or migrated, is :class:`MemoryUnavailable`.
    """
    path = str(path) if path is not None else default_db_path()
    store = Store(path, clock=clock, busy_timeout_ms=busy_timeout_ms)
    try:
        if path != ":memory:":
            store.db.enable_wal()
        with store._lock:
            apply_migrations(store.db, now=store.now())
    except sqlite3.DatabaseError as exc:
        store.close()
        fault = MemoryUnavailable.of(path, exc)
        if fault is None:
            raise
        raise fault from exc
    return store
