"""IPDRR perception on hand-built twins, the embedded planner and its toolbox, twin snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from graph.perception import Perception, perceive
from graph.planning import EmbeddedPlanner, PlanContext, PlannedAction
from graph.tools import PolicyViolation, ToolError, Toolbox
from memory.long_term import OperatorPolicy
from rl_agents.hierarchical import HierarchicalDefender, RegionAgents
from twin.build import build_simulator
from twin.scenario import load_scenario
from twin.sim import ACTIONS, ISOLATE, Simulator
from twin.snapshot import SnapshotError, dump_state, restore_state

# a -- b -- c -- d(HVN) ; e is an entry host hanging off a ; f sits alone in subnet t
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("e", "a")]


@pytest.fixture
def line(tiny_network):
    net = tiny_network(EDGES, entry=("e",), high_value=("d",), hosts=("f",), subnet={"f": "t"})
    return Simulator(net, mode="recon", intensity=0, p_detect=1.0, seed=0)


def see(sim, *names):
    for name in names:
        i = sim.network.index[name]
        sim.compromised[0, i] = sim.visible[0, i] = True


def test_perception_reads_critical_distance_counts_and_exposure(line):
    see(line, "b")
    line.isolated[0, line.network.index["f"]] = True
    p, views = perceive(line)
    s0, t = p.subnet("s0"), p.subnet("t")
    assert (s0.critical_distance, s0.seen, s0.seen_hosts, s0.high_value) == (2, 1, ["b"], ["d"])
    assert s0.exposed_entry == 1 and s0.entry == 1  # e reaches d over up links
    assert (t.critical_distance, t.isolated, t.isolated_clean) == (None, 1, 1)
    assert p.seen == 1 and p.isolated == 1 and "1 compromised host seen" in p.summary
    assert views[s0.index].critical_distance == 2


def test_perception_sees_only_what_the_defender_sees(line):
    i = line.network.index["c"]
    line.compromised[0, i] = True  # compromised but not seen
    p, _ = perceive(line)
    assert p.seen == 0 and p.subnet("s0").critical_distance is None and "No compromise seen" in p.summary


def test_penetration_speed_and_new_detections_compare_with_the_last_look(line):
    see(line, "a")
    first, views = perceive(line)
    seen_then = line.visible[0].copy()
    see(line, "c")
    second, _ = perceive(line, previous={v.region: v.critical_distance for v in views}, previously_seen=seen_then)
    assert first.subnet("s0").critical_distance == 3
    assert second.subnet("s0").critical_distance == 1 and second.subnet("s0").penetration_speed == 2
    assert second.subnet("s0").new_seen == 1


def test_isolating_the_way_in_closes_the_open_path_from_the_entry(line):
    line.isolated[0, line.network.index["a"]] = True
    p, _ = perceive(line)
    assert p.subnet("s0").exposed_entry == 0


def test_attack_path_concentration_is_one_for_a_focused_push_and_low_for_a_spread(line):
    idx = line.network.index
    focused, _ = perceive(line, recent_targets=[[idx["b"], idx["b"]], [idx["b"]]])
    spread, _ = perceive(line, recent_targets=[[idx["a"], idx["b"]], [idx["c"], idx["e"]]])
    none, _ = perceive(line)
    assert focused.subnet("s0").concentration == 1.0
    assert spread.subnet("s0").concentration == 0.0
    assert none.subnet("s0").concentration == 0.0


def test_a_perception_survives_its_json_round_trip(line):
    see(line, "b")
    p, _ = perceive(line)
    assert Perception.from_dict(p.to_dict()) == p


# ---------------------------------------------------------------- planning
@pytest.fixture
def demo(weights):
    sim = build_simulator(load_scenario("demo"))
    for _ in range(6):
        sim.step()
    return sim, RegionAgents(sim.network, weights)


def plan_for(sim, agents, budget=4, **toolbox_args):
    p, views = perceive(sim)
    box = Toolbox(sim=sim, perception=p, agents=agents, budget=budget, **toolbox_args)
    return EmbeddedPlanner().plan(PlanContext(perception=p, views=views, toolbox=box, budget=budget)), box


def test_the_embedded_planner_chooses_what_the_hierarchical_defender_would(demo, weights):
    sim, agents = demo
    plan, _ = plan_for(sim, agents)
    kinds, nodes = HierarchicalDefender(agents=weights).act(sim, 4)
    expected = [(ACTIONS[k], sim.network.names[n]) for k, n in zip(kinds[0], nodes[0]) if ACTIONS[k] != "noop"]
    assert [(a.kind, a.targets[0]) for a in plan.actions] == expected
    assert plan.planner == "embedded" and all(a.reason for a in plan.actions)


def test_the_plan_keeps_to_the_budget_and_puts_operator_requests_first(demo):
    sim, agents = demo
    request = PlannedAction("isolate", ("rnd-pc-001", "rnd-pc-002"), "operator", "rnd", "asked in chat")
    plan, _ = plan_for(sim, agents, budget=2, requests=[request])
    assert plan.actions[0] == request
    assert len(plan.actions) == 3  # the request does not use the planner's budget of 2


def test_protected_hosts_are_left_out_of_plans_and_requests_for_them_are_refused(demo):
    sim, agents = demo
    hvns = [sim.network.names[i] for i in np.flatnonzero(sim.network.high_value)]
    request = PlannedAction("isolate", (hvns[0],), "operator", None, "asked")
    plan, box = plan_for(sim, agents, budget=8, policy=OperatorPolicy(protected_assets=tuple(hvns)),
                         requests=[request])
    assert not {h for a in plan.actions for h in a.targets} & set(hvns)
    assert plan.refused and plan.refused[0]["targets"] == [hvns[0]]


def test_tools_refuse_unknown_hosts_subnets_agents_and_arguments(demo):
    sim, agents = demo
    _, box = plan_for(sim, agents, budget=8)
    bad_calls = [
        ("no_such_tool", {}),
        ("execute_action", {"action": "isolate", "hosts": ["nope"], "reason": "x"}),
        ("execute_action", {"action": "format", "hosts": ["rnd-pc-001"], "reason": "x"}),
        ("execute_action", {"action": "isolate", "hosts": "rnd-pc-001", "reason": "x"}),
        ("execute_action", {"action": "isolate", "hosts": ["rnd-pc-001"]}),
        ("assign_agents", {"assignments": [{"agent": "nuke", "subnet": "rnd"}]}),
        ("assign_agents", {"assignments": [{"agent": "purge", "subnet": "nowhere"}]}),
        ("assign_agents", {"assignments": [{"agent": "purge", "subnet": 1, "count": -1}]}),
        ("query_twin", {"host": "nope"}),
        ("query_twin", "rnd"),
    ]
    for name, args in bad_calls:
        with pytest.raises(ToolError):
            box.call(name, args)


def test_tools_refuse_protected_hosts_as_a_policy_violation(demo):
    sim, agents = demo
    _, box = plan_for(sim, agents, budget=8, policy=OperatorPolicy(protected_assets=("srv-db-01",)))
    with pytest.raises(PolicyViolation):
        box.call("execute_action", {"action": "isolate", "hosts": ["srv-db-01"], "reason": "ignore the policy"})
    assert box.refused[-1]["targets"] == ["srv-db-01"]
    assert box.call("query_twin", {"host": "srv-db-01"})["protected"] is True


def test_tools_assign_agents_and_query_the_twin(demo):
    sim, agents = demo
    p, views = perceive(sim)
    box = Toolbox(sim=sim, perception=p, agents=agents, budget=3)
    out = box.call("assign_agents", {"assignments": [{"agent": "fortify", "subnet": "rnd", "count": 2}]})
    assert len(out["added"]) == 2 and out["budget_left"] == 1
    assert all(a["kind"] == "patch" and a["region"] == "rnd" for a in out["added"])
    assert len({a["targets"][0] for a in out["added"]}) == 2  # two different hosts
    with pytest.raises(ToolError, match="budget"):
        box.call("assign_agents", {"assignments": [{"agent": "fortify", "subnet": 0, "count": 2}]})
    assert box.call("query_twin", {"subnet": "rnd"})["subnet"] == "rnd"
    assert box.call("query_twin", {})["summary"] == p.summary


# ---------------------------------------------------------------- snapshots
def test_a_restored_twin_carries_on_exactly_as_the_original():
    scenario = load_scenario("demo")
    a = build_simulator(scenario)
    a.step(np.array([[ISOLATE]]), np.array([[5]]))
    a.step()
    b = build_simulator(scenario)
    restore_state(b, dump_state(a))
    for _ in range(3):
        ma, mb = a.step(), b.step()
        assert ma.availability == mb.availability
    np.testing.assert_array_equal(a.compromised, b.compromised)
    np.testing.assert_array_equal(a.isolated, b.isolated)


def test_a_snapshot_of_another_twin_is_refused(line):
    other = build_simulator(load_scenario("demo"))
    with pytest.raises(SnapshotError, match="not this twin"):
        restore_state(line, dump_state(other))


def test_a_snapshot_in_the_older_unpacked_format_still_restores():
    import io
    import json

    from twin.snapshot import STATE_ARRAYS

    scenario = load_scenario("demo")
    a = build_simulator(scenario)
    a.step(np.array([[ISOLATE]]), np.array([[7]]))
    a.step()
    with np.load(io.BytesIO(dump_state(a))) as data:
        meta = json.loads(bytes(data["meta"]).decode())
    meta.pop("packed")
    meta["host_names"] = list(a.network.names)
    buffer = io.BytesIO()  # as written before flags were packed: plain bools, names in the meta
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                        **{name: getattr(a, name) for name in STATE_ARRAYS})
    b = build_simulator(scenario)
    restore_state(b, buffer.getvalue())
    for name in STATE_ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
