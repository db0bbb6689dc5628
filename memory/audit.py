"""The audit log: every event in an action's life, append-only and hash-chained.

Each row's ``hash`` is sha256 over a canonical JSON of its fields and the previous row's
hash, so editing, deleting or reordering rows breaks the chain where it happened. SQLite
triggers refuse UPDATE and DELETE; ``verify`` still catches someone who drops them. (Cutting
rows off the end leaves a valid shorter chain: anchor the last hash elsewhere to catch that.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memory.store import Store

EVENTS = ("proposed", "approved", "rejected", "expired", "refused", "executed")
GENESIS = "0" * 64
FIELDS = ("event", "at", "who", "incident", "action_id", "targets", "why", "result")


@dataclass(frozen=True)
class BrokenRow:
    """Where the chain first breaks: the row id and why (``edited``, ``deleted``, ``reordered``)."""

    id: int
    reason: str
    detail: str


def row_hash(row: dict[str, Any], prev_hash: str) -> str:
    """sha256 over the row's fields (as stored) and the previous row's hash, in canonical JSON."""
    content = {name: row[name] for name in FIELDS} | {"prev_hash": prev_hash}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditLog:
    """Append and read the audit log; there is deliberately no way to change a row."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, event: str, *, who: str, incident: str, action_id: str, targets: Sequence[str],
               why: str = "", result: Any = None) -> dict[str, Any]:
        """Add one event and return the stored row; an unknown ``event`` is a ValueError."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}; one of {', '.join(EVENTS)}")
        row = {
            "event": event, "at": self.store.now(), "who": who, "incident": incident, "action_id": action_id,
            "targets": json.dumps(list(targets), ensure_ascii=False),
            "why": why,
            "result": None if result is None else json.dumps(result, sort_keys=True, ensure_ascii=False),
        }
        with self.store.write() as db:  # read the tip and append under the file's write lock
            tip = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            row["prev_hash"] = tip[0] if tip else GENESIS
            row["hash"] = row_hash(row, row["prev_hash"])
            columns = ", ".join(row)
            cursor = db.execute(f"INSERT INTO audit_log ({columns}) VALUES ({', '.join('?' * len(row))})",
                                list(row.values()))
            return {"id": cursor.lastrowid, **row}

    def append_once(self, event: str, *, who: str, incident: str, action_id: str, targets: Sequence[str],
                    why: str = "", result: Any = None) -> dict[str, Any]:
        """Like :meth:`append`, unless ``event`` is logged for ``action_id`` already: then that row.

        For steps that may run again after a crash or a retry: the log keeps one entry per event.
        """
        with self.store.write():
            row = self._first(action_id, event)
            if row is not None:
                return row
            return self.append(event, who=who, incident=incident, action_id=action_id, targets=targets,
                               why=why, result=result)

    def append_once_all(self, entries: Sequence[dict[str, Any]]) -> int:
        """:meth:`append_once` for many entries (keyword dicts of it) in one transaction; returns how many
        were appended.  The loop writes a step's actions this way: one read of the tip, one insert."""
        if not entries:
            return 0
        for e in entries:
            if e["event"] not in EVENTS:
                raise ValueError(f"unknown audit event {e['event']!r}; one of {', '.join(EVENTS)}")
        now = self.store.now()
        with self.store.write() as db:
            ids = sorted({e["action_id"] for e in entries})
            logged: set[tuple[str, str]] = set()
            for i in range(0, len(ids), 500):  # SQLite caps the parameters of one statement
                chunk = ids[i:i + 500]
                logged.update(db.execute(f"SELECT action_id, event FROM audit_log WHERE action_id IN "
                                         f"({', '.join('?' * len(chunk))})", chunk).fetchall())
            tip = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev = tip[0] if tip else GENESIS
            rows = []
            for e in entries:
                if (e["action_id"], e["event"]) in logged:
                    continue
                logged.add((e["action_id"], e["event"]))
                row = {"event": e["event"], "at": now, "who": e["who"], "incident": e["incident"],
                       "action_id": e["action_id"], "targets": json.dumps(list(e["targets"]), ensure_ascii=False),
                       "why": e.get("why", ""),
                       "result": None if e.get("result") is None else json.dumps(e["result"], sort_keys=True,
                                                                                 ensure_ascii=False)}
                row["prev_hash"] = prev
                row["hash"] = prev = row_hash(row, prev)
                rows.append(row)
            if rows:
                columns = list(rows[0])
                db.conn.executemany(f"INSERT INTO audit_log ({', '.join(columns)}) VALUES "
                                    f"({', '.join('?' * len(columns))})", [list(r.values()) for r in rows])
        return len(rows)

    def entries(self, *, incident: str | None = None) -> list[dict[str, Any]]:
        """The log in order, targets and result decoded; only one incident's when given."""
        where, args = ("incident = ?", [incident]) if incident else (None, None)
        rows = self.store.db["audit_log"].rows_where(where, args, order_by="id")
        return [row | {"targets": json.loads(row["targets"]),
                       "result": None if row["result"] is None else json.loads(row["result"])} for row in rows]

    def entry(self, action_id: str, event: str) -> dict[str, Any] | None:
        """The first ``event`` entry of ``action_id`` (decoded like :meth:`entries`), or None."""
        row = self._first(action_id, event)
        if row is None:
            return None
        return row | {"targets": json.loads(row["targets"]),
                      "result": None if row["result"] is None else json.loads(row["result"])}

    def entries_of(self, action_ids: Sequence[str], event: str) -> dict[str, dict[str, Any]]:
        """:meth:`entry` for many actions in one query: action id -> its first ``event`` entry (those that have one)."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(action_ids))
        for i in range(0, len(ids), 500):  # SQLite caps the parameters of one statement
            chunk = ids[i:i + 500]
            cursor = self.store.db.execute(f"SELECT * FROM audit_log WHERE event = ? AND action_id IN "
                                           f"({', '.join('?' * len(chunk))}) ORDER BY id", [event, *chunk])
            columns = [c[0] for c in cursor.description]
            for values in cursor.fetchall():
                row = dict(zip(columns, values))
                out.setdefault(row["action_id"], row | {
                    "targets": json.loads(row["targets"]),
                    "result": None if row["result"] is None else json.loads(row["result"])})
        return out

    def _first(self, action_id: str, event: str) -> dict[str, Any] | None:
        # plain SQL: the loop asks this several times per action, and sqlite-utils' rows_where
        # looks the table up in sqlite_master on every call
        cursor = self.store.db.execute("SELECT * FROM audit_log WHERE action_id = ? AND event = ? ORDER BY id LIMIT 1",
                                       [action_id, event])
        row = cursor.fetchone()
        return None if row is None else dict(zip((c[0] for c in cursor.description), row))

    def last_id(self) -> int:
        """The id of the newest entry (0 when the log is empty): a watermark for :meth:`executed_since`."""
        return self.store.db.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]

    def executed_since(self, watermark: int) -> list[dict[str, Any]]:
        """The ``executed`` entries after ``watermark``, oldest first, decoded like :meth:`entries`."""
        cursor = self.store.db.execute("SELECT * FROM audit_log WHERE id > ? AND event = 'executed' ORDER BY id",
                                       [watermark])
        columns = [c[0] for c in cursor.description]
        return [row | {"targets": json.loads(row["targets"]),
                       "result": None if row["result"] is None else json.loads(row["result"])}
                for row in (dict(zip(columns, values)) for values in cursor.fetchall())]

    def __len__(self) -> int:
        return self.store.db.execute("SELECT count(*) FROM audit_log").fetchone()[0]

    def verify(self) -> BrokenRow | None:
        """Walk the chain; return the first broken row, or None when it is intact."""
        rows = list(self.store.db["audit_log"].rows_where(order_by="id"))
        id_by_hash = {row["hash"]: row["id"] for row in rows}
        prev_id, prev_hash = 0, GENESIS
        for row in rows:
            if row_hash(row, row["prev_hash"]) != row["hash"]:
                return BrokenRow(row["id"], "edited", "its content does not match its hash")
            if row["prev_hash"] != prev_hash:
                moved = id_by_hash.get(row["prev_hash"])
                if moved is not None and moved > row["id"]:
                    return BrokenRow(row["id"], "reordered", f"it follows row {moved}, which now comes after it")
                return BrokenRow(row["id"], "deleted", "the row it follows is missing or was rewritten")
            if row["id"] != prev_id + 1:
                return BrokenRow(row["id"], "deleted", f"rows {prev_id + 1}..{row['id'] - 1} are missing")
            prev_id, prev_hash = row["id"], row["hash"]
        return None
