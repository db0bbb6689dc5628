"""``Defence``: the defence loop with its dependencies, and the API the chat layer and CLI call.

It owns the twin (restored from memory, so a restarted process carries on with the same
network state: :mod:`graph.twin_state`), the memory, the planner and the compiled graph,
checkpointed to the same SQLite file (thread id = incident id); which subnets each incident
defends is :mod:`graph.scopes`, the live twin's clock and alerts :mod:`graph.live_twin`.  Operators'
decisions come in through :meth:`Defence.decide`, which checks them before anything
resumes: only the pending confirmation's id, only an approver, only before it expires.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from langgraph.types import Command

from graph.checkpointer import AtomicSqliteSaver
from graph.execution import Executor, SimulateExecutor, execute, execute_all
from graph.live_twin import LiveTwin
from graph.loop import build_graph
from graph.perception import Observation, Perception, perceive
from graph.planning import EmbeddedPlanner, Plan, PlanContext, PlannedAction, Planner
from graph.scopes import Scopes
from graph.state import DECISIONS
from graph.tools import Toolbox
from graph.twin_state import TwinState
from memory.audit import AuditLog
from memory.chat import ChatMemory
from memory.long_term import LongTermMemory
from memory.reports import ReportMemory
from memory.short_term import ShortTermMemory
from memory.snapshots import TwinSnapshots
from memory.store import MemoryUnavailable, Store
from rl_agents.hierarchical import RegionAgents, RegionView
from rl_agents.weights import RegionAgent
from twin.build import build_simulator
from twin.scenario import Scenario

DEFAULT_CONFIRM_TIMEOUT = 30 * 60  # seconds a confirmation waits before it expires
RECURSION_LIMIT = 10_000  # graph steps per invoke (5 per cycle); the cycle limit is what stops a run


@dataclass(frozen=True)
class IncidentStatus:
    incident: str
    status: Literal["open", "closed"]
    pending: dict[str, Any] | None  # the confirmation waiting for a decision, if any
    outcome: str | None
    state: dict[str, Any]


@dataclass(frozen=True)
class DecisionResult:
    """What became of a decision: ``applied``, or why nothing happened."""

    status: Literal["applied", "stale", "unknown", "refused", "expired", "invalid"]
    message: str


class Defence(LiveTwin, TwinState, Scopes):
    def __init__(
        self,
        *,
        scenario: Scenario,
        store: Store,
        planner: Planner | None = None,
        agents: dict[str, RegionAgent] | None = None,
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
        approvers: Collection[str] | None = None,
        tick_on_act: bool = True,
        restore: bool = True,
        executor: Executor | None = None,
    ) -> None:
        """``tick_on_act``: each cycle moves the twin one step and runs on to the next (run-incident);
        False: the twin is live (:meth:`tick_twin` moves it) and each cycle waits for :meth:`next_cycle`.
        ``restore``: carry on with the newest saved twin (a restart); False starts the scenario's twin afresh."""
        self.scenario, self.store = scenario, store
        self.short, self.long = ShortTermMemory(store), LongTermMemory(store)
        self.audit, self.snapshots = AuditLog(store), TwinSnapshots(store)
        self.reports = ReportMemory(store)
        self.chat = ChatMemory(store)
        self.sim = build_simulator(scenario)
        self._epoch = 0  # bumped whenever the twin moves other than by the defender's own actions
        self._observed: Observation | None = None
        #: (retired, added) host names when the saved twin had another host set (a re-imported inventory)
        self.reconciled: tuple[list[str], list[str]] | None = None
        if restore:
            self._restore_twin()
        if not restore or self.snapshots.latest() is None:
            self.save_twin(f"start:{self.store.now()}:{uuid.uuid4().hex[:8]}")
        self.agents = RegionAgents(self.sim.network, agents)  # agents: loaded weights, to share them
        self.planner = planner or EmbeddedPlanner()
        self.confirm_timeout = confirm_timeout
        self.approvers = frozenset(approvers) if approvers else None  # None: anyone may decide
        self.tick_on_act = tick_on_act
        self.executor = executor or SimulateExecutor()
        self._lock = threading.RLock()  # one graph run or decision at a time (SqliteSaver is not for many threads)
        #: called with (incident, {node: update}) after every node, e.g. to post progress to a chat thread
        self.on_update: Callable[[str, dict[str, Any]], None] | None = None
        self._saver_conn = sqlite3.connect(store.path, check_same_thread=False, timeout=store.busy_timeout_ms / 1000)
        self._saver_conn.execute("PRAGMA synchronous = NORMAL")  # as the store's connections (memory/store.py)
        self.graph = build_graph(self).compile(checkpointer=AtomicSqliteSaver(self._saver_conn))
        # status reads checkpoints on a connection of its own, so it answers while a checkpoint write waits for a lock
        self._reader_conn = None if store.path == ":memory:" else sqlite3.connect(store.path, check_same_thread=False)
        self._reader = self.graph if self._reader_conn is None else \
            self.graph.copy({"checkpointer": AtomicSqliteSaver(self._reader_conn)})

    # ================================================================ API
    def open_incident(self, *, title: str | None = None, requests: Iterable[PlannedAction] = (),
                      max_cycles: int | None = None, scope: Iterable[str] | None = None) -> IncidentStatus:
        """Open a new incident and run its loop until it needs a decision or ends.

        ``scope``: the subnets (names) the incident defends; None: those of the requests' hosts,
        or the whole twin when there are no requests.
        """
        with self._lock:
            return self._open(title=title, requests=requests, max_cycles=max_cycles, scope=scope)

    def _open(self, *, title: str | None, requests: Iterable[PlannedAction], max_cycles: int | None,
              scope: Iterable[str] | None = None) -> IncidentStatus:
        incident = self._next_id()
        requests = list(requests)
        if scope is None and requests:
            scope = self._subnets_of(h for r in requests for h in r.targets)
        with self.store.write():  # the incident, its requests and how to start it: all or nothing
            self.short.open_incident(incident, title=title or f"{self.scenario.attack.mode} attack on {self.scenario.name}")
            for request in requests:
                self.short.add_request(incident, action=request.to_dict(), who=request.source)
            self.chat.set_setting(f"incident:{incident}:start", {
                "max_cycles": max_cycles, "scope": None if scope is None else sorted(set(scope))})
        self._invoke(incident, self._start_state(incident), new_cycle=True)
        return self.status(incident)

    def _start_state(self, incident: str) -> dict[str, Any]:
        start = self.chat.setting(f"incident:{incident}:start", {}) or {}
        return {"incident": incident, "cycle": 0, "max_cycles": start.get("max_cycles"), "status": "open",
                "outcome": None, "requests": [], "recent_targets": [], "history": [], "quiet": 0}

    def status(self, incident: str) -> IncidentStatus:
        return self._status_of(incident, self._reader.get_state(self._config(incident)))

    def _status_of(self, incident: str, snap: Any) -> IncidentStatus:
        if not snap.values:
            row = self.short.incident(incident)
            if row is None:
                raise KeyError(f"no incident {incident!r}")
            # opened, but the process stopped before the graph's first checkpoint: carry_on starts it
            return IncidentStatus(incident, row["status"], None, None, {})
        pending = snap.interrupts[0].value if snap.interrupts else None
        values = dict(snap.values)
        return IncidentStatus(incident, values.get("status", "open"), pending, values.get("outcome"), values)

    def carry_on(self, incident: str) -> IncidentStatus:
        """Finish whatever step was cut short (after a crash) and run on to the next decision or the end."""
        with self._lock:
            status = self.status(incident)
            if not status.state and status.status == "open":
                self._invoke(incident, self._start_state(incident), new_cycle=True)
            elif status.pending is None:
                self._invoke(incident, None)
            return self.status(incident)

    def next_cycle(self, incident: str) -> IncidentStatus:
        """Live twin: start the incident's next cycle, unless it is waiting for a decision or closed."""
        with self._lock:
            snap = self.graph.get_state(self._config(incident))
            status = self._status_of(incident, snap)
            if status.status == "open" and status.pending is None:
                if snap.tasks and not snap.interrupts:  # a failed write stopped the last run inside a step: finish it
                    self._invoke(incident, None)
                else:
                    self._invoke(incident, {"incident": incident} if status.state else self._start_state(incident),
                                 new_cycle=True)
            return self.status(incident)

    def request(self, incident: str, actions: Iterable[PlannedAction], *, who: str) -> int:
        """Queue operator-requested actions for the incident's next plan; returns how many."""
        count = 0
        for action in actions:
            self.short.add_request(incident, action=action.to_dict(), who=who)
            count += 1
        return count

    def decide(self, incident: str, interrupt: str, decision: str, *, by: str,
               drop: Iterable[str] = (), authorised: bool | None = None) -> DecisionResult:
        """Answer confirmation ``interrupt`` of ``incident``: approve, reject or edit (drop hosts).

        ``authorised``: whether ``by`` may decide, when the caller checked it (a chat role);
        None: checked against ``approvers`` here.
        """
        with self._lock:
            return self._decide(incident, interrupt, decision, by=by, drop=drop, authorised=authorised)

    def _decide(self, incident: str, interrupt: str, decision: str, *, by: str, drop: Iterable[str],
                authorised: bool | None) -> DecisionResult:
        if decision not in DECISIONS or decision == "expire":
            return DecisionResult("invalid", f"unknown decision {decision!r}; say approve, reject or edit")
        if self._cut_short(incident):  # an earlier decision's run stopped on a failed write: finish it first
            self._invoke(incident, None)
        try:
            pending = self.status(incident).pending
        except KeyError:
            return DecisionResult("unknown", f"there is no incident {incident}")
        if pending is None or pending["interrupt_id"] != interrupt:
            waiting = f"; the pending one is {pending['interrupt_id']}" if pending else ""
            return DecisionResult("stale", f"confirmation {interrupt} is not pending (already decided or replaced){waiting}")
        if authorised is None:
            authorised = self.approvers is None or by in self.approvers
        if not authorised:
            for a in pending["actions"]:
                self.audit.append("refused", who=by, incident=incident, action_id=a["key"], targets=a["targets"],
                                  why=f"{decision} by someone who is not an approver")
            return DecisionResult("refused", f"{by} is not an approver; nothing was changed")
        if self._expired(pending):
            self._resume(incident, interrupt, {"decision": "expire", "by": "system"})
            return DecisionResult("expired", f"confirmation {interrupt} expired at {pending['expires_at']}")
        self._resume(incident, interrupt, {"decision": decision, "by": by, "drop": sorted(set(drop))})
        return DecisionResult("applied", f"{decision} recorded for {interrupt}")

    def expire_due(self) -> list[str]:
        """Expire every pending confirmation past its time; returns their interrupt ids."""
        with self._lock:
            return self._expire_due()

    def _expire_due(self) -> list[str]:
        expired = []
        for row in self.short.incidents(status="open"):
            try:
                pending = self.status(row["id"]).pending
            except KeyError:
                continue
            if pending and self._expired(pending):
                self._resume(row["id"], pending["interrupt_id"], {"decision": "expire", "by": "system"})
                expired.append(pending["interrupt_id"])
        return expired

    def run(self, incident: str, decide: Callable[[dict[str, Any]], tuple[str, list[str]]], *, by: str) -> IncidentStatus:
        """Drive ``incident`` to its end, asking ``decide(payload) -> (decision, hosts to drop)`` at each confirmation."""
        status = self.status(incident)
        while status.status == "open":
            if status.pending is None:
                status = self.carry_on(incident)
                continue
            decision, drop = decide(status.pending)
            result = self.decide(incident, status.pending["interrupt_id"], decision, by=by, drop=drop)
            if result.status not in ("applied", "expired"):
                raise RuntimeError(result.message)
            status = self.status(incident)
        return status

    def close_connections(self) -> None:
        self._saver_conn.close()
        if self._reader_conn is not None:
            self._reader_conn.close()

    # ================================================================ used by the nodes
    def perceive(self, **kwargs: Any) -> tuple[Perception, list[RegionView]]:
        """The twin as it is now (``observation=self.observation()``: as the step's shared observation saw it)."""
        return perceive(self.sim, 0, **kwargs)

    def make_plan(self, *, perception: Perception, views: list[RegionView], requests: list[PlannedAction],
                  scope: Collection[int] | None = None, observation: Observation | None = None) -> Plan:
        """A plan for the subnets in ``scope`` (None: all), on ``observation`` when given (else the twin now)."""
        policy = self.long.policy()
        budget = self.scenario.defender.actions_per_step
        shown = perception
        if scope is not None:  # the planner reads its incident's subnets (the tools still check any host)
            views = [v for v in views if v.region in scope]
            shown = replace(perception, subnets=[s for s in perception.subnets if s.index in scope])

        def toolbox() -> Toolbox:
            return Toolbox(sim=self.sim, perception=perception, agents=self.agents, budget=budget, policy=policy,
                           requests=requests, recall=lambda q: [r.text for r in self.long.recall(q)],
                           observation=observation)

        query = " ".join([self.scenario.attack.mode] + [s.subnet for s in shown.subnets if s.seen])
        lessons = [r.text for r in self.long.recall(query, limit=3)] if getattr(self.planner, "reads_lessons", True) else []
        ctx = PlanContext(perception=shown, views=views, toolbox=toolbox(), budget=budget, lessons=lessons)
        return self.planner.plan(ctx)

    def execute(self, incident: str, action: dict[str, Any]) -> dict[str, Any]:
        """Carry out one approved action exactly once, through the executor (see graph.execution)."""
        return execute(self, incident, action)

    def execute_all(self, incident: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Carry out a step's approved actions, each exactly once (see graph.execution)."""
        return execute_all(self, incident, actions)

    def tick(self, incident: str, cycle: int) -> list[int]:
        """Let the attacker move once (when this loop drives the twin); returns the attack attempts' hosts."""
        if self.tick_on_act:
            key = f"tick:{incident}:{cycle}"
            try:  # a failed commit rolls the snapshot back, so the twin goes back too
                with self.store.write():
                    if not self.snapshots.has(key):
                        self.sim.step()
                        self._twin_moved()
                        self.save_twin(key)
                        self._record_metrics()
            except BaseException:
                self._restore_twin()
                raise
        return [int(h) for h in self.sim.attack_targets[0] if h >= 0]

    def _record_metrics(self) -> None:
        m = self.metrics()
        self.reports.record_metrics(step=m["step"], availability=m["availability"], seen=m["seen"],
                                    isolated=m["isolated"])

    def metrics(self) -> dict[str, Any]:
        m = self.sim.metrics()
        return {"step": int(self.sim.t[0]), "availability": round(float(m.availability[0]), 4),
                "seen": int(m.visible[0]), "isolated": int(m.isolated[0]), "hvn_lost": bool(m.hvn_lost[0]),
                "done": bool(m.done[0])}

    def close(self, incident: str, *, outcome: str, history: list[dict[str, Any]]) -> None:
        """Write the incident's record and lesson to long-term memory and mark it closed."""
        executed = [kind for h in history for kind in h["executed"]]
        counts = ", ".join(f"{executed.count(k)} {k}" for k in dict.fromkeys(executed)) or "no action"
        last = history[-1] if history else {"availability_after": self.metrics()["availability"]}
        summary = (f"{self.scenario.attack.mode} attack, {len(history)} step(s); executed {counts}; "
                   f"availability {last['availability_after']:.0%} at close.")
        if self.long.incident_record(incident) is not None:  # recorded already: this is the step run again
            self._mark_closed(incident)
            return
        title = (self.short.incident(incident) or {}).get("title", incident)
        self.long.record_outcome(incident, title=title, summary=summary, outcome=outcome)
        self.long.add_lesson(f"{outcome.split(':')[0].capitalize()} a {self.scenario.attack.mode} attack "
                             f"with {counts}: {outcome}.", incident=incident,
                             tags=[self.scenario.attack.mode, outcome.split(":")[0]])
        self._mark_closed(incident)

    def _mark_closed(self, incident: str) -> None:
        if (self.short.incident(incident) or {}).get("status") == "open":
            self.short.set_incident_status(incident, "closed")

    # ================================================================ internals
    def _invoke(self, incident: str, value: Any, *, new_cycle: bool = False) -> None:
        """Run the incident's graph from ``value``.

        Checkpoints are written after every node ("sync"), except for a live twin's new cycle,
        which is checkpointed when it ends or asks for a decision ("exit"): every node's side
        effects are keyed (notes, the plan recorded per cycle, claims and audit entries, the
        observation and the close), so a cycle cut short by a crash runs again from its start
        and does nothing twice.  ``cyberops bench kill --live`` checks this.
        """
        config = self._config(incident) | {"recursion_limit": RECURSION_LIMIT}
        durability = "exit" if new_cycle and not self.tick_on_act else "sync"
        try:
            for update in self.graph.stream(value, config, durability=durability, stream_mode="updates"):
                if self.on_update is not None:
                    self.on_update(incident, update)
        except sqlite3.DatabaseError as exc:  # the checkpointer's own connection: the same clear error as memory's
            fault = MemoryUnavailable.of(self.store.path, exc)
            if fault is None:
                raise
            raise fault from exc

    def _cut_short(self, incident: str) -> bool:
        """Whether the incident's last run stopped inside a step (a failed write, a crash) rather than at a
        confirmation or the end of a cycle: then it must be resumed, not started over (which would lose the step)."""
        snap = self.graph.get_state(self._config(incident))
        return bool(snap.tasks) and not snap.interrupts

    def _resume(self, incident: str, interrupt: str, decision: dict[str, Any]) -> None:
        decision = decision | {"at": self.store.now()}
        self._invoke(incident, Command(resume={interrupt: decision}))

    def _config(self, incident: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": incident}}

    def _expired(self, pending: dict[str, Any]) -> bool:
        expires = datetime.fromisoformat(pending["expires_at"].replace("Z", "+00:00"))
        return self.store.clock() >= expires

    def _next_id(self) -> str:
        return f"INC-{len(self.short.incidents()) + 1:04d}"
