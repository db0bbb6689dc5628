"""The tactical planner's allocation rules and the hierarchical defender's contract."""

from __future__ import annotations

import numpy as np

from rl_agents.hierarchical import FAR, RegionView, TacticalPlanner, region_views
from twin.sim import Simulator


def view(region, seen=0, linked=None, clean_iso=0, dist=FAR, approach=0, exposure=0.0):
    return RegionView(region, seen, seen if linked is None else linked, clean_iso, dist, approach, exposure)


def test_a_compromise_one_hop_from_a_crown_jewel_and_closing_in_is_blocked_first():
    slots = TacticalPlanner().allocate([view(0, seen=1, dist=3), view(1, seen=1, dist=1, approach=1)], 4)
    assert slots[0] == ("block", 1)
    assert slots[1:3] == [("purge", 1), ("purge", 0)]


def test_every_seen_compromise_gets_a_purge_nearest_the_high_value_hosts_first():
    slots = TacticalPlanner().allocate([view(0, seen=2, dist=4), view(1, seen=1, dist=2)], 3)
    assert slots == [("purge", 1), ("purge", 0), ("purge", 0)]


def test_recover_waits_until_no_seen_compromise_is_near_a_high_value_host():
    planner = TacticalPlanner()
    assert ("recover", 0) not in planner.allocate([view(0, seen=1, dist=2, clean_iso=3)], 4)
    assert planner.allocate([view(0, clean_iso=2)], 4)[:2] == [("recover", 0), ("recover", 0)]


def test_spare_slots_fortify_the_most_threatened_then_most_exposed_regions():
    slots = TacticalPlanner().allocate([view(0, exposure=1.0), view(1, exposure=5.0), view(2, seen=1, dist=3)], 4)
    assert slots == [("purge", 2), ("fortify", 2), ("fortify", 1), ("fortify", 0)]


def test_the_plan_never_exceeds_the_budget():
    slots = TacticalPlanner().allocate([view(0, seen=9, dist=1, approach=2, clean_iso=5)], 3)
    assert len(slots) == 3


def test_region_views_read_only_what_the_defender_sees(tiny_network):
    net = tiny_network([("door", "mid"), ("mid", "crown"), ("x", "y")], entry=("door",), high_value=("crown",),
                       subnet={"x": "s1", "y": "s1"})
    sim = Simulator(net, batch=1, seed=0)
    sim.compromised[0, net.host("mid")] = True  # held but unseen: invisible to the planner
    [s0, s1] = region_views(sim, 0)
    assert s0.seen == 0 and s0.critical_distance == FAR
    sim.visible[0, net.host("mid")] = True
    s0 = region_views(sim, 0, previous={0: 2})[0]
    assert (s0.seen, s0.critical_distance, s0.approach) == (1, 1, 1)
    sim.isolated[0, net.host("mid")] = True
    s0 = region_views(sim, 0)[0]
    assert (s0.seen_linked, s0.critical_distance, s0.isolated_clean) == (0, FAR, 0)
    assert s1.exposure == 0.0  # no high-value host in reach: nothing exposed
    assert s0.exposure == np.float64(3 * (1.0 - 0.01))  # door, mid and crown are within two hops


def test_crown_jewels_are_shielded_when_a_seen_compromise_comes_within_the_shield_distance():
    planner = TacticalPlanner(shield_distance=2)
    near = RegionView(0, 1, 1, 0, 2, 0, 0.0, hvn_linked=2)
    far = RegionView(1, 1, 1, 0, 3, 0, 0.0, hvn_linked=2)
    slots = planner.allocate([near, far], 4)
    assert slots[:2] == [("shield", 0), ("shield", 0)]
    assert ("shield", 1) not in slots


def test_the_hierarchical_defender_isolates_the_threatened_high_value_host_itself(tiny_network):
    from rl_agents.hierarchical import HierarchicalDefender
    from twin.sim import ISOLATE

    net = tiny_network([("door", "a"), ("a", "b"), ("b", "crown")], entry=("door",), high_value=("crown",))
    sim = Simulator(net, batch=1, seed=0)
    sim.compromised[0, net.host("a")] = sim.visible[0, net.host("a")] = True  # two hops from the crown
    kinds, nodes = HierarchicalDefender().act(sim, 2)
    assert (kinds[0, 0], nodes[0, 0]) == (ISOLATE, net.host("crown"))
    sim.step(kinds, nodes)
    assert sim.isolated[0, net.host("crown")]
