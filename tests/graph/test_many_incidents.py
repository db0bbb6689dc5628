"""Many incidents on one live twin: each defends its own subnets, all of a step's plans share one
observation and never pick a host twice, a live cycle cut short by a crash runs again doing nothing
twice, and the twin comes back after a restart from its last snapshot plus the actions executed since."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from graph.planning import PlannedAction
from graph.runtime import Defence
from memory.long_term import OperatorPolicy
from memory.store import open_store
from twin.scenario import scenario_from_dict
from twin.snapshot import STATE_ARRAYS

SCENARIO = {
    "name": "many-test", "seed": 5, "horizon": 40,
    "topology": {"subnets": 3, "nodes_per_subnet": 14, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 3, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
AUTO = OperatorPolicy(autonomy={k: "auto" for k in ("isolate", "patch", "reset", "recover")})


class Receiver:
    """An executor that records every send."""

    name = "receiver"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def dispatch(self, request):
        self.sent.append(request["idempotency_key"])
        return True, "done"


@pytest.fixture
def make(tmp_path, weights):
    made = []

    def make(*, restore: bool = False, **kwargs) -> Defence:
        d = Defence(scenario=scenario_from_dict(SCENARIO), store=open_store(tmp_path / "many.db"), agents=weights,
                    restore=restore, tick_on_act=False, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close_connections()


def request(d: Defence, host: int) -> list[PlannedAction]:
    return [PlannedAction("patch", (d.sim.network.names[host],), "operator", None, "asked")]


def host_in(d: Defence, subnet: int, k: int = 0) -> int:
    return d.sim.network.subnet_slice(subnet).start + k


def executed_targets(d: Defence) -> list[str]:
    return [h for e in d.audit.entries() if e["event"] == "executed" for h in e["targets"]]


def test_an_incident_opened_for_a_host_defends_only_that_hosts_subnet(make):
    d = make()
    d.long.save_policy(AUTO)
    for _ in range(4):
        d.tick_twin()
    incident = d.open_incident(requests=request(d, host_in(d, 1))).incident
    assert d.scope(incident) == [1]
    for _ in range(3):
        d.tick_twin()
        d.next_cycle(incident)
    net = d.sim.network
    subnets = {int(net.subnet_of[net.index[h]]) for h in executed_targets(d)}
    assert subnets == {1}
    assert {int(net.subnet_of[net.index[h]]) for h in d.short.attack_chain(incident)} <= {1}


def test_plans_made_in_one_step_share_its_observation_and_never_pick_the_same_host(make):
    d = make()
    d.long.save_policy(AUTO)
    for _ in range(3):
        d.tick_twin()
    incidents = [d.open_incident(requests=request(d, host_in(d, 0, k))).incident for k in range(4)]
    observed = d.observation()
    for incident in incidents:  # opening ran each one's first cycle, all in this one step
        assert d.status(incident).state["plan"]["actions"]
    assert d.observation() is observed  # the defender's own actions do not make a new observation
    picked = [h for e in d.audit.entries() if e["event"] == "executed" and e["who"] != "agent:operator"
              for h in e["targets"]]
    assert len(picked) == len(set(picked)) > 4  # the agents never pick a host acted on in the step (operators may)
    assert observed.acted == {d.sim.network.index[h] for h in executed_targets(d)}
    d.tick_twin()
    assert d.observation() is not observed and not d.observation().acted


def test_an_alert_joins_the_incident_defending_its_subnet_or_opens_one_for_it(make):
    d = make()
    first = d.open_incident(requests=request(d, host_in(d, 0))).incident
    net = d.sim.network
    same = d.ingest_alert([net.names[host_in(d, 0, 5)]], kind="malware", severity="high", source="edr")
    other = d.ingest_alert([net.names[host_in(d, 2, 5)]], kind="malware", severity="high", source="edr")
    assert same == first and other != first
    assert d.scope(other) == [2]
    assert d.uncovered_regions() == []  # every seen compromise is in some incident's subnets


def test_seen_compromises_outside_every_open_incidents_subnets_are_reported_uncovered(make):
    d = make()
    d.open_incident(requests=request(d, host_in(d, 0)))
    d.sim.visible[0, host_in(d, 2, 3)] = True
    assert d.uncovered_regions() == [2]
    unscoped = d.open_incident()
    assert d.scope(unscoped.incident) is None and d.uncovered_regions() == []


DIES = """
import json, os, sys
sys.path.insert(0, {root!r})
from graph.planning import PlannedAction
from graph.runtime import Defence
from memory.long_term import OperatorPolicy
from memory.store import open_store
from twin.scenario import scenario_from_dict

