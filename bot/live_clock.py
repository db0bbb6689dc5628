"""The conversation's side of the live twin's clock: each tick, and who posts what it produced.

:class:`LiveClock` is mixed into :class:`bot.conversation.Conversation`.  With a
:class:`Publisher` attached (``cyberops serve`` attaches one), a tick only marks the incidents
that have news and a thread of its own posts them at the platform's pace, so the twin's clock
never waits on Slack or Discord (100 incidents' posts take far longer than a 1 s tick over
HTTP, and Slack lets a channel take about one message a second).  Without one (the terminal
demo, tests) a tick posts before it returns.  Posts are keyed and each incident's publishing
is serialised, so the clock, a click and the publisher never post the same thing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from bot import replies

if TYPE_CHECKING:
    from bot.conversation import Conversation

log = logging.getLogger(__name__)


class Publisher:
    """Posts marked incidents' news from a thread of its own (:meth:`run`), oldest mark first."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self._marked: dict[str, None] = {}  # insertion-ordered set
        self._wake = threading.Condition()

    def mark(self, incident: str) -> None:
        with self._wake:
            self._marked.setdefault(incident, None)
            self._wake.notify()

    def pending(self) -> list[str]:
        with self._wake:
            return list(self._marked)

    def publish_marked(self) -> int:
        """Publish every incident marked so far; returns how many.  A failure is logged, never raised: the
        incident's posts wait in the conversation's unsent set for the next try."""
        with self._wake:
            batch, self._marked = list(self._marked), {}
        for incident in batch:
            try:
                self.conversation.publish(incident)
            except Exception:  # noqa: BLE001 - memory locked, say: the next mark or tick tries again
                log.warning("could not publish %s; will retry", incident, exc_info=True)
        return len(batch)

    def run(self, stop: threading.Event, *, idle: float = 1.0) -> None:
        """Publish what is marked, as it is marked, and send held replies, until ``stop`` is set."""
        while not stop.is_set():
            with self._wake:
                if not self._marked:
                    self._wake.wait(idle)
            self.publish_marked()
            try:
                self.conversation.outbox.drain()  # bounded; here rather than on the clock, which must not wait
            except Exception:  # noqa: BLE001 - memory locked, say: the held replies wait for the next round
                log.warning("could not drain the reply outbox; will retry", exc_info=True)


class LiveClock:
    """Methods of :class:`~bot.conversation.Conversation` run by the twin's clock (see the module docstring)."""

    publisher: Publisher | None = None

    def _announce(self: Conversation, incident: str) -> None:
        """The incident has news for its threads: to the publisher if one runs, else posted now."""
        if self.publisher is not None:
            self.publisher.mark(incident)
        else:
            self.publish(incident)

    def tick(self) -> dict[str, Any]:
        """One step of the live twin: expire, open an incident on a new compromise, advance the open ones."""
        d = self.defence
        open_incidents = d.short.incidents(status="open")
        if d.sim.done[0] and not open_incidents:
            d.new_episode()
            self._broadcast("The simulated attack campaign is over; the twin starts a new one.")
        metrics = d.tick_twin()
        self.expire()
        published = set() if self.paused else self._advance(metrics)
        self.deliver_held(skip=published)
        return metrics

    def _advance(self, metrics: dict[str, Any]) -> set[str]:
        """Open incidents for new compromises and run every open incident's next cycle; returns those published."""
        d = self.defence
        open_incidents = d.short.incidents(status="open")
        if not open_incidents and metrics["seen"] > 0:
            status = d.open_incident(title=f"{metrics['seen']} compromise(s) seen at step {metrics['step']}")
            self._announce(status.incident)
        elif open_incidents and (uncovered := d.uncovered_regions()):  # seen where no open incident defends
            names = [d.sim.network.subnets[s] for s in uncovered]
            status = d.open_incident(title=f"compromise seen in {', '.join(names[:5])} at step {metrics['step']}",
                                     scope=names)
            self._announce(status.incident)
        for row in open_incidents:
            d.next_cycle(row["id"])
            self._announce(row["id"])
        return {row["id"] for row in open_incidents}

    def deliver_held(self, *, skip: Collection[str] = ()) -> None:
        """What a platform failed earlier, once more: incidents' posts (a closed incident's last words, say) and
        held answers to commands, clicks and messages.  Runs every tick, paused or not, and on a clock that
        does not move the twin (``CYBEROPS_TICK_SECONDS=0``)."""
        for incident in sorted(self._unsent - set(skip)):
            self._announce(incident)
        if self.publisher is not None:
            return  # its thread sends the held replies
        try:
            self.outbox.drain()
        except Exception:  # noqa: BLE001 - memory locked, say: the held replies wait for the next tick
            log.warning("could not drain the reply outbox; will retry", exc_info=True)

    def expire(self) -> list[str]:
        """Expire confirmations past their time, mark their messages and post what followed."""
        expired = self.defence.expire_due()
        for interrupt in expired:
            self._close_asks(interrupt, replies.decided_text("expire", "", self.defence.store.now()))
            self._announce(interrupt.split("/")[0])
        return expired

