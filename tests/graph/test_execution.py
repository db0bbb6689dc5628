"""Approved actions go to the executor once, keyed; a failure leaves the twin as the network really is;
an action cut off between its claim and its dispatch is re-sent under the same key."""

from __future__ import annotations

import threading

import pytest

from graph.runtime import Defence
from memory.store import open_store
from twin.scenario import scenario_from_dict

SCENARIO = {
    "name": "exec-test", "seed": 7, "horizon": 12,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}


class Recorder:
    """An executor that records what it was sent and answers as told."""

    name = "recorder"

    def __init__(self, ok: bool = True) -> None:
        self.ok, self.sent = ok, []

    def dispatch(self, request):
        self.sent.append(request)
        return self.ok, "done" if self.ok else "firewall API said 503"


@pytest.fixture
def make(tmp_path, weights):
    made = []

    def make(executor):
        d = Defence(scenario=scenario_from_dict(SCENARIO), store=open_store(tmp_path / "e.db"), agents=weights,
                    restore=False, executor=executor)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close_connections()


def approved_action(d):
    status = d.open_incident(max_cycles=1)
    action = dict(status.pending["actions"][0])
    d.short.set_action_status(action["key"], "approved")
    d.audit.append("approved", who="slack:U1", incident=status.incident, action_id=action["key"],
                   targets=action["targets"], why="test")
    return status.incident, action


def test_the_executor_gets_the_action_once_with_its_key_and_approver(make):
    executor = Recorder()
    d = make(executor)
    incident, action = approved_action(d)
    first, second = d.execute(incident, action), d.execute(incident, action)
    assert first["status"] == second["status"] == "executed" and first["ok"]
    assert len(executor.sent) == 1
    sent = executor.sent[0]
    assert sent["idempotency_key"] == action["key"] and sent["approver"] == "slack:U1"
    assert sent["action"] == action["kind"] and sent["targets"] == action["targets"] and sent["incident"] == incident


def test_a_failed_dispatch_leaves_the_twin_unchanged_and_is_recorded(make):
    d = make(Recorder(ok=False))
    incident, action = approved_action(d)
    before = (d.sim.isolated.copy(), d.sim.vulnerability.copy(), d.sim.compromised.copy())
    result = d.execute(incident, action)
    assert result["ok"] is False and "503" in result["message"] and result["changed"] == []
    assert (d.sim.isolated == before[0]).all() and (d.sim.vulnerability == before[1]).all()
    entry = [e for e in d.audit.entries(incident=incident) if e["event"] == "executed"][0]
    assert entry["result"]["ok"] is False and entry["result"]["executor"] == "recorder"


def test_an_action_cut_off_after_its_claim_is_resent_under_the_same_key(make):
    executor = Recorder()
    d = make(executor)
    incident, action = approved_action(d)
    assert d.short.claim_execution(action["key"])  # the crash: claimed, never dispatched
    d.execute(incident, action)  # the act step runs again after the restart
    d.execute(incident, action)
    assert [r["idempotency_key"] for r in executor.sent] == [action["key"]]


def test_an_alert_marks_hosts_seen_compromised_and_opens_or_joins_an_incident(make):
    d = make(Recorder())
    net = d.sim.network
    host = net.names[4]
    incident = d.ingest_alert([host], kind="ransomware", severity="critical", source="edr")
    assert d.sim.visible[0, net.index[host]] and d.sim.compromised[0, net.index[host]]
    assert d.short.attack_chain(incident) == [host] and d.status(incident).pending is not None
    other = net.names[7]
    assert d.ingest_alert([other], kind="c2", severity="high", source="ids") == incident  # joins the open one
    assert d.ingest_alert([net.names[9]], kind="scan", severity="low", source="ids") == incident
    assert not d.sim.visible[0, net.index[net.names[9]]]  # only noted as suspicious
    with pytest.raises(KeyError, match="no-such-host"):
        d.ingest_alert(["no-such-host"], kind="x", severity="high", source="ids")


class Together(Recorder):
    """A receiver that answers only once ``parallel`` sends are in flight together (a barrier)."""

    def __init__(self, parallel: int) -> None:
        super().__init__()
        self.parallel = parallel
        self._barrier = threading.Barrier(parallel, timeout=10)

    def dispatch(self, request):
        self._barrier.wait()  # sends one at a time would break it: BrokenBarrierError, a failed test
        return super().dispatch(request)


def test_a_steps_actions_go_out_together_to_an_executor_that_takes_several_and_come_back_in_order(make):
    executor = Together(parallel=3)
    d = make(executor)
    status = d.open_incident(max_cycles=1)
    actions = [dict(a) for a in status.pending["actions"]][:3]
    assert len(actions) == 3
    for a in actions:
        d.short.set_action_status(a["key"], "approved")
    results = d.execute_all(status.incident, actions)
    assert [r["key"] for r in results] == [a["key"] for a in actions]
    assert all(r["status"] == "executed" and r["ok"] for r in results)
    assert sorted(r["idempotency_key"] for r in executor.sent) == sorted(a["key"] for a in actions)
