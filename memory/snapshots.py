"""Saved states of the twin, so a restarted process carries on where the last one stopped.

Each snapshot has a unique ``key`` (for example ``tick:INC-1:3``): saving under a key
that exists does nothing, which makes a repeated step idempotent.  The bytes are opaque
here (the twin writes and reads them).
"""

from __future__ import annotations

from memory.store import Store

KEEP = 50  # snapshots kept; older ones are pruned when a new one is saved


class TwinSnapshots:
    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, key: str, *, step: int, state: bytes) -> bool:
        """Save ``state`` under ``key``; False (and nothing saved) if the key is taken."""
        with self.store.write() as db:
            cursor = db.execute("INSERT OR IGNORE INTO twin_snapshots (key, step, at, state) VALUES (?, ?, ?, ?)",
                                [key, step, self.store.now(), state])
            if cursor.rowcount == 1:
                db.execute("DELETE FROM twin_snapshots WHERE id <= (SELECT max(id) FROM twin_snapshots) - ?", [KEEP])
            return cursor.rowcount == 1

    def has(self, key: str) -> bool:
        return self.store.db.execute("SELECT 1 FROM twin_snapshots WHERE key = ?", [key]).fetchone() is not None

    def latest(self) -> tuple[str, int, bytes] | None:
        """``(key, step, state)`` of the newest snapshot, or None."""
        row = self.store.db.execute("SELECT key, step, state FROM twin_snapshots ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None
