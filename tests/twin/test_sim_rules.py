"""The twin's rules (ARCHITECTURE.md, twin/sim.py), one by one, on tiny hand-built networks."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from twin.availability import AvailabilityCache
from twin.network import UNREACHABLE, Network
from twin.sim import ISOLATE, NOOP, PATCH, RECOVER, RESET, Simulator
from twin.topology import assemble, fat_tree, tree, watts_strogatz

from tiny import tiny_network


# ----------------------------------------------------------------- helpers
build = tiny_network


def hold(sim: Simulator, *names: str) -> None:
    """Test set-up: the attacker holds these hosts in every environment."""
    for name in names:
        sim.compromised[:, sim.network.host(name)] = True


def do(sim: Simulator, kind: int, name: str) -> np.ndarray:
    """One defender action on host ``name`` in every environment."""
    b = sim.batch
    return sim.act(np.full(b, kind), np.full(b, sim.network.host(name)))


def held(sim: Simulator, env: int = 0) -> set[str]:
    return {sim.network.names[i] for i in np.flatnonzero(sim.compromised[env])}


def attackable(sim: Simulator, env: int = 0) -> set[str]:
    return {sim.network.names[i] for i in np.flatnonzero(sim.attackable()[env])}


def assert_rate(hits: int, trials: int, p: float, z: float = 4.5) -> None:
    """``hits/trials`` is within ``z`` binomial standard errors of ``p`` (exact at 0 and 1)."""
    sd = math.sqrt(p * (1 - p) / trials)
    rate = hits / trials
    assert abs(rate - p) <= z * sd + 1e-12, f"rate {rate:.4f}, expected {p:.4f} ± {z * sd:.4f}"


def two_sample_z(a: np.ndarray, b: np.ndarray) -> float:
    """z statistic for equal means of two samples (Welch)."""
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return 0.0 if se == 0 else float((a.mean() - b.mean()) / se)


def nx_availability(net: Network, isolated: set[str]) -> float:
    """Mean over subnets of networkx global efficiency now / as built (gateway links left out)."""
    ratios = []
    for s in net.subnets:
        hosts = [h for h, d in net.graph.nodes(data=True) if str(d.get("subnet", "sub0")) == s]
        base = nx.Graph(net.graph.subgraph(hosts))
        now = base.copy()
        now.remove_edges_from(list(now.edges([h for h in hosts if h in isolated])))
        b = nx.global_efficiency(base)
        ratios.append(nx.global_efficiency(now) / b if b > 0 else 1.0)
    return float(np.mean(ratios))


# ------------------------------------------------------------ attack success
@pytest.mark.parametrize("v", [0.01, 0.25, 0.6, 0.9, 1.0])
def test_an_attack_succeeds_with_probability_one_over_two_minus_v(v: float) -> None:
    net = build([("door", "hvn")], entry=("door",), high_value=("hvn",), vulnerability=v)
    sim = Simulator(net, mode="recon", intensity=1, batch=4000, seed=1)
    sim.attack()
    assert (sim.attack_targets[:, 0] == net.host("door")).all()
    assert_rate(int(sim.compromised[:, net.host("door")].sum()), sim.batch, 1 / (2 - v))


def test_patching_lowers_the_chance_an_attack_succeeds() -> None:
    net = build([("door", "hvn")], entry=("door",), high_value=("hvn",), vulnerability=0.9)
    plain = Simulator(net, mode="recon", intensity=1, batch=4000, seed=2)
    patched = Simulator(net, mode="recon", intensity=1, batch=4000, seed=2)
    assert do(patched, PATCH, "door").all()
    plain.attack()
    patched.attack()
    door = net.host("door")
    assert_rate(int(plain.compromised[:, door].sum()), 4000, 1 / (2 - 0.9))
    assert_rate(int(patched.compromised[:, door].sum()), 4000, 1 / (2 - 0.4))
    assert patched.compromised[:, door].mean() < plain.compromised[:, door].mean() - 0.2


def test_patch_takes_half_off_the_vulnerability_and_stops_at_0_01() -> None:
    net = build([("a", "b")], vulnerability={"a": 0.8, "b": 0.01})
    sim = Simulator(net, intensity=0, seed=0)
    a = net.host("a")
    assert do(sim, PATCH, "a").tolist() == [True]
    assert sim.vulnerability[0, a] == pytest.approx(0.3)
    assert do(sim, PATCH, "a").tolist() == [True]
    assert sim.vulnerability[0, a] == 0.01
    assert do(sim, PATCH, "a").tolist() == [False]
    assert do(sim, PATCH, "b").tolist() == [False]
    assert sim.vulnerability[0, a] == 0.01


def test_vulnerabilities_are_drawn_per_episode_in_0_01_to_1_when_the_network_has_none() -> None:
    net = build([("a", "b"), ("b", "c")], entry=("a",), vulnerability=None)
    sim = Simulator(net, intensity=0, batch=500, seed=3)
    first = sim.vulnerability.copy()
    assert first.min() >= 0.01 and first.max() <= 1.0
    assert abs(first.mean() - 0.505) < 0.03
    sim.reset()
    assert not np.array_equal(first, sim.vulnerability)


def test_a_given_vulnerability_is_kept_every_episode_and_the_rest_are_drawn() -> None:
    g = nx.path_graph(["a", "b", "c"])
    nx.set_node_attributes(g, {"a": True}, "entry")
    g.nodes["b"]["vulnerability"] = 0.3
    sim = Simulator(Network.from_graph(g), intensity=0, batch=50, seed=27)
    for _ in range(2):
        assert (sim.vulnerability[:, 1] == 0.3).all()
        assert len(np.unique(sim.vulnerability[:, [0, 2]])) == 100
        drawn = sim.vulnerability.copy()
        sim.reset()
        assert not np.array_equal(drawn[:, [0, 2]], sim.vulnerability[:, [0, 2]])


# ----------------------------------------------------------------- detection
@pytest.mark.parametrize("p_detect", [0.0, 0.3, 0.8, 1.0])
def test_a_new_compromise_is_seen_with_probability_p_detect(p_detect: float) -> None:
    net = build([("door", "hvn")], entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="recon", intensity=1, p_detect=p_detect, batch=4000, seed=4)
    sim.attack()
    door = net.host("door")
    assert sim.compromised[:, door].all()
    assert_rate(int(sim.visible[:, door].sum()), sim.batch, p_detect)


def test_the_defender_sees_only_true_compromises_and_a_missed_one_stays_unseen() -> None:
    net = build([("door", "a"), ("a", "b"), ("b", "hvn")], entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="random", intensity=3, p_detect=0.5, batch=300, horizon=6, seed=5)
    unseen_before = None
    for _ in range(6):
        sim.step()
        assert not (sim.visible & ~sim.compromised).any()
        unseen = sim.compromised & ~sim.visible
        if unseen_before is not None:  # the random attacker re-hits held hosts: still unseen
            assert (unseen[unseen_before]).all()
        unseen_before = unseen.copy()
    assert unseen_before.any()


# ----------------------------------------------------------- defender actions
def test_isolating_a_host_stops_the_attack_spreading_through_it() -> None:
    net = build([("door", "mid"), ("mid", "far")], entry=("door",))
    free = Simulator(net, mode="recon", intensity=1, horizon=10, seed=6)
    for _ in range(3):
        free.step()
    assert held(free) == {"door", "mid", "far"}

    cut = Simulator(net, mode="recon", intensity=1, horizon=10, seed=6)
    cut.step(np.array([ISOLATE]), np.array([net.host("mid")]))
    for _ in range(5):
        cut.step()
    assert held(cut) == {"door"}
    assert attackable(cut) == set()


def test_isolating_a_host_cuts_all_its_links_and_availability_drops() -> None:
    net = build([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")])
    sim = Simulator(net, intensity=0, seed=0)
    assert sim.metrics().availability[0] == 1.0
    assert do(sim, ISOLATE, "c").tolist() == [True]
    m = sim.metrics()
    # only a-b is left: 2 of 12 ordered pairs at distance 1; as built 5/6 of the way
    assert m.availability[0] == pytest.approx((2 / 12) / nx.global_efficiency(net.graph))
    assert m.isolated[0] == 1
    assert m.healthy_ratio[0] == pytest.approx(0.75)
    assert do(sim, ISOLATE, "c").tolist() == [False]


def test_recover_restores_links_only_to_neighbours_that_are_not_isolated() -> None:
    net = build([("a", "b"), ("b", "c"), ("a", "c")], entry=("a",))
    sim = Simulator(net, intensity=0, seed=0)
    do(sim, ISOLATE, "a")
    do(sim, ISOLATE, "b")
    assert sim.metrics().availability[0] == 0.0
    assert do(sim, RECOVER, "a").tolist() == [True]
    assert sim.metrics().availability[0] == pytest.approx(1 / 3)  # a-c only
    hold(sim, "a")
    assert attackable(sim) == {"c"}  # a-b stays cut while b is isolated
    assert do(sim, RECOVER, "b").tolist() == [True]
    assert sim.metrics().availability[0] == 1.0
    assert attackable(sim) == {"b", "c"}
    assert do(sim, RECOVER, "b").tolist() == [False]


def test_reset_cleans_both_the_true_and_the_visible_compromise() -> None:
    net = build([("door", "a")], entry=("door",))
    sim = Simulator(net, mode="recon", intensity=1, p_detect=1.0, seed=7)
    sim.step()
    door = net.host("door")
    assert sim.compromised[0, door] and sim.visible[0, door]
    assert do(sim, RESET, "door").tolist() == [True]
    assert not sim.compromised[0, door] and not sim.visible[0, door]
    assert do(sim, RESET, "door").tolist() == [False]
    # an unseen compromise is cleaned as well
    hold(sim, "a")
    assert do(sim, RESET, "a").tolist() == [True]
    assert not sim.compromised.any()


def test_noop_changes_nothing() -> None:
    net = build([("a", "b"), ("b", "c")], entry=("a",), vulnerability=None)
    sim = Simulator(net, mode="recon", intensity=1, seed=8)
    sim.step()
    do(sim, ISOLATE, "c")
    before = [a.copy() for a in (sim.compromised, sim.visible, sim.isolated, sim.vulnerability)]
    availability = sim.metrics().availability.copy()
    for name in ("a", "b", "c"):
        assert do(sim, NOOP, name).tolist() == [False]
    after = (sim.compromised, sim.visible, sim.isolated, sim.vulnerability)
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert np.array_equal(sim.metrics().availability, availability)


def test_act_returns_which_environments_changed() -> None:
    net = build([("a", "b"), ("b", "c")], vulnerability={"a": 0.5, "b": 0.01, "c": 0.5})
    sim = Simulator(net, intensity=0, batch=6, seed=0)
    a, b, c = (net.host(x) for x in "abc")
    sim.isolated[1, a] = True
    sim.compromised[4, c] = True
    kinds = np.array([NOOP, ISOLATE, ISOLATE, PATCH, RESET, RECOVER])
    nodes = np.array([a, a, a, b, c, c])
    assert sim.act(kinds, nodes).tolist() == [False, False, True, False, True, False]


def test_actions_that_do_not_touch_links_leave_the_availability_cache_clean() -> None:
    net = build([("a", "b"), ("b", "c")], entry=("a",))
    sim = Simulator(net, intensity=0, seed=0)
    hold(sim, "b")
    do(sim, PATCH, "a")
    do(sim, RESET, "b")
    assert not sim.availability_cache.dirty.any()
    do(sim, ISOLATE, "a")
    assert sim.availability_cache.dirty.any()


# ------------------------------------------------------------ attackable set
def test_attackable_hosts_are_entries_and_clean_linked_neighbours_of_held_hosts() -> None:
    net = build(
        [("e1", "a"), ("a", "b"), ("a", "d"), ("b", "c"), ("c", "g"), ("e2", "h"), ("e3", "h")],
        entry=("e1", "e2", "e3"),
    )
    sim = Simulator(net, intensity=0, seed=0)
    hold(sim, "e1", "a", "c")
    for name in ("d", "c", "e2"):
        do(sim, ISOLATE, name)
    # e1, a held; d and e2 isolated; c is held but isolated, so g is out of reach
    assert attackable(sim) == {"b", "e3"}


@pytest.mark.parametrize("n_hosts", [40, 700])  # dense and sparse adjacency in the core
def test_attackable_matches_the_plain_rule_on_random_states(n_hosts: int) -> None:
    rng = np.random.default_rng(n_hosts)
    net = assemble([watts_strogatz(n_hosts, rng)], entry=3, high_value=2, rng=rng)
    sim = Simulator(net, intensity=0, batch=6, seed=0)
    sim.compromised[:] = rng.random(sim.compromised.shape) < 0.15
    sim.isolated[:] = rng.random(sim.isolated.shape) < 0.15
    got = sim.attackable()
    g = net.graph
    for env in range(sim.batch):
        comp = {net.names[i] for i in np.flatnonzero(sim.compromised[env])}
        iso = {net.names[i] for i in np.flatnonzero(sim.isolated[env])}
        expected = {
            h for h in g.nodes
            if h not in comp and h not in iso
            and (g.nodes[h].get("entry", False) or any(nb in comp and nb not in iso for nb in g[h]))
        }
        assert {net.names[i] for i in np.flatnonzero(got[env])} == expected


# ------------------------------------------------------------ attacker modes
def test_the_random_attacker_picks_any_host_uniformly() -> None:
    net = build([("door", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "hvn")],
                entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="random", intensity=1, batch=3000, seed=9)
    sim.attack()
    counts = np.bincount(sim.attack_targets[:, 0], minlength=net.n_nodes)
    for c in counts:
        assert_rate(int(c), sim.batch, 1 / net.n_nodes)
    deep = net.host("c")  # not attackable by the other modes, yet fair game here
    assert sim.compromised[:, deep].sum() == counts[deep]


def test_the_random_attacker_never_compromises_an_isolated_host() -> None:
    """An isolated host is cut off from the internet too (twin/sim.py rules)."""
    net = build([("door", "a"), ("a", "b"), ("b", "c"), ("c", "hvn")],
                entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="random", intensity=1, batch=2000, seed=10)
    for name in ("a", "b", "c", "hvn"):
        do(sim, ISOLATE, name)
    sim.attack()
    assert (sim.attack_targets[:, 0] == net.host("b")).any()
    assert not (sim.compromised & sim.isolated).any()


def test_recon_picks_a_random_subnet_with_an_attackable_host_then_a_random_host_in_it() -> None:
    subnet = {"x": "s0", "x_in": "s0", "y1": "s1", "y2": "s1", "y3": "s1", "y_in": "s1",
              "z": "s2", "z_in": "s2"}
    net = build(
        [("x", "x_in"), ("y1", "y_in"), ("y2", "y_in"), ("y3", "y_in"), ("z", "z_in")],
        entry=("x", "y1", "y2", "y3", "z"), subnet=subnet,
    )
    sim = Simulator(net, mode="recon", intensity=1, batch=6000, seed=11)
    do(sim, ISOLATE, "z")  # s2 has nothing attackable
    sim.attack()
    names = np.array(net.names)[sim.attack_targets[:, 0]]
    assert set(names) == {"x", "y1", "y2", "y3"}
    assert_rate(int((names == "x").sum()), sim.batch, 1 / 2)  # subnets first, not hosts
    for y in ("y1", "y2", "y3"):
        assert_rate(int((names == y).sum()), sim.batch, 1 / 6)


@pytest.mark.parametrize("mode", ["random", "recon", "impact", "penetrate"])
def test_each_attempt_draws_the_documented_numbers_even_when_nothing_is_attackable(mode: str) -> None:
    net = build([("door", "a"), ("a", "hvn")], entry=("door",), high_value=("hvn",),
                subnet={"door": "s0", "a": "s0", "hvn": "s1"}, vulnerability=None)
    batch, n, s, seed = 3, net.n_nodes, net.n_subnets, 12
    sim = Simulator(net, mode=mode, intensity=2, batch=batch, seed=seed)
    do(sim, ISOLATE, "door")
    sim.attack()
    replay = np.random.default_rng(seed)
    replay.uniform(0.01, 1.0, (batch, n))  # vulnerabilities at reset
    per_mode = {"random": [(batch,)], "recon": [(batch, s), (batch, n)],
                "impact": [(batch, n)], "penetrate": [(batch,), (batch, n)]}
    for _ in range(2):
        for shape in [*per_mode[mode], (batch,), (batch,)]:  # ... then success, detection
            replay.random(shape)
    assert sim.rng.random() == replay.random()
    if mode != "random":
        assert (sim.attack_targets == -1).all()
        assert not sim.compromised.any()


def test_impact_attacks_the_attackable_host_fewest_hops_from_a_high_value_host() -> None:
    # hops are planned on the network as built: isolating "m" does not change them
    net = build(
        [("near", "m"), ("m", "hvn"), ("twin1", "r"), ("twin2", "r"), ("r", "s"), ("s", "hvn"),
         ("far", "p"), ("p", "q"), ("q", "s")],
        entry=("near", "far", "twin1", "twin2"), high_value=("hvn",),
    )
    sim = Simulator(net, mode="impact", intensity=1, batch=500, seed=13)
    do(sim, ISOLATE, "m")
    sim.attack()
    assert (sim.attack_targets[:, 0] == net.host("near")).all()

    do(sim, ISOLATE, "near")  # twin1 and twin2 tie at 3 hops, ahead of far (4)
    sim.compromised[:] = False
    sim.attack()
    names = np.array(net.names)[sim.attack_targets[:, 0]]
    assert set(names) == {"twin1", "twin2"}
    assert_rate(int((names == "twin1").sum()), sim.batch, 0.5)


def test_hops_to_high_value_hosts_are_base_graph_distances() -> None:
    rng = np.random.default_rng(14)
    g = assemble([tree(30, rng), watts_strogatz(20, rng), fat_tree(20, rng)],
                 entry=2, high_value=1, gateway_links=2, rng=rng).graph.copy()
    g.add_edge("island-1", "island-2")  # a subnet with no path to any high-value host
    nx.set_node_attributes(g, {"island-1": "island", "island-2": "island"}, "subnet")
    net = Network.from_graph(g)
    dist = nx.multi_source_dijkstra_path_length(
        net.graph, [h for h, d in net.graph.nodes(data=True) if d.get("high_value")])
    expected = [dist.get(name, UNREACHABLE) for name in net.names]
    assert net.hvn_hops.tolist() == expected
    assert net.hvn_hops[net.host("island-1")] == UNREACHABLE


def test_penetrate_acts_as_impact_40_percent_of_the_time_else_takes_the_most_vulnerable() -> None:
    net = build(
        [("near", "hvn"), ("weak", "a"), ("a", "b"), ("b", "hvn"), ("mid", "c"), ("c", "hvn")],
        entry=("near", "weak", "mid"), high_value=("hvn",),
        vulnerability={"near": 0.2, "weak": 0.9, "mid": 0.5, "hvn": 0.5, "a": 0.5, "b": 0.5, "c": 0.5},
    )
    sim = Simulator(net, mode="penetrate", intensity=1, batch=5000, seed=15)
    sim.attack()
    names = np.array(net.names)[sim.attack_targets[:, 0]]
    assert set(names) == {"near", "weak"}
    assert_rate(int((names == "near").sum()), sim.batch, 0.4)


# ------------------------------------------------------------ steps, episodes
def test_the_defender_acts_before_the_attacks_of_the_same_step() -> None:
    net = build([("door", "a")], entry=("door",))
    door = net.host("door")
    sim = Simulator(net, mode="recon", intensity=1, seed=16)
    m = sim.step(np.array([ISOLATE]), np.array([door]))
    assert not sim.compromised.any() and m.compromised[0] == 0

    sim = Simulator(net, mode="recon", intensity=1, seed=16)
    assert sim.step().compromised[0] == 1  # metrics come after the attacks
    m = sim.step(np.array([RESET]), np.array([door]))
    assert sim.compromised[0, door] and m.compromised[0] == 1  # cleaned, then hit again
    assert sim.attack_targets[0].tolist() == [door]


def test_several_actions_of_one_step_apply_in_order() -> None:
    net = build([("a", "b"), ("b", "c")], entry=("a",))
    sim = Simulator(net, intensity=0, seed=0)
    b = net.host("b")
    sim.step(np.array([[ISOLATE, RECOVER]]), np.array([[b, b]]))
    assert not sim.isolated.any()
    sim.step(np.array([[RECOVER, ISOLATE]]), np.array([[b, b]]))
    assert sim.isolated[0, b]


def test_an_episode_ends_at_the_horizon() -> None:
    net = build([("door", "a"), ("a", "hvn")], entry=("door",), high_value=("hvn",), vulnerability=0.01)
    sim = Simulator(net, mode="recon", intensity=0, horizon=5, seed=0)
    for t in range(1, 6):
        assert not sim.done[0]
        m = sim.step()
        assert sim.t[0] == t
        assert m.done[0] == (t == 5)
    assert not m.hvn_lost[0] and m.availability[0] == 1.0


def test_losing_a_high_value_host_ends_the_episode_and_availability_is_0_after() -> None:
    net = build([("door", "hvn"), ("hvn", "x")], entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="recon", intensity=1, horizon=30, seed=17)
    assert not sim.step().done[0]
    m = sim.step()
    assert m.hvn_lost[0] and m.done[0] and sim.t[0] == 2
    assert m.availability[0] == 0.0
    assert m.healthy_ratio[0] == pytest.approx(1 / 3)


def test_a_finished_environment_is_frozen_until_reset() -> None:
    net = build([("door", "hvn"), ("hvn", "x")], entry=("door",), high_value=("hvn",))
    sim = Simulator(net, mode="recon", intensity=2, horizon=30, batch=2, seed=18)
    sim.step()
    assert sim.done.all()
    state = [a.copy() for a in (sim.compromised, sim.visible, sim.isolated, sim.vulnerability, sim.t)]
    x = net.host("x")
    for _ in range(3):
        m = sim.step(np.array([ISOLATE, RESET]), np.array([x, net.host("hvn")]))
        assert m.availability.tolist() == [0.0, 0.0]
    after = (sim.compromised, sim.visible, sim.isolated, sim.vulnerability, sim.t)
    assert all(np.array_equal(a, b) for a, b in zip(state, after))
    sim.reset()
    assert not sim.done.any() and not sim.compromised.any() and (sim.t == 0).all()
    assert sim.metrics().availability.tolist() == [1.0, 1.0]


# --------------------------------------------------------------- availability
def _random_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    parts = [
        tree(int(rng.integers(2, 25)), rng),
        watts_strogatz(int(rng.integers(3, 25)), rng),
        nx.gnp_random_graph(int(rng.integers(2, 20)), 0.15, seed=seed),  # often disconnected
    ]
    return assemble(parts, entry=1, high_value=1, gateway_links=int(rng.integers(0, 4)), rng=rng)


@pytest.mark.parametrize("seed", range(10))
def test_availability_is_the_mean_subnet_ratio_of_networkx_global_efficiency(seed: int) -> None:
    net = _random_network(seed)
    rng = np.random.default_rng(100 + seed)
    batch = 5
    cache = AvailabilityCache(net, batch=batch)
    isolated = rng.random((batch, net.n_nodes)) < rng.uniform(0.0, 0.6, (batch, 1))
    for s in range(net.n_subnets):
        cache.mark_dirty(np.arange(batch), np.full(batch, s))
    got = cache.availability(isolated)
    for env in range(batch):
        names = {net.names[i] for i in np.flatnonzero(isolated[env])}
        assert got[env] == pytest.approx(nx_availability(net, names), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_the_simulators_availability_follows_isolations_through_act(seed: int) -> None:
    net = _random_network(seed)
    rng = np.random.default_rng(200 + seed)
    sim = Simulator(net, intensity=0, seed=seed)
    for _ in range(12):
        kind = ISOLATE if rng.random() < 0.6 else RECOVER
        sim.act(np.array([kind]), np.array([rng.integers(net.n_nodes)]))
        names = {net.names[i] for i in np.flatnonzero(sim.isolated[0])}
        assert sim.metrics().availability[0] == pytest.approx(nx_availability(net, names), rel=1e-9)


def test_gateway_links_do_not_count_toward_a_subnets_availability() -> None:
    # a1..a3 reach each other only through b1 in the other subnet: that is no path
    net = build(
        [("a1", "a2"), ("a2", "b1"), ("a3", "b1"), ("b1", "b2")],
        subnet={"a1": "s0", "a2": "s0", "a3": "s0", "b1": "s1", "b2": "s1"},
    )
    assert net.gateway.sum() == 2
    sim = Simulator(net, intensity=0, seed=0)
    do(sim, ISOLATE, "b1")
    assert sim.availability_cache.ratios(sim.isolated)[0].tolist() == [1.0, 0.0]
    assert sim.metrics().availability[0] == 0.5
    do(sim, ISOLATE, "a3")  # no link of its own subnet: nothing lost there
    assert sim.metrics().availability[0] == 0.5


def test_a_subnet_with_no_links_as_built_counts_as_fully_available() -> None:
    net = build([("a", "b")], hosts=("lonely",), subnet={"lonely": "s1"})
    sim = Simulator(net, intensity=0, seed=0)
    do(sim, ISOLATE, "lonely")
    assert sim.metrics().availability[0] == 1.0
    do(sim, ISOLATE, "a")
    assert sim.metrics().availability[0] == 0.5


@pytest.mark.parametrize("generator", [tree, watts_strogatz, fat_tree])
def test_the_sampled_availability_of_a_large_subnet_stays_close_to_exact(generator) -> None:
    # measured: max error 0.051 (tree), 0.061 (watts_strogatz), 0.057 (fat_tree), mean < 0.02
    errors = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        net = assemble([generator(400, rng)], entry=2, high_value=2, rng=rng)
        batch = 8
        exact = AvailabilityCache(net, batch=batch, exact_limit=10_000)
        sampled = AvailabilityCache(net, batch=batch, exact_limit=50, sources=128)
        isolated = rng.random((batch, net.n_nodes)) < rng.uniform(0.0, 0.3, (batch, 1))
        for cache in (exact, sampled):
            cache.mark_dirty(np.arange(batch), np.zeros(batch, dtype=int))
        errors.extend(np.abs(exact.availability(isolated) - sampled.availability(isolated)))
    assert max(errors) < 0.1
    assert np.mean(errors) < 0.03


@pytest.mark.parametrize(
    "nodes, exact_limit, sources",
    [(40, 300, 128), (150, 300, 128), (150, 50, 16), (80, 50, 16)],
    ids=["exact-small", "exact-large", "sampled-large", "sampled-mid-size"],
)
def test_recovering_every_isolated_host_brings_availability_back_to_1(
    nodes: int, exact_limit: int, sources: int
) -> None:
    rng = np.random.default_rng(nodes)
    net = assemble([tree(nodes, rng)], entry=2, high_value=2, rng=rng)
    sim = Simulator(net, intensity=0, seed=0, exact_availability_limit=exact_limit,
                    availability_sources=sources)
    hosts = rng.choice(net.n_nodes, size=5, replace=False)
    for h in hosts:
        sim.act(np.array([ISOLATE]), np.array([h]))
    assert sim.metrics().availability[0] < 1.0
    for h in hosts:
        sim.act(np.array([RECOVER]), np.array([h]))
    assert sim.metrics().availability[0] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- determinism
def _trajectory(net: Network, seed: int, *, batch: int = 1, defender_seed: int = 99) -> list:
    sim = Simulator(net, mode="penetrate", intensity=2, horizon=12, batch=batch, seed=seed)
    defender = np.random.default_rng(defender_seed)
    out = []
    for _ in range(30):
        kinds = defender.integers(0, 5, (batch, 2))
        nodes = defender.integers(0, net.n_nodes, (batch, 2))
        m = sim.step(kinds, nodes)
        out.append((sim.compromised.copy(), sim.visible.copy(), sim.isolated.copy(),
                    sim.vulnerability.copy(), m.availability.copy()))
        if sim.done.any():
            sim.reset(sim.done)
    return out


def _same(a: list, b: list) -> bool:
    return all(np.array_equal(x, y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


def test_the_same_seed_gives_the_same_trajectory_and_another_seed_another() -> None:
    rng = np.random.default_rng(19)
    net = assemble([tree(15, rng), watts_strogatz(12, rng)], gateway_links=2, rng=rng)
    assert _same(_trajectory(net, 5), _trajectory(net, 5))
    assert _same(_trajectory(net, 5, batch=4), _trajectory(net, 5, batch=4))
    assert not _same(_trajectory(net, 5), _trajectory(net, 6))


# -------------------------------------------------------------------- batches
def test_an_environment_of_a_batch_does_not_depend_on_what_happens_in_the_others() -> None:
    rng = np.random.default_rng(20)
    net = assemble([tree(15, rng), watts_strogatz(12, rng)], gateway_links=2, rng=rng)
    batch = 8
    sims = [Simulator(net, mode="recon", intensity=3, horizon=30, batch=batch, seed=21) for _ in range(2)]
    defenders = [np.random.default_rng(1), np.random.default_rng(2)]
    mine = np.random.default_rng(3)
    for _ in range(30):  # one episode, no resets: finished envs just freeze
        k0, n0 = mine.integers(0, 5, 2), mine.integers(0, net.n_nodes, 2)
        for sim, d in zip(sims, defenders):
            kinds = d.integers(0, 5, (batch, 2))
            nodes = d.integers(0, net.n_nodes, (batch, 2))
            kinds[0], nodes[0] = k0, n0
            sim.step(kinds, nodes)
        a, b = sims
        for name in ("compromised", "visible", "isolated", "vulnerability", "t"):
            assert np.array_equal(getattr(a, name)[0], getattr(b, name)[0])
    assert not np.array_equal(a.isolated[1:], b.isolated[1:])  # the others did differ


def _outcomes(sim: Simulator, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """HVN lost and final compromised count of env 0 over ``episodes`` episodes."""
    lost, comp = [], []
    while len(lost) < episodes:
        while not sim.done.all():
            sim.step()
        lost.append(bool(sim.hvn_lost[0]))
        comp.append(int(sim.compromised[0].sum()))
        sim.reset()
    return np.array(lost), np.array(comp)


def test_env_0_of_a_batch_of_8_plays_like_a_single_environment() -> None:
    rng = np.random.default_rng(22)
    net = assemble([tree(12, rng), tree(12, rng)], gateway_links=1, rng=rng)
    episodes = 250
    lost_b, comp_b = _outcomes(Simulator(net, mode="recon", intensity=1, horizon=15, batch=8, seed=23), episodes)
    lost_1, comp_1 = _outcomes(Simulator(net, mode="recon", intensity=1, horizon=15, batch=1, seed=24), episodes)
    assert 0.2 < lost_1.mean() < 0.8  # an informative regime
    assert abs(two_sample_z(lost_b.astype(float), lost_1.astype(float))) < 4
    assert abs(two_sample_z(comp_b.astype(float), comp_1.astype(float))) < 4


def test_reset_with_a_mask_resets_only_those_environments() -> None:
    rng = np.random.default_rng(25)
    net = assemble([tree(15, rng)], rng=rng)
    sim = Simulator(net, mode="recon", intensity=2, horizon=30, batch=4, seed=26)
    for _ in range(4):
        sim.step(np.full(4, ISOLATE), np.arange(4))
        sim.step(np.full(4, PATCH), np.arange(4, 8))
    sim.attack()  # recon at intensity 2 holds at least an entry host by now
    keep = [a.copy() for a in (sim.compromised, sim.isolated, sim.vulnerability, sim.t)]
    assert sim.compromised.any(axis=1).all() and sim.isolated.any(axis=1).all()
    sim.reset(np.array([True, False, True, False]))
    for arr, old in zip((sim.compromised, sim.isolated, sim.vulnerability, sim.t), keep):
        assert np.array_equal(arr[[1, 3]], old[[1, 3]])
        assert not np.array_equal(arr[[0, 2]], old[[0, 2]])
    assert not sim.compromised[[0, 2]].any() and (sim.t[[0, 2]] == 0).all()
    m = sim.metrics()
    assert (m.availability[[0, 2]] == 1.0).all() and (m.availability[[1, 3]] < 1.0).all()
    sim.reset(np.array([3]))
    assert not sim.isolated[3].any() and sim.isolated[1].any()
