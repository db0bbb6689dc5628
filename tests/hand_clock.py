"""A clock the test moves by hand: what ``open_store(clock=...)`` and the chat layer read the time from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class HandClock:
    def __init__(self, start: datetime = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
