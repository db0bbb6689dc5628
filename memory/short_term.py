"""Short-term memory: what one incident has seen, planned, done and been told so far.

Actions are keyed by their idempotency key; ``claim_execution`` flips one to ``executed``
at most once, so a retried or restarted act step cannot run the same action twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memory.store import Store

ACTION_STATUSES = ("pending", "approved", "rejected", "expired", "refused", "executed")
INCIDENT_STATUSES = ("open", "closed")


@dataclass(frozen=True)
class Action:
    key: str
    incident: str
    kind: str
    targets: tuple[str, ...]
    status: str


class ShortTermMemory:
    """Per-incident working memory over the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- incidents
    def open_incident(self, incident: str, *, title: str) -> None:
        """Record a new open incident; opening one that exists already does nothing."""
        with self.store.write() as db:
            db.execute("INSERT OR IGNORE INTO incidents VALUES (?, ?, 'open', ?)", [incident, self.store.now(), title])

    def set_incident_status(self, incident: str, status: str) -> None:
        if status not in INCIDENT_STATUSES:
            raise ValueError(f"unknown incident status {status!r}; one of {', '.join(INCIDENT_STATUSES)}")
        with self.store.write() as db:
            if db.execute("UPDATE incidents SET status = ? WHERE id = ?", [status, incident]).rowcount != 1:
                raise KeyError(incident)

    def incident(self, incident: str) -> dict[str, Any] | None:
        rows = list(self.store.db["incidents"].rows_where("id = ?", [incident]))
        return rows[0] if rows else None

    def incidents(self, *, status: str | None = None) -> list[dict[str, Any]]:
        where, args = ("status = ?", [status]) if status else (None, None)
        return list(self.store.db["incidents"].rows_where(where, args, order_by="opened_at, id"))

    # ---------------------------------------------------------------- observations
    def add_observation(self, incident: str, *, step: int, observation: dict[str, Any]) -> bool:
        """Record what a cycle saw; an observation with the same ``cycle`` recorded already (a step run again
        after a crash) is kept instead, and False returned."""
        with self.store.write() as db:
            if "cycle" in observation and db.execute(
                    "SELECT 1 FROM observations WHERE incident = ? AND json_extract(json, '$.cycle') = ?",
                    [incident, observation["cycle"]]).fetchone():
                return False
            db.execute("INSERT INTO observations (incident, step, json, at) VALUES (?, ?, ?, ?)",
                       [incident, step, json.dumps(observation, sort_keys=True), self.store.now()])
            return True

    def recent_observations(self, incident: str, *, limit: int = 10) -> list[dict[str, Any]]:
        """The last ``limit`` observations, oldest first, as ``{"step", "at", "observation"}``."""
        rows = self.store.db.execute(
            "SELECT step, at, json FROM observations WHERE incident = ? ORDER BY step DESC, id DESC LIMIT ?",
            [incident, limit],
        ).fetchall()
        return [{"step": step, "at": at, "observation": json.loads(text)} for step, at, text in reversed(rows)]

    # ---------------------------------------------------------------- attack chain
    def note_compromise(self, incident: str, host: str) -> bool:
        """Add ``host`` to the incident's attack chain; False if it was already in it."""
        with self.store.write() as db:
            cursor = db.execute("INSERT OR IGNORE INTO attack_chain (incident, host, seen_at) VALUES (?, ?, ?)",
                                [incident, host, self.store.now()])
            return cursor.rowcount == 1

    def attack_chain(self, incident: str) -> list[str]:
        """Hosts seen compromised in this incident, in the order they were first seen."""
        rows = self.store.db.execute("SELECT host FROM attack_chain WHERE incident = ? ORDER BY id", [incident])
        return [row[0] for row in rows]

    # ---------------------------------------------------------------- actions
    def propose_action(self, incident: str, *, key: str, kind: str, targets: Sequence[str]) -> bool:
        """Record a pending action under its idempotency key; False if the key is known already."""
        now = self.store.now()
        with self.store.write() as db:
            cursor = db.execute("INSERT OR IGNORE INTO actions VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                                [key, incident, kind, json.dumps(list(targets)), now, now])
            return cursor.rowcount == 1

    def propose_actions(self, incident: str, actions: Sequence[tuple[str, str, Sequence[str]]]) -> None:
        """:meth:`propose_action` for many ``(key, kind, targets)`` at once (known keys are left as they are)."""
        now = self.store.now()
        with self.store.write() as db:
            db.conn.executemany("INSERT OR IGNORE INTO actions VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                                [[key, incident, kind, json.dumps(list(targets)), now, now]
                                 for key, kind, targets in actions])

    def set_action_status(self, key: str, status: str) -> None:
        """Move an action to ``status``; an executed action stays executed (use ``claim_execution``)."""
        if status not in ACTION_STATUSES or status == "executed":
            raise ValueError(f"cannot set action status {status!r}; one of pending, approved, rejected, expired, refused")
        with self.store.write() as db:
            cursor = db.execute("UPDATE actions SET status = ?, updated_at = ? WHERE key = ? AND status != 'executed'",
                                [status, self.store.now(), key])
            if cursor.rowcount != 1:
                if self.action(key) is None:
                    raise KeyError(key)
                raise ValueError(f"action {key!r} has been executed already")

    def settle_actions(self, keys: Sequence[str], status: str) -> int:
        """:meth:`set_action_status` for many actions at once, leaving executed ones as they are (and
        unknown keys: nothing); returns how many changed."""
        if status not in ACTION_STATUSES or status == "executed":
            raise ValueError(f"cannot set action status {status!r}; one of pending, approved, rejected, expired, refused")
        changed = 0
        with self.store.write() as db:
            for i in range(0, len(keys), 500):  # SQLite caps the parameters of one statement
                chunk = list(keys[i:i + 500])
                changed += db.execute(f"UPDATE actions SET status = ?, updated_at = ? WHERE status != 'executed' "
                                      f"AND key IN ({', '.join('?' * len(chunk))})",
                                      [status, self.store.now(), *chunk]).rowcount
        return changed

    def claim_executions(self, keys: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        """:meth:`claim_execution` for many actions in one transaction: the keys this caller claimed, and
        every key's status before the claim."""
        with self.store.write() as db:
            before = {}
            for i in range(0, len(keys), 500):  # SQLite caps the parameters of one statement
                chunk = list(keys[i:i + 500])
                marks = ", ".join("?" * len(chunk))
                before.update(db.execute(f"SELECT key, status FROM actions WHERE key IN ({marks})", chunk).fetchall())
                db.execute(f"UPDATE actions SET status = 'executed', updated_at = ? WHERE status = 'approved' "
                           f"AND key IN ({marks})", [self.store.now(), *chunk])
        return {k for k in keys if before.get(k) == "approved"}, before

    def claim_execution(self, key: str) -> bool:
        """Mark an approved action executed; True only for the one caller that should run it."""
        with self.store.write() as db:
            cursor = db.execute(
                "UPDATE actions SET status = 'executed', updated_at = ? WHERE key = ? AND status = 'approved'",
                [self.store.now(), key],
            )
            return cursor.rowcount == 1

    def action(self, key: str) -> Action | None:
        rows = self.store.db.execute("SELECT key, incident, kind, targets, status FROM actions WHERE key = ?", [key])
        row = rows.fetchone()
        return _action(row) if row else None

    def actions(self, incident: str, *, status: str | None = None) -> list[Action]:
        sql = "SELECT key, incident, kind, targets, status FROM actions WHERE incident = ?"
        args: list[Any] = [incident]
        if status:
            sql, args = sql + " AND status = ?", [incident, status]
        return [_action(row) for row in self.store.db.execute(sql + " ORDER BY created_at, rowid", args)]

    # ---------------------------------------------------------------- operator requests
    def add_request(self, incident: str, *, action: dict[str, Any], who: str) -> int:
        """Queue an operator-requested action for the incident's next plan."""
        with self.store.write() as db:
            cursor = db.execute("INSERT INTO operator_requests (incident, action, who, at) VALUES (?, ?, ?, ?)",
                                [incident, json.dumps(action, sort_keys=True), who, self.store.now()])
            return int(cursor.lastrowid)

    def take_requests(self, incident: str, *, plan: str) -> list[dict[str, Any]]:
        """The requests for plan ``plan``: the queued ones are claimed for it once; asking again gives the same."""
        with self.store.write() as db:
            db.execute("UPDATE operator_requests SET taken_in = ? WHERE incident = ? AND taken_in IS NULL",
                       [plan, incident])
            rows = db.execute("SELECT action FROM operator_requests WHERE incident = ? AND taken_in = ? ORDER BY id",
                              [incident, plan]).fetchall()
        return [json.loads(row[0]) for row in rows]

    # ---------------------------------------------------------------- conversation
    def add_turn(self, incident: str, *, who: str, text: str) -> None:
        with self.store.write() as db:
            db.execute("INSERT INTO turns (incident, who, text, at) VALUES (?, ?, ?, ?)",
                       [incident, who, text, self.store.now()])

    def turns(self, incident: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The conversation's turns, oldest first (the last ``limit`` when given)."""
        rows = self.store.db.execute(
            "SELECT who, text, at FROM turns WHERE incident = ? ORDER BY id DESC LIMIT ?", [incident, limit or -1]
        ).fetchall()
        return [{"who": who, "text": text, "at": at} for who, text, at in reversed(rows)]


def _action(row: Sequence[Any]) -> Action:
    key, incident, kind, targets, status = row
    return Action(key=key, incident=incident, kind=kind, targets=tuple(json.loads(targets)), status=status)
