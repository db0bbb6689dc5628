"""The conversation core: chat events in, calls on the defence loop, thread posts out — for every surface.

Adapters hand in :class:`~bot.surface.Message` and :class:`~bot.surface.Click` (after
they have acknowledged the platform) and get a :class:`~bot.surface.Reply` back; what
belongs in an incident's thread (the plan, each confirmation, results, the close) is
posted through the :class:`~bot.surface.Surface` of every surface the incident lives on.
Posting is idempotent (each post has a key in memory), so a retry, a restart or two
surfaces racing never post or act twice.  Decisions themselves are made in ``graph/``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Collection
from typing import Any

from bot import operator_requests as ops
from bot.answers import Answers
from bot.live_clock import LiveClock
from bot import replies
from bot.metrics import surface_calls
from bot.outbox_delivery import ReplyOutbox
from bot.surface import Ask, Click, Message, Reply, Surface
from graph.planning import ACTION_KINDS
from graph.runtime import Defence
from memory.chat import ChatMemory
from memory.store import MemoryUnavailable

log = logging.getLogger(__name__)

SUBCOMMANDS = ("status", "incidents", "hosts", "tick", "isolate", "patch", "reset", "recover", "defend", "protect",
               "autonomy", "stop", "resume", "report", "help", "explain", "simulate")
MAX_TEXT = 4000  # characters of an operator message we read; the rest is ignored
MAX_TICKS = 20
_EDIT = re.compile(r"^(?:edit\s+)?(?:drop|without|remove)\s+([\w.,\s-]+)$", re.I)


def _answers_memory_faults(handle: Callable) -> Callable:
    """An inbound handler that answers "I can't write to my memory" instead of raising when a write fails."""
    @functools.wraps(handle)
    def handler(self: Conversation, event: Message | Click) -> Reply | None:
        try:
            return handle(self, event)
        except MemoryUnavailable as exc:
            return self._memory_fault(exc, event)
    return handler


class Conversation(Answers, LiveClock):
    def __init__(self, *, defence: Defence, surfaces: dict[str, Surface] | None = None,
                 channels: dict[str, str] | None = None, approvers: Collection[str] | None = None,
                 recognise: Callable[[str], dict] | None = None) -> None:
        """``channels``: per surface, where new incidents are posted; ``approvers``: user ids that may
        decide (None: anyone; adapters that check roles pass ``is_approver`` instead)."""
        self.defence = defence
        self.chat = ChatMemory(defence.store)
        self.surfaces = dict(surfaces or {})
        self.channels = dict(channels or {})
        self.approvers = frozenset(approvers) if approvers else None
        self._recognise = recognise
        self.scheduler = None  # a bot.schedules.ReportScheduler, when reports may be scheduled
        self.outbox = ReplyOutbox(defence.store)  # answers a platform failed; adapters add senders, tick() drains
        # incidents with posts that failed and wait for the platform: in memory, and in the store for a restart
        self._unsent: set[str] = self.outbox.entries.unsent()
        self._thread_locks: dict[str, threading.RLock] = {}  # per incident: one root message, each post once
        self._thread_locks_guard = threading.Lock()

    # ================================================================ inbound
    @_answers_memory_faults
    def command(self, msg: Message) -> Reply:
        """``/cyberops …``: a subcommand, or free text understood as an intent."""
        if msg.text.strip().lower() == "status":  # reads only: no delivery record, so it answers while memory is locked
            return Reply(self._status())
        if msg.delivery and not self.chat.first_delivery(f"command:{msg.surface}:{msg.delivery}"):
            return Reply("Already handled that one.")
        text = msg.text.strip()[:MAX_TEXT]
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word in ("", "help"):
            return Reply(replies.HELP)
        if word not in SUBCOMMANDS:
            return self._intent(msg, self.recognise(text), incident=None)
        if word in ACTION_KINDS or word in ("protect",):
            result = self.recognise(text)
            return self._intent(msg, result | {"intent": word}, incident=None)
        if word == "hosts":
            return Reply(self._hosts(rest.strip()))
        if word == "tick":
            return self._tick_command(rest.strip())
        if word == "incidents":
            return Reply(self._incidents())
        if word == "defend":
            return self._defend(msg, self.recognise(text))
        if word == "autonomy":
            return self._guarded(lambda: Reply(f"Autonomy now: {ops.set_autonomy(self.defence, rest.split())}.",
                                               ephemeral=False))
        if word == "report":
            return self._report(msg, rest.strip())
        return self._intent(msg, _plain(word, text), incident=None)  # the subcommand says it all

    @_answers_memory_faults
    def message(self, msg: Message) -> Reply | None:
        """A message in an incident thread (or addressed to the bot); None when it isn't for us."""
        if msg.delivery and not self.chat.first_delivery(f"message:{msg.surface}:{msg.delivery}"):
            return None
        incident = self.chat.incident_in(surface=msg.surface, channel=msg.channel, thread=msg.thread) \
            if msg.thread else None
        text = msg.text[:MAX_TEXT]
        edit = _EDIT.match(text.strip())
        if edit:
            return self._edit(msg, incident, edit.group(1).replace(",", " ").split())
        return self._intent(msg, self.recognise(text), incident=incident)

    @_answers_memory_faults
    def click(self, click: Click) -> Reply:
        """An approve/reject button."""
        if click.delivery and not self.chat.first_delivery(f"click:{click.surface}:{click.delivery}"):
            return Reply("Already handled that click.")
        return self._decide(click.incident, click.interrupt, click.decision, user=click.user,
                            surface=click.surface, is_approver=click.is_approver)

    def alert(self, hosts: list[str], *, kind: str, severity: str, source: str, description: str = "") -> str | None:
        """An alert from a monitoring system (already authenticated and mapped to twin host names)."""
        incident = self.defence.ingest_alert(hosts, kind=kind, severity=severity, source=source,
                                             description=description)
        if incident is not None:
            self.publish(incident)
        return incident

    @property
    def paused(self) -> bool:
        return bool(self.chat.setting("paused", False))

    # ================================================================ outbound
    def publish(self, incident: str, *, origin: Message | None = None) -> bool:
        """Post what the threads haven't seen yet: results of finished steps, the pending ask, the close.

        A post is recorded as done only once the platform took it; one that fails (the API is down
        past its client's retries) is logged, counted and tried again at the next publish, so it
        arrives once the API is back.  Returns whether everything went out.  One publish of an
        incident at a time (its lock): two at once (the clock and a click, say) would otherwise both
        find no thread, or no record of a post, and both post it.
        """
        with self._incident_lock(incident):
            return self._publish(incident, origin)

    def _publish(self, incident: str, origin: Message | None) -> bool:
        status = self.defence.status(incident)
        complete = True
        try:
            threads = self._threads(incident, origin)
        except Exception:  # noqa: BLE001 - a platform that is down: try again next time
            log.warning("could not open a thread for %s; will retry", incident, exc_info=True)
            self._set_unsent(incident, True)
            return False
        for name, channel, thread in threads:
            surface = self.surfaces[name]
            for entry in status.state.get("history", []):
                complete &= self._post_once(f"posted:{incident}:{name}:result:c{entry['cycle']}", name, lambda e=entry: (
                    surface.post(channel, thread, replies.results_text(e["cycle"], self._cycle_actions(incident, e), e))))
            pending = status.pending
            if pending:
                def ask(pending=pending):
                    message = surface.ask(channel, thread, Ask(incident, pending["interrupt_id"], replies.plan_text(pending),
                                                               pending["actions"], pending["expires_at"]))
                    self.chat.set_ask(pending["interrupt_id"], surface=name, channel=channel, message=message)
                complete &= self._post_once(f"posted:{incident}:{name}:ask:{pending['interrupt_id']}", name, ask)
            if status.status == "closed":
                complete &= self._post_once(f"posted:{incident}:{name}:closed", name, lambda: surface.post(
                    channel, thread, replies.closed_text(incident, status.outcome or "closed")))
        self._set_unsent(incident, not complete)  # the next tick tries again, closed incidents included
        return complete

    def _post_once(self, key: str, surface: str, post: Callable[[], object]) -> bool:
        """Run ``post`` unless ``key`` is recorded; record it only when the post went through."""
        if self.chat.delivered(key):
            return True
        try:
            with surface_calls(surface):
                post()
        except Exception:  # noqa: BLE001 - the platform's error: keep the key unrecorded and retry later
            log.warning("posting %s on %s failed; will retry", key, surface, exc_info=True)
            return False
        self.chat.first_delivery(key)
        return True

    def _incident_lock(self, incident: str) -> threading.RLock:
        with self._thread_locks_guard:
            return self._thread_locks.setdefault(incident, threading.RLock())

    def _set_unsent(self, incident: str, unsent: bool) -> None:
        """Remember (in memory, and in the store so a restarted bot re-publishes) whether ``incident`` has posts
        waiting; the store is written only on a change."""
        if (incident in self._unsent) == unsent:
            return
        if unsent:
            self._unsent.add(incident)
        else:
            self._unsent.discard(incident)
        try:
            (self.outbox.entries.mark_unsent if unsent else self.outbox.entries.mark_sent)(incident)
        except MemoryUnavailable:  # still retried by this process; only a restart would forget it
            log.warning("could not record that %s has unsent posts", incident, exc_info=True)

    def _cycle_actions(self, incident: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for a in self.defence.short.actions(incident):
            if a.key.startswith(f"{incident}/c{entry['cycle']}/"):  # the cycle's own: one indexed lookup each
                outcome = (self.defence.audit.entry(a.key, "executed") or {}).get("result") or {}
                out.append(self._action(a) | {"ok": outcome.get("ok", True), "message": outcome.get("message", "")})
        return out

    # ================================================================ internals
    def recognise(self, text: str) -> dict:
        if self._recognise is None:
            from graph.intent_slots import TwinNames
            from graph.intents import IntentRecogniser

            names = TwinNames.from_network(self.defence.sim.network)
            recogniser = IntentRecogniser(names=names)
            self._recognise = recogniser.recognise
        return self._recognise(text)

    def _intent(self, msg: Message, result: dict, *, incident: str | None) -> Reply:
        intent = result["intent"]
        if result.get("clarify") and intent not in ("confirm", "reject", "stop"):
            return Reply(result["clarify"])
        if intent in ("confirm", "reject"):
            return self._decide_by_text(msg, incident, "approve" if intent == "confirm" else "reject")
        if intent in ACTION_KINDS:
            return self._request(msg, result, incident)
        if intent == "defend":
            return self._defend(msg, result)
        if intent == "protect":
            return self._guarded(lambda: Reply(f"Protected (never touched): {', '.join(ops.protect(self.defence, result))}.",
                                               ephemeral=False))
        if intent in ("stop", "resume"):
            self.chat.set_setting("paused", intent == "stop")
            return Reply("⏸ Paused: no automated action runs until `resume`." if intent == "stop"
                         else "▶️ Resumed: the defence loop runs again.", ephemeral=False)
        if intent == "explain":
            return Reply(ops.explain(self.defence, incident or self._latest_open()), ephemeral=incident is None)
        if intent == "simulate":
            return Reply(ops.simulate(self.defence), ephemeral=incident is None)
        if intent == "report":
            return self._report(msg, "schedule " + result["text"] if result.get("schedule") else "now")
        if intent == "status":
            return Reply(self._status(), ephemeral=incident is None)
        if intent == "help":
            return Reply(replies.HELP)
        return Reply("Sorry, I didn't get that. Try `help`, or name an action and hosts, e.g. `isolate srv-web-01`.")

    def _edit(self, msg: Message, incident: str | None, hosts: list[str]) -> Reply:
        """``edit drop HOST…`` / ``drop HOST…``: approve the pending plan without these hosts."""
        incident = incident or self._latest_open()
        pending = self.defence.status(incident).pending if incident else None
        if pending is None:
            return Reply("Nothing is waiting for a decision.")
        planned = {h for a in pending["actions"] for h in a["targets"]}
        unknown = [h for h in hosts if h not in planned]
        if unknown or not hosts:
            return Reply(f"`{', '.join(unknown) or '(none)'}` is not in the plan; planned: {', '.join(sorted(planned))}.")
        return self._decide(incident, pending["interrupt_id"], "edit", user=msg.user, surface=msg.surface,
                            is_approver=msg.is_approver, drop=hosts)

    def _tick_command(self, arg: str) -> Reply:
        """``tick [N]``: let the live twin move N steps now (when it has no clock of its own)."""
        steps = int(arg) if arg.isdigit() else 1 if not arg else 0
        if not 1 <= steps <= MAX_TICKS:
            return Reply(f"Say `tick` or `tick N` with N from 1 to {MAX_TICKS}.")
        for _ in range(steps):
            metrics = self.tick()
        return Reply(f"The twin moved {steps} step(s): step {metrics['step']}, availability "
                     f"{metrics['availability']:.0%}, {metrics['seen']} compromise(s) seen.", ephemeral=False)

    def _decide_by_text(self, msg: Message, incident: str | None, decision: str) -> Reply:
        incident = incident or self._latest_open()
        pending = self.defence.status(incident).pending if incident else None
        if pending is None:
            return Reply("Nothing is waiting for a decision.")
        return self._decide(incident, pending["interrupt_id"], decision, user=msg.user, surface=msg.surface,
                            is_approver=msg.is_approver)

    def _decide(self, incident: str, interrupt: str, decision: str, *, user: str, surface: str,
                is_approver: bool | None, drop: list[str] = ()) -> Reply:
        """Approve, reject or edit (approve without ``drop``) a confirmation, then post what followed."""
        if decision in ("approve", "edit") and self.paused:
            return Reply("Automated actions are paused; say `resume` first (or reject).")
        if is_approver is None:
            is_approver = self.approvers is None or user in self.approvers
        result = self.defence.decide(incident, interrupt, decision, by=f"{surface}:{user}", drop=drop,
                                     authorised=is_approver)
        if result.status == "refused":
            return Reply("You are not an approver for CyberOps actions; your click was recorded and nothing ran.")
        if result.status in ("applied", "expired"):
            word = decision if result.status == "applied" else "expire"
            self._close_asks(interrupt, replies.decided_text(word, self._mention(surface, user), self.defence.store.now()))
            self.publish(incident)
        return Reply(result.message)

    def _request(self, msg: Message, result: dict, incident: str | None) -> Reply:
        try:
            action = ops.action_request(self.defence, result["intent"], result, who=self._mention(msg.surface, msg.user))
        except ops.RequestError as exc:
            return Reply(str(exc))
        return self._queue(msg, [action], incident)

    def _defend(self, msg: Message, result: dict) -> Reply:
        subnets = result["targets"].get("subnets", [])
        if not subnets:
            return Reply("Which subnet? e.g. `defend rnd`.")
        net = self.defence.sim.network
        actions = [a for s in subnets for a in self.defence.defend_region(
            net.subnets.index(s), who=self._mention(msg.surface, msg.user))]
        if not actions:
            return Reply(f"The agents find nothing useful to do in {', '.join(subnets)} right now.")
        return self._queue(msg, actions, None)

    def _queue(self, msg: Message, actions: list, incident: str | None) -> Reply:
        what = "; ".join(f"{a.kind} {', '.join(a.targets)}" for a in actions)
        incident = incident or self._latest_open()
        if incident is None:
            status = self.defence.open_incident(title=f"operator request: {what}"[:120], requests=actions)
            self.publish(status.incident, origin=msg)
            return Reply(f"Opened {status.incident} for: {what}. Approve it in the incident's thread.", ephemeral=False)
        self.defence.request(incident, actions, who=f"{msg.surface}:{msg.user}")
        return Reply(f"Queued for {incident}'s next plan: {what}. It will ask for approval.", ephemeral=False)

    def _close_asks(self, interrupt: str, text: str) -> None:
        for name, channel, message in self.chat.asks(interrupt):
            if name in self.surfaces:
                self._post_once(f"closed-ask:{interrupt}:{name}", name,
                                lambda n=name, c=channel, m=message: self.surfaces[n].close_ask(c, m, text))

    def _threads(self, incident: str, origin: Message | None) -> list[tuple[str, str, str]]:
        """The incident's threads, opening one on each surface that has none yet.

        Under the incident's lock, held across the platform call: two threads publishing a new incident at
        once would otherwise both find no thread and both post a root message.
        """
        targets = dict(self.channels)
        if origin is not None and origin.surface in self.surfaces:
            targets.setdefault(origin.surface, origin.channel)
        out = []
        with self._incident_lock(incident):  # held by publish already; taken again for any other caller
            for name, channel in targets.items():
                if name not in self.surfaces:
                    continue
                found = self.chat.thread_of(incident, name)
                if found is None:
                    title = (self.defence.short.incident(incident) or {}).get("title", incident)
                    with surface_calls(name):
                        thread = self.surfaces[name].open_thread(channel, f"🚨 *{incident}* — {title}")
                    self.chat.set_thread(incident, surface=name, channel=channel, thread=thread)
                    found = (channel, thread)
                out.append((name, *found))
        return out

    def _broadcast(self, text: str) -> None:
        for name, channel in self.channels.items():
            if name in self.surfaces:
                try:
                    with surface_calls(name):
                        self.surfaces[name].open_thread(channel, text)
                except Exception:  # noqa: BLE001 - a notice, not worth stopping the clock for
                    log.warning("could not post a notice on %s", name, exc_info=True)

    def _memory_fault(self, exc: MemoryUnavailable, event: Message | Click) -> Reply:
        """A write failed (memory locked, read-only, disk full): say so plainly; a status still answers."""
        log.warning("could not handle a %s event: %s", event.surface, exc)
        if isinstance(event, Message) and self.recognise(event.text[:MAX_TEXT]).get("intent") == "status":
            return Reply(self._status())
        return Reply(f"⚠️ I can't write to my memory right now: {exc.reason}. That did not go through (or only "
                     "partly); try again in a moment — a retry never runs an action twice. `status` still works.")

    def _latest_open(self) -> str | None:
        rows = self.defence.short.incidents(status="open")
        return rows[-1]["id"] if rows else None

    def _guarded(self, make: Callable[[], Reply]) -> Reply:
        try:
            return make()
        except ops.RequestError as exc:
            return Reply(str(exc))

    @staticmethod
    def _mention(surface: str, user: str) -> str:
        return {"slack": f"<@{user}>", "discord": f"<@{user}>"}.get(surface, user)

    @staticmethod
    def _action(action) -> dict[str, Any]:
        return {"key": action.key, "kind": action.kind, "targets": list(action.targets), "status": action.status}


def _plain(intent: str, text: str) -> dict:
    """An intent result for a subcommand that needs no reading: no targets, no schedule."""
    empty = {"hosts": [], "subnets": [], "roles": []}
    return {"intent": intent, "confidence": 1.0, "targets": empty, "exclude": dict(empty), "schedule": None,
            "text": text, "clarify": None}
