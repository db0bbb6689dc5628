"""Long-term memory across incidents: records and outcomes, lessons, operator policies,
and ``recall``, a full-text (FTS5) search over all of it for the planner and ``explain``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from memory.store import Store

AUTONOMY_LEVELS = ("confirm", "auto", "never")  # ask an operator first / run unconfirmed / never run


@dataclass(frozen=True)
class OperatorPolicy:
    """What operators allow: hosts never touched, autonomy per action class, quiet hours.

    An action class missing from ``autonomy`` needs confirmation (the default confirms all).
    ``quiet_hours`` is ``("22:00", "07:00")``-style UTC times, or None.
    """

    protected_assets: tuple[str, ...] = ()
    autonomy: dict[str, str] = field(default_factory=dict)
    quiet_hours: tuple[str, str] | None = None

    def autonomy_for(self, action_class: str) -> str:
        return self.autonomy.get(action_class, "confirm")


@dataclass(frozen=True)
class Recollection:
    """One recall hit: what it is (lesson or incident), which incident, its text, and its rank."""

    kind: str
    incident: str | None
    text: str
    rank: float


class LongTermMemory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_outcome(self, incident: str, *, title: str, summary: str, outcome: str) -> None:
        """Write (or rewrite) the closing record of an incident."""
        with self.store.write() as db:
            db.execute("INSERT OR REPLACE INTO incident_records VALUES (?, ?, ?, ?, ?)",
                       [incident, self.store.now(), title, summary, outcome])

    def incident_record(self, incident: str) -> dict[str, Any] | None:
        rows = list(self.store.db["incident_records"].rows_where("incident = ?", [incident]))
        return rows[0] if rows else None

    def add_lesson(self, text: str, *, incident: str | None = None, tags: Iterable[str] = ()) -> int:
        with self.store.write() as db:
            cursor = db.execute("INSERT INTO lessons (incident, text, tags, written_at) VALUES (?, ?, ?, ?)",
                                [incident, text, " ".join(tags), self.store.now()])
            return int(cursor.lastrowid)

    def recall(self, query: str, *, limit: int = 5) -> list[Recollection]:
        """Lessons and incident records sharing any word with ``query`` (plain words, not FTS syntax), best first."""
        words = re.findall(r"\w+", query)
        if not words:
            return []
        match = " OR ".join(f'"{word}"' for word in words)  # any word matches; bm25 favours more of them
        hits = [
            Recollection("lesson", row["incident"], row["text"], row["rank"])
            for row in self.store.db["lessons"].search(match, limit=limit, include_rank=True)
        ]
        hits += [
            Recollection("incident", row["incident"], f"{row['title']}: {row['summary']} Outcome: {row['outcome']}",
                         row["rank"])
            for row in self.store.db["incident_records"].search(match, limit=limit, include_rank=True)
        ]
        # bm25 rank: lower is a better match
        return sorted(hits, key=lambda hit: hit.rank)[:limit]

    # ---------------------------------------------------------------- policies
    def save_policy(self, policy: OperatorPolicy) -> None:
        for action_class, level in policy.autonomy.items():
            if level not in AUTONOMY_LEVELS:
                raise ValueError(f"autonomy for {action_class!r}: {level!r} is not one of {', '.join(AUTONOMY_LEVELS)}")
        values = {
            "protected_assets": list(policy.protected_assets),
            "autonomy": dict(sorted(policy.autonomy.items())),
            "quiet_hours": list(policy.quiet_hours) if policy.quiet_hours else None,
        }
        now = self.store.now()
        with self.store.write() as db:
            for key, value in values.items():
                db.execute("INSERT OR REPLACE INTO policies VALUES (?, ?, ?)", [key, json.dumps(value), now])

    def policy(self) -> OperatorPolicy:
        """The saved policy, or the default (nothing protected, confirm everything, no quiet hours)."""
        saved = {key: json.loads(value) for key, value in self.store.db.execute("SELECT key, value FROM policies")}
        quiet = saved.get("quiet_hours")
        return OperatorPolicy(
            protected_assets=tuple(saved.get("protected_assets", ())),
            autonomy=dict(saved.get("autonomy", {})),
            quiet_hours=tuple(quiet) if quiet else None,
        )
