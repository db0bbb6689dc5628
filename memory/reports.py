"""What posture reports need from memory: the twin's metrics over time, the report schedules,
and each report's scorecard (so the next report can show a trend arrow against it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from memory.store import Store


@dataclass(frozen=True)
class Schedule:
    id: int
    surface: str
    channel: str
    cron: str  # five fields: minute hour day month weekday
    timezone: str
    text: str  # what the operator asked, as they wrote it
    created_by: str
    created_at: str


class ReportMemory:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- metrics
    def record_metrics(self, *, step: int, availability: float, seen: int, isolated: int) -> None:
        with self.store.write() as db:
            db.execute("INSERT INTO twin_metrics (at, step, availability, seen, isolated) VALUES (?, ?, ?, ?, ?)",
                       [self.store.now(), step, availability, seen, isolated])

    def metrics_since(self, since: str | None, *, limit: int = 5000) -> list[dict[str, Any]]:
        """Metrics rows at or after ``since`` (ISO time; all when None), oldest first, the newest ``limit``."""
        rows = self.store.db.execute(
            "SELECT at, step, availability, seen, isolated FROM twin_metrics WHERE at >= ? ORDER BY id DESC LIMIT ?",
            [since or "", limit]).fetchall()
        keys = ("at", "step", "availability", "seen", "isolated")
        return [dict(zip(keys, row)) for row in reversed(rows)]

    # ---------------------------------------------------------------- schedules
    def add_schedule(self, *, surface: str, channel: str, cron: str, timezone: str, text: str, who: str) -> int:
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO report_schedules (surface, channel, cron, timezone, text, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [surface, channel, cron, timezone, text, who, self.store.now()])
            return int(cursor.lastrowid)

    def schedules(self, *, surface: str | None = None, channel: str | None = None) -> list[Schedule]:
        sql, args = "SELECT id, surface, channel, cron, timezone, text, created_by, created_at FROM report_schedules " \
                    "WHERE active = 1", []
        if surface:
            sql, args = sql + " AND surface = ?", args + [surface]
        if channel:
            sql, args = sql + " AND channel = ?", args + [channel]
        return [Schedule(*row) for row in self.store.db.execute(sql + " ORDER BY id", args)]

    def cancel_schedule(self, schedule_id: int) -> bool:
        """Deactivate a schedule; False if there is no active one with that id."""
        with self.store.write() as db:
            cursor = db.execute("UPDATE report_schedules SET active = 0 WHERE id = ? AND active = 1", [schedule_id])
            return cursor.rowcount == 1

    # ---------------------------------------------------------------- reports
    def save_report(self, *, scope: str, scorecard: dict[str, Any]) -> int:
        with self.store.write() as db:
            cursor = db.execute("INSERT INTO reports (at, scope, scorecard) VALUES (?, ?, ?)",
                                [self.store.now(), scope, json.dumps(scorecard, sort_keys=True)])
            return int(cursor.lastrowid)

    def last_report(self, scope: str) -> dict[str, Any] | None:
        """``{"at", "scorecard"}`` of the newest report for ``scope`` (a channel, or "cli"), or None."""
        row = self.store.db.execute("SELECT at, scorecard FROM reports WHERE scope = ? ORDER BY id DESC LIMIT 1",
                                    [scope]).fetchone()
        return {"at": row[0], "scorecard": json.loads(row[1])} if row else None
