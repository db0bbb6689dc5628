"""Replies that a chat platform did not take go out later: held in the durable outbox, drained by the clock.

An adapter tries a reply once, as it always did; when the platform fails it (down for minutes,
after the SDK's own retries) the adapter calls :meth:`ReplyOutbox.hold`.  ``Conversation.tick``
calls :meth:`ReplyOutbox.drain`, which hands each due reply to its surface's
:class:`ReplySender` (the adapter's code: only it knows Slack's or Discord's calls) and marks it
delivered right after the platform took it, in one place.

Exactly once, as far as HTTP allows: an entry is claimed before its try (two drains never send
it together) and marked delivered right after; a crash (or a failed memory write) between the
platform taking it and the mark re-sends it once, after the claim's lease.  A try cut off by its
sender's bounded timeout counts as failed; if the platform had taken it anyway, the retry is a
second copy.  Nothing else repeats a reply.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from bot.metrics import surface_calls
from memory.outbox import HeldReply, Outbox, iso, parse_iso
from memory.store import Store

log = logging.getLogger(__name__)

REPLY_MAX_AGE = timedelta(hours=1)  # after this a reply answers a question nobody waits for: dropped
DRAIN_BUDGET_S = 10.0  # a drain starts no new try after this long, so the clock moves on
DRAIN_LIMIT = 20  # replies looked at per drain


@dataclass(frozen=True)
class Fallback:
    """Another way to a person whose reply's destination expired (a response URL, an interaction token)."""

    kind: str
    destination: dict[str, Any]
    max_age: timedelta = REPLY_MAX_AGE  # counted from when the reply was first tried


class ReplySender(Protocol):
    """An adapter's side of the outbox.  ``send`` must give up within a few seconds (the clock waits on it)."""

    def send(self, reply: HeldReply) -> None:
        """Deliver ``reply`` or raise."""

    def fallback(self, reply: HeldReply) -> Fallback | None:
        """Where ``reply`` goes once its destination expired; None: nowhere (it is dropped)."""


@dataclass
class Drained:
    delivered: int = 0
    failed: int = 0
    rerouted: int = 0
    dropped: int = 0


class ReplyOutbox:
    """The held replies of every surface, and the senders that deliver them (adapters register theirs)."""

    def __init__(self, store: Store, *, senders: dict[str, ReplySender] | None = None,
                 budget_s: float = DRAIN_BUDGET_S, limit: int = DRAIN_LIMIT) -> None:
        self.store = store
        self.entries = Outbox(store)
        self.senders: dict[str, ReplySender] = dict(senders or {})
        self.budget_s, self.limit = budget_s, limit

    def hold(self, surface: str, kind: str, destination: dict[str, Any], text: str, *, ephemeral: bool,
             expires_in: timedelta, error: BaseException | str) -> int:
        """Keep a reply whose first try failed; the next drain tries again.  Returns its outbox id."""
        why = _describe(error)
        reply_id = self.entries.hold(surface=surface, kind=kind, destination=destination, text=text,
                                    ephemeral=ephemeral, expires_in=expires_in, error=why)
        log.warning("a %s %s reply could not be sent (%s); held as outbox #%d for the clock to retry",
                    surface, kind, why, reply_id)
        return reply_id

    def drain(self) -> Drained:
        """Try every due reply of a surface with a sender, oldest first, within the time budget.

        A surface whose try fails is left alone for the rest of this drain: it is down, and its
        later replies keep their order behind the failed one.
        """
        started, done, down = time.monotonic(), Drained(), set()
        for reply in self.entries.due(surfaces=self.senders, limit=self.limit):
            if time.monotonic() - started > self.budget_s:
                break
            if reply.surface in down or not self.entries.claim(reply):
                continue
            sender = self.senders[reply.surface]
            if reply.expires_at <= self.store.now():
                reply = self._reroute(reply, sender, done)
                if reply is None:
                    continue
            try:
                with surface_calls(reply.surface):
                    sender.send(reply)
            except Exception as exc:  # noqa: BLE001 - the platform's error: keep it for a later try
                down.add(reply.surface)
                next_at = self.entries.failed(reply.id, _describe(exc))
                done.failed += 1
                log.info("outbox #%d (%s %s) failed again (%s); next try at %s", reply.id, reply.surface,
                         reply.kind, _describe(exc), next_at)
                continue
            self.entries.delivered(reply.id)
            done.delivered += 1
            log.info("outbox #%d (%s %s) delivered after %d tries", reply.id, reply.surface, reply.kind,
                     reply.attempts + 1)
        return done

    def _reroute(self, reply: HeldReply, sender: ReplySender, done: Drained) -> HeldReply | None:
        """The reply by its fallback way, or None when it has none (or that one expired too): dropped, logged."""
        fallback = sender.fallback(reply)
        expires_at = iso(parse_iso(reply.created_at) + fallback.max_age) if fallback else ""
        if fallback is None or expires_at <= self.store.now():
            self.entries.drop(reply.id, f"expired at {reply.expires_at} ({reply.kind}); last error: {reply.last_error}")
            done.dropped += 1
            log.warning("outbox #%d dropped: the %s %s reply expired at %s undelivered (last error: %s)",
                        reply.id, reply.surface, reply.kind, reply.expires_at, reply.last_error)
            return None
        done.rerouted += 1
        log.info("outbox #%d: its %s expired; trying %s instead", reply.id, reply.kind, fallback.kind)
        moved = self.entries.reroute(reply.id, kind=fallback.kind, destination=fallback.destination,
                                    expires_at=expires_at)
        return replace(moved, attempts=reply.attempts)


def _describe(error: BaseException | str) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:300]