class DiesOnSecondSend:
    name = "receiver"
    def __init__(self):
        self.sent = 0
    def dispatch(self, request):
        self.sent += 1
        if self.sent == 2:
            os._exit(137)  # as a SIGKILL: no cleanup, no last checkpoint
        with open({sends!r}, "a") as f:
            f.write(request["idempotency_key"] + "\\n")
        return True, "done"

d = Defence(scenario=scenario_from_dict(json.loads({scenario!r})), store=open_store({db!r}), restore=False,
            tick_on_act=False, executor=DiesOnSecondSend())
d.long.save_policy(OperatorPolicy(autonomy={{k: "auto" for k in ("isolate", "patch", "reset", "recover")}}))
for _ in range(3):
    d.tick_twin()
host = d.sim.network.names[d.sim.network.subnet_slice(1).start]
d.open_incident(requests=[PlannedAction("patch", (host,), "operator", None, "asked")])
"""


def test_a_live_cycle_cut_short_by_a_kill_runs_again_with_the_same_plan_and_executes_each_action_once(make, tmp_path):
    sends = tmp_path / "sends"
    code = DIES.format(root=str(Path(__file__).resolve().parents[2]), db=str(tmp_path / "many.db"), sends=str(sends),
                       scenario=json.dumps(SCENARIO))
    died = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert died.returncode == 137, died.stderr[-2000:]
    plan = make(restore=True).chat.setting("plan:INC-0001")  # recorded before anything was sent
    assert plan["cycle"] == 0 and len(plan["plan"]["actions"]) >= 2
    made = [(a["key"], a["kind"], a["targets"]) for a in plan["plan"]["actions"]]
    keys = [key for key, _, _ in made]
    assert sends.read_text().split() == keys[:1]
    second_process = Receiver()
    again = make(restore=True, executor=second_process)
    late = request(again, host_in(again, 2))  # asked for after the kill: for the next plan, not this one
    again.request("INC-0001", late, who="alice")
    status = again.carry_on("INC-0001")
    assert status.state["cycle"] == 1
    assert [(a["key"], a["kind"], a["targets"]) for a in status.state["plan"]["actions"]] == made  # it stood
    executed = Counter(e["action_id"] for e in again.audit.entries() if e["event"] == "executed")
    assert set(executed) == set(keys) and set(executed.values()) == {1}
    assert sorted(second_process.sent) == sorted(keys)  # what was cut off is re-sent under the same keys
    assert len(again.short.recent_observations("INC-0001")) == 1
    again.tick_twin()
    nxt = again.next_cycle("INC-0001").state["plan"]["actions"]
    assert nxt[0]["targets"] == list(late[0].targets)  # the late request joined the next plan


def test_after_a_restart_the_twin_is_its_last_snapshot_with_the_actions_executed_since(make):
    d = make()
    d.long.save_policy(AUTO)
    for _ in range(3):
        d.tick_twin()
    d.open_incident(requests=request(d, host_in(d, 0)))
    d.open_incident(requests=request(d, host_in(d, 2)))
    assert executed_targets(d)  # actions ran after the step's snapshot
    saved = d.saved_twin()
    again = make(restore=True)
    for name in STATE_ARRAYS:
        np.testing.assert_array_equal(getattr(saved, name), getattr(d.sim, name), err_msg=name)
        np.testing.assert_array_equal(getattr(again.sim, name), getattr(d.sim, name), err_msg=name)


def test_an_incident_closes_when_its_own_subnets_are_quiet_whatever_happens_elsewhere(make):
    d = make()
    d.long.save_policy(AUTO)
    quiet = next(s for s in range(3) if not d.sim.visible[0, d.sim.network.subnet_slice(s)].any())
    elsewhere = host_in(d, (quiet + 1) % 3, 4)
    d.sim.visible[0, elsewhere] = d.sim.compromised[0, elsewhere] = True  # seen, in another subnet
    incident = d.open_incident(requests=request(d, host_in(d, quiet))).incident
    for _ in range(5):
        if d.status(incident).status == "closed":
            break
        d.sim.visible[0, d.sim.network.subnet_slice(quiet)] = False  # keep its own subnet quiet
        d.next_cycle(incident)
    status = d.status(incident)
    assert status.status == "closed" and status.outcome.startswith("contained")
    assert d.sim.visible[0].any()  # while a compromise is still seen elsewhere
