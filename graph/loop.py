"""The defence loop as a LangGraph StateGraph: perceive → plan → confirm → act → reflect.

Each node is a plain function of the incident state, closed over the runtime's
dependencies (:class:`graph.runtime.Defence`: the twin, memory, planner, policy).
Nodes may run more than once (a resume re-runs ``confirm`` from its start; a crash
re-runs the node, or a live twin's whole cycle, that was cut short), so every side
effect is keyed: audit entries with ``append_once``, the plan recorded per cycle,
executions with ``claim_execution``, twin steps with a snapshot key, one observation
and one close per cycle.  Nothing changes the network before ``confirm`` has an
approval for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from graph.perception import Perception
from graph.planning import PlannedAction
from rl_agents.hierarchical import RegionView
from graph.state import IncidentState, action_key, interrupt_id

if TYPE_CHECKING:
    from graph.runtime import Defence

RECENT_STEPS = 5  # attack attempts remembered for the concentration feature
HISTORY_KEPT = 200
QUIET_CYCLES_TO_CLOSE = 3  # cycles with nothing seen before an incident counts as contained


def build_graph(defence: Defence) -> StateGraph:
    """The uncompiled graph; :class:`~graph.runtime.Defence` compiles it with the SQLite checkpointer."""

    def perceive(state: IncidentState) -> dict:
        net = defence.sim.network
        observation = defence.observation()
        previous = state.get("previous")
        seen_before = state.get("previously_seen")
        mask = None
        if seen_before is not None:
            mask = np.zeros_like(observation.visible)
            mask[seen_before] = True
        perception, views = defence.perceive(
            previous=dict(enumerate(previous)) if previous else None,
            previously_seen=mask, recent_targets=state.get("recent_targets", []), observation=observation,
        )
        incident, scope = state["incident"], defence.scope(state["incident"])
        seen = observation.visible.nonzero()[0]
        noted = seen if mask is None else seen[~mask[seen]]
        if scope is not None:
            noted = noted[np.isin(net.subnet_of[noted], scope)]
        with defence.store.write():  # one transaction for the step's new detections
            for name in (net.names[i] for i in noted):
                defence.short.note_compromise(incident, name)
        return {
            "perception": perception.to_dict(),
            "views": [dict(v.__dict__) for v in views],  # flat dataclasses: no need for asdict's deep copy
            "previous": [v.critical_distance for v in views],
            "previously_seen": [int(i) for i in seen],
        }

    def plan(state: IncidentState) -> dict:
        incident, cycle = state["incident"], state.get("cycle", 0)
        recorded = defence.chat.setting(f"plan:{incident}")
        if recorded and recorded.get("cycle") == cycle:  # this step ran before (a crash): its plan stands
            return {"plan": recorded["plan"], "requests": [], "decision": None}
        queued = defence.short.take_requests(incident, plan=f"{incident}/c{cycle}")  # the same ones if re-run
        requests = [PlannedAction.from_dict(r) for r in state.get("requests", []) + queued]
        defence.widen_scope(incident, [h for r in requests for h in r.targets])
        made = defence.make_plan(perception=Perception.from_dict(state["perception"]),
                                 views=[RegionView(**v) for v in state["views"]], requests=requests,
                                 scope=defence.scope(incident), observation=defence.observation())
        out = made.to_dict() | {"at": defence.store.now(), "cycle": cycle}
        entries = []
        for i, action in enumerate(out["actions"]):
            action["key"] = action_key(incident, cycle, i)
            action["status"] = "pending"
            entries.append({"event": "proposed", "who": f"planner:{made.planner}", "incident": incident,
                            "action_id": action["key"], "targets": action["targets"], "why": action["reason"]})
        for i, attempt in enumerate(out["refused"]):
            source = attempt.get("source", made.planner)
            who = "operator" if source == "operator" else f"planner:{'llm' if source == 'llm' else made.planner}"
            entries.append({"event": "refused", "who": who, "incident": incident,
                            "action_id": f"{incident}/c{cycle}/refused{i}", "targets": attempt.get("targets", []),
                            "why": f"{attempt.get('kind')}: {attempt.get('why')}"})
        with defence.store.write():  # the plan's proposals and refusals: one transaction (planning stays outside)
            defence.short.propose_actions(incident, [(a["key"], a["kind"], a["targets"]) for a in out["actions"]])
            defence.audit.append_once_all(entries)
            defence.chat.set_setting(f"plan:{incident}", {"cycle": cycle, "plan": out})
        return {"plan": out, "requests": [], "decision": None}

    def confirm(state: IncidentState) -> dict:
        incident, cycle, plan = state["incident"], state.get("cycle", 0), dict(state["plan"])
        actions = [dict(a) for a in plan["actions"]]
        policy = defence.long.policy()
        asking = [a for a in actions if policy.autonomy_for(a["kind"]) != "auto"]
        with defence.store.write():
            _settle(defence, incident, [(a, "approved", "policy:auto", "autonomy policy allows this class")
                                        for a in actions if a not in asking])
        decision = None
        if asking:
            iid = interrupt_id(incident, cycle)
            expires = datetime.fromisoformat(plan["at"].replace("Z", "+00:00")) + timedelta(seconds=defence.confirm_timeout)
            payload = {
                "interrupt_id": iid, "incident": incident, "cycle": cycle,
                "summary": state["perception"]["summary"], "planner": plan["planner"], "notes": plan["notes"],
                "actions": [{k: a[k] for k in ("key", "kind", "targets", "source", "region", "reason")} for a in asking],
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            while decision is None:  # a resume without this interrupt's id changes nothing: ask again
                answer = interrupt(payload)
                decision = answer.get(iid) if isinstance(answer, dict) else None
            with defence.store.write():
                _apply_decision(defence, incident, asking, decision)
        return {"plan": plan | {"actions": actions}, "decision": decision}

    def act(state: IncidentState) -> dict:
        incident, cycle = state["incident"], state.get("cycle", 0)
        results = defence.execute_all(incident, [a for a in state["plan"]["actions"] if a["status"] == "approved"])
        targets = defence.tick(incident, cycle)
        recent = (state.get("recent_targets", []) + [targets])[-RECENT_STEPS:]
        return {"results": results, "recent_targets": recent}

    def reflect(state: IncidentState) -> Command[Literal["perceive", "__end__"]]:
        incident, cycle = state["incident"], state.get("cycle", 0)
        before = state["perception"]
        after = defence.metrics()
        scope = defence.scope(incident)  # what this incident defends: its seen compromises decide its end
        seen_before = before["seen"] if scope is None else \
            sum(s["seen"] for s in before["subnets"] if s["index"] in scope)
        seen_after = after["seen"] if scope is None else defence.seen_in(scope)
        executed = [r for r in state.get("results", []) if r["status"] == "executed"]
        entry = {"cycle": cycle, "step": after["step"], "availability_before": before["availability"],
                 "availability_after": after["availability"], "seen_before": seen_before,
                 "seen_after": seen_after, "executed": [r["kind"] for r in executed]}
        history = (state.get("history", []) + [entry])[-HISTORY_KEPT:]
        # quiet: nothing seen when the step began nor after it (a reset that clears a compromise is no quiet)
        quiet = state.get("quiet", 0) + 1 if seen_before == 0 and seen_after == 0 else 0
        outcome = _outcome(after, quiet, cycle + 1, state.get("max_cycles"))
        update = {"cycle": cycle + 1, "history": history, "quiet": quiet, "results": []}
        with defence.store.write():  # the observation and, at the end, the record and lesson: one transaction
            defence.short.add_observation(incident, step=after["step"],
                                          observation=entry | {"summary": before["summary"]})
            if outcome is not None:
                defence.close(incident, outcome=outcome, history=history)
        if outcome is None:  # a live twin moves on its own clock: the next cycle starts at its next tick
            return Command(update=update, goto="perceive" if defence.tick_on_act else END)
        return Command(update=update | {"status": "closed", "outcome": outcome}, goto=END)

    builder = StateGraph(IncidentState)
    for name, node in (("perceive", perceive), ("plan", plan), ("confirm", confirm), ("act", act), ("reflect", reflect)):
        builder.add_node(name, node)
    builder.add_edge(START, "perceive")
    builder.add_edge("perceive", "plan")
    builder.add_edge("plan", "confirm")
    builder.add_edge("confirm", "act")
    builder.add_edge("act", "reflect")
    return builder


def _outcome(after: dict, quiet: int, cycles: int, max_cycles: int | None) -> str | None:
    if after["hvn_lost"]:
        return "lost: a high-value host was compromised"
    if quiet >= QUIET_CYCLES_TO_CLOSE:
        return f"contained: no compromise seen for {quiet} steps"
    if after["done"]:
        return "ended: the simulated attack reached its horizon"
    if max_cycles is not None and cycles >= max_cycles:
        return f"stopped after {cycles} step(s) as asked"
    return None


def _settle(defence: Defence, incident: str, changes: list[tuple[dict, str, str, str]]) -> None:
    """Record actions' new statuses, ``(action, status, who, why)`` each, in short-term memory (an executed
    action stays executed) and the audit log (one entry per action and status, however often this runs)."""
    by_status: dict[str, list[str]] = {}
    for action, status, _, _ in changes:
        action["status"] = status
        by_status.setdefault(status, []).append(action["key"])
    for status, keys in by_status.items():
        defence.short.settle_actions(keys, status)
    defence.audit.append_once_all([{"event": status, "who": who, "incident": incident, "action_id": action["key"],
                                    "targets": action["targets"], "why": why} for action, status, who, why in changes])


def _apply_decision(defence: Defence, incident: str, asking: list[dict], decision: dict) -> None:
    kind, who = decision.get("decision"), str(decision.get("by", "unknown"))
    if kind == "expire":
        _settle(defence, incident, [(a, "expired", "system", "no decision before the confirmation expired")
                                    for a in asking])
        return
    drop = set(decision.get("drop", ())) if kind == "edit" else set()
    changes = []
    for a in asking:
        kept = [h for h in a["targets"] if h not in drop]
        if kind == "reject" or not kept:
            why = "rejected by the operator" if kind == "reject" else f"edited out by {who}"
            changes.append((a, "rejected", who, why))
        elif kind in ("approve", "edit"):
            if kept != a["targets"]:
                a["targets"] = kept
            how = "approved" if kind == "approve" else f"approved without {', '.join(sorted(drop))}"
            changes.append((a, "approved", who, f"{how} by {who}"))
    _settle(defence, incident, changes)
