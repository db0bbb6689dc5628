"""Slack's replay window closed: a signed request is taken once, and the same request again gets 401.

Slack signs ``v0:{timestamp}:{body}``; Bolt refuses a bad signature or a timestamp more than five
minutes from now, but a captured request sent again inside those five minutes (same timestamp, body
and signature) would pass.  :class:`ReplayGuard` remembers the signature of every request it lets
through until its timestamp leaves Bolt's window, and refuses a second arrival with 401 before any
listener runs.

It is a Bolt global middleware, not an ASGI layer in front of Bolt: global middleware runs after Bolt's
own signature check, so it only ever remembers signatures Slack made (a forger cannot fill its bounded
memory to push real ones out and then replay them), it needs no second copy of the verification, and
it guards every HTTP adapter the app is served with.  Socket Mode requests carry no signature and pass.

A Slack retry (``X-Slack-Retry-Num``) comes at once, a minute or five minutes after the first attempt,
which the five-minute check only lets through if each attempt is signed afresh (its own timestamp and
signature): so it passes here too, and the conversation core's delivery keys keep it from running
twice.  The retry header is not signed, so it exempts nothing; should a retry ever repeat the first
attempt's signature, that attempt was taken, and the 401 says ``X-Slack-No-Retry``.

In memory only: after a restart a replay inside the window gets past this guard, but the core's
delivery keys are durable (SQLite), so it still runs nothing; a table here would put a write on
the path of every ack.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.middleware.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.slack_blocks import APPROVE, REJECT, button_target

if TYPE_CHECKING:
    from memory.audit import AuditLog

log = logging.getLogger(__name__)

WINDOW_SECONDS = 5 * 60  # slack_sdk's SignatureVerifier accepts |now - timestamp| <= 300 s
# Slack delivers at most 30,000 events an hour per workspace (2,500 in a window); commands and clicks
# are people.  A full memory refuses (503, Slack retries later) rather than forget a signature early.
MAX_SIGNATURES = 50_000
REPLAYER = "slack:replay"


class ReplayGuard(Middleware):
    """``app.use(ReplayGuard(audit=..., run=executor.submit))``.

    ``audit``: where a replayed approve/reject click is recorded as ``refused`` (once per signature: a
    flood of one replay costs one row); ``run``: runs that write off the ack's path (default: inline).
    """

    def __init__(self, *, audit: AuditLog | None = None, run: Callable[[Callable[[], None]], Any] | None = None,
                 clock: Callable[[], float] = time.time, max_signatures: int = MAX_SIGNATURES) -> None:
        self.audit, self.run, self.clock, self.max_signatures = audit, run, clock, max_signatures
        self._until: dict[str, float] = {}  # signature -> when Bolt stops accepting its timestamp
        self._expiry: list[tuple[float, str]] = []  # the same, as a heap to forget in order
        self._audited: set[str] = set()  # replayed signatures already in the audit log
        self._lock = threading.Lock()
        self.replays = 0  # requests refused as replays since start

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        signature = _header(req, "x-slack-signature")
        if req.mode == "socket_mode" or not signature:
            return next()
        verdict = self.admit(signature, _header(req, "x-slack-request-timestamp"))
        if verdict == "new":
            return next()
        if verdict == "full":
            log.error("Slack replay guard: %d signatures in the window already; refusing with 503", self.max_signatures)
            return BoltResponse(status=503, body={"error": "busy; try again"})
        log.warning("Slack request refused: a replay of an accepted request (signature %s…, retry %s)",
                    signature[:12], _header(req, "x-slack-retry-num") or "-")
        if verdict == "replay-first":
            self._record(req.body if isinstance(req.body, dict) else {})
        # X-Slack-No-Retry: should this ever be Slack itself, the original was accepted; don't send it again
        return BoltResponse(status=401, body={"error": "replayed request"}, headers={"x-slack-no-retry": "1"})

    def admit(self, signature: str, timestamp: str | None) -> str:
        """``new`` (remembered now), ``replay-first`` / ``replay`` (seen before), or ``full``."""
        now = self.clock()
        try:
            until = int(timestamp or "") + WINDOW_SECONDS + 1
        except ValueError:  # Bolt refuses these before us; be safe anyway
            until = now + WINDOW_SECONDS + 1
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                _, old = heapq.heappop(self._expiry)
                self._until.pop(old, None)
                self._audited.discard(old)
            if signature in self._until:
                self.replays += 1
                if signature in self._audited:
                    return "replay"
                self._audited.add(signature)
                return "replay-first"
            if len(self._until) >= self.max_signatures:
                return "full"
            self._until[signature] = until
            heapq.heappush(self._expiry, (until, signature))
            return "new"

    def __len__(self) -> int:
        with self._lock:
            return len(self._until)

    def _record(self, body: dict) -> None:
        """A replayed approve/reject click goes into the audit log as ``refused``; other replays only to the log."""
        if self.audit is None or body.get("type") != "block_actions":
            return
        action = (body.get("actions") or [{}])[0]
        if action.get("action_id") not in (APPROVE, REJECT):
            return
        target = button_target(action.get("value"))
        if target is None:
            return
        incident, interrupt = target
        decision = "approve" if action["action_id"] == APPROVE else "reject"
        user = str((body.get("user") or {}).get("id") or "?")[:64]
        audit = self.audit

        def write() -> None:
            try:
                audit.append("refused", who=REPLAYER, incident=incident[:100], action_id=interrupt[:200], targets=[],
                             why=f"replayed Slack request refused (401): the same signed {decision} click by "
                                 f"slack:{user} had been accepted already")
            except Exception:  # the 401 stands; the log has why the row is missing
                log.exception("could not audit a replayed Slack click")

        (self.run or _inline)(write)


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return values[0] if values else None


def _inline(fn: Callable[[], None]) -> None:
    fn()
