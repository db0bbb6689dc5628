"""The defence loop end to end: LangGraph with the SQLite checkpointer, confirmations, exactly-once
execution across restarts, stale/duplicate/unauthorised decisions, expiry, protected assets, audit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hand_clock import HandClock

from graph.runtime import Defence
from graph.planning import PlannedAction
from memory.long_term import OperatorPolicy
from memory.store import open_store
from twin.scenario import scenario_from_dict
from twin.sim import PATCH_STEP

SCENARIO = {
    "name": "loop-test", "seed": 7, "horizon": 12,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}



@pytest.fixture
def clock():
    return HandClock()


@pytest.fixture
def make(tmp_path, weights, clock):
    made = []

    def make(*, restore: bool = False, scenario: dict | None = None, **kwargs) -> Defence:
        store = open_store(tmp_path / "cyberops.db", clock=clock)
        defence = Defence(scenario=scenario_from_dict(scenario or SCENARIO), store=store, agents=weights,
                          restore=restore, **kwargs)
        made.append(defence)
        return defence

    yield make
    for d in made:
        d.close_connections()
        d.store.close()


def approve_all(payload):
    return "approve", []


def events(defence, incident):
    return [(e["event"], e["action_id"]) for e in defence.audit.entries(incident=incident)]


# ---------------------------------------------------------------- a whole incident
def test_a_full_incident_runs_to_its_end_with_every_approved_action_executed_once(make):
    d = make()
    status = d.open_incident(max_cycles=6)
    assert status.pending is not None and status.pending["interrupt_id"] == f"{status.incident}/c0"
    final = d.run(status.incident, approve_all, by="alice")
    assert final.status == "closed" and final.outcome
    actions = d.short.actions(status.incident)
    assert actions and all(a.status == "executed" for a in actions)
    log = events(d, status.incident)
    for a in actions:
        assert log.count(("proposed", a.key)) == 1
        assert log.count(("approved", a.key)) == 1
        assert log.count(("executed", a.key)) == 1
    assert d.audit.verify() is None
    assert d.short.incident(status.incident)["status"] == "closed"
    assert d.long.incident_record(status.incident)["outcome"] == final.outcome
    assert d.long.recall("recon")  # reflect wrote a lesson the planner can recall


def test_the_graph_state_is_checkpointed_in_sqlite_under_the_incident_id(make, tmp_path):
    d = make()
    status = d.open_incident(max_cycles=2)
    conn = sqlite3.connect(tmp_path / "cyberops.db")
    threads = {row[0] for row in conn.execute("SELECT thread_id FROM checkpoints")}
    conn.close()
    assert threads == {status.incident}


def test_nothing_changes_the_network_before_an_approval(make):
    d = make()
    before = (d.sim.isolated.copy(), d.sim.vulnerability.copy(), d.sim.compromised.copy())
    status = d.open_incident(max_cycles=3)
    assert status.pending["actions"]
    assert all(a.status == "pending" for a in d.short.actions(status.incident))
    np.testing.assert_array_equal(d.sim.isolated, before[0])
    np.testing.assert_array_equal(d.sim.vulnerability, before[1])
    np.testing.assert_array_equal(d.sim.compromised, before[2])


def test_rejecting_runs_nothing_and_records_the_rejection(make):
    d = make()
    status = d.open_incident(max_cycles=1)
    vulnerability = d.sim.vulnerability.copy()
    result = d.decide(status.incident, status.pending["interrupt_id"], "reject", by="alice")
    assert result.status == "applied"
    assert {a.status for a in d.short.actions(status.incident)} == {"rejected"}
    np.testing.assert_array_equal(d.sim.vulnerability, vulnerability)
    assert ("executed" not in {e for e, _ in events(d, status.incident)})


def test_an_edit_drops_the_named_host_and_approves_the_rest(make):
    d = make()
    status = d.open_incident(max_cycles=1)
    first, *rest = status.pending["actions"]
    dropped = first["targets"][0]
    d.decide(status.incident, status.pending["interrupt_id"], "edit", by="alice", drop=[dropped])
    by_key = {a.key: a.status for a in d.short.actions(status.incident)}
    assert by_key[first["key"]] == "rejected"
    assert all(by_key[a["key"]] == "executed" for a in rest)


# ---------------------------------------------------------------- decisions that must do nothing
def test_stale_duplicate_and_unknown_decisions_do_nothing_and_say_so(make):
    d = make()
    status = d.open_incident(max_cycles=4)
    first_id = status.pending["interrupt_id"]
    assert d.decide(status.incident, first_id, "approve", by="alice").status == "applied"
    entries = len(d.audit)
    assert d.decide(status.incident, first_id, "approve", by="alice").status == "stale"  # a double click
    assert d.decide(status.incident, first_id, "reject", by="bob").status == "stale"  # decided already
    assert d.decide(status.incident, "INC-0001/c99", "approve", by="alice").status == "stale"
    assert d.decide("INC-9999", first_id, "approve", by="alice").status == "unknown"
    assert d.decide(status.incident, d.status(status.incident).pending["interrupt_id"], "maybe",
                    by="alice").status == "invalid"
    assert len(d.audit) == entries
    assert d.status(status.incident).pending["interrupt_id"] == f"{status.incident}/c1"


def test_a_resume_without_the_pending_interrupt_id_leaves_the_confirmation_pending(make):
    from langgraph.types import Command

    d = make()
    status = d.open_incident(max_cycles=2)
    config = {"configurable": {"thread_id": status.incident}}
    d.graph.invoke(Command(resume={"INC-0001/c7": {"decision": "approve", "by": "mallory"}}), config)
    again = d.status(status.incident)
    assert again.pending is not None and again.pending["interrupt_id"] == status.pending["interrupt_id"]
    assert {a.status for a in d.short.actions(status.incident)} == {"pending"}


def test_only_approvers_may_decide_and_refusals_are_audited(make):
    d = make(approvers={"alice"})
    status = d.open_incident(max_cycles=2)
    iid = status.pending["interrupt_id"]
    result = d.decide(status.incident, iid, "approve", by="mallory")
    assert result.status == "refused" and "not an approver" in result.message
    refused = [e for e in d.audit.entries(incident=status.incident) if e["event"] == "refused"]
    assert len(refused) == len(status.pending["actions"]) and {e["who"] for e in refused} == {"mallory"}
    assert d.status(status.incident).pending["interrupt_id"] == iid  # still waiting for an approver
    assert d.decide(status.incident, iid, "approve", by="alice").status == "applied"


# ---------------------------------------------------------------- expiry
def test_a_confirmation_expires_after_its_time_and_is_recorded_as_expired(make, clock):
    d = make(confirm_timeout=60)
    status = d.open_incident(max_cycles=3)
    iid = status.pending["interrupt_id"]
    clock.now += timedelta(seconds=59)
    assert d.expire_due() == []
    clock.now += timedelta(seconds=2)
    assert d.expire_due() == [iid]
    keys = [a["key"] for a in status.pending["actions"]]
    assert all(d.short.action(k).status == "expired" for k in keys)
    assert sum(e == "expired" for e, _ in events(d, status.incident)) == len(keys)
    assert d.decide(status.incident, iid, "approve", by="alice").status == "stale"


def test_a_late_decision_expires_the_confirmation_instead_of_approving_it(make, clock):
    d = make(confirm_timeout=60)
    status = d.open_incident(max_cycles=3)
    clock.now += timedelta(minutes=5)
    result = d.decide(status.incident, status.pending["interrupt_id"], "approve", by="alice")
    assert result.status == "expired"
    assert {d.short.action(a["key"]).status for a in status.pending["actions"]} == {"expired"}


# ---------------------------------------------------------------- policy
def test_protected_assets_are_never_planned_nor_touched(make):
    d = make()
    hvns = [d.sim.network.names[i] for i in np.flatnonzero(d.sim.network.high_value)]
    d.long.save_policy(OperatorPolicy(protected_assets=tuple(hvns)))
    request = PlannedAction("isolate", (hvns[0],), "operator", None, "operator asked")
    status = d.open_incident(max_cycles=12, requests=[request])
    d.run(status.incident, approve_all, by="alice")
    touched = {h for a in d.short.actions(status.incident) for h in a.targets}
    assert not touched & set(hvns)
    refused = [e for e in d.audit.entries(incident=status.incident) if e["event"] == "refused"]
    assert refused and refused[0]["targets"] == [hvns[0]]
    assert not d.sim.isolated[0, [d.sim.network.index[h] for h in hvns]].any()


def test_an_asset_protected_after_the_plan_is_refused_at_execution(make):
    d = make()
    status = d.open_incident(max_cycles=1)
    target = status.pending["actions"][0]["targets"][0]
    d.long.save_policy(OperatorPolicy(protected_assets=(target,)))
    d.decide(status.incident, status.pending["interrupt_id"], "approve", by="alice")
    key = status.pending["actions"][0]["key"]
    assert d.short.action(key).status == "refused"
    assert ("refused", key) in events(d, status.incident) and ("executed", key) not in events(d, status.incident)


def test_autonomy_auto_runs_unconfirmed_and_never_is_never_planned(make):
    d = make()
    d.long.save_policy(OperatorPolicy(autonomy={"patch": "auto", "isolate": "never"}))
    status = d.open_incident(max_cycles=4)
    while status.status == "open":
        assert status.pending is None or all(a["kind"] != "patch" for a in status.pending["actions"])
        if status.pending is None:
            break
        d.decide(status.incident, status.pending["interrupt_id"], "approve", by="alice")
        status = d.status(status.incident)
    kinds = {a.kind for a in d.short.actions(status.incident)}
    assert "patch" in kinds and "isolate" not in kinds
    auto = [e for e in d.audit.entries(incident=status.incident) if e["event"] == "approved" and e["who"] == "policy:auto"]
    assert auto


# ---------------------------------------------------------------- exactly once, across restarts
def test_executing_an_action_twice_changes_the_twin_once(make):
    d = make()
    status = d.open_incident(max_cycles=1)
    action = dict(status.pending["actions"][0])
    d.short.set_action_status(action["key"], "approved")
    host = d.sim.network.index[action["targets"][0]]
    before = d.sim.vulnerability[0, host]
    first = d.execute(status.incident, action)
    second = d.execute(status.incident, action)  # a retried or re-run act step
    assert first["status"] == second["status"] == "executed"
    if action["kind"] == "patch":
        assert d.sim.vulnerability[0, host] == pytest.approx(max(0.01, before - PATCH_STEP))
    assert events(d, status.incident).count(("executed", action["key"])) == 1


SCRIPT = """
import sys, json
sys.path.insert(0, {root!r})
from graph.runtime import Defence
from memory.store import open_store
from twin.scenario import scenario_from_dict
store = open_store({db!r})
d = Defence(scenario=scenario_from_dict(json.loads({scenario!r})), store=store, restore=False)
status = d.open_incident(max_cycles=3)
print(json.dumps(status.pending))
"""


def test_a_new_process_finishes_an_incident_interrupted_while_waiting_and_runs_each_action_once(make, tmp_path):
    db = str(tmp_path / "cyberops.db")
    code = SCRIPT.format(root=str(Path(__file__).resolve().parents[2]), db=db, scenario=json.dumps(SCENARIO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    pending = json.loads(out.stdout.strip().splitlines()[-1])  # the first process ends while waiting
    d = make(restore=True)  # a new process: the twin comes back from its snapshot
    incident = pending["incident"]
    assert d.status(incident).pending == pending
    assert d.decide(incident, pending["interrupt_id"], "approve", by="alice").status == "applied"
    final = d.run(incident, approve_all, by="alice")
    assert final.status == "closed"
    log = events(d, incident)
    for a in d.short.actions(incident):
        assert a.status == "executed" and log.count(("executed", a.key)) == 1
    assert d.audit.verify() is None


def test_a_restart_carries_on_with_the_same_twin(make):
    d = make()
    status = d.open_incident(max_cycles=5)
    d.decide(status.incident, status.pending["interrupt_id"], "approve", by="alice")
    state = (d.sim.isolated.copy(), d.sim.visible.copy(), d.sim.vulnerability.copy(), int(d.sim.t[0]))
    again = make(restore=True)
    np.testing.assert_array_equal(again.sim.isolated, state[0])
    np.testing.assert_array_equal(again.sim.visible, state[1])
    np.testing.assert_array_equal(again.sim.vulnerability, state[2])
    assert int(again.sim.t[0]) == state[3]


# ---------------------------------------------------------------- audit
def test_the_incidents_audit_chain_verifies_and_a_tampered_row_is_caught(make, tmp_path):
    d = make()
    status = d.open_incident(max_cycles=2)
    d.run(status.incident, approve_all, by="alice")
    assert d.audit.verify() is None
    conn = sqlite3.connect(tmp_path / "cyberops.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET who = 'mallory' WHERE id = 3")
    conn.commit()
    conn.close()
    broken = d.audit.verify()
    assert broken is not None and broken.id == 3 and broken.reason == "edited"


# ---------------------------------------------------------------- live twin
def test_a_live_incident_waits_for_the_next_tick_between_cycles(make):
    d = make(tick_on_act=False)
    status = d.open_incident()
    step = int(d.sim.t[0])
    d.decide(status.incident, status.pending["interrupt_id"], "approve", by="alice")
    after = d.status(status.incident)
    assert after.status == "open" and after.pending is None and int(d.sim.t[0]) == step  # no tick of its own
    assert d.tick_twin()["step"] == step + 1
    again = d.next_cycle(status.incident)
    assert again.pending["interrupt_id"] == f"{status.incident}/c1"
    assert d.next_cycle(status.incident).pending == again.pending  # waiting: nothing new starts


def test_operator_requests_queued_while_waiting_join_the_next_plan_once(make):
    d = make(tick_on_act=False)
    status = d.open_incident()
    host = d.sim.network.names[3]
    assert d.request(status.incident, [PlannedAction("patch", (host,), "operator", None, "asked in chat")],
                     who="alice") == 1
    d.decide(status.incident, status.pending["interrupt_id"], "reject", by="alice")
    d.tick_twin()
    nxt = d.next_cycle(status.incident).pending
    assert nxt["actions"][0]["targets"] == [host] and nxt["actions"][0]["source"] == "operator"
    d.decide(status.incident, nxt["interrupt_id"], "reject", by="alice")
    d.tick_twin()
    later = d.next_cycle(status.incident).pending
    assert all(a["source"] != "operator" for a in later["actions"])


def test_an_incident_opened_just_before_a_crash_is_started_by_the_next_process(make):
    d = make()
    host = d.sim.network.names[2]
    with d.store.write():  # what _open writes before the graph's first checkpoint, then the crash
        d.short.open_incident("INC-0001", title="cut short")
        d.short.add_request("INC-0001", action=PlannedAction("patch", (host,), "operator", None, "asked").to_dict(),
                            who="operator")
        d.chat.set_setting("INC-0001:start", {})
    again = make(restore=True)
    assert again.status("INC-0001").status == "open" and again.status("INC-0001").pending is None
    final = again.run("INC-0001", approve_all, by="alice")
    assert final.status == "closed"
    first = [a for a in again.short.actions("INC-0001") if "/c0/" in a.key]
    assert first[0].targets == (host,) and first[0].status == "executed"  # the queued request survived
