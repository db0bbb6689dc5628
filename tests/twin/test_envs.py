"""Gymnasium environments over the twin: spaces, what an action does, what features mean, rewards."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from twin.build import build_network
from twin.envs import HVN_LOSS_PENALTY, NetworkEnv, RegionEnv, paper_reward
from twin.observation import FEATURES, N_FEATURES
from twin.scenario import scenario_from_dict
from twin.sim import ACTIONS, ISOLATE, NOOP, PATCH

COL = {name: i for i, name in enumerate(FEATURES)}
KINDS = ["isolate", "recover", "reset", "patch"]


def small_scenario(generator: str = "tree", nodes: int = 10, subnets: int = 2, **attack):
    return scenario_from_dict({
        "name": "env-test", "seed": 5, "horizon": 8,
        "topology": {"subnets": subnets, "nodes_per_subnet": nodes, "generator": generator,
                     "entry_nodes": 1, "high_value_nodes": 1},
        "attack": {"mode": "recon", "intensity": 2, "p_detect": 0.5, **attack},
        "defender": {"actions_per_step": 3},
    })


@pytest.fixture
def two_regions(tiny_network):
    """s0: a0-b0-c0 (a0 entry, c0 high-value); s1: d1-e1-f1-g1 (d1 entry, g1 high-value); gateway c0-d1."""
    return tiny_network(
        [("a0", "b0"), ("b0", "c0"), ("d1", "e1"), ("e1", "f1"), ("f1", "g1"), ("c0", "d1")],
        entry=("a0", "d1"), high_value=("c0", "g1"),
        subnet={h: "s1" for h in ("d1", "e1", "f1", "g1")},
        vulnerability={"a0": 1.0, "b0": 1.0, "c0": 1.0, "d1": 0.9, "e1": 0.8, "f1": 0.7, "g1": 0.6},
    )


def noop(env: NetworkEnv) -> np.ndarray:
    return np.zeros(env.action_space.shape, dtype=np.int64)


# ------------------------------------------------------------ gymnasium API
@pytest.mark.parametrize("action", KINDS)
def test_region_env_passes_the_gymnasium_env_checker(action):
    env = RegionEnv.from_scenario(small_scenario(), action=action, region=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports most problems as warnings
        check_env(env, skip_render_check=True)


def test_network_env_passes_the_gymnasium_env_checker():
    env = NetworkEnv.from_scenario(small_scenario())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_from_scenario_takes_the_attacker_horizon_and_budget_from_the_scenario():
    sc = small_scenario(mode="impact", intensity=3, p_detect=0.25)
    region = RegionEnv.from_scenario(sc, action="patch", region=1)
    flat = NetworkEnv.from_scenario(sc)
    for env in (region, flat):
        assert (env.sim.mode, env.sim.intensity, env.sim.p_detect, env.sim.horizon) == ("impact", 3, 0.25, 8)
    assert flat.action_space.shape == (3, 2)
    assert flat.action_space.nvec.tolist() == [[len(ACTIONS), 20]] * 3


# ------------------------------------------------------------ shapes follow the network
@pytest.mark.parametrize("generator", ["tree", "watts_strogatz", "fat_tree"])
@pytest.mark.parametrize("nodes", [10, 30, 100])
def test_observation_shapes_follow_the_region_size_and_its_links(generator, nodes):
    sc = small_scenario(generator, nodes=nodes)
    net = build_network(sc)
    env = RegionEnv.from_scenario(sc, action="isolate", region=1, network=net)
    obs, _ = env.reset(seed=0)
    links = net.subnet_graph(1).number_of_edges()
    assert obs["nodes"].shape == (nodes, N_FEATURES) and obs["nodes"].dtype == np.float32
    assert obs["edges"].shape == (2, 2 * links)
    assert obs["edges"].min() >= 0 and obs["edges"].max() < nodes
    assert env.action_space.n == nodes
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(nodes - 1)
    assert env.observation_space.contains(obs)

    flat = NetworkEnv.from_scenario(sc, network=net)
    obs, _ = flat.reset(seed=0)
    assert obs["nodes"].shape == (2 * nodes, N_FEATURES)
    assert obs["edges"].shape == (2, 2 * len(net.edges))
    assert obs["subnet"].tolist() == [0] * nodes + [1] * nodes
    assert flat.observation_space.contains(obs)


def test_region_edges_are_the_regions_own_links_in_local_numbering_both_ways(two_regions):
    env = RegionEnv(two_regions, action="isolate", region=1, intensity=0, seed=0)
    obs, _ = env.reset()
    pairs = set(map(tuple, obs["edges"].T.tolist()))
    # d1-e1, e1-f1, f1-g1 as (0,1), (1,2), (2,3) both ways; the gateway c0-d1 is not in the region
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}


# ------------------------------------------------------------ actions hit the right host
def _isolate(sim, host):
    sim.act(np.array([ISOLATE]), np.array([host]))


def _compromise_seen(sim, host):
    sim.compromised[0, host] = sim.visible[0, host] = True


@pytest.mark.parametrize(("action", "setup", "changed"), [
    ("isolate", None, lambda sim, h: sim.isolated[0, h]),
    ("recover", _isolate, lambda sim, h: not sim.isolated[0, h]),
    ("reset", _compromise_seen, lambda sim, h: not sim.compromised[0, h] and not sim.visible[0, h]),
    ("patch", None, lambda sim, h: sim.vulnerability[0, h] == pytest.approx(0.7 - 0.5)),
])
def test_region_action_i_acts_on_the_regions_host_i_and_on_no_other(two_regions, action, setup, changed):
    env = RegionEnv(two_regions, action=action, region=1, intensity=0, seed=0)
    env.reset()
    target = two_regions.host("f1")
    assert env.hosts.tolist() == [3, 4, 5, 6] and env.hosts[2] == target
    if setup:
        setup(env.sim, target)
    before = {k: getattr(env.sim, k).copy() for k in ("isolated", "compromised", "visible", "vulnerability")}
    env.step(2)
    assert changed(env.sim, target)
    others = np.arange(two_regions.n_nodes) != target
    for key, was in before.items():
        assert np.array_equal(getattr(env.sim, key)[0, others], was[0, others]), key


def test_network_env_applies_each_kind_host_row_and_skips_noop_rows(two_regions):
    env = NetworkEnv(two_regions, actions_per_step=3, intensity=0, seed=0)
    env.reset()
    a0, e1 = two_regions.host("a0"), two_regions.host("e1")
    obs, *_ = env.step(np.array([[ISOLATE, a0], [PATCH, e1], [NOOP, e1]]))
    assert np.flatnonzero(env.sim.isolated[0]).tolist() == [a0]
    assert env.sim.vulnerability[0, e1] == pytest.approx(0.3)
    assert obs["nodes"][a0, COL["isolated"]] == 1.0
    assert obs["nodes"][e1, COL["vulnerability"]] == pytest.approx(0.3)


# ------------------------------------------------------------ what the features mean
def test_static_features_mark_entry_and_high_value_hosts_their_hvn_proximity_and_degree(two_regions):
    env = RegionEnv(two_regions, action="patch", region=1, intensity=0, seed=0)
    x, _ = env.reset()
    x = x["nodes"]  # d1, e1, f1, g1
    assert x[:, COL["entry"]].tolist() == [1, 0, 0, 0]
    assert x[:, COL["high_value"]].tolist() == [0, 0, 0, 1]
    # hops to the nearest high-value host: d1 is one gateway hop from c0
    assert x[:, COL["hvn_proximity"]] == pytest.approx([1 / 2, 1 / 3, 1 / 2, 1])
    assert x[:, COL["degree"]] == pytest.approx([1, 1, 1, 0.5])
    assert x[:, COL["vulnerability"]] == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert x[:, COL["time"]].tolist() == [0] * 4
    assert not x[:, [COL["visible_compromise"], COL["isolated"], COL["visible_neighbours"]]].any()


def test_patching_shows_as_the_lowered_vulnerability_and_isolating_as_the_isolated_flag(two_regions):
    patch = RegionEnv(two_regions, action="patch", region=1, intensity=0, seed=0)
    patch.reset()
    x = patch.step(1)[0]["nodes"]
    assert x[:, COL["vulnerability"]] == pytest.approx([0.9, 0.8 - 0.5, 0.7, 0.6])
    x = patch.step(1)[0]["nodes"]
    assert x[1, COL["vulnerability"]] == pytest.approx(0.01)
    iso = RegionEnv(two_regions, action="isolate", region=1, intensity=0, seed=0)
    iso.reset()
    x = iso.step(3)[0]["nodes"]
    assert x[:, COL["isolated"]].tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("p_detect", [0.0, 1.0])
def test_only_seen_compromises_show_in_the_observation(tiny_network, p_detect):
    net = tiny_network([("door", "mid"), ("mid", "hvn")], entry=("door",), high_value=("hvn",))
    env = NetworkEnv(net, actions_per_step=1, mode="recon", intensity=1, p_detect=p_detect, seed=0)
    env.reset()
    x = env.step(noop(env))[0]["nodes"]
    door, mid = net.host("door"), net.host("mid")
    assert env.sim.compromised[0, door]  # the attacker holds the door either way
    assert x[door, COL["visible_compromise"]] == p_detect
    assert x[:, COL["visible_compromise"]].sum() == p_detect
    assert x[mid, COL["visible_neighbours"]] == pytest.approx(p_detect / 2)  # 1 of mid's 2 neighbours


def test_the_time_feature_is_the_step_over_the_horizon(two_regions):
    env = RegionEnv(two_regions, action="patch", region=0, intensity=0, horizon=4, seed=0)
    env.reset()
    for t in (1, 2, 3):
        x = env.step(0)[0]["nodes"]
        assert x[:, COL["time"]].tolist() == [t / 4] * 3


# ------------------------------------------------------------ invalid input
def test_region_env_rejects_actions_that_are_not_host_indices_of_the_region(two_regions):
    env = RegionEnv(two_regions, action="isolate", region=1, intensity=0, seed=0)
    env.reset()
    for bad in (-1, 4, 2.5, "1", [1, 2], True):
        with pytest.raises(ValueError):
            env.step(bad)
    assert not env.sim.isolated.any() and env.sim.t[0] == 0
    env.step(np.int64(3))  # numpy integers are fine
    assert env.sim.isolated[0, two_regions.host("g1")]


def test_network_env_rejects_bad_kinds_hosts_and_shapes(two_regions):
    env = NetworkEnv(two_regions, actions_per_step=2, intensity=0, seed=0)
    env.reset()
    n = two_regions.n_nodes
    for bad in ([[5, 0], [0, 0]], [[1, n], [0, 0]], [[1, -1], [0, 0]], [[1, 0]], [[1, 0], [0, 0], [0, 0]],
                [[1.0, 0.5], [0, 0]]):
        with pytest.raises(ValueError):
            env.step(np.array(bad))
    assert env.sim.t[0] == 0


def test_a_network_env_with_no_action_budget_accepts_only_noop(two_regions):
    env = NetworkEnv(two_regions, actions_per_step=0, intensity=0, seed=0)
    env.reset()
    assert env.action_space.shape == (1, 2)
    env.step(noop(env))
    with pytest.raises(ValueError):
        env.step(np.array([[ISOLATE, 0]]))
    assert not env.sim.isolated.any() and env.sim.t[0] == 1


def test_envs_reject_unknown_action_kinds_and_regions(two_regions):
    with pytest.raises(ValueError, match="action must be one of"):
        RegionEnv(two_regions, action="scan")
    with pytest.raises(ValueError, match="action must be one of"):
        RegionEnv(two_regions, action="noop")
    with pytest.raises(ValueError, match="region 2"):
        RegionEnv(two_regions, action="patch", region=2)


# ------------------------------------------------------------ reward and episode end
def test_paper_reward_weighs_counts_and_their_changes():
    assert paper_reward((0, 0), (0, 0), False) == 0.0
    assert paper_reward((0, 0), (1, 1), False) == pytest.approx(-0.1 - 0.5 - 0.2 - 0.7)
    assert paper_reward((3, 1), (1, 2), False) == pytest.approx(-0.2 - 0.5 - 0.2 + 1.4)
    assert paper_reward((0, 0), (0, 0), True) == HVN_LOSS_PENALTY == -10.0


def test_region_reward_follows_paper_reward_on_the_seen_and_isolated_counts(tiny_network):
    net = tiny_network([("door", "mid"), ("mid", "hvn"), ("mid", "x")], entry=("door",), high_value=("hvn",))
    env = RegionEnv(net, action="isolate", region=0, mode="recon", intensity=1, p_detect=1.0, seed=0)
    env.reset()
    # step 1: isolate x, then the door falls (seen): C=1, I=1
    _, reward, terminated, truncated, info = env.step(net.host("x"))
    assert reward == pytest.approx(paper_reward((0, 0), (1, 1), False)) == pytest.approx(-1.5)
    assert (terminated, truncated, info["hvn_lost"], info["compromised"], info["isolated"]) == (False, False, False, 1, 1)
    # step 2: isolate the door; nothing is attackable now: C=1, I=2
    _, reward, *_ = env.step(net.host("door"))
    assert reward == pytest.approx(paper_reward((1, 1), (1, 2), False)) == pytest.approx(-0.9)


def test_losing_a_high_value_host_terminates_with_the_minus_10_penalty(tiny_network):
    net = tiny_network([("door", "hvn"), ("hvn", "x")], entry=("door",), high_value=("hvn",))
    env = RegionEnv(net, action="isolate", region=0, mode="recon", intensity=1, p_detect=1.0, horizon=30, seed=0)
    env.reset()
    _, reward, terminated, *_ = env.step(net.host("x"))
    assert not terminated
    _, reward, terminated, truncated, info = env.step(net.host("x"))
    assert (terminated, truncated, info["hvn_lost"]) == (True, False, True)
    assert info["availability"] == 0.0
    assert reward == pytest.approx(paper_reward((1, 1), (2, 1), False) - 10.0) == pytest.approx(-11.8)


def test_the_horizon_truncates_the_episode(two_regions):
    env = RegionEnv(two_regions, action="patch", region=1, intensity=0, horizon=3, seed=0)
    env.reset()
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    env.reset()
    assert env.sim.t[0] == 0 and env.step(0)[2:4] == (False, False)


def test_the_same_seed_replays_the_same_trajectory_and_another_seed_does_not():
    sc = small_scenario(nodes=12)  # vulnerabilities drawn per episode, p_detect 0.5

    def play(seed: int) -> list:
        env = RegionEnv.from_scenario(sc, action="reset", region=1)
        obs, _ = env.reset(seed=seed)
        out = [obs["nodes"].copy()]
        actions = np.random.default_rng(99).integers(0, 12, size=8)
        for a in actions:
            obs, reward, terminated, truncated, _ = env.step(int(a))
            out += [obs["nodes"].copy(), reward, terminated, truncated]
            if terminated or truncated:
                break
        return out

    def same(a: list, b: list) -> bool:
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    assert same(play(7), play(7))
    assert not same(play(7), play(8))
