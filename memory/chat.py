"""Where each incident lives in chat, which message asked for each confirmation, and which
deliveries were handled already (a retried webhook or a double click is handled once).

Also the bot's small persistent settings (paused or not), as JSON values by key.
"""

from __future__ import annotations

import json
from typing import Any

from memory.store import Store


class ChatMemory:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- threads
    def set_thread(self, incident: str, *, surface: str, channel: str, thread: str) -> None:
        with self.store.write() as db:
            db.execute("INSERT OR REPLACE INTO chat_threads VALUES (?, ?, ?, ?, ?)",
                       [incident, surface, channel, thread, self.store.now()])

    def thread_of(self, incident: str, surface: str) -> tuple[str, str] | None:
        """``(channel, thread)`` of the incident on ``surface``, or None."""
        row = self.store.db.execute("SELECT channel, thread FROM chat_threads WHERE incident = ? AND surface = ?",
                                    [incident, surface]).fetchone()
        return (row[0], row[1]) if row else None

    def incident_in(self, *, surface: str, channel: str, thread: str) -> str | None:
        row = self.store.db.execute(
            "SELECT incident FROM chat_threads WHERE surface = ? AND channel = ? AND thread = ?",
            [surface, channel, thread]).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------- confirmation messages
    def set_ask(self, interrupt: str, *, surface: str, channel: str, message: str) -> None:
        with self.store.write() as db:
            db.execute("INSERT OR REPLACE INTO chat_asks VALUES (?, ?, ?, ?, ?)",
                       [interrupt, surface, channel, message, self.store.now()])

    def asks(self, interrupt: str) -> list[tuple[str, str, str]]:
        """``(surface, channel, message)`` of every message that asked for ``interrupt``."""
        rows = self.store.db.execute("SELECT surface, channel, message FROM chat_asks WHERE interrupt = ?", [interrupt])
        return [tuple(row) for row in rows]

    # ---------------------------------------------------------------- deliveries
    def first_delivery(self, key: str) -> bool:
        """True the first time ``key`` is seen (then remembered), False for every repeat."""
        with self.store.write() as db:
            cursor = db.execute("INSERT OR IGNORE INTO seen_deliveries VALUES (?, ?)", [key, self.store.now()])
            return cursor.rowcount == 1

    def delivered(self, key: str) -> bool:
        """Whether ``key`` was recorded (by :meth:`first_delivery`) already."""
        return self.store.db.execute("SELECT 1 FROM seen_deliveries WHERE key = ?", [key]).fetchone() is not None

    # ---------------------------------------------------------------- settings
    def setting(self, key: str, default: Any = None) -> Any:
        row = self.store.db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.store.write() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?, ?)", [key, json.dumps(value), self.store.now()])
