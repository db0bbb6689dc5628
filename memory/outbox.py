"""The durable outbox: replies a chat platform did not take, kept until they go out, expire or are dropped.

A reply (the answer to a command, a click or a message) that failed its first try is held here
with where it goes, when to try next and until when its destination is valid; the delivery side
(``bot/outbox_delivery.py``) claims due entries, sends them through the surface's adapter and
marks them delivered.  Claiming pushes ``next_at`` forward in the same statement that checks it,
so two drains (two threads, or two processes on one file) never send one entry at the same time.

Also the incidents whose thread posts failed (``unsent_posts``), so a restarted bot still
re-publishes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from memory.store import Store

BACKOFF_BASE = timedelta(seconds=2)  # wait after the first failed retry; doubles per attempt
BACKOFF_CAP = timedelta(seconds=60)  # never longer than this: a platform back after minutes is used within one
CLAIM_LEASE = timedelta(seconds=60)  # a claimed entry is retried after this if its drain died mid-send


@dataclass(frozen=True)
class HeldReply:
    """One undelivered reply: ``kind`` and ``destination`` are the adapter's to read (say ``response`` and
    ``{"url": …}`` on Slack); ``expires_at`` is when that destination stops being valid."""

    id: int
    surface: str
    kind: str
    destination: dict[str, Any]
    text: str
    ephemeral: bool
    attempts: int
    next_at: str
    expires_at: str
    created_at: str
    last_error: str = ""


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed tries: 2 s, 4 s, 8 s … capped at a minute."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def iso(moment: datetime) -> str:
    """``moment`` as the store writes times (ISO 8601 UTC, seconds), so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- replies
    def hold(self, *, surface: str, kind: str, destination: dict[str, Any], text: str, ephemeral: bool,
             expires_in: timedelta, error: str = "") -> int:
        """Keep a reply whose first try failed; it is due at once (the next drain tries it). Returns its id."""
        now = self.store.clock()
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO outbox (surface, kind, destination, text, ephemeral, attempts, next_at, expires_at,"
                " created_at, last_error) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                [surface, kind, json.dumps(destination), text, int(ephemeral), iso(now), iso(now + expires_in),
                 iso(now), error[:500]])
            return int(cursor.lastrowid)

    def due(self, *, surfaces: Iterable[str] | None = None, limit: int = 50) -> list[HeldReply]:
        """Undelivered replies whose next try is due, oldest first (replies keep their order per surface)."""
        only, names = "", []
        if surfaces is not None:
            names = sorted(surfaces)
            only = f" AND surface IN ({', '.join('?' * len(names))})"
        rows = self.store.db.execute(
            "SELECT * FROM outbox WHERE delivered_at IS NULL AND dropped_at IS NULL AND next_at <= ?" + only
            + " ORDER BY id LIMIT ?", [self.store.now(), *names, limit]).fetchall()
        return [_held(r) for r in rows]

    def pending(self) -> list[HeldReply]:
        """Every reply not yet delivered or dropped, due or not."""
        rows = self.store.db.execute(
            "SELECT * FROM outbox WHERE delivered_at IS NULL AND dropped_at IS NULL ORDER BY id").fetchall()
        return [_held(r) for r in rows]

    def get(self, reply_id: int) -> HeldReply | None:
        row = self.store.db.execute("SELECT * FROM outbox WHERE id = ?", [reply_id]).fetchone()
        return _held(row) if row else None

    def status(self, reply_id: int) -> str:
        """``pending``, ``delivered`` or ``dropped``."""
        row = self.store.db.execute("SELECT delivered_at, dropped_at FROM outbox WHERE id = ?", [reply_id]).fetchone()
        if row is None:
            raise KeyError(reply_id)
        return "delivered" if row[0] else "dropped" if row[1] else "pending"

    def claim(self, reply: HeldReply) -> bool:
        """Take ``reply`` for one try: True for exactly one caller while it is due; its next try moves a lease ahead."""
        now = self.store.clock()
        with self.store.write() as db:
            cursor = db.execute(
                "UPDATE outbox SET next_at = ?, attempts = attempts + 1 WHERE id = ? AND next_at = ?"
                " AND next_at <= ? AND delivered_at IS NULL AND dropped_at IS NULL",
                [iso(now + CLAIM_LEASE), reply.id, reply.next_at, iso(now)])
            return cursor.rowcount == 1

    def delivered(self, reply_id: int) -> None:
        """Mark ``reply_id`` sent; its destination is forgotten (a response URL or an interaction token is a
        credential while it lasts)."""
        with self.store.write() as db:
            db.execute("UPDATE outbox SET delivered_at = ?, destination = '{}' WHERE id = ?",
                       [self.store.now(), reply_id])

    def failed(self, reply_id: int, error: str) -> str:
        """Record a failed try; the next one is due after :func:`backoff` of the attempts so far. Returns it."""
        now = self.store.clock()
        with self.store.write() as db:
            (attempts,) = db.execute("SELECT attempts FROM outbox WHERE id = ?", [reply_id]).fetchone()
            next_at = iso(now + backoff(attempts))
            db.execute("UPDATE outbox SET next_at = ?, last_error = ? WHERE id = ?", [next_at, error[:500], reply_id])
        return next_at

    def reroute(self, reply_id: int, *, kind: str, destination: dict[str, Any], expires_at: str) -> HeldReply:
        """Send ``reply_id`` another way from now on (its destination expired); returns it as it now is."""
        with self.store.write() as db:
            db.execute("UPDATE outbox SET kind = ?, destination = ?, expires_at = ? WHERE id = ?",
                       [kind, json.dumps(destination), expires_at, reply_id])
        return self.get(reply_id)  # type: ignore[return-value]

    def drop(self, reply_id: int, reason: str) -> None:
        """Give ``reply_id`` up (expired with nowhere else to go); the row stays, with the reason (not where to)."""
        with self.store.write() as db:
            db.execute("UPDATE outbox SET dropped_at = ?, last_error = ?, destination = '{}' WHERE id = ?",
                       [self.store.now(), reason[:500], reply_id])

    # ---------------------------------------------------------------- incidents with unsent thread posts
    def unsent(self) -> set[str]:
        return {row[0] for row in self.store.db.execute("SELECT incident FROM unsent_posts")}

    def mark_unsent(self, incident: str) -> None:
        with self.store.write() as db:
            db.execute("INSERT OR IGNORE INTO unsent_posts VALUES (?, ?)", [incident, self.store.now()])

    def mark_sent(self, incident: str) -> None:
        with self.store.write() as db:
            db.execute("DELETE FROM unsent_posts WHERE incident = ?", [incident])


def _held(row: tuple) -> HeldReply:
    (id_, surface, kind, destination, text, ephemeral, attempts, next_at, expires_at, created_at, last_error,
     _delivered, _dropped) = row
    return HeldReply(id_, surface, kind, json.loads(destination), text, bool(ephemeral), attempts, next_at,
                     expires_at, created_at, last_error)
